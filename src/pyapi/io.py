"""Descriptors and readiness: pipes, sockets, epoll, poll and select as model calls.

A :class:`Process` owns a file table.  Its calls -- :meth:`~Process.pipe`,
:meth:`~Process.socketpair`, :meth:`~Process.read`, :meth:`~Process.write`,
:meth:`~Process.close`, :meth:`~Process.epoll_create`,
:meth:`~Process.epoll_ctl`, :meth:`~Process.epoll_wait`,
:meth:`~Process.poll` and :meth:`~Process.select` -- behave as Linux's do on
non-blocking descriptors with a zero timeout.  Each open file has a wait
queue (a :class:`memcore.readylist.Source`) that epoll instances
(:class:`memcore.readylist.EventPoll`) join, and wakes it exactly where Linux
does (``fs/pipe.c``, ``net/unix/af_unix.c``), so level-triggered,
edge-triggered and one-shot registrations report what the real kernel
reports, in the same order (``tests/test_io_kernel.py`` checks this against
the host kernel).  An epoll descriptor can itself be watched by another
instance, ``poll`` or ``select`` (see :class:`EpollFile`).

Pipes are modelled buffer by buffer: 16 buffers of one 4 KiB page
(65536 bytes), small writes merged into the last buffer when it has room,
``EPOLLOUT`` while a buffer slot is free.  Stream sockets (``socketpair``)
queue one message per write; their send-buffer limit is a documented
approximation (see :class:`Socket`).
"""
import errno
from collections import deque

import numpy as np

from memcore import readylist as rl
from memcore.readylist import (EP_PRIVATE_BITS, EPOLLERR, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN,
                               EPOLLOUT, EPOLLPRI, EPOLLRDBAND, EPOLLRDHUP, EPOLLRDNORM,
                               EPOLLWRBAND, EPOLLWRNORM, EventPoll, Source)

#: Bytes in a page.
PAGE_SIZE = 4096
#: Buffers in a pipe (``PIPE_DEF_BUFFERS``).
PIPE_DEF_BUFFERS = 16
#: Bytes a pipe holds when every buffer is a full page.
PIPE_CAPACITY = PIPE_DEF_BUFFERS * PAGE_SIZE
#: Bytes a write of at most this size is atomic for (``PIPE_BUF``).
PIPE_BUF = PAGE_SIZE
#: Default send-buffer size of a socket (``net.core.wmem_default``).
SK_SNDBUF = 212992
#: Bytes a modelled socket charges per queued message on top of its payload
#: (an approximation of ``skb->truesize`` overhead).
SKB_OVERHEAD = 768
#: Default ``RLIMIT_NOFILE`` soft limit.
RLIMIT_NOFILE = 1024
#: Longest chain of epoll instances inside one another, counted in links
#: (``EP_MAX_NESTS``): a fifth link is refused with ``ELOOP``.
EP_MAX_NESTS = 4

SHUT_RD, SHUT_WR, SHUT_RDWR = 0, 1, 2
_RCV_SHUTDOWN, _SEND_SHUTDOWN = 1, 2
_SHUTDOWN_MASK = _RCV_SHUTDOWN | _SEND_SHUTDOWN


def _err(code, what):
    import os
    return OSError(code, f"{what}: {os.strerror(code)}")


def _wake(source, pollflags=0, nr_exclusive=1):
    """Wake `source`'s queue (:meth:`memcore.readylist.Source.wake`), and in
    turn the watchers of every epoll instance the wake-up reaches that is
    itself watched (an epoll file inside another), as ``ep_poll_callback``
    does."""
    return source.wake(pollflags, nr_exclusive, after=_wake_pollers)


def _wake_pollers(ep, fd, key):
    # ep_poll_callback ends in ep_poll_safewake (an EPOLLIN wake-up of the
    # instance's own wait queue) when the item took the wake-up: it is not
    # disabled by EPOLLONESHOT and the key names an event it asks for.
    owner = getattr(ep, "owner", None)
    if owner is None or not owner.source.watchers:
        return
    events = ep.events_of(fd)
    key &= ~EP_PRIVATE_BITS
    if events & ~EP_PRIVATE_BITS and (not key or key & events):
        _wake(owner.source, EPOLLIN)


class File:
    """An open file: a wait queue plus what ``->poll()`` returns.

    Attributes
    ----------
    source : memcore.readylist.Source
        The wait queue epoll instances join; its mask is kept equal to
        :meth:`poll`.
    readable, writable : bool
        Opened for reading / writing.
    """

    readable = False
    writable = False
    kind = "file"

    def __init__(self):
        self.source = Source()
        self.refs = 1

    def poll(self):
        """Return the ``->poll()`` mask of the file now."""
        return 0

    def sync(self):
        """Push :meth:`poll` to every watching epoll item (no wake-up)."""
        m = self.poll()
        if m != self.source.mask:
            self.source.set_mask(m)

    def release(self):
        """The last descriptor closed (``->release()``)."""


class Pipe:
    """A pipe (``struct pipe_inode_info``): buffers, readers, writers, two wait queues.

    Parameters
    ----------
    max_usage : int, optional
        Buffers (default ``PIPE_DEF_BUFFERS``).

    Attributes
    ----------
    bufs : collections.deque of [int, bytearray]
        Each occupied buffer (one page) as its read offset and unread data,
        oldest first.
    readers, writers : int
        Open read and write ends.
    poll_usage : bool
        Set once the pipe has been polled; from then on every write wakes
        the readers (Linux does so for epoll's sake).
    """

    def __init__(self, max_usage=PIPE_DEF_BUFFERS):
        self.max_usage = int(max_usage)
        self.bufs = deque()
        self.readers = 0
        self.writers = 0
        self.poll_usage = False
        self.reader = PipeEnd(self, read=True)
        self.writer = PipeEnd(self, read=False)

    @property
    def nbytes(self):
        """int: bytes queued."""
        return sum(len(b[1]) for b in self.bufs)

    def empty(self):
        return not self.bufs

    def full(self):
        return len(self.bufs) >= self.max_usage

    def sync(self):
        self.reader.sync()
        self.writer.sync()


class PipeEnd(File):
    """One end of a :class:`Pipe`: the read end waits on ``rd_wait``, the
    write end on ``wr_wait``."""

    kind = "pipe"

    def __init__(self, pipe, read):
        super().__init__()
        self.pipe = pipe
        self.readable = read
        self.writable = not read
        if read:
            pipe.readers += 1
        else:
            pipe.writers += 1

    def poll(self):
        p = self.pipe
        p.poll_usage = True
        mask = 0
        if self.readable:
            if not p.empty():
                mask |= EPOLLIN | EPOLLRDNORM
            if not p.writers:
                mask |= EPOLLHUP
        else:
            if not p.full():
                mask |= EPOLLOUT | EPOLLWRNORM
            if not p.readers:
                mask |= EPOLLERR
        return mask

    def read(self, n):
        p = self.pipe
        if n == 0:
            return b""
        was_full = p.full()
        out = bytearray()
        while n and p.bufs:
            buf = p.bufs[0]            # [offset, data]
            chunk = buf[1][:n]
            del buf[1][:n]
            buf[0] += len(chunk)
            out += chunk
            n -= len(chunk)
            if not buf[1]:
                p.bufs.popleft()
        if not out and p.writers:
            raise _err(errno.EAGAIN, "read: pipe empty")
        p.sync()
        if was_full:
            _wake(p.writer.source, EPOLLOUT | EPOLLWRNORM)
        return bytes(out)

    def write(self, data):
        p = self.pipe
        total = len(data)
        if total == 0:
            return 0
        if not p.readers:
            raise _err(errno.EPIPE, "write: no reader")
        was_empty = p.empty()
        done = 0
        chars = total & (PAGE_SIZE - 1)
        if chars and not was_empty:
            last = p.bufs[-1]
            if last[0] + len(last[1]) + chars <= PAGE_SIZE:    # merge into its page
                last[1] += data[:chars]
                done = chars
        while done < total and not p.full():
            piece = bytearray(data[done: done + PAGE_SIZE])
            p.bufs.append([0, piece])
            done += len(piece)
        p.sync()
        if was_empty or p.poll_usage:
            _wake(p.reader.source, EPOLLIN | EPOLLRDNORM)
        if done == 0:
            raise _err(errno.EAGAIN, "write: pipe full")
        return done

    def release(self):
        p = self.pipe
        if self.readable:
            p.readers -= 1
        else:
            p.writers -= 1
        p.sync()
        if (not p.readers) != (not p.writers):
            _wake(p.reader.source, 0, nr_exclusive=0)
            _wake(p.writer.source, 0, nr_exclusive=0)


class Socket(File):
    """One end of a connected ``AF_UNIX`` stream socket pair.

    Notes
    -----
    Each write queues one message on the peer's receive queue and wakes the
    peer (``EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND``); a read that
    consumes a whole message frees it, which wakes the *sender* with
    ``EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND`` while it is writable, as
    ``sock_wfree`` / ``unix_write_space`` do.  A socket is writable while
    four times the bytes it has in flight (payload plus ``SKB_OVERHEAD``
    per message) fit in ``sndbuf`` -- Linux counts ``skb->truesize``, so
    the point where a real socket stops being writable differs by the
    allocator's rounding.  Closing one end sets the peer's shutdown to both
    directions (``EPOLLIN | EPOLLRDHUP | EPOLLHUP``) and, if the closing
    end still had unread data, an ``ECONNRESET`` error (``EPOLLERR``).
    """

    kind = "socket"
    readable = True
    writable = True

    def __init__(self, sndbuf=SK_SNDBUF):
        super().__init__()
        self.sndbuf = int(sndbuf)
        self.rxq = deque()       # messages (bytearray), oldest first
        self.inflight = 0        # bytes charged for messages we sent, unread
        self.shutdown = 0
        self.err = 0
        self.peer = None
        self._charges = deque()  # per queued message: what its sender was charged

    def _writable(self):
        return self.inflight * 4 <= self.sndbuf

    def poll(self):
        mask = 0
        if self.err:
            mask |= EPOLLERR
        if self.shutdown == _SHUTDOWN_MASK:
            mask |= EPOLLHUP
        if self.shutdown & _RCV_SHUTDOWN:
            mask |= EPOLLRDHUP | EPOLLIN | EPOLLRDNORM
        if self.rxq:
            mask |= EPOLLIN | EPOLLRDNORM
        if self._writable():
            mask |= EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND
        return mask

    def _sync_both(self):
        self.sync()
        if self.peer is not None:
            self.peer.sync()

    def read(self, n):
        if n == 0:
            return b""
        out = bytearray()
        freed = 0
        while n and self.rxq:
            msg = self.rxq[0]
            chunk = msg[:n]
            del msg[:n]
            out += chunk
            n -= len(chunk)
            if not msg:
                self.rxq.popleft()
                freed += 1
        if not out:
            if self.err:
                code, self.err = self.err, 0
                self._sync_both()
                raise _err(code, "read")
            if self.shutdown & _RCV_SHUTDOWN:
                return b""
            raise _err(errno.EAGAIN, "read: nothing queued")
        sender = self.peer
        if sender is not None:
            sender.inflight -= sum(self._charges.popleft() for _ in range(freed))
        self._sync_both()
        if sender is not None:
            for _ in range(freed):
                if sender._writable():
                    _wake(sender.source, EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND)
        return bytes(out)

    def write(self, data):
        if len(data) == 0:
            return 0
        # unix_stream_sendmsg: our own shutdown first, then the pending error
        # (sock_alloc_send_pskb), then the peer's state.
        if self.shutdown & _SEND_SHUTDOWN:
            raise _err(errno.EPIPE, "write: shut down for writing")
        if self.err:
            code, self.err = self.err, 0
            self._sync_both()
            raise _err(code, "write")
        other = self.peer
        if other is None or other.shutdown & _RCV_SHUTDOWN:
            raise _err(errno.EPIPE, "write: peer gone")
        if self.inflight >= self.sndbuf:
            raise _err(errno.EAGAIN, "write: send buffer full")
        # One message of at most half the buffer, as unix_stream_sendmsg sizes it.
        room = min(len(data), (self.sndbuf >> 1) - 64, self.sndbuf - self.inflight)
        other.rxq.append(bytearray(data[:room]))
        other._charges.append(room + SKB_OVERHEAD)
        self.inflight += room + SKB_OVERHEAD
        self._sync_both()
        _wake(other.source, EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND)
        return room

    def shut(self, how):
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise _err(errno.EINVAL, f"shutdown: how {how}")
        mode = {SHUT_RD: _RCV_SHUTDOWN, SHUT_WR: _SEND_SHUTDOWN, SHUT_RDWR: _SHUTDOWN_MASK}[how]
        self.shutdown |= mode
        peer = self.peer
        if peer is not None:
            if mode & _RCV_SHUTDOWN:
                peer.shutdown |= _SEND_SHUTDOWN
            if mode & _SEND_SHUTDOWN:
                peer.shutdown |= _RCV_SHUTDOWN
        self._sync_both()
        _wake(self.source, 0, nr_exclusive=0)
        if peer is not None:
            _wake(peer.source, 0, nr_exclusive=0)

    def release(self):
        peer = self.peer
        self.shutdown = _SHUTDOWN_MASK
        if peer is not None:
            peer.shutdown = _SHUTDOWN_MASK
            if self.rxq:
                peer.err = errno.ECONNRESET
            peer.peer = None
            self.peer = None
            peer.sync()
            _wake(peer.source, 0, nr_exclusive=0)
            while self.rxq:                 # purge: each freed message is peer's
                self.rxq.popleft()
                peer.inflight -= self._charges.popleft()
                peer.sync()
                if peer._writable():
                    _wake(peer.source, EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND)


def _socket_pair(sndbuf):
    a, b = Socket(sndbuf), Socket(sndbuf)
    a.peer, b.peer = b, a
    return a, b


class _Instance(EventPoll):
    """An :class:`~memcore.readylist.EventPoll` that knows its epoll file, so
    that a wake-up reaching it can wake the file's own watchers."""

    owner = None


class EpollFile(File):
    """An epoll instance open in a process (holds a :class:`~memcore.readylist.EventPoll`).

    Another instance, ``poll`` or ``select`` may watch it: it is readable
    while an item on its ready list is ready (``ep_eventpoll_poll``).
    """

    kind = "epoll"

    def __init__(self, nr_open):
        super().__init__()
        self.ep = _Instance(nr_open=nr_open)
        self.ep.owner = self
        self.targets = {}          # fd -> File

    def poll(self):
        self.poll_items(1)
        return self.ep.poll()

    def poll_items(self, ready):
        """Poll the items at the head of the ready list, in order, until
        `ready` of them are found ready, as Linux does when it examines them
        (``ep_item_poll``).  Only an epoll item needs it here (every other
        file's readiness is kept current); its poll is its own instance's,
        which may take stale items off that instance's ready list."""
        found = 0
        for fd in self.ep.ready_list().tolist():
            if found >= ready:
                break
            target = self.targets[fd]
            if isinstance(target, EpollFile):
                target.sync()
            if self.ep.mask_of(fd) & self.ep.events_of(fd):
                found += 1

    def nested(self):
        """The epoll files registered in this one."""
        return [t for t in self.targets.values() if isinstance(t, EpollFile)]

    def depth_below(self):
        """Links in the longest chain of epoll files inside this one."""
        return max((1 + t.depth_below() for t in self.nested()), default=0)

    def depth_above(self):
        """Links in the longest chain of epoll files holding this one."""
        return max((1 + ep.owner.depth_above() for ep, _fd, _x in self.source.watchers
                    if getattr(ep, "owner", None) is not None), default=0)

    def contains(self, other):
        """Whether `other` is this file or inside it, at any depth."""
        return other is self or any(t.contains(other) for t in self.nested())

    def release(self):
        for fd in list(self.targets):
            self.ep.ctl_del(fd)
        self.targets.clear()


class Process:
    """A process's file table and the I/O calls on it.

    Every descriptor behaves as if opened ``O_NONBLOCK`` and every wait has
    a zero timeout: a call that would block raises ``OSError(EAGAIN)``
    (:class:`BlockingIOError`).  Errors are ``OSError`` with Linux's errno.

    Parameters
    ----------
    nr_open : int, optional
        ``RLIMIT_NOFILE``: descriptors are allocated lowest-first below it.
    sndbuf : int, optional
        Send-buffer size of new sockets.

    Attributes
    ----------
    stats : dict
        ``syscalls``, and ``bytes_from_user`` / ``bytes_to_user``: data and
        the ``epoll_event`` / ``pollfd`` / ``fd_set`` structures copied
        across the user/kernel boundary.

    Examples
    --------
    >>> from pyapi.io import Process
    >>> from memcore.readylist import EPOLLIN, EPOLLET, EPOLL_CTL_ADD
    >>> p = Process()
    >>> r, w = p.pipe()
    >>> ep = p.epoll_create1()
    >>> p.epoll_ctl(ep, EPOLL_CTL_ADD, r, EPOLLIN | EPOLLET)
    >>> p.write(w, b"hello")
    5
    >>> p.epoll_wait(ep, 8)
    [(0, 1)]
    >>> p.read(r, 2), p.epoll_wait(ep, 8)      # edge-triggered: no new edge
    (b'he', [])
    >>> p.close(w); p.epoll_wait(ep, 8)        # writer gone: hang-up
    [(0, 17)]
    """

    def __init__(self, nr_open=RLIMIT_NOFILE, sndbuf=SK_SNDBUF):
        self.nr_open = int(nr_open)
        if self.nr_open < 1:
            raise ValueError(f"nr_open must be positive, got {self.nr_open}")
        self.sndbuf = int(sndbuf)
        self.files = {}
        self.stats = {"syscalls": 0, "bytes_from_user": 0, "bytes_to_user": 0}

    # -- the file table -----------------------------------------------------

    def _install(self, f):
        for fd in range(self.nr_open):
            if fd not in self.files:
                self.files[fd] = f
                return fd
        raise _err(errno.EMFILE, "too many open files")

    def _file(self, fd, what):
        f = self.files.get(fd) if isinstance(fd, (int, np.integer)) else None
        if f is None:
            raise _err(errno.EBADF, f"{what}: fd {fd!r} is not open")
        return f

    def _call(self):
        self.stats["syscalls"] += 1

    def pipe(self, max_usage=PIPE_DEF_BUFFERS):
        """Create a pipe; return ``(read_fd, write_fd)``."""
        self._call()
        if sum(fd not in self.files for fd in range(self.nr_open)) < 2:
            raise _err(errno.EMFILE, "pipe")
        p = Pipe(max_usage)
        return self._install(p.reader), self._install(p.writer)

    def socketpair(self):
        """Create a connected ``AF_UNIX`` stream pair; return its two fds."""
        self._call()
        if sum(fd not in self.files for fd in range(self.nr_open)) < 2:
            raise _err(errno.EMFILE, "socketpair")
        a, b = _socket_pair(self.sndbuf)
        return self._install(a), self._install(b)

    def epoll_create1(self, flags=0):
        """Create an epoll instance; return its fd."""
        self._call()
        if flags & ~0o2000000:                   # only EPOLL_CLOEXEC
            raise _err(errno.EINVAL, "epoll_create1: flags")
        return self._install(EpollFile(self.nr_open))

    def epoll_create(self, size=1):
        """Create an epoll instance (`size` must be positive, else ``EINVAL``)."""
        if size <= 0:
            self._call()
            raise _err(errno.EINVAL, "epoll_create: size")
        return self.epoll_create1()

    def close(self, fd):
        """Close `fd`; the file is released (epoll items on it removed first,
        then the file's ``->release()`` runs, as ``__fput`` does)."""
        self._call()
        f = self._file(fd, "close")
        del self.files[fd]
        f.refs -= 1
        if f.refs == 0:
            for ep, wfd, _excl in f.source.watchers:
                ep.ctl_del(wfd)
                for owner in list(self.files.values()):
                    if isinstance(owner, EpollFile) and owner.ep is ep:
                        owner.targets.pop(wfd, None)
            f.release()

    def shutdown(self, fd, how):
        """Shut down part of a socket connection (``SHUT_RD``, ``SHUT_WR``, ``SHUT_RDWR``)."""
        self._call()
        f = self._file(fd, "shutdown")
        if not isinstance(f, Socket):
            raise _err(errno.ENOTSOCK, f"shutdown: fd {fd}")
        f.shut(how)

    # -- data ----------------------------------------------------------------

    def read(self, fd, n):
        """Read up to `n` bytes (``b""`` at end of file)."""
        self._call()
        f = self._file(fd, "read")
        if isinstance(f, EpollFile):
            raise _err(errno.EINVAL, f"read: fd {fd} is an epoll instance")
        if not f.readable:
            raise _err(errno.EBADF, f"read: fd {fd} is not open for reading")
        if n < 0:
            raise _err(errno.EINVAL, "read: negative count")
        data = f.read(int(n))
        self.stats["bytes_to_user"] += len(data)
        return data

    def write(self, fd, data):
        """Write bytes; return how many were taken."""
        self._call()
        f = self._file(fd, "write")
        if isinstance(f, EpollFile):
            raise _err(errno.EINVAL, f"write: fd {fd} is an epoll instance")
        if not f.writable:
            raise _err(errno.EBADF, f"write: fd {fd} is not open for writing")
        n = f.write(bytes(data))
        self.stats["bytes_from_user"] += n
        return n

    # -- readiness -------------------------------------------------------------

    def _epoll(self, epfd, what):
        f = self._file(epfd, what)
        if not isinstance(f, EpollFile):
            raise _err(errno.EINVAL, f"{what}: fd {epfd} is not an epoll instance")
        return f

    def epoll_ctl(self, epfd, op, fd, events=0):
        """``epoll_ctl(epfd, op, fd, {events})``.

        Raises
        ------
        OSError
            ``EBADF`` (either fd not open), ``EINVAL`` (epfd not epoll, fd ==
            epfd, bad op or ``EPOLLEXCLUSIVE`` misuse), ``EEXIST``,
            ``ENOENT``; ``EPERM`` for a file that cannot be polled.
        """
        self._call()
        epf = self._file(epfd, "epoll_ctl")
        tf = self._file(fd, "epoll_ctl")
        if type(tf).poll is File.poll:
            raise _err(errno.EPERM, f"epoll_ctl: fd {fd} cannot be polled")
        if not isinstance(epf, EpollFile) or epf is tf:
            raise _err(errno.EINVAL, "epoll_ctl: epfd is not an epoll instance or equals fd")
        ep = epf.ep
        if isinstance(tf, EpollFile) and op in (rl.EPOLL_CTL_ADD, rl.EPOLL_CTL_MOD):
            # Checked before the target is polled: polling an epoll file
            # changes its ready list, and Linux polls only an insert or a
            # modify that goes ahead.
            if events & EPOLLEXCLUSIVE:
                raise _err(errno.EINVAL, "epoll_ctl: EPOLLEXCLUSIVE on an epoll instance")
            if op == rl.EPOLL_CTL_ADD and (tf.contains(epf) or tf.depth_below() + 1
                                           + epf.depth_above() > EP_MAX_NESTS):
                raise _err(errno.ELOOP, f"epoll_ctl: fd {fd} would close a loop or nest "
                                        f"epoll instances more than {EP_MAX_NESTS} deep")
            if (fd in ep) != (op == rl.EPOLL_CTL_MOD):
                raise _err(errno.EEXIST if op == rl.EPOLL_CTL_ADD else errno.ENOENT,
                           f"epoll_ctl: fd {fd}")
        if op in (rl.EPOLL_CTL_ADD, rl.EPOLL_CTL_MOD):
            self.stats["bytes_from_user"] += rl.EPOLL_EVENT_SIZE
            tf.sync()                            # ep_item_poll at insert / modify
        queued = fd in ep and fd in ep.ready_list().tolist()
        if op == rl.EPOLL_CTL_ADD:
            ep.ctl_add(fd, events, source=tf.source)
            epf.targets[fd] = tf
        elif op == rl.EPOLL_CTL_MOD:
            ep.ctl_mod(fd, events)
        elif op == rl.EPOLL_CTL_DEL:
            ep.ctl_del(fd)
            epf.targets.pop(fd, None)
        else:
            raise _err(errno.EINVAL, f"epoll_ctl: op {op}")
        if not queued and fd in ep.ready_list().tolist():
            # ep_insert / ep_modify queued a ready item: they wake the
            # instance's own pollers too.
            _wake(epf.source, EPOLLIN)

    def epoll_wait(self, epfd, maxevents, timeout=0):
        """``epoll_wait`` (timeout must be 0): a list of ``(fd, events)``."""
        self._call()
        epf = self._epoll(epfd, "epoll_wait")
        if timeout != 0:
            raise ValueError("only timeout=0 is modelled (nothing else runs while we block)")
        if 0 < maxevents <= rl.EP_MAX_EVENTS:      # else wait() refuses it, polling nothing
            epf.poll_items(maxevents)
        fds, evs = epf.ep.wait(maxevents)
        self.stats["bytes_to_user"] += rl.EPOLL_EVENT_SIZE * len(fds)
        return list(zip(fds.tolist(), evs.tolist()))

    def _masks(self, fds):
        out = {}
        for fd in fds:
            f = self.files.get(fd)
            if f is not None:
                f.sync()                         # an epoll file's is ep_eventpoll_poll
                out[fd] = f.source.mask
        return out

    def poll(self, pollfds, timeout=0):
        """``poll`` over ``[(fd, events), ...]``: ``[(fd, revents)]`` for
        entries with non-zero revents, in order; counts 8 bytes in and 2
        bytes out per entry."""
        self._call()
        if timeout != 0:
            raise ValueError("only timeout=0 is modelled")
        pollfds = [(int(fd), int(ev)) for fd, ev in pollfds]
        if len(pollfds) > self.nr_open:
            raise _err(errno.EINVAL, "poll: nfds exceeds RLIMIT_NOFILE")
        ps = rl.PollSet(nr_open=rl.NR_OPEN_MAX)
        for fd, m in self._masks([fd for fd, _ in pollfds if fd >= 0]).items():
            ps.open(fd, m)
        for fd, ev in pollfds:
            ps.add(fd, ev)
        ps.poll_into()
        self.stats["bytes_from_user"] += ps.stats["bytes_from_user"]
        self.stats["bytes_to_user"] += ps.stats["bytes_to_user"]
        return [(fd, int(r)) for (fd, _), r in zip(pollfds, ps.revents.tolist()) if r]

    def select(self, rlist, wlist, xlist, timeout=0):
        """``select`` with a zero timeout: three lists of ready fds.

        Raises
        ------
        ValueError
            A descriptor at or above ``FD_SETSIZE``.
        OSError
            ``EBADF`` if a set names a closed descriptor.
        """
        self._call()
        if timeout != 0:
            raise ValueError("only timeout=0 is modelled")
        ss = rl.SelectSet(nr_open=max(self.nr_open, rl.FD_SETSIZE))
        for lst, kw in ((rlist, {"read": True}), (wlist, {"read": False, "write": True}),
                        (xlist, {"read": False, "exceptional": True})):
            for fd in lst:
                ss.add(int(fd), **kw)
        for fd, m in self._masks(range(ss.nfds)).items():
            ss.open(fd, m)
        try:
            r, w, x = ss.select()
        finally:
            self.stats["bytes_from_user"] += ss.stats["bytes_from_user"]
            self.stats["bytes_to_user"] += ss.stats["bytes_to_user"]
        return r.tolist(), w.tolist(), x.tolist()
