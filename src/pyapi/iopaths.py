"""What sending a file to a socket costs, path by path.

Five ways to send a file over a socket -- ``read`` + ``write``, ``mmap`` +
``write``, ``sendfile``, ``sendfile`` with a scatter-gather DMA network card,
and ``splice`` through a pipe -- run over a small page-cache model.  Pages
really move: the disk's bytes are DMA'd into page-cache frames on a miss,
copied by the CPU into user buffers or socket buffers where the path does
so, or handed on by reference, and DMA'd to the network card; the card's
received bytes are checked against the file.  Each transfer is counted:

* ``mode_switches`` -- user->kernel and kernel->user transitions (2 per
  system call);
* ``cpu_copies`` / ``cpu_bytes`` -- copy steps done by the CPU (one per
  buffer-to-buffer copy inside a call) and the bytes they moved;
* ``dma_copies`` / ``dma_bytes`` -- DMA transfers (disk -> page cache, memory
  -> card) and their bytes; ``dma_disk_bytes`` is the part read from disk,
  zero when every page was cached;
* ``page_faults`` -- faults taken while the kernel touched a fresh mapping.

:func:`compare_paths` returns one dict per path; :func:`format_table`
prints them.  See ``docs/guide/epoll.rst`` for the textbook figures and
where the model departs from them (``splice`` needs two calls per pipeful).
"""
from pyapi.io import PAGE_SIZE, PIPE_DEF_BUFFERS

#: Paths modelled, in table order.
PATHS = ("read+write", "mmap+write", "sendfile", "sendfile+sg-dma", "splice")

#: Columns of a result row.
COLUMNS = ("path", "syscalls", "mode_switches", "cpu_copies", "cpu_bytes", "dma_copies",
           "dma_bytes", "dma_disk_bytes", "page_faults")


class PageCacheIO:
    """A disk, a page cache and a network card, with the counters of one transfer.

    Parameters
    ----------
    data : bytes
        The file's contents (on disk).
    cached_pages : iterable of int, optional
        Page indices already in the page cache.
    """

    def __init__(self, data, cached_pages=()):
        self.disk = bytes(data)
        self.npages = -(-len(self.disk) // PAGE_SIZE)
        self.page_cache = {}
        for idx in cached_pages:
            if not 0 <= idx < self.npages:
                raise ValueError(f"cached_pages: page {idx} outside the file's "
                                 f"{self.npages} pages")
            self.page_cache[idx] = bytearray(self._disk_page(idx))
        self.nic = bytearray()
        self.syscalls = []
        self.counts = {"cpu_copies": 0, "cpu_bytes": 0, "dma_copies": 0, "dma_bytes": 0,
                       "dma_disk_bytes": 0, "page_faults": 0}

    # -- primitives: every byte that moves goes through one of these -----

    def _disk_page(self, idx):
        page = self.disk[idx * PAGE_SIZE:(idx + 1) * PAGE_SIZE]
        return page + bytes(PAGE_SIZE - len(page))

    def syscall(self, name):
        """Enter and leave the kernel once."""
        self.syscalls.append(name)

    def fill(self, first, last):
        """Bring pages first..last-1 into the page cache: one DMA for the misses."""
        missing = [i for i in range(first, last) if i not in self.page_cache]
        if missing:
            for i in missing:
                self.page_cache[i] = bytearray(self._disk_page(i))
            self.counts["dma_copies"] += 1
            self.counts["dma_bytes"] += PAGE_SIZE * len(missing)
            self.counts["dma_disk_bytes"] += PAGE_SIZE * len(missing)

    def page_refs(self, off, n):
        """(page, start, length) pieces of the cached file range [off, off + n)."""
        out = []
        end = off + n
        while off < end:
            idx, start = divmod(off, PAGE_SIZE)
            length = min(PAGE_SIZE - start, end - off)
            out.append((self.page_cache[idx], start, length))
            off += length
        return out

    def cpu_copy(self, pieces):
        """The CPU gathers `pieces` into a new linear buffer (one copy step)."""
        buf = bytearray()
        for page, start, length in pieces:
            buf += page[start:start + length]
        self.counts["cpu_copies"] += 1
        self.counts["cpu_bytes"] += len(buf)
        return [(buf, 0, len(buf))]

    def dma_to_nic(self, pieces):
        """The card DMAs `pieces` out (gathering them if there are several)."""
        n = 0
        for page, start, length in pieces:
            self.nic += page[start:start + length]
            n += length
        self.counts["dma_copies"] += 1
        self.counts["dma_bytes"] += n

    # -- results -------------------------------------------------------------

    def result(self, path):
        """Return the counters as a row dict (see ``COLUMNS``)."""
        if bytes(self.nic) != self.disk:
            raise AssertionError(f"{path}: the card did not receive the file's bytes")
        counts = {}
        for name in self.syscalls:
            counts[name] = counts.get(name, 0) + 1
        calls = ", ".join(f"{n} {name}" for name, n in counts.items())
        row = {"path": path, "syscalls": calls,
               "mode_switches": 2 * len(self.syscalls)}
        row.update(self.counts)
        return row


def _chunks(total, size):
    off = 0
    while off < total:
        n = min(size, total - off)
        yield off, n
        off += n


def _pages(off, n):
    return off // PAGE_SIZE, -(-(off + n) // PAGE_SIZE)


def run_path(path, data, cached_pages=(), bufsize=65536, unmap=False):
    """Send `data` (a file) to a socket along `path`; return the row dict.

    Parameters
    ----------
    path : str
        One of ``PATHS``.
    data : bytes
        The file's contents.
    cached_pages : iterable of int, optional
        Pages already in the page cache (a hit needs no disk DMA).
    bufsize : int, optional
        The user buffer of ``read`` + ``write`` (bytes per read call).
    unmap : bool, optional
        Count the ``munmap`` of ``mmap`` + ``write`` (the textbook leaves it
        out: a server keeps the mapping for later sends).

    Returns
    -------
    dict
        Keys ``COLUMNS``.
    """
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    bufsize = int(bufsize)
    if bufsize < 1:
        raise ValueError(f"bufsize must be positive, got {bufsize}")
    io = PageCacheIO(data, cached_pages)
    total = len(io.disk)
    if path == "read+write":
        for off, n in _chunks(total, bufsize):
            io.syscall("read")
            io.fill(*_pages(off, n))
            user = io.cpu_copy(io.page_refs(off, n))          # page cache -> user
            io.syscall("write")
            skb = io.cpu_copy(user)                           # user -> socket buffer
            io.dma_to_nic(skb)
    elif path == "mmap+write":
        io.syscall("mmap")                                    # maps, moves nothing
        io.syscall("write")
        # copy_from_user touches each page of the fresh mapping: one fault each.
        io.counts["page_faults"] += io.npages
        io.fill(0, io.npages)
        skb = io.cpu_copy(io.page_refs(0, total))            # page cache -> socket buffer
        io.dma_to_nic(skb)
        if unmap:
            io.syscall("munmap")
    elif path in ("sendfile", "sendfile+sg-dma"):
        io.syscall("sendfile")
        io.fill(0, io.npages)
        refs = io.page_refs(0, total)
        if path == "sendfile":
            io.dma_to_nic(io.cpu_copy(refs))                  # page cache -> socket buffer
        else:
            io.dma_to_nic(refs)                               # descriptors only; card gathers
    else:  # splice: file -> pipe -> socket, a pipeful at a time
        pipe_bytes = PIPE_DEF_BUFFERS * PAGE_SIZE
        for off, n in _chunks(total, pipe_bytes):
            io.syscall("splice")
            io.fill(*_pages(off, n))
            pipe = io.page_refs(off, n)                       # pipe buffers reference pages
            io.syscall("splice")
            io.dma_to_nic(pipe)                               # pages handed to the socket
    return io.result(path)


def compare_paths(nbytes=65536, cached=False, bufsize=65536, unmap=False, seed=0):
    """Run every path on the same file and return the rows.

    Parameters
    ----------
    nbytes : int, optional
        File size.
    cached : bool, optional
        Start with the whole file in the page cache (no disk DMA).
    bufsize : int, optional
        ``read`` + ``write`` buffer size.
    unmap : bool, optional
        Count ``munmap`` for ``mmap`` + ``write``.
    seed : int, optional
        Seed of the file's (random) contents.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> from pyapi.iopaths import compare_paths
    >>> [(r["path"], r["mode_switches"], r["cpu_copies"], r["dma_copies"])
    ...  for r in compare_paths(65536)]        # doctest: +NORMALIZE_WHITESPACE
    [('read+write', 4, 2, 2), ('mmap+write', 4, 1, 2), ('sendfile', 2, 1, 2),
     ('sendfile+sg-dma', 2, 0, 2), ('splice', 4, 0, 2)]
    """
    import random

    nbytes = int(nbytes)
    if nbytes < 1:
        raise ValueError(f"nbytes must be positive, got {nbytes}")
    data = random.Random(seed).randbytes(nbytes)
    pages = range(-(-nbytes // PAGE_SIZE)) if cached else ()
    return [run_path(p, data, pages, bufsize, unmap) for p in PATHS]


def format_table(rows):
    """Return `rows` (from :func:`compare_paths`) as an aligned text table."""
    head = ("path", "switches", "CPU copies", "CPU bytes", "DMA copies", "DMA bytes",
            "from disk", "faults", "syscalls")
    keys = ("path", "mode_switches", "cpu_copies", "cpu_bytes", "dma_copies", "dma_bytes",
            "dma_disk_bytes", "page_faults", "syscalls")
    cells = [head] + [tuple(str(r[k]) for k in keys) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = []
    for k, c in enumerate(cells):
        lines.append("  ".join(v.ljust(w) if i in (0, 8) else v.rjust(w)
                               for i, (v, w) in enumerate(zip(c, widths))).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def to_frame(rows):
    """Return `rows` as a pandas DataFrame indexed by path."""
    import pandas as pd

    return pd.DataFrame(rows).set_index("path")


def register_cli(subparsers):
    """Add ``memcore io-paths`` to an argparse subparsers object."""
    p = subparsers.add_parser("io-paths", help="copies and mode switches of read/write, "
                                               "mmap, sendfile and splice")
    p.add_argument("--size", type=int, default=65536, help="file size in bytes (default 65536)")
    p.add_argument("--cached", action="store_true", help="file already in the page cache")
    p.add_argument("--bufsize", type=int, default=65536, help="read+write buffer (default 65536)")
    p.add_argument("--unmap", action="store_true", help="count munmap for mmap+write")
    p.set_defaults(func=_cmd_io_paths)


def _cmd_io_paths(args):
    rows = compare_paths(args.size, args.cached, args.bufsize, args.unmap)
    print(format_table(rows))
    return 0
