"""Memory-trace files: read, write and convert them.

Every reader yields chunks of :data:`ACCESS_DTYPE` records (at most
``chunk_records`` each) so a trace of any length is read in bounded memory.
Supported formats (see the user guide, :doc:`/guide/traces`, for the exact
grammars):

``lackey``
    valgrind ``--tool=lackey --trace-mem=yes`` output.
``din``
    Dinero III/IV "din" text: ``label address [size]``.
``npy``
    a numpy ``.npy`` file holding a 1-d structured array with fields
    ``addr``, ``size`` and ``kind`` (and optionally ``cpu``, ``pid``) in any
    order, with any extra fields.
``csv``
    comma-separated text with a header line naming the columns.

Files may be compressed with gzip, xz or zstandard (the last needs the
``zstandard`` package); compression is recognised from the file's first
bytes.  Text is parsed by the compiled kernel :mod:`memcore.traceparse`.
"""
import contextlib
import gzip
import lzma
import os
import pathlib
import re
import queue
import threading
import zlib

import numpy as np

from memcore import traceparse as _tp
from memcore.access import ACCESS_DTYPE

__all__ = [
    "ACCESS_DTYPE", "TraceFormatError", "FORMATS", "TraceReader", "open_trace",
    "read_trace", "detect_format", "write_npy", "write_din", "convert",
    "example_path", "register_cli",
]

#: The trace formats memcore reads.
FORMATS = ("lackey", "din", "npy", "csv")
#: The trace formats memcore writes.
WRITE_FORMATS = ("npy", "din")
#: Compressions recognised (from the file's magic bytes).
COMPRESSIONS = ("gzip", "xz", "zstd")

#: Bytes read (after decompression) per block of text.
BLOCK_BYTES = 8 << 20
#: A text line longer than this is a bad record (protects memory).
MAX_LINE_BYTES = 1 << 20

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_COMPRESSED_SUFFIXES = {".gz": "gzip", ".xz": "xz", ".zst": "zstd", ".zstd": "zstd"}
_FORMAT_SUFFIXES = {".lackey": "lackey", ".din": "din", ".npy": "npy", ".csv": "csv"}
_TEXT_CODES = {"lackey": _tp.LACKEY, "din": _tp.DIN, "csv": _tp.CSV}

_LACKEY_LINE = re.compile(rb"^[ \t]*[ILSM][ \t]+[0-9a-fA-F]+,[0-9]+[ \t]*\r?$")
_DIN_LINE = re.compile(rb"^[ \t]*[0-4][ \t]+(0[xX])?[0-9a-fA-F]+([ \t].*)?\r?$")
_EXAMPLE = "example.lackey.gz"


class TraceFormatError(ValueError):
    """A malformed record in a trace file.

    Parameters
    ----------
    path : str or os.PathLike
        The trace file.
    line : int
        1-based line number (text formats) or record number (``.npy``); 0
        when the problem is the file as a whole (an unreadable ``.npy``
        header, corrupt compressed data, an undetectable format).
    text : str
        The offending text (or a description of the offending record).
    reason : str, optional
        What is wrong, when more can be said than "malformed record".
    unit : str, optional
        What `line` counts: ``"line"`` (text formats) or ``"record"``.

    Attributes
    ----------
    path : str
    line : int
    text : str
    """

    def __init__(self, path, line, text, reason="malformed record", unit="line"):
        self.path = str(path)
        self.line = line
        self.text = text
        self._args = (self.path, line, text, reason, unit)
        where = f"{unit} {line}: " if line else ""   # line 0: the file as a whole
        super().__init__(f"{self.path}: {where}{reason}: {text!r}")

    def __reduce__(self):
        return (type(self), self._args)


# ---------------------------------------------------------------- opening files

def _compression(path):
    with open(path, "rb") as f:
        head = f.read(8)
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def _open_raw(path):
    """Open `path` for binary reading, decompressing as its magic says.

    Returns ``(stream, raw)`` where `raw` is the underlying file (for
    progress) and `stream` gives the decompressed bytes.
    """
    comp = _compression(path)
    raw = open(path, "rb")
    try:
        if comp == "gzip":
            return gzip.GzipFile(fileobj=raw, mode="rb"), raw
        if comp == "xz":
            return lzma.LZMAFile(raw, mode="rb"), raw
        if comp == "zstd":
            try:
                import zstandard
            except ImportError:
                raise ImportError(
                    f"{path}: reading zstandard-compressed traces needs the 'zstandard' "
                    "package (pip install zstandard)") from None
            return zstandard.ZstdDecompressor().stream_reader(raw, read_size=1 << 20,
                                                                read_across_frames=True), raw
    except BaseException:
        raw.close()
        raise
    return raw, raw


def _strip_compression_suffix(path):
    p = pathlib.Path(path)
    if p.suffix.lower() in _COMPRESSED_SUFFIXES:
        p = p.with_suffix("")
    return p


def _format_from_suffix(path):
    return _FORMAT_SUFFIXES.get(_strip_compression_suffix(path).suffix.lower())


def detect_format(path):
    """Tell the format of a trace file from its content.

    The first bytes (after decompression) decide: the ``.npy`` magic, lackey
    banner or record lines, a CSV header naming ``addr``, or din records.
    When the content does not decide (an empty file, say), the extension
    (``.lackey``, ``.din``, ``.npy``, ``.csv``, before any ``.gz``/``.xz``/
    ``.zst``) does.

    Parameters
    ----------
    path : str or os.PathLike
        The trace file.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    TraceFormatError
        If neither the content nor the extension tells the format.
    """
    stream, raw = _open_raw(path)
    with raw, stream:
        head = stream.read(1 << 16)
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    lines = head.split(b"\n")
    if len(head) == 1 << 16 and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    for line in lines:
        if not line.strip():
            continue
        if line.startswith(b"=="):
            return "lackey"
        if _LACKEY_LINE.match(line):
            return "lackey"
        if b"," in line and b"addr" in line.lower():
            return "csv"
        if _DIN_LINE.match(line):
            return "din"
        break
    fmt = _format_from_suffix(path)
    if fmt is None:
        first = next((ln for ln in lines if ln.strip()), b"")
        raise TraceFormatError(path, 1, first[:200].decode("utf-8", "replace"),
                               "cannot tell the trace format (give it explicitly)")
    return fmt


# ---------------------------------------------------------------- readers

def _check_chunk_records(chunk_records):
    if int(chunk_records) < 1:
        raise ValueError(f"chunk_records: must be >= 1, got {chunk_records}")
    return max(int(chunk_records), _tp.MAX_SIZE // _tp.SPLIT + 1)


class TraceReader:
    """An open trace file, iterated in chunks of access records.

    Use :func:`open_trace` to make one.  Iterating yields C-contiguous
    :data:`ACCESS_DTYPE` arrays of at most :attr:`chunk_records` records;
    memory use does not grow with the file's length.

    Attributes
    ----------
    path : str
        The trace file.
    format : str
        Its format (one of :data:`FORMATS`).
    compression : str or None
        ``"gzip"``, ``"xz"``, ``"zstd"`` or None.
    chunk_records : int
        Largest chunk yielded.
    skip_bad : bool
        Whether bad records are skipped (and counted) instead of raising.
    records_read : int
        Records yielded so far.
    bad_records : int
        Bad records skipped so far.
    escape_records : int
        din escape records (label 3) skipped so far.
    bytes_read : int
        Bytes of the file (compressed, if it is) read so far.
    total_bytes : int
        Size of the file.
    """

    def __init__(self, path, format=None, chunk_records=1_000_000, skip_bad=False):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"{self.path}: no such trace file")
        if format is None:
            format = detect_format(self.path)
        if format not in FORMATS:
            raise ValueError(f"format: must be one of {', '.join(FORMATS)}, got {format!r}")
        self.format = format
        self.compression = _compression(self.path)
        self.chunk_records = _check_chunk_records(chunk_records)
        self.skip_bad = bool(skip_bad)
        self.records_read = 0
        self.bad_records = 0
        self.escape_records = 0
        self.bytes_read = 0
        self.total_bytes = os.path.getsize(self.path)
        self._closers = []
        self._iterating = False

    # context manager -------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Release the file (and any read-ahead thread)."""
        while self._closers:
            self._closers.pop()()

    def __repr__(self):
        return (f"<TraceReader {self.path!r} format={self.format} "
                f"records_read={self.records_read}>")

    def __iter__(self):
        if self._iterating:
            raise RuntimeError(f"{self.path}: a trace can be iterated only once; open it again")
        self._iterating = True
        chunks = self._iter_npy() if self.format == "npy" else self._iter_text()
        try:
            for chunk in chunks:
                self.records_read += len(chunk)
                yield chunk
        finally:
            chunks.close()
            self.close()

    # text ---------------------------------------------------------------
    def _blocks(self):
        """Yield decompressed blocks, read ahead by one block in a thread.

        Decompression and file reads release the GIL, so they overlap with
        the parser's nogil loop.
        """
        stream, raw = _open_raw(self.path)
        q = queue.Queue(maxsize=2)
        stop = threading.Event()

        def produce():
            try:
                while not stop.is_set():
                    data = stream.read(BLOCK_BYTES)
                    q.put((data, raw.tell(), None))
                    if not data:
                        return
            except BaseException as exc:  # handed to the consumer
                q.put((b"", 0, exc))

        thread = threading.Thread(target=produce, daemon=True, name="memcore-trace-read")

        def close():
            stop.set()
            while thread.is_alive():
                try:
                    q.get(timeout=0.05)
                except queue.Empty:
                    pass
            stream.close()
            raw.close()

        self._closers.append(close)
        thread.start()
        while True:
            data, pos, exc = q.get()
            if exc is not None:
                if isinstance(exc, (EOFError, lzma.LZMAError, gzip.BadGzipFile, zlib.error)) \
                        or type(exc).__name__ == "ZstdError":
                    raise TraceFormatError(self.path, 0, "",
                                           f"corrupt or truncated {self.compression} data "
                                           f"({exc})") from exc
                raise exc
            self.bytes_read = pos
            if not data:
                return
            yield data

    def _iter_text(self):
        st = _TextState(_TEXT_CODES[self.format], self.chunk_records)
        carry = b""
        dropping = False    # inside an over-long bad line being skipped
        blocks = self._blocks()
        final = False
        while not final:
            block = next(blocks, None)
            final = block is None
            data, start = (block or carry), 0
            if carry and block:
                nl = block.find(b"\n")
                if nl < 0 or dropping or st.columns is None and self.format == "csv":
                    data = carry + block
                else:
                    # the line cut by the block boundary, then the rest of the
                    # block in place (no copy of the whole block)
                    head = carry + block[:nl + 1]
                    consumed = yield from self._parse(st, head, 0, False)
                    assert consumed == len(head)
                    start = nl + 1
            if dropping:
                nl = data.find(b"\n", start)
                if nl < 0 and not final:
                    carry = b""
                    continue
                start = nl + 1 if nl >= 0 else len(data)
                st.lineno += 1
                dropping = False
            if self.format == "csv" and st.columns is None:
                data, st.lineno, st.columns = self._csv_header(data[start:], st.lineno, final)
                start = 0
                if st.columns is None:
                    carry = data
                    continue
            pos = yield from self._parse(st, data, start, final)
            carry = data[pos:]
            if len(carry) > MAX_LINE_BYTES:
                if not self.skip_bad:
                    raise TraceFormatError(self.path, st.lineno + 1, _show(carry),
                                           f"line longer than {MAX_LINE_BYTES} bytes")
                self.bad_records += 1
                carry = b""
                dropping = True
        if st.n_out:
            yield st.out[:st.n_out]

    def _parse(self, st, data, pos, final):
        """Parse data[pos:] into st.out, yielding each full chunk; return
        the offset of the first unconsumed byte (an incomplete last line)."""
        view = memoryview(data)
        while True:
            consumed, n, lines, bad_start, bad_end, n_bad, n_esc = _tp.parse(
                st.code, view[pos:], st.out[st.n_out:], final, self.skip_bad, st.columns)
            st.n_out += n
            st.lineno += lines
            self.bad_records += n_bad
            self.escape_records += n_esc
            pos += consumed
            if bad_start >= 0:
                raise TraceFormatError(self.path, st.lineno + 1,
                                       _show(data[pos:pos + bad_end - bad_start]))
            full = st.n_out == len(st.out)
            if not full and pos < len(data) and (final or data.find(b"\n", pos) >= 0):
                full = True  # stopped for room: a split record did not fit
            if not full or st.n_out == 0:
                return pos
            yield st.out[:st.n_out]
            st.out = np.empty(self.chunk_records, dtype=ACCESS_DTYPE)
            st.n_out = 0

    def _csv_header(self, buf, lineno, final):
        """Find the CSV header line; returns (rest, lineno, columns or None)."""
        while True:
            nl = buf.find(b"\n")
            if nl < 0 and not final:
                return buf, lineno, None
            line = buf if nl < 0 else buf[:nl]
            line = line[:-1] if line.endswith(b"\r") else line
            rest = b"" if nl < 0 else buf[nl + 1:]
            if line.strip(b" \t") or nl < 0:
                break
            buf = rest
            lineno += 1
        if not line.strip(b" \t"):
            return b"", lineno, np.zeros(1, dtype=np.uint8)  # empty file
        lineno += 1
        return rest, lineno, _csv_columns(self.path, lineno, line)

    # npy ----------------------------------------------------------------
    def _iter_npy(self):
        # Chunks are read with readinto() straight into fresh arrays: for a
        # plain file that is one copy out of the page cache, several times
        # faster than copying slices of a memory map (numpy copies structured
        # memmap slices field by field), and just as bounded in memory.
        stream, raw = _open_raw(self.path)
        self._closers.append(raw.close)
        self._closers.append(stream.close)
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as exc:
            raise TraceFormatError(self.path, 0, "", f"not a readable .npy file ({exc})") from None
        _check_npy_dtype(self.path, dtype, shape)
        if dtype == ACCESS_DTYPE:
            dtype = ACCESS_DTYPE      # the canonical (aligned) spelling
        total = shape[0]
        start = 0
        while start < total:
            n = min(self.chunk_records, total - start)
            part = np.empty(n, dtype=dtype)
            got = _readinto_full(stream, part.view(np.uint8)) // dtype.itemsize
            if got < n:
                raise TraceFormatError(self.path, start + got + 1, "",
                                       f"file ends after {start + got} of {total} records",
                                       unit="record")
            self.bytes_read = raw.tell()
            yield from self._convert_npy(part, start)
            start += n

    def _convert_npy(self, part, start):
        """Validate a slice of a .npy array and yield it as ACCESS_DTYPE chunks."""
        if part.dtype is ACCESS_DTYPE:
            bad = part["kind"] > 4
            if bad.any():
                i = int(np.argmax(bad))
                if not self.skip_bad:
                    raise TraceFormatError(self.path, start + i + 1, _describe(part[i]),
                                           f"kind {part['kind'][i]} is not 0..4", unit="record")
                self.bad_records += int(bad.sum())
                part = part[~bad]
            yield part
            return
        yield from self._convert_fields(part, start)

    def _convert_fields(self, part, start):
        n = len(part)
        addr = np.asarray(part["addr"])
        size = np.asarray(part["size"])
        kind = np.asarray(part["kind"])
        cpu = np.asarray(part["cpu"]) if "cpu" in part.dtype.names else np.zeros(n, np.uint16)
        pid = np.asarray(part["pid"]) if "pid" in part.dtype.names else np.zeros(n, np.uint32)
        big = (size > 255) & (size <= _tp.MAX_SIZE)
        a64 = addr.astype(np.uint64)
        last = a64 + (np.where(big, size, 1).astype(np.uint64) - np.uint64(1))
        problems = [
            (addr < 0, "addr is negative"),
            ((size < 0) | (size > _tp.MAX_SIZE), f"size is not 0..{_tp.MAX_SIZE}"),
            ((kind < 0) | (kind > 4), "kind is not 0..4"),
            ((cpu < 0) | (cpu > 0xFFFF), "cpu is not 0..65535"),
            ((pid < 0) | (pid > 0xFFFFFFFF), "pid is not 0..2**32-1"),
            (big & (addr >= 0) & (last < a64), "access runs past the top of the address space"),
        ]
        bad = np.zeros(n, dtype=bool)
        for mask, _ in problems:
            bad |= np.asarray(mask, dtype=bool)
        if bad.any() and not self.skip_bad:
            i = int(np.argmax(bad))
            reason = "; ".join(r for m, r in problems if np.asarray(m, dtype=bool)[i])
            raise TraceFormatError(self.path, start + i + 1, _describe(part[i]), reason,
                                   unit="record")
        big &= ~bad
        if bad.any():
            self.bad_records += int(bad.sum())
        keep = ~bad
        out = np.empty(int(keep.sum()), dtype=ACCESS_DTYPE)
        out["addr"] = addr[keep]
        out["size"] = np.minimum(size[keep], 255)
        out["kind"] = kind[keep]
        out["cpu"] = cpu[keep]
        out["pid"] = pid[keep]
        if big.any():
            out = _split_big(out, np.asarray(size[keep]))
        for s in range(0, len(out), self.chunk_records):
            yield np.ascontiguousarray(out[s:s + self.chunk_records])


def _readinto_full(stream, buf):
    """Fill `buf` from `stream` (decompressors may return short reads);
    return the bytes read, fewer only at the end of the stream."""
    view = memoryview(buf)
    got = 0
    while got < len(view):
        k = stream.readinto(view[got:])
        if not k:
            break
        got += k
    return got


class _TextState:
    """Where a text reader is: its output chunk and the lines consumed."""

    def __init__(self, code, chunk_records):
        self.code = code
        self.columns = None
        self.lineno = 0
        self.out = np.empty(chunk_records, dtype=ACCESS_DTYPE)
        self.n_out = 0


def _split_big(out, sizes):
    """Split records whose true size (`sizes`) exceeds 255 bytes."""
    split = np.uint64(_tp.SPLIT)
    first = out["addr"] // split
    last = (out["addr"] + sizes.astype(np.uint64) - np.uint64(1)) // split
    counts = np.where(sizes > 255, (last - first + np.uint64(1)).astype(np.int64), 1)
    rep = np.repeat(out, counts)
    sz = np.repeat(sizes.astype(np.uint64), counts)
    # Inclusive last bytes: a record may end at 2**64 - 1, where the first
    # address past it (and past its last block) is not representable.
    last_byte = np.repeat(out["addr"] + sizes.astype(np.uint64) - np.uint64(1), counts)
    # piece index within its record
    starts = np.cumsum(counts) - counts
    j = np.arange(len(rep)) - np.repeat(starts, counts)
    big = sz > 255
    block = (np.repeat(first, counts) + j.astype(np.uint64)) * split
    piece_start = np.where(j == 0, rep["addr"], block)
    piece_last = np.minimum(last_byte, block + (split - np.uint64(1)))
    rep["addr"] = np.where(big, piece_start, rep["addr"])
    rep["size"] = np.where(big, piece_last - piece_start + np.uint64(1), rep["size"]).astype(np.uint8)
    return rep


def _check_npy_dtype(path, dtype, shape):
    if dtype.names is None or not {"addr", "size", "kind"} <= set(dtype.names):
        raise TraceFormatError(path, 0, str(dtype),
                               "a .npy trace needs a structured dtype with fields addr, size, kind")
    for name in ("addr", "size", "kind", "cpu", "pid"):
        if name in dtype.names and dtype.fields[name][0].kind not in "iu":
            raise TraceFormatError(path, 0, str(dtype), f"field {name!r} must be an integer")
    if len(shape) != 1:
        raise TraceFormatError(path, 0, str(shape), "a .npy trace must be one-dimensional")


def _describe(rec):
    return ", ".join(f"{name}={rec[name].item()!r}" for name in rec.dtype.names)


def _show(text):
    return bytes(text[:200]).decode("utf-8", "replace")


def _csv_columns(path, lineno, header):
    names = [h.strip().lower() for h in header.decode("latin1").split(",")]
    if not {"addr", "kind"} <= set(names) or len(set(names)) != len(names):
        raise TraceFormatError(path, lineno, _show(header),
                               "a CSV trace needs a header naming distinct columns, "
                               "including addr and kind (e.g. addr,size,kind)")
    if len(names) > _tp.CSV_MAX_COLUMNS:
        raise TraceFormatError(path, lineno, _show(header),
                               f"more than {_tp.CSV_MAX_COLUMNS} columns")
    return np.array([_tp.CSV_COLUMNS.get(n, _tp.CSV_IGNORE) for n in names], dtype=np.uint8)


def open_trace(path, format=None, chunk_records=1_000_000, skip_bad=False):
    """Open a trace file for reading in chunks.

    Parameters
    ----------
    path : str or os.PathLike
        The trace file (plain, or compressed with gzip, xz or zstandard).
    format : str, optional
        One of :data:`FORMATS`; detected with :func:`detect_format` if None.
    chunk_records : int, optional
        Largest number of records per chunk (default one million).
    skip_bad : bool, optional
        Skip malformed records and count them in ``bad_records`` instead of
        raising :class:`TraceFormatError`.

    Returns
    -------
    TraceReader
        A context manager and iterable of :data:`ACCESS_DTYPE` chunks.

    Examples
    --------
    >>> from pyapi.trace import open_trace, example_path
    >>> with open_trace(example_path()) as tr:
    ...     n = sum(len(chunk) for chunk in tr)
    >>> n == tr.records_read
    True
    """
    return TraceReader(path, format=format, chunk_records=chunk_records, skip_bad=skip_bad)


def read_trace(path, format=None, skip_bad=False, chunk_records=1_000_000):
    """Read a whole trace file into one array.

    Parameters
    ----------
    path : str or os.PathLike
        The trace file.
    format : str, optional
        One of :data:`FORMATS` (detected if None).
    skip_bad : bool, optional
        Skip and count malformed records instead of raising.
    chunk_records : int, optional
        Records per chunk while reading.

    Returns
    -------
    numpy.ndarray
        All records, dtype :data:`ACCESS_DTYPE`.
    """
    with open_trace(path, format=format, chunk_records=chunk_records, skip_bad=skip_bad) as tr:
        chunks = list(tr)
    if not chunks:
        return np.empty(0, dtype=ACCESS_DTYPE)
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


# ---------------------------------------------------------------- writers

def _as_chunks(data):
    if isinstance(data, np.ndarray):
        yield data
    else:
        yield from data


def _checked(chunk):
    chunk = np.asarray(chunk)
    if chunk.dtype != ACCESS_DTYPE:
        raise ValueError(f"records: dtype must be ACCESS_DTYPE, got {chunk.dtype}")
    if chunk.ndim != 1:
        raise ValueError(f"records: must be one-dimensional, got shape {chunk.shape}")
    if len(chunk) and chunk["kind"].max() > 4:
        raise ValueError(f"records: kind values must be 0..4, got {chunk['kind'].max()}")
    return np.ascontiguousarray(chunk)


@contextlib.contextmanager
def _open_write(path, compression):
    """Open `path` for binary writing, compressed as its suffix says."""
    path = os.fspath(path)
    if compression is None:
        compression = _COMPRESSED_SUFFIXES.get(pathlib.Path(path).suffix.lower())
    if compression == "gzip":
        f = gzip.open(path, "wb", compresslevel=6)
    elif compression == "xz":
        f = lzma.open(path, "wb")
    elif compression == "zstd":
        try:
            import zstandard
        except ImportError:
            raise ImportError(f"{path}: writing zstandard needs the 'zstandard' package") from None
        f = zstandard.open(path, "wb")
    else:
        f = open(path, "wb")
    with f:
        yield f


_NPY_SHAPE_WIDTH = 21  # room for any 64-bit record count


def _npy_header(count):
    """A version-1.0 .npy header whose length does not depend on `count`."""
    d = ("{'descr': %r, 'fortran_order': False, 'shape': (%s), }"
         % (np.lib.format.dtype_to_descr(ACCESS_DTYPE), (f"{count}," ).ljust(_NPY_SHAPE_WIDTH)))
    total = 10 + len(d) + 1
    pad = (-total) % 64
    text = (d + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


def write_npy(path, records):
    """Write access records to a ``.npy`` file, streaming.

    The array is written chunk by chunk and the header's record count is
    filled in at the end, so a trace larger than memory can be written.  The
    file holds a 1-d :data:`ACCESS_DTYPE` array that :func:`numpy.load` reads
    (and memory-maps).  A ``.gz``/``.xz``/``.zst`` suffix compresses it
    (then the count is known only after writing, so the chunks are counted
    first into a temporary plain file).

    Parameters
    ----------
    path : str or os.PathLike
        Output file.
    records : numpy.ndarray or iterable of numpy.ndarray
        ``ACCESS_DTYPE`` records, as one array or as chunks.

    Returns
    -------
    int
        Records written.
    """
    path = os.fspath(path)
    comp = _COMPRESSED_SUFFIXES.get(pathlib.Path(path).suffix.lower())
    if comp is not None:
        tmp = path + ".tmp-memcore.npy"
        try:
            n = write_npy(tmp, records)
            with open(tmp, "rb") as src, _open_write(path, comp) as dst:
                while True:
                    block = src.read(BLOCK_BYTES)
                    if not block:
                        break
                    dst.write(block)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
        return n
    count = 0
    with open(path, "wb") as f:
        f.write(_npy_header(0))
        for chunk in _as_chunks(records):
            chunk = _checked(chunk)
            f.write(memoryview(chunk).cast("B"))
            count += len(chunk)
        f.seek(0)
        f.write(_npy_header(count))
    return count


def write_din(path, records, compression=None):
    """Write access records as Dinero "din" text, streaming.

    Each record becomes the line ``LABEL HEXADDR SIZE`` (label 0 read,
    1 write, 2 instruction fetch, 4 flush; address in lower-case hex without
    ``0x``; size in decimal).  din has no modify label: a modify becomes a
    read line then a write line of the same bytes, as Dinero and lackey
    users expect.  A ``.gz``/``.xz``/``.zst`` suffix compresses the file.

    Parameters
    ----------
    path : str or os.PathLike
        Output file.
    records : numpy.ndarray or iterable of numpy.ndarray
        ``ACCESS_DTYPE`` records, as one array or as chunks.
    compression : {"gzip", "xz", "zstd"}, optional
        Overrides the suffix.

    Returns
    -------
    int
        din lines written.
    """
    lines = 0
    buf = np.empty(BLOCK_BYTES, dtype=np.uint8)
    with _open_write(path, compression) as f:
        for chunk in _as_chunks(records):
            chunk = _checked(chunk)
            lines += len(chunk) + int(np.count_nonzero(chunk["kind"] == 3))
            pos = 0
            while pos < len(chunk):
                done, nbytes = _tp.format_din(chunk[pos:], buf)
                f.write(memoryview(buf)[:nbytes])
                pos += done
    return lines


def convert(src, dst, from_format=None, to_format=None, skip_bad=False,
            chunk_records=1_000_000):
    """Convert a trace file to another format, streaming.

    Parameters
    ----------
    src, dst : str or os.PathLike
        Input and output files.
    from_format : str, optional
        Input format (one of :data:`FORMATS`; detected if None).
    to_format : str, optional
        Output format, ``"npy"`` or ``"din"`` (from `dst`'s extension if None).
    skip_bad : bool, optional
        Skip and count malformed input records instead of raising.
    chunk_records : int, optional
        Records per chunk.

    Returns
    -------
    dict
        ``records_read``, ``records_written`` (din lines when writing din),
        ``bad_records`` and ``escape_records``, plus the two formats.
    """
    if to_format is None:
        to_format = _format_from_suffix(dst)
    if to_format not in WRITE_FORMATS:
        raise ValueError(f"to_format: must be one of {', '.join(WRITE_FORMATS)}, got {to_format!r}")
    writer = write_npy if to_format == "npy" else write_din
    with open_trace(src, format=from_format, chunk_records=chunk_records, skip_bad=skip_bad) as tr:
        written = writer(dst, tr)
    return {
        "from_format": tr.format, "to_format": to_format,
        "records_read": tr.records_read, "records_written": written,
        "bad_records": tr.bad_records, "escape_records": tr.escape_records,
    }


def example_path():
    """Path of the example trace shipped with memcore.

    A real valgrind lackey trace (gzip-compressed) of a small C program that
    merge-sorts 2000 integers; ``pyapi/data/README.md`` tells how it was
    made.

    Returns
    -------
    pathlib.Path
    """
    return pathlib.Path(__file__).resolve().parent / "data" / _EXAMPLE


# ---------------------------------------------------------------- command line

def register_cli(subparsers):
    """Add the ``memcore convert`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``ArgumentParser.add_subparsers``.
    """
    p = subparsers.add_parser(
        "convert", help="convert a trace file between formats",
        description="Convert a memory trace between formats (reads lackey, din, npy, csv; "
                    "writes npy, din). Formats are detected when not given.")
    p.add_argument("input", metavar="IN", help="input trace (may be .gz/.xz/.zst)")
    p.add_argument("output", metavar="OUT", help="output file (.npy or .din, optionally .gz/.xz/.zst)")
    p.add_argument("--from", dest="from_format", choices=FORMATS, help="input format")
    p.add_argument("--to", dest="to_format", choices=WRITE_FORMATS, help="output format")
    p.add_argument("--skip-bad", action="store_true", help="skip and count malformed records")
    p.add_argument("--chunk", type=int, default=1_000_000, metavar="N",
                   help="records per chunk (default 1000000)")
    p.set_defaults(func=_cmd_convert)


def _cmd_convert(args):
    import sys

    try:
        counts = convert(args.input, args.output, from_format=args.from_format,
                         to_format=args.to_format, skip_bad=args.skip_bad,
                         chunk_records=args.chunk)
    except (TraceFormatError, ValueError, OSError, ImportError) as exc:
        print(f"memcore convert: {exc}", file=sys.stderr)
        return 1
    msg = (f"{args.input} ({counts['from_format']}) -> {args.output} ({counts['to_format']}): "
           f"{counts['records_read']} records read, {counts['records_written']} written")
    if counts["bad_records"]:
        msg += f", {counts['bad_records']} bad records skipped"
    if counts["escape_records"]:
        msg += f", {counts['escape_records']} din escape records skipped"
    print(msg)
    return 0

