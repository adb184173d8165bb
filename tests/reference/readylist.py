"""Reference model of memcore.readylist: epoll, poll and select in plain Python.

Written straight from the shape of Linux's fs/eventpoll.c and fs/select.c,
with Python lists for the ready list, the transfer list and the overflow
list, and dicts for the interest set.  Slow and obvious on purpose.
"""
import errno

EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLNVAL = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
EPOLLRDNORM, EPOLLRDBAND, EPOLLWRNORM, EPOLLWRBAND = 0x40, 0x80, 0x100, 0x200
EPOLLRDHUP = 0x2000
EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET = 1 << 28, 1 << 29, 1 << 30, 1 << 31
PRIVATE = EPOLLEXCLUSIVE | EPOLLWAKEUP | EPOLLONESHOT | EPOLLET
EXCLUSIVE_OK = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE


def _err(code):
    return OSError(code, errno.errorcode[code])


class RefEventPoll:
    """One epoll instance."""

    def __init__(self):
        self.events = {}        # fd -> stored events (with ERR|HUP and flags)
        self.mask = {}          # fd -> current readiness
        self.rdllist = []       # fds, head first
        self.txlist = None      # list during a transfer, else None
        self.ovflist = None     # list (newest first) during a transfer, else None
        self.waiters = 0
        self.wakeups = 0
        self.delivered = 0

    # helpers
    def linked(self, fd):
        return fd in self.rdllist or (self.txlist is not None and fd in self.txlist)

    def _wake(self):
        if self.waiters:
            self.waiters -= 1
            self.wakeups += 1

    def _queue_if_hot(self, fd):
        if self.mask[fd] & self.events[fd] and not self.linked(fd):
            self.rdllist.append(fd)
            self._wake()

    # epoll_ctl
    def ctl_add(self, fd, events, flags=0, source=None):
        ev = events | flags
        if ev & EPOLLEXCLUSIVE and ev & ~EXCLUSIVE_OK:
            raise _err(errno.EINVAL)
        if fd in self.events:
            raise _err(errno.EEXIST)
        self.events[fd] = ev | EPOLLERR | EPOLLHUP
        self.mask[fd] = source.mask if source is not None else 0
        if source is not None:
            source.attach(self, fd, bool(ev & EPOLLEXCLUSIVE))
        self._queue_if_hot(fd)

    def ctl_mod(self, fd, events, flags=0):
        ev = events | flags
        if ev & EPOLLEXCLUSIVE:
            raise _err(errno.EINVAL)
        if fd not in self.events:
            raise _err(errno.ENOENT)
        if self.events[fd] & EPOLLEXCLUSIVE:
            raise _err(errno.EINVAL)
        self.events[fd] = ev | EPOLLERR | EPOLLHUP
        self._queue_if_hot(fd)

    def ctl_del(self, fd):
        if fd not in self.events:
            raise _err(errno.ENOENT)
        if fd in self.rdllist:
            self.rdllist.remove(fd)
        del self.events[fd]
        del self.mask[fd]

    # source side
    def callback(self, fd, key):
        ev = self.events[fd]
        ewake = False
        if ev & ~PRIVATE and not (key and not key & ev):
            if self.ovflist is not None:
                if fd not in self.ovflist:
                    self.ovflist.insert(0, fd)
            elif not self.linked(fd):
                self.rdllist.append(fd)
            if self.waiters:
                if ev & EPOLLEXCLUSIVE:
                    k = key & (EPOLLIN | EPOLLOUT)
                    ewake = (k == 0) or (k == EPOLLIN and bool(ev & EPOLLIN)) or (
                        k == EPOLLOUT and bool(ev & EPOLLOUT))
                self._wake()
        if not ev & EPOLLEXCLUSIVE:
            ewake = True
        return ewake

    def ready(self, fd, events):
        if fd not in self.events:
            raise _err(errno.ENOENT)
        self.mask[fd] |= events & ~PRIVATE
        return self.callback(fd, events & ~PRIVATE)

    def unready(self, fd, events):
        if fd not in self.events:
            raise _err(errno.ENOENT)
        self.mask[fd] &= ~events

    # the instance's own ->poll()
    def poll(self):
        while self.rdllist:
            fd = self.rdllist[0]
            if self.mask[fd] & self.events[fd]:
                return EPOLLIN | EPOLLRDNORM
            self.rdllist.pop(0)
        return 0

    # epoll_wait
    def scan_begin(self):
        self.txlist, self.rdllist, self.ovflist = self.rdllist, [], []

    def scan_send(self, maxevents):
        out = []
        while self.txlist and len(out) < maxevents:
            fd = self.txlist.pop(0)
            rev = self.mask[fd] & self.events[fd]
            if not rev:
                continue
            out.append((fd, rev))
            if self.events[fd] & EPOLLONESHOT:
                self.events[fd] &= PRIVATE
            elif not self.events[fd] & EPOLLET:
                self.rdllist.append(fd)
        self.delivered += len(out)
        return out

    def scan_end(self):
        front = [fd for fd in reversed(self.ovflist) if not self.linked(fd)]
        # ovflist items are re-added in arrival order; txlist leftovers go first.
        self.rdllist = self.txlist + front + self.rdllist
        self.txlist = None
        self.ovflist = None
        if self.rdllist:
            self._wake()

    def wait(self, maxevents):
        if not self.rdllist:
            return []
        self.scan_begin()
        out = self.scan_send(maxevents)
        self.scan_end()
        return out


class RefSource:
    """A wait queue plus readiness."""

    def __init__(self, mask=0):
        self.mask = mask
        self.queue = []       # (ep, fd, exclusive), head first

    def attach(self, ep, fd, exclusive):
        if exclusive:
            self.queue.append((ep, fd, True))
        else:
            self.queue.insert(0, (ep, fd, False))

    def detach(self, ep, fd):
        self.queue = [e for e in self.queue if not (e[0] is ep and e[1] == fd)]

    def set_mask(self, mask):
        self.mask = mask & ~PRIVATE
        for ep, fd, _ in self.queue:
            ep.mask[fd] = self.mask

    def wake(self, key, nr_exclusive=1):
        ran = 0
        for ep, fd, excl in list(self.queue):
            ran += 1
            if ep.callback(fd, key) and excl:
                nr_exclusive -= 1
                if nr_exclusive == 0:
                    break
        return ran

    def ready(self, events):
        self.set_mask(self.mask | events)
        return self.wake(events)


def ref_poll(pollfds, masks):
    """poll(2) over [(fd, events)] with masks {fd: readiness} (missing: closed)."""
    out = []
    for fd, events in pollfds:
        if fd < 0:
            out.append(0)
        elif fd not in masks:
            out.append(EPOLLNVAL)
        else:
            out.append(masks[fd] & (events | EPOLLERR | EPOLLHUP))
    return out


def ref_select(rfds, wfds, xfds, masks):
    """select(2) over sets of fds; returns three sorted lists or raises EBADF."""
    for fd in set(rfds) | set(wfds) | set(xfds):
        if fd not in masks:
            raise _err(errno.EBADF)
    rin = EPOLLRDNORM | EPOLLRDBAND | EPOLLIN | EPOLLHUP | EPOLLERR
    wout = EPOLLWRBAND | EPOLLWRNORM | EPOLLOUT | EPOLLERR
    return (sorted(fd for fd in set(rfds) if masks[fd] & rin),
            sorted(fd for fd in set(wfds) if masks[fd] & wout),
            sorted(fd for fd in set(xfds) if masks[fd] & EPOLLPRI))
