"""epoll's ready list, and the select/poll scans it replaces.

:class:`EventPoll` models one epoll instance of Linux (``fs/eventpoll.c``):
the interest set (``epoll_ctl``), the ready list (``rdllist``) that a
source's wake-up callback (``ep_poll_callback``) appends to, the transfer of
ready items to user space (``ep_send_events``) and the overflow list
(``ovflist``) that keeps wake-ups arriving during a transfer.  :class:`Source`
is a wait queue several instances can watch (``EPOLLEXCLUSIVE`` wakes one of
them).  :class:`PollSet` and :class:`SelectSet` are the ``poll(2)`` and
``select(2)`` baselines: they scan every watched descriptor on every call and
count the bytes copied between user and kernel space.

Descriptors index fd-indexed numpy arrays grown geometrically, so every
``epoll_ctl`` is O(1) amortised; ``wait`` costs O(items taken off the ready
list), i.e. O(returned) plus the items found no longer ready.  Errors are
Linux's: an :class:`OSError` whose ``errno`` is what ``epoll_ctl`` or
``epoll_wait`` would return (``EEXIST``, ``ENOENT``, ``EINVAL``, ``EBADF``).
"""
import errno as _errno
import os as _os

import numpy as np

cimport numpy as cnp

from libc.errno cimport EBADF, EEXIST, EINVAL, ENOENT
from libc.string cimport memcpy, memset

from memcore._typedefs cimport intp_t, int16_t, int32_t, uint8_t, uint16_t, uint32_t, uint64_t

cnp.import_array()

# --------------------------------------------------------------------------
# Constants, valued as Linux's <sys/epoll.h>, <poll.h> and <sys/select.h>.

#: Readable (``POLLIN``).
EPOLLIN = 0x001
#: Urgent / priority data (``POLLPRI``).
EPOLLPRI = 0x002
#: Writable (``POLLOUT``).
EPOLLOUT = 0x004
#: Error condition; always reported whether asked for or not.
EPOLLERR = 0x008
#: Hang-up; always reported whether asked for or not.
EPOLLHUP = 0x010
#: Invalid descriptor (``POLLNVAL``; poll only).
EPOLLNVAL = 0x020
#: Normal data readable.
EPOLLRDNORM = 0x040
#: Priority band data readable.
EPOLLRDBAND = 0x080
#: Normal data writable.
EPOLLWRNORM = 0x100
#: Priority band data writable.
EPOLLWRBAND = 0x200
#: Message available (unused by Linux).
EPOLLMSG = 0x400
#: Peer closed its writing half (stream sockets).
EPOLLRDHUP = 0x2000
#: Flag: wake only one of the instances watching the source (ADD only).
EPOLLEXCLUSIVE = 1 << 28
#: Flag: keep the system awake while the event is pending (accepted, no
#: power-management model behind it).
EPOLLWAKEUP = 1 << 29
#: Flag: report once, then disable the item until ``EPOLL_CTL_MOD``.
EPOLLONESHOT = 1 << 30
#: Flag: edge-triggered; a reported item is not put back on the ready list.
EPOLLET = 1 << 31
#: The flag bits epoll keeps to itself (``EP_PRIVATE_BITS``).
EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
#: Bits allowed together with ``EPOLLEXCLUSIVE`` (``EPOLLEXCLUSIVE_OK_BITS``).
EPOLLEXCLUSIVE_OK_BITS = (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP
                          | EPOLLET | EPOLLEXCLUSIVE)

#: ``epoll_ctl`` operations.
EPOLL_CTL_ADD = 1
EPOLL_CTL_DEL = 2
EPOLL_CTL_MOD = 3

POLLIN = EPOLLIN
POLLPRI = EPOLLPRI
POLLOUT = EPOLLOUT
POLLERR = EPOLLERR
POLLHUP = EPOLLHUP
POLLNVAL = EPOLLNVAL

#: select's ``fd_set`` holds descriptors 0 .. FD_SETSIZE - 1.
FD_SETSIZE = 1024
#: Default limit on descriptor numbers (Linux's ``fs.nr_open`` default).
NR_OPEN = 1 << 20
#: Largest descriptor limit an instance accepts.
NR_OPEN_MAX = 1 << 30
#: ``sizeof(struct epoll_event)`` on x86-64 (packed: u32 events, u64 data).
EPOLL_EVENT_SIZE = 12
#: ``sizeof(struct pollfd)``: int fd, short events, short revents.
POLLFD_SIZE = 8
#: ``sizeof(((struct pollfd *)0)->revents)``: what poll copies back per fd.
POLLFD_REVENTS_SIZE = 2
#: Largest ``maxevents`` epoll_wait accepts (``INT_MAX / 12``).
EP_MAX_EVENTS = 0x7FFFFFFF // EPOLL_EVENT_SIZE

# select's classification of ->poll() bits (fs/select.c).
POLLIN_SET = EPOLLRDNORM | EPOLLRDBAND | EPOLLIN | EPOLLHUP | EPOLLERR
POLLOUT_SET = EPOLLWRBAND | EPOLLWRNORM | EPOLLOUT | EPOLLERR
POLLEX_SET = EPOLLPRI

#: Names of the counters in :attr:`EventPoll.stats`, in slot order.
STAT_NAMES = ("ctl", "callbacks", "queued", "ovf_queued", "waits", "examined",
              "delivered", "dropped", "requeued", "wakeups",
              "bytes_to_user", "bytes_from_user")

cdef uint32_t _PRIVATE = EPOLL_WAKEUP | EPOLL_ONESHOT | EPOLL_ET | EPOLL_EXCLUSIVE
cdef uint32_t _POLLIN_SET = EPOLL_RDNORM | EPOLL_RDBAND | EPOLL_IN | EPOLL_HUP | EPOLL_ERR
cdef uint32_t _POLLOUT_SET = EPOLL_WRBAND | EPOLL_WRNORM | EPOLL_OUT | EPOLL_ERR
cdef uint32_t _POLLEX_SET = EPOLL_PRI


# --------------------------------------------------------------------------
# The C kernel.

cdef inline void _list_add_tail(eventpoll_t *ep, rlist_t *l, int32_t i) noexcept nogil:
    ep.rdl_prev[i] = l.tail
    ep.rdl_next[i] = EP_NULL
    if l.tail == EP_NULL:
        l.head = i
    else:
        ep.rdl_next[l.tail] = i
    l.tail = i
    l.count += 1


cdef inline void _list_add_head(eventpoll_t *ep, rlist_t *l, int32_t i) noexcept nogil:
    ep.rdl_next[i] = l.head
    ep.rdl_prev[i] = EP_NULL
    if l.head == EP_NULL:
        l.tail = i
    else:
        ep.rdl_prev[l.head] = i
    l.head = i
    l.count += 1


cdef inline void _list_del(eventpoll_t *ep, rlist_t *l, int32_t i) noexcept nogil:
    cdef int32_t p = ep.rdl_prev[i]
    cdef int32_t n = ep.rdl_next[i]
    if p == EP_NULL:
        l.head = n
    else:
        ep.rdl_next[p] = n
    if n == EP_NULL:
        l.tail = p
    else:
        ep.rdl_prev[n] = p
    ep.rdl_next[i] = EP_NULL
    ep.rdl_prev[i] = EP_NULL
    l.count -= 1


cdef inline void _wake_waiter(eventpoll_t *ep) noexcept nogil:
    # wake_up(&ep->wq): one task blocked in epoll_wait leaves the queue.
    if ep.waiters > 0:
        ep.waiters -= 1
        ep.stats[ST_WAKEUPS] += 1


cdef inline void _queue_if_hot(eventpoll_t *ep, int32_t fd) noexcept nogil:
    # The tail of ep_insert / ep_modify: poll the item, queue it if ready.
    if (ep.revents[fd] & ep.events[fd]) and not (ep.state[fd] & EPI_LINKED):
        _list_add_tail(ep, &ep.rdllist, fd)
        ep.state[fd] |= EPI_LINKED
        ep.stats[ST_QUEUED] += 1
        _wake_waiter(ep)


cdef int ep_insert(eventpoll_t *ep, int32_t fd, uint32_t events) noexcept nogil:
    if ep.state[fd] & EPI_REGISTERED:
        return -EEXIST
    ep.state[fd] = EPI_REGISTERED
    ep.events[fd] = events | EPOLL_ERR | EPOLL_HUP
    ep.ovf_next[fd] = EP_UNACTIVE
    ep.rdl_next[fd] = EP_NULL
    ep.rdl_prev[fd] = EP_NULL
    ep.nitems += 1
    ep.stats[ST_CTL] += 1
    _queue_if_hot(ep, fd)
    return 0


cdef int ep_modify(eventpoll_t *ep, int32_t fd, uint32_t events) noexcept nogil:
    if not (ep.state[fd] & EPI_REGISTERED):
        return -ENOENT
    if ep.events[fd] & EPOLL_EXCLUSIVE:
        return -EINVAL
    ep.events[fd] = events | EPOLL_ERR | EPOLL_HUP
    ep.stats[ST_CTL] += 1
    _queue_if_hot(ep, fd)
    return 0


cdef int ep_remove(eventpoll_t *ep, int32_t fd) noexcept nogil:
    if not (ep.state[fd] & EPI_REGISTERED):
        return -ENOENT
    if ep.state[fd] & EPI_LINKED:
        _list_del(ep, &ep.rdllist, fd)
    ep.state[fd] = 0
    ep.events[fd] = 0
    ep.revents[fd] = 0
    ep.nitems -= 1
    ep.stats[ST_CTL] += 1
    return 0


cdef void ep_set_revents(eventpoll_t *ep, int32_t fd, uint32_t mask) noexcept nogil:
    ep.revents[fd] = mask & ~_PRIVATE


cdef int ep_poll_callback(eventpoll_t *ep, int32_t fd, uint32_t pollflags) noexcept nogil:
    cdef uint32_t ev = ep.events[fd]
    cdef int ewake = 0
    ep.stats[ST_CALLBACKS] += 1
    pollflags &= ~_PRIVATE
    if (ev & ~_PRIVATE) == 0:
        pass                                   # disabled by EPOLLONESHOT
    elif pollflags and not (pollflags & ev):
        pass                                   # not an event this item wants
    else:
        if ep.ovflist != EP_UNACTIVE:
            # A transfer is under way: chain on ovflist (LIFO), once.
            if ep.ovf_next[fd] == EP_UNACTIVE:
                ep.ovf_next[fd] = ep.ovflist
                ep.ovflist = fd
                ep.stats[ST_OVF_QUEUED] += 1
        elif not (ep.state[fd] & EPI_LINKED):
            _list_add_tail(ep, &ep.rdllist, fd)
            ep.state[fd] |= EPI_LINKED
            ep.stats[ST_QUEUED] += 1
        if ep.waiters > 0:
            if ev & EPOLL_EXCLUSIVE:
                pollflags &= EPOLL_IN | EPOLL_OUT
                if pollflags == EPOLL_IN:
                    ewake = (ev & EPOLL_IN) != 0
                elif pollflags == EPOLL_OUT:
                    ewake = (ev & EPOLL_OUT) != 0
                elif pollflags == 0:
                    ewake = 1
            _wake_waiter(ep)
    if not (ev & EPOLL_EXCLUSIVE):
        ewake = 1
    return ewake


cdef uint32_t ep_eventpoll_poll(eventpoll_t *ep) noexcept nogil:
    cdef int32_t i = ep.rdllist.head
    cdef int32_t nxt
    while i != EP_NULL:
        if ep.revents[i] & ep.events[i]:
            return EPOLL_IN | EPOLL_RDNORM
        # Queued by a wake-up but not ready for what the item asks.
        nxt = ep.rdl_next[i]
        _list_del(ep, &ep.rdllist, i)
        ep.state[i] &= ~EPI_LINKED
        ep.stats[ST_DROPPED] += 1
        i = nxt
    return 0


cdef void ep_start_scan(eventpoll_t *ep) noexcept nogil:
    ep.txlist = ep.rdllist
    ep.rdllist.head = EP_NULL
    ep.rdllist.tail = EP_NULL
    ep.rdllist.count = 0
    ep.ovflist = EP_NULL


cdef intp_t ep_send_events(eventpoll_t *ep, int32_t *out_fds, uint32_t *out_events,
                           intp_t maxevents) noexcept nogil:
    cdef intp_t res = 0
    cdef int32_t i
    cdef uint32_t rev
    while ep.txlist.head != EP_NULL and res < maxevents:
        i = ep.txlist.head
        _list_del(ep, &ep.txlist, i)
        ep.state[i] &= ~EPI_LINKED
        ep.stats[ST_EXAMINED] += 1
        rev = ep.revents[i] & ep.events[i]
        if rev == 0:
            ep.stats[ST_DROPPED] += 1
            continue
        out_fds[res] = i
        out_events[res] = rev
        res += 1
        if ep.events[i] & EPOLL_ONESHOT:
            ep.events[i] &= _PRIVATE
        elif not (ep.events[i] & EPOLL_ET):
            _list_add_tail(ep, &ep.rdllist, i)
            ep.state[i] |= EPI_LINKED
            ep.stats[ST_REQUEUED] += 1
    ep.stats[ST_DELIVERED] += res
    ep.stats[ST_BYTES_TO_USER] += 12 * res
    return res


cdef void ep_done_scan(eventpoll_t *ep) noexcept nogil:
    cdef int32_t i = ep.ovflist
    cdef int32_t nxt
    while i != EP_NULL:
        nxt = ep.ovf_next[i]
        ep.ovf_next[i] = EP_UNACTIVE
        if not (ep.state[i] & EPI_LINKED):
            # ovflist is LIFO: adding each at the head restores FIFO order.
            _list_add_head(ep, &ep.rdllist, i)
            ep.state[i] |= EPI_LINKED
        i = nxt
    ep.ovflist = EP_UNACTIVE
    # list_splice(txlist, rdllist): items not handed out go back in front.
    if ep.txlist.head != EP_NULL:
        ep.rdl_next[ep.txlist.tail] = ep.rdllist.head
        if ep.rdllist.head == EP_NULL:
            ep.rdllist.tail = ep.txlist.tail
        else:
            ep.rdl_prev[ep.rdllist.head] = ep.txlist.tail
        ep.rdllist.head = ep.txlist.head
        ep.rdllist.count += ep.txlist.count
        ep.txlist.head = EP_NULL
        ep.txlist.tail = EP_NULL
        ep.txlist.count = 0
    if ep.rdllist.head != EP_NULL:
        _wake_waiter(ep)


cdef intp_t ep_wait(eventpoll_t *ep, int32_t *out_fds, uint32_t *out_events,
                    intp_t maxevents) noexcept nogil:
    cdef intp_t res
    ep.stats[ST_WAITS] += 1
    if ep.rdllist.head == EP_NULL:
        return 0                     # ep_events_available() is false
    ep_start_scan(ep)
    res = ep_send_events(ep, out_fds, out_events, maxevents)
    ep_done_scan(ep)
    return res


cdef intp_t poll_scan(const int32_t *fds, const int16_t *events, int16_t *revents,
                      intp_t nfds, const uint32_t *mask, intp_t nmask) noexcept nogil:
    cdef intp_t k, n = 0
    cdef int32_t fd
    cdef uint32_t m, r
    for k in range(nfds):
        fd = fds[k]
        if fd < 0:
            revents[k] = 0
            continue
        m = mask[fd] if fd < nmask else EPOLL_NVAL
        if m & EPOLL_NVAL:
            r = EPOLL_NVAL
        else:
            r = m & (<uint32_t>(<uint16_t>events[k]) | EPOLL_ERR | EPOLL_HUP)
        revents[k] = <int16_t>r
        if r:
            n += 1
    return n


cdef intp_t select_scan(intp_t nfds, uint64_t *inp, uint64_t *outp, uint64_t *exp,
                        const uint32_t *mask, intp_t nmask) noexcept nogil:
    cdef intp_t nwords = (nfds + 63) // 64
    cdef intp_t w, fd, n = 0
    cdef int b
    cdef uint64_t iw, ow, ew, allw, bit, ri, ro, re, valid
    cdef uint32_t m
    # max_select_fd(): every descriptor named in a set must be open.
    for w in range(nwords):
        allw = (inp[w] if inp else 0) | (outp[w] if outp else 0) | (exp[w] if exp else 0)
        for b in range(64):
            fd = w * 64 + b
            if fd >= nfds:
                break
            if (allw >> b) & 1:
                if fd >= nmask or (mask[fd] & EPOLL_NVAL):
                    return -EBADF
    for w in range(nwords):
        iw = inp[w] if inp else 0
        ow = outp[w] if outp else 0
        ew = exp[w] if exp else 0
        valid = <uint64_t>0xFFFFFFFFFFFFFFFF
        if (w + 1) * 64 > nfds:
            valid = (<uint64_t>1 << (nfds - w * 64)) - 1
        allw = (iw | ow | ew) & valid
        ri = ro = re = 0
        for b in range(64):
            bit = <uint64_t>1 << b
            if not (allw & bit):
                continue
            m = mask[w * 64 + b]
            if (iw & bit) and (m & _POLLIN_SET):
                ri |= bit
                n += 1
            if (ow & bit) and (m & _POLLOUT_SET):
                ro |= bit
                n += 1
            if (ew & bit) and (m & _POLLEX_SET):
                re |= bit
                n += 1
        if inp:
            inp[w] = ri
        if outp:
            outp[w] = ro
        if exp:
            exp[w] = re
    return n


# --------------------------------------------------------------------------
# Python faces.

def _oserror(int rc, what):
    code = -rc
    return OSError(code, f"{what}: {_os.strerror(code)}")


def _check_nr_open(nr_open):
    nr_open = int(nr_open)
    if not 1 <= nr_open <= NR_OPEN_MAX:
        raise ValueError(f"nr_open must be in 1..{NR_OPEN_MAX}, got {nr_open}")
    return nr_open


def _as_fd_array(fds, name, nr_open):
    a = np.ascontiguousarray(fds)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    if a.size == 0:
        return a.astype(np.int32)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
    lo = int(a.min())
    hi = int(a.max())
    if lo < 0 or hi >= nr_open:
        bad = int(np.flatnonzero((a < 0) | (a >= nr_open))[0])
        raise OSError(_errno.EBADF,
                      f"{name}[{bad}] = {int(a[bad])}: bad file descriptor "
                      f"(must be in 0..{nr_open - 1})")
    return a.astype(np.int32, copy=False)


def _as_events_array(events, n, name):
    a = np.asarray(events)
    if a.ndim == 0:
        a = np.full(n, a)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {a.shape}")
    if n and a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
    if n and (int(a.min()) < 0 or int(a.max()) > 0xFFFFFFFF):
        raise ValueError(f"{name} must hold 32-bit event masks")
    return np.ascontiguousarray(a, dtype=np.uint32)


cdef cnp.ndarray _out_array(a, int typenum, name):
    # A writable, C-contiguous, one-dimensional array of exactly `typenum`.
    if (type(a) is not np.ndarray or cnp.PyArray_TYPE(<cnp.ndarray>a) != typenum
            or cnp.PyArray_NDIM(<cnp.ndarray>a) != 1
            or not cnp.PyArray_ISCARRAY(<cnp.ndarray>a)):
        raise TypeError(f"{name} must be a writable contiguous 1-d numpy array of "
                        f"{cnp.PyArray_DescrFromType(typenum)}")
    return <cnp.ndarray>a


def _check_mask(events, what):
    events = int(events)
    if not 0 <= events <= 0xFFFFFFFF:
        raise ValueError(f"{what} must be a 32-bit event mask, got {events:#x}")
    return events


cdef class EventPoll:
    """One epoll instance: interest set, ready list and overflow list.

    Parameters
    ----------
    nr_open : int, optional
        Descriptors must be below this (Linux's ``fs.nr_open``, default
        ``2**20``); a larger one raises ``OSError(EBADF)``.
    capacity : int, optional
        Initial length of the fd-indexed arrays; they double as needed.

    Notes
    -----
    The model follows ``fs/eventpoll.c``:

    * ``ctl_add`` / ``ctl_mod`` store ``events | EPOLLERR | EPOLLHUP`` and,
      if the descriptor is ready now, append it to the ready list.
    * :meth:`ready` is the source's wake-up (``ep_poll_callback``): it marks
      the condition and appends the item to the ready list unless it is
      already there, disabled by ``EPOLLONESHOT``, or the event is not one
      it asked for.  An edge-triggered item that was handed out is queued
      again by the next call, whether or not it was ready before.
    * :meth:`wait` takes items off the ready list in order, polls each (an
      item whose condition was cleared by :meth:`unready` is dropped), puts
      level-triggered ones back at the tail, drops edge-triggered ones, and
      disables one-shot ones.
    * Wake-ups arriving while a transfer is under way (between
      :meth:`scan_begin` and :meth:`scan_end`) go on the overflow list and
      join the ready list when the transfer ends: first the items not handed
      out, then the overflow items in arrival order, then the re-queued
      level-triggered items -- the order ``ep_done_scan`` produces.

    Examples
    --------
    >>> from memcore.readylist import EventPoll, EPOLLIN, EPOLLET
    >>> ep = EventPoll()
    >>> ep.ctl_add(3, EPOLLIN)
    >>> ep.ctl_add(4, EPOLLIN, EPOLLET)
    >>> ep.ready(4, EPOLLIN), ep.ready(3, EPOLLIN)
    (True, True)
    >>> fds, events = ep.wait(8)
    >>> fds.tolist(), events.tolist()
    ([4, 3], [1, 1])
    >>> ep.wait(8)[0].tolist()        # the level-triggered one stays ready
    [3]
    """

    cdef eventpoll_t ep
    cdef readonly intp_t nr_open
    cdef object _state, _events, _revents, _next, _prev, _ovf, _stats
    cdef dict _sources

    def __cinit__(self, nr_open=NR_OPEN, capacity=64):
        self.nr_open = _check_nr_open(nr_open)
        capacity = int(capacity)
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._stats = np.zeros(N_STATS, dtype=np.uint64)
        self._sources = {}
        self._alloc(min(capacity, self.nr_open))
        self.ep.rdllist.head = EP_NULL
        self.ep.rdllist.tail = EP_NULL
        self.ep.rdllist.count = 0
        self.ep.txlist = self.ep.rdllist
        self.ep.ovflist = EP_UNACTIVE
        self.ep.nitems = 0
        self.ep.waiters = 0

    cdef _alloc(self, intp_t capacity):
        self._state = np.zeros(capacity, dtype=np.uint8)
        self._events = np.zeros(capacity, dtype=np.uint32)
        self._revents = np.zeros(capacity, dtype=np.uint32)
        self._next = np.full(capacity, EP_NULL, dtype=np.int32)
        self._prev = np.full(capacity, EP_NULL, dtype=np.int32)
        self._ovf = np.full(capacity, EP_UNACTIVE, dtype=np.int32)
        self._bind()

    cdef _bind(self):
        cdef uint8_t[::1] st = self._state
        cdef uint32_t[::1] ev = self._events
        cdef uint32_t[::1] rv = self._revents
        cdef int32_t[::1] nx = self._next
        cdef int32_t[::1] pv = self._prev
        cdef int32_t[::1] ov = self._ovf
        cdef uint64_t[::1] s = self._stats
        self.ep.capacity = st.shape[0]
        self.ep.state = &st[0]
        self.ep.events = &ev[0]
        self.ep.revents = &rv[0]
        self.ep.rdl_next = &nx[0]
        self.ep.rdl_prev = &pv[0]
        self.ep.ovf_next = &ov[0]
        self.ep.stats = &s[0]

    cdef _grow(self, intp_t need):
        # Geometric growth keeps epoll_ctl O(1) amortised.
        cdef intp_t cap = self.ep.capacity
        if need <= cap:
            return
        new = max(need, 2 * cap)
        new = min(new, self.nr_open)
        old = (self._state, self._events, self._revents, self._next, self._prev, self._ovf)
        self._alloc(new)
        for dst, src in zip((self._state, self._events, self._revents, self._next,
                             self._prev, self._ovf), old):
            dst[:cap] = src

    cdef int32_t _fd(self, fd, bint grow) except -1:
        fd = int(fd)
        if not 0 <= fd < self.nr_open:
            raise OSError(_errno.EBADF, f"fd {fd}: bad file descriptor "
                                        f"(must be in 0..{self.nr_open - 1})")
        if grow:
            self._grow(fd + 1)
        return fd

    cdef int32_t _registered(self, fd, what) except -1:
        cdef int32_t f = self._fd(fd, False)
        if f >= self.ep.capacity or not (self.ep.state[f] & EPI_REGISTERED):
            raise OSError(_errno.ENOENT, f"{what}: fd {f} is not in the interest set")
        return f

    def _no_transfer(self, what):
        if self.ep.ovflist != EP_UNACTIVE:
            raise RuntimeError(f"{what} during a transfer: epoll_ctl and epoll_wait "
                               "wait for ep->mtx, which the transfer holds; call "
                               "scan_end() first")

    # -- epoll_ctl ---------------------------------------------------------

    def ctl(self, op, fd, events=0):
        """Run ``epoll_ctl(op, fd, events)`` with the flags inside `events`.

        Parameters
        ----------
        op : int
            ``EPOLL_CTL_ADD``, ``EPOLL_CTL_MOD`` or ``EPOLL_CTL_DEL``.
        fd : int
            The descriptor.
        events : int, optional
            Event bits and flags (ignored by ``EPOLL_CTL_DEL``).

        Raises
        ------
        OSError
            ``EEXIST`` (ADD of a registered fd), ``ENOENT`` (MOD/DEL of an
            unknown fd), ``EINVAL`` (bad op; ``EPOLLEXCLUSIVE`` with MOD, with
            bits outside ``EPOLLEXCLUSIVE_OK_BITS``, or MOD of an exclusive
            item), ``EBADF`` (fd out of range).
        """
        op = int(op)
        if op == EPOLL_CTL_ADD:
            return self.ctl_add(fd, events)
        if op == EPOLL_CTL_MOD:
            return self.ctl_mod(fd, events)
        if op == EPOLL_CTL_DEL:
            return self.ctl_del(fd)
        self._fd(fd, False)
        raise OSError(_errno.EINVAL, f"epoll_ctl: op {op} is not ADD, DEL or MOD")

    def ctl_add(self, fd, events, flags=0, source=None):
        """Add `fd` to the interest set (``EPOLL_CTL_ADD``).

        Parameters
        ----------
        fd : int
            The descriptor.
        events : int
            Events wanted (``EPOLLIN``, ``EPOLLOUT``, ...); may hold flags.
        flags : int, optional
            ``EPOLLET``, ``EPOLLONESHOT``, ``EPOLLEXCLUSIVE``, ``EPOLLWAKEUP``,
            or-ed into `events`.
        source : Source, optional
            The wait queue the item joins (exclusively if ``EPOLLEXCLUSIVE``);
            its current readiness becomes the item's.

        Raises
        ------
        OSError
            ``EEXIST`` if `fd` is already registered, ``EINVAL`` for an
            invalid ``EPOLLEXCLUSIVE`` combination, ``EBADF`` if out of range.
        """
        cdef uint32_t ev = _check_mask(int(events) | int(flags), "events")
        self._no_transfer("epoll_ctl")
        cdef int32_t f = self._fd(fd, True)
        if (ev & EPOLL_EXCLUSIVE) and (ev & ~<uint32_t>EPOLLEXCLUSIVE_OK_BITS):
            raise OSError(_errno.EINVAL, f"epoll_ctl ADD fd {f}: EPOLLEXCLUSIVE allows "
                          f"only IN, OUT, ERR, HUP, WAKEUP and ET, got {ev:#x}")
        if source is not None and not isinstance(source, Source):
            raise TypeError(f"source must be a memcore.readylist.Source, got {type(source)!r}")
        if self.ep.state[f] & EPI_REGISTERED:
            raise OSError(_errno.EEXIST, f"epoll_ctl ADD: fd {f} is already registered")
        self.ep.revents[f] = (<Source>source).mask & ~_PRIVATE if source is not None else 0
        self.ep.stats[ST_BYTES_FROM_USER] += EPOLL_EVENT_SIZE
        ep_insert(&self.ep, f, ev)
        if source is not None:
            (<Source>source)._attach(self, f, (ev & EPOLL_EXCLUSIVE) != 0)
            self._sources[f] = source

    def ctl_mod(self, fd, events, flags=0):
        """Change the events of a registered `fd` (``EPOLL_CTL_MOD``).

        Re-arms an item disabled by ``EPOLLONESHOT``; if the descriptor is
        ready for the new events it is queued.

        Raises
        ------
        OSError
            ``ENOENT`` if `fd` is not registered, ``EINVAL`` if `events`
            holds ``EPOLLEXCLUSIVE`` or the item was added with it.
        """
        cdef uint32_t ev = _check_mask(int(events) | int(flags), "events")
        self._no_transfer("epoll_ctl")
        cdef int32_t f = self._fd(fd, False)
        if ev & EPOLL_EXCLUSIVE:
            raise OSError(_errno.EINVAL, f"epoll_ctl MOD fd {f}: EPOLLEXCLUSIVE is "
                          "only allowed with EPOLL_CTL_ADD")
        f = self._registered(f, "epoll_ctl MOD")
        self.ep.stats[ST_BYTES_FROM_USER] += EPOLL_EVENT_SIZE
        rc = ep_modify(&self.ep, f, ev)
        if rc:
            raise _oserror(rc, f"epoll_ctl MOD fd {f} (added with EPOLLEXCLUSIVE)")

    def ctl_del(self, fd):
        """Remove `fd` from the interest set (``EPOLL_CTL_DEL``).

        Raises
        ------
        OSError
            ``ENOENT`` if `fd` is not registered.
        """
        self._no_transfer("epoll_ctl")
        cdef int32_t f = self._registered(fd, "epoll_ctl DEL")
        ep_remove(&self.ep, f)
        src = self._sources.pop(f, None)
        if src is not None:
            (<Source>src)._detach(self, f)

    def ctl_add_batch(self, fds, events):
        """Add many descriptors in one ``nogil`` loop.

        Parameters
        ----------
        fds : array_like of int
            Distinct descriptors, none registered yet.
        events : int or array_like of int
            Events and flags, one per fd or one for all.

        Raises
        ------
        OSError
            ``EEXIST`` naming the first fd already registered or repeated
            (nothing is added then), ``EBADF`` for one out of range,
            ``EINVAL`` for an invalid ``EPOLLEXCLUSIVE`` combination.
        """
        self._no_transfer("epoll_ctl")
        f = _as_fd_array(fds, "fds", self.nr_open)
        ev = _as_events_array(events, f.shape[0], "events")
        cdef intp_t n = f.shape[0]
        if n == 0:
            return
        bad = (ev & np.uint32(EPOLLEXCLUSIVE)) & (ev & ~np.uint32(EPOLLEXCLUSIVE_OK_BITS))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise OSError(_errno.EINVAL, f"events[{k}] = {int(ev[k]):#x}: EPOLLEXCLUSIVE "
                          "allows only IN, OUT, ERR, HUP, WAKEUP and ET")
        self._grow(int(f.max()) + 1)
        uniq, counts = np.unique(f, return_counts=True)
        if (counts > 1).any():
            dup = int(uniq[counts > 1][0])
            raise OSError(_errno.EEXIST, f"fds: fd {dup} appears more than once")
        already = (self._state[f] & EPI_REGISTERED) != 0
        if already.any():
            k = int(np.flatnonzero(already)[0])
            raise OSError(_errno.EEXIST, f"fds[{k}] = {int(f[k])} is already registered")
        cdef const int32_t[::1] fv = f
        cdef const uint32_t[::1] evv = ev
        cdef intp_t k2
        with nogil:
            for k2 in range(n):
                self.ep.revents[fv[k2]] = 0
                ep_insert(&self.ep, fv[k2], evv[k2])
            self.ep.stats[ST_BYTES_FROM_USER] += 12 * n

    # -- the source side ---------------------------------------------------

    def ready(self, fd, events):
        """An event happened on `fd`: the source's wake-up callback.

        Sets `events` in the descriptor's readiness and runs
        ``ep_poll_callback`` with them as the wake-up key.

        Parameters
        ----------
        fd : int
            A registered descriptor.
        events : int
            The events that happened (0: an unkeyed wake-up, which every
            item accepts).

        Returns
        -------
        bool
            ``ep_poll_callback``'s return value: whether this wake-up counts
            as the one an exclusive wake-up was looking for.

        Raises
        ------
        OSError
            ``ENOENT`` if `fd` is not registered.
        """
        cdef uint32_t e = _check_mask(events, "events")
        cdef int32_t f = self._registered(fd, "ready")
        self.ep.revents[f] |= e & ~_PRIVATE
        return ep_poll_callback(&self.ep, f, e) != 0

    def unready(self, fd, events):
        """The condition `events` on `fd` cleared (no wake-up)."""
        cdef uint32_t e = _check_mask(events, "events")
        cdef int32_t f = self._registered(fd, "unready")
        self.ep.revents[f] &= ~e

    def set_mask(self, fd, mask):
        """Set what the source's ``->poll()`` returns for `fd` (no wake-up)."""
        cdef uint32_t m = _check_mask(mask, "mask")
        cdef int32_t f = self._registered(fd, "set_mask")
        ep_set_revents(&self.ep, f, m)

    def callback(self, fd, pollflags=0):
        """Run ``ep_poll_callback`` for `fd` without changing its readiness.

        Returns
        -------
        bool
            Whether the wake-up counts for an exclusive wake-up.
        """
        cdef uint32_t e = _check_mask(pollflags, "pollflags")
        cdef int32_t f = self._registered(fd, "callback")
        return ep_poll_callback(&self.ep, f, e) != 0

    def _check_batch(self, fds, events, what):
        f = _as_fd_array(fds, "fds", self.nr_open)
        ev = _as_events_array(events, f.shape[0], "events")
        if f.shape[0]:
            inside = f < self.ep.capacity
            known = np.zeros(f.shape[0], dtype=bool)
            known[inside] = (self._state[f[inside]] & EPI_REGISTERED) != 0
            if not known.all():
                k = int(np.flatnonzero(~known)[0])
                raise OSError(_errno.ENOENT, f"{what}: fds[{k}] = {int(f[k])} is "
                              "not in the interest set")
        return f, ev

    def ready_batch(self, fds, events):
        """:meth:`ready` for many descriptors, in order, in one ``nogil`` loop.

        Every fd is checked before anything changes.

        Returns
        -------
        int
            How many wake-ups counted (see :meth:`ready`).
        """
        f, ev = self._check_batch(fds, events, "ready_batch")
        cdef const int32_t[::1] fv = f
        cdef const uint32_t[::1] evv = ev
        cdef intp_t k, n = f.shape[0], woke = 0
        with nogil:
            for k in range(n):
                self.ep.revents[fv[k]] |= evv[k] & ~_PRIVATE
                woke += ep_poll_callback(&self.ep, fv[k], evv[k])
        return woke

    def unready_batch(self, fds, events):
        """:meth:`unready` for many descriptors in one ``nogil`` loop."""
        f, ev = self._check_batch(fds, events, "unready_batch")
        cdef const int32_t[::1] fv = f
        cdef const uint32_t[::1] evv = ev
        cdef intp_t k, n = f.shape[0]
        with nogil:
            for k in range(n):
                self.ep.revents[fv[k]] &= ~evv[k]

    # -- epoll_wait ----------------------------------------------------------

    def _check_maxevents(self, maxevents):
        maxevents = int(maxevents)
        if not 0 < maxevents <= EP_MAX_EVENTS:
            raise OSError(_errno.EINVAL, f"epoll_wait: maxevents {maxevents} must be "
                          f"in 1..{EP_MAX_EVENTS}")
        return maxevents

    def wait(self, maxevents):
        """``epoll_wait`` with timeout 0: hand out up to `maxevents` events.

        Parameters
        ----------
        maxevents : int
            At most this many events (1 .. ``EP_MAX_EVENTS``).

        Returns
        -------
        fds : numpy.ndarray of int32
        events : numpy.ndarray of uint32
            The ready descriptors in ready-list order and their events.

        Raises
        ------
        OSError
            ``EINVAL`` if `maxevents` is out of range.
        """
        maxevents = self._check_maxevents(maxevents)
        self._no_transfer("epoll_wait")
        n = min(maxevents, self.ep.rdllist.count)
        out_f = np.empty(n, dtype=np.int32)
        out_e = np.empty(n, dtype=np.uint32)
        got = self.wait_into(out_f, out_e)
        return out_f[:got], out_e[:got]

    def wait_into(self, out_fds, out_events):
        """``epoll_wait`` into caller-provided arrays; ``maxevents = len(out_fds)``.

        Parameters
        ----------
        out_fds : numpy.ndarray of int32, contiguous
        out_events : numpy.ndarray of uint32, contiguous, same length

        Returns
        -------
        int
            Number of events written.
        """
        cdef cnp.ndarray of = _out_array(out_fds, cnp.NPY_INT32, "out_fds")
        cdef cnp.ndarray oe = _out_array(out_events, cnp.NPY_UINT32, "out_events")
        cdef intp_t n = cnp.PyArray_DIM(of, 0), got
        if cnp.PyArray_DIM(oe, 0) != n:
            raise ValueError(f"out_fds and out_events differ in length "
                             f"({n} != {cnp.PyArray_DIM(oe, 0)})")
        if self.ep.ovflist != EP_UNACTIVE:
            self._no_transfer("epoll_wait")
        if n == 0:
            self.ep.stats[ST_WAITS] += 1
            return 0
        if n > EP_MAX_EVENTS:
            self._check_maxevents(n)
        cdef int32_t *fp = <int32_t *>cnp.PyArray_DATA(of)
        cdef uint32_t *ep_ = <uint32_t *>cnp.PyArray_DATA(oe)
        with nogil:
            got = ep_wait(&self.ep, fp, ep_, n)
        return got

    def poll(self):
        """What the instance's own ``->poll()`` returns (``__ep_eventpoll_poll``).

        Used when the epoll descriptor itself is watched by ``poll``,
        ``select`` or another epoll instance: ``EPOLLIN | EPOLLRDNORM`` if an
        item on the ready list is ready for its events, else 0.  Items met
        before it that are not ready are taken off the ready list, as Linux
        does (they were queued by a wake-up that no longer holds).

        Returns
        -------
        int

        Raises
        ------
        RuntimeError
            During a transfer (between :meth:`scan_begin` and :meth:`scan_end`).
        """
        self._no_transfer("poll")
        return ep_eventpoll_poll(&self.ep)

    def scan_begin(self):
        """Open a transfer window (``ep_start_scan``).

        The ready list moves to the transfer list and the overflow list
        becomes active: wake-ups until :meth:`scan_end` are chained there.
        """
        self._no_transfer("scan_begin")
        self.ep.stats[ST_WAITS] += 1
        ep_start_scan(&self.ep)

    def scan_send(self, maxevents):
        """Hand out up to `maxevents` more events inside the transfer window.

        Returns
        -------
        fds, events : numpy.ndarray
            As :meth:`wait`.
        """
        if self.ep.ovflist == EP_UNACTIVE:
            raise RuntimeError("scan_send outside a transfer: call scan_begin() first")
        maxevents = self._check_maxevents(maxevents)
        n = min(maxevents, self.ep.txlist.count)
        out_f = np.empty(max(n, 1), dtype=np.int32)
        out_e = np.empty(max(n, 1), dtype=np.uint32)
        cdef int32_t[::1] of = out_f
        cdef uint32_t[::1] oe = out_e
        got = ep_send_events(&self.ep, &of[0], &oe[0], n)
        return out_f[:got], out_e[:got]

    def scan_end(self):
        """Close the transfer window (``ep_done_scan``): overflow items and
        the items not handed out rejoin the ready list."""
        if self.ep.ovflist == EP_UNACTIVE:
            raise RuntimeError("scan_end outside a transfer: call scan_begin() first")
        ep_done_scan(&self.ep)

    @property
    def in_scan(self):
        """bool: whether a transfer window is open."""
        return self.ep.ovflist != EP_UNACTIVE

    # -- waiters -------------------------------------------------------------

    def add_waiter(self, n=1):
        """Model `n` more tasks blocked in ``epoll_wait`` on this instance.

        A wake-up that reaches the instance wakes (and removes) one of them;
        with ``EPOLLEXCLUSIVE`` only a woken waiter stops a source's wake-up
        from reaching the next instance.
        """
        n = int(n)
        if n < 0:
            raise ValueError(f"n must be non-negative, got {n}")
        self.ep.waiters += n

    @property
    def waiters(self):
        """int: tasks still blocked in ``epoll_wait``."""
        return self.ep.waiters

    # -- inspection ------------------------------------------------------------

    def __len__(self):
        return self.ep.nitems

    def __contains__(self, fd):
        fd = int(fd)
        return 0 <= fd < self.ep.capacity and (self.ep.state[fd] & EPI_REGISTERED) != 0

    def events_of(self, fd):
        """Return the stored ``epi->event.events`` of `fd` (with ERR, HUP and flags).

        Raises
        ------
        OSError
            ``ENOENT`` if `fd` is not registered.
        """
        cdef int32_t f = self._registered(fd, "events_of")
        return int(self.ep.events[f])

    def mask_of(self, fd):
        """Return the readiness the model holds for registered `fd`."""
        cdef int32_t f = self._registered(fd, "mask_of")
        return int(self.ep.revents[f])

    def interest(self):
        """Return the interest set as ``(fds, events)`` sorted by fd."""
        fds = np.flatnonzero(self._state & EPI_REGISTERED).astype(np.int32)
        return fds, self._events[fds].copy()

    cdef _walk(self, int32_t head, int32_t[:] link, intp_t limit):
        out = []
        cdef int32_t i = head
        while i >= 0 and len(out) <= limit:
            out.append(i)
            i = link[i]
        return np.array(out, dtype=np.int32)

    def ready_list(self):
        """Return the fds on the ready list (``rdllist``), head first."""
        return self._walk(self.ep.rdllist.head, self._next, self.ep.nitems)

    def transfer_list(self):
        """Return the fds still on the transfer list inside a window."""
        return self._walk(self.ep.txlist.head, self._next, self.ep.nitems)

    def overflow_list(self):
        """Return the fds chained on ``ovflist``, newest first (it is LIFO)."""
        if self.ep.ovflist == EP_UNACTIVE:
            return np.empty(0, dtype=np.int32)
        return self._walk(self.ep.ovflist, self._ovf, self.ep.nitems)

    @property
    def arrays(self):
        """dict: zero-copy views of the fd-indexed state arrays."""
        return {"state": self._state, "events": self._events, "revents": self._revents,
                "rdl_next": self._next, "rdl_prev": self._prev, "ovf_next": self._ovf}

    @property
    def stats(self):
        """dict: counters (see ``STAT_NAMES``)."""
        return {name: int(self._stats[k]) for k, name in enumerate(STAT_NAMES)}

    def reset_stats(self):
        """Zero every counter."""
        self._stats[:] = 0

    def __reduce__(self):
        state = {
            "arrays": {k: v.copy() for k, v in self.arrays.items()},
            "stats": self._stats.copy(),
            "lists": (self.ep.rdllist.head, self.ep.rdllist.tail, self.ep.rdllist.count,
                      self.ep.txlist.head, self.ep.txlist.tail, self.ep.txlist.count,
                      self.ep.ovflist, self.ep.nitems, self.ep.waiters),
            "sources": dict(self._sources),
        }
        return (EventPoll, (self.nr_open, self.ep.capacity), state)

    def __setstate__(self, state):
        a = state["arrays"]
        self._state = a["state"].copy()
        self._events = a["events"].copy()
        self._revents = a["revents"].copy()
        self._next = a["rdl_next"].copy()
        self._prev = a["rdl_prev"].copy()
        self._ovf = a["ovf_next"].copy()
        self._stats = state["stats"].copy()
        self._bind()
        (self.ep.rdllist.head, self.ep.rdllist.tail, self.ep.rdllist.count,
         self.ep.txlist.head, self.ep.txlist.tail, self.ep.txlist.count,
         self.ep.ovflist, self.ep.nitems, self.ep.waiters) = state["lists"]
        self._sources = dict(state["sources"])


cdef class Source:
    """A wait queue with a readiness mask: what a file offers to pollers.

    Instances of :class:`EventPoll` join it through
    ``ctl_add(fd, events, flags, source=src)``.  Non-exclusive entries are
    added at the head of the queue, exclusive ones at the tail, as Linux's
    ``add_wait_queue`` / ``add_wait_queue_exclusive`` do.

    Parameters
    ----------
    mask : int, optional
        Initial readiness (what ``->poll()`` returns).

    Examples
    --------
    Three instances watch one source exclusively, each with a task blocked
    in ``epoll_wait``; an event wakes only the first:

    >>> from memcore.readylist import EventPoll, Source, EPOLLIN, EPOLLEXCLUSIVE
    >>> src = Source()
    >>> eps = [EventPoll() for _ in range(3)]
    >>> for ep in eps:
    ...     ep.ctl_add(5, EPOLLIN, EPOLLEXCLUSIVE, source=src)
    ...     ep.add_waiter()
    >>> src.ready(EPOLLIN)
    1
    >>> [len(ep.ready_list()) for ep in eps]
    [1, 0, 0]
    """

    cdef readonly uint32_t mask
    cdef list _entries     # [EventPoll, fd, exclusive], queue order

    def __cinit__(self, mask=0):
        self.mask = _check_mask(mask, "mask") & ~_PRIVATE
        self._entries = []

    cdef _attach(self, EventPoll ep, int32_t fd, bint exclusive):
        if exclusive:
            self._entries.append((ep, fd, True))
        else:
            self._entries.insert(0, (ep, fd, False))

    cdef _detach(self, EventPoll ep, int32_t fd):
        for k, (e, f, _x) in enumerate(self._entries):
            if e is ep and f == fd:
                del self._entries[k]
                return

    @property
    def watchers(self):
        """list of (EventPoll, fd, exclusive): the wait queue, head first."""
        return list(self._entries)

    def set_mask(self, mask):
        """Set the readiness and tell every watching item (no wake-up)."""
        self.mask = _check_mask(mask, "mask") & ~_PRIVATE
        for ep, fd, _x in self._entries:
            ep_set_revents(&(<EventPoll>ep).ep, fd, self.mask)

    def wake(self, pollflags=0, nr_exclusive=1, after=None):
        """Wake the queue (``__wake_up_common``) with key `pollflags`.

        Every entry's callback runs in queue order until `nr_exclusive`
        exclusive entries have reported a real wake-up (0: wake all).

        Parameters
        ----------
        pollflags : int, optional
            The wake-up key (0: unkeyed).
        nr_exclusive : int, optional
            Exclusive entries to wake (0: all).
        after : callable, optional
            Called as ``after(ep, fd, pollflags)`` right after each entry's
            callback, before the next one runs: where ``ep_poll_callback``
            wakes the pollers of an epoll instance that is itself watched
            (:mod:`pyapi.io` uses it for nested instances).

        Returns
        -------
        int
            Number of callbacks run.
        """
        cdef uint32_t key = _check_mask(pollflags, "pollflags")
        cdef intp_t left = int(nr_exclusive)
        cdef intp_t ran = 0
        for ep, fd, excl in list(self._entries):
            ran += 1
            ret = ep_poll_callback(&(<EventPoll>ep).ep, fd, key)
            if after is not None:
                after(ep, fd, key)
            if ret and excl:
                left -= 1
                if left == 0:
                    break
        return ran

    def ready(self, events):
        """The event `events` happened: set it and wake the queue.

        Returns
        -------
        int
            Number of callbacks run.
        """
        self.set_mask(self.mask | _check_mask(events, "events"))
        return self.wake(events)

    def unready(self, events):
        """The condition `events` cleared (no wake-up)."""
        self.set_mask(self.mask & ~_check_mask(events, "events"))

    def __reduce__(self):
        return (Source, (self.mask,), {"entries": list(self._entries)})

    def __setstate__(self, state):
        self._entries = list(state["entries"])


cdef enum:
    PS_CALLS = 0
    PS_SCANNED = 1
    PS_READY = 2
    PS_FROM_USER = 3
    PS_TO_USER = 4
    PS_NSTATS = 5
    FDSET_WORDS = 16     # FD_SETSIZE / 64: unsigned longs in an fd_set

_PS_NAMES = ("calls", "scanned", "ready", "bytes_from_user", "bytes_to_user")


cdef class _Readiness:
    # The ->poll() result of every descriptor of a process, for poll/select.
    cdef object _mask
    cdef uint32_t *mp
    cdef intp_t nmask
    cdef readonly intp_t nr_open
    cdef uint64_t st[PS_NSTATS]

    def __cinit__(self, nr_open=NR_OPEN, *args, **kwargs):
        self.nr_open = _check_nr_open(nr_open)
        self._mask = np.full(0, EPOLL_NVAL, dtype=np.uint32)
        self.mp = NULL
        self.nmask = 0
        for k in range(PS_NSTATS):
            self.st[k] = 0

    def _fd(self, fd):
        fd = int(fd)
        if not 0 <= fd < self.nr_open:
            raise OSError(EBADF, f"fd {fd}: bad file descriptor "
                                 f"(must be in 0..{self.nr_open - 1})")
        if fd >= self.nmask:
            new = min(max(fd + 1, 2 * self.nmask, 64), self.nr_open)
            m = np.full(new, EPOLL_NVAL, dtype=np.uint32)
            m[: self.nmask] = self._mask
            self._mask = m
            self._bind_mask()
        return fd

    cdef _bind_mask(self):
        cdef uint32_t[::1] mv = self._mask
        self.nmask = mv.shape[0]
        self.mp = &mv[0] if self.nmask else NULL

    def open(self, fd, mask=0):
        """Mark `fd` open with readiness `mask` (closed fds read ``POLLNVAL``)."""
        fd = self._fd(fd)
        self._mask[fd] = _check_mask(mask, "mask") & ~EPOLL_NVAL

    def open_batch(self, fds, mask=0):
        """Mark many descriptors open with readiness `mask` (one per fd or one)."""
        f = _as_fd_array(fds, "fds", self.nr_open)
        m = _as_events_array(mask, f.shape[0], "mask")
        if f.shape[0]:
            self._fd(int(f.max()))
            self._mask[f] = m & ~np.uint32(EPOLL_NVAL)

    def close(self, fd):
        """Mark `fd` closed: poll reports ``POLLNVAL``, select ``EBADF``."""
        fd = self._fd(fd)
        self._mask[fd] = EPOLL_NVAL

    def set_mask(self, fd, mask):
        """Set the readiness of open `fd`."""
        self.open(fd, mask)

    def ready(self, fd, events):
        """Set `events` in the readiness of open `fd` (opening it if needed)."""
        fd = self._fd(fd)
        self._mask[fd] = (self._mask[fd] & ~np.uint32(EPOLL_NVAL)) | _check_mask(events, "events")

    def ready_batch(self, fds, events):
        """:meth:`ready` for many descriptors."""
        f = _as_fd_array(fds, "fds", self.nr_open)
        e = _as_events_array(events, f.shape[0], "events")
        if f.shape[0]:
            self._fd(int(f.max()))
            np.bitwise_or.at(self._mask, f, e)
            self._mask[f] &= ~np.uint32(EPOLL_NVAL)

    def unready(self, fd, events):
        """Clear `events` from the readiness of `fd`."""
        fd = self._fd(fd)
        if not self._mask[fd] & EPOLL_NVAL:
            self._mask[fd] &= ~np.uint32(_check_mask(events, "events"))

    @property
    def masks(self):
        """numpy.ndarray: readiness per descriptor (``POLLNVAL``: closed)."""
        return self._mask

    @property
    def stats(self):
        """dict: ``calls``, ``scanned`` descriptors, ``ready`` results and the
        bytes copied ``bytes_from_user`` / ``bytes_to_user``."""
        return {name: int(self.st[k]) for k, name in enumerate(_PS_NAMES)}

    def reset_stats(self):
        """Zero every counter."""
        for k in range(PS_NSTATS):
            self.st[k] = 0

    def _base_state(self):
        return {"mask": self._mask.copy(), "stats": [self.st[k] for k in range(PS_NSTATS)]}

    def _set_base_state(self, state):
        self._mask = np.array(state["mask"], dtype=np.uint32)
        self._bind_mask()
        for k in range(PS_NSTATS):
            self.st[k] = state["stats"][k]


cdef class PollSet(_Readiness):
    """``poll(2)``: a ``struct pollfd`` array scanned in full on every call.

    Parameters
    ----------
    nr_open : int, optional
        Descriptor limit (``EBADF`` at or above it).

    Notes
    -----
    Each call copies the whole array in (``POLLFD_SIZE`` = 8 bytes per
    entry) and, as ``do_sys_poll`` does, only the ``revents`` field of each
    entry back out (2 bytes per entry).  A negative fd is skipped (revents
    0); a closed one reports ``POLLNVAL``; ``POLLERR`` and ``POLLHUP`` are
    reported whether asked for or not.

    Examples
    --------
    >>> from memcore.readylist import PollSet, POLLIN
    >>> ps = PollSet()
    >>> ps.open_batch(range(100))
    >>> ps.add_batch(range(100), POLLIN)
    >>> ps.ready(7, POLLIN)
    >>> fds, revents = ps.poll()
    >>> fds.tolist(), revents.tolist(), ps.stats["scanned"]
    ([7], [1], 100)
    """

    cdef object _fds, _events, _revents
    cdef int32_t *fp
    cdef int16_t *evp
    cdef int16_t *rvp
    cdef intp_t _n

    def __cinit__(self, nr_open=NR_OPEN):
        self._n = 0
        self._fds = np.empty(16, dtype=np.int32)
        self._events = np.empty(16, dtype=np.int16)
        self._revents = np.zeros(16, dtype=np.int16)
        self._bind()

    cdef _bind(self):
        cdef int32_t[::1] fv = self._fds
        cdef int16_t[::1] ev = self._events
        cdef int16_t[::1] rv = self._revents
        self.fp = &fv[0]
        self.evp = &ev[0]
        self.rvp = &rv[0]

    def _reserve(self, intp_t extra):
        if self._n + extra > self._fds.shape[0]:
            new = max(self._n + extra, 2 * self._fds.shape[0])
            self._fds = _grown(self._fds, new, self._n)
            self._events = _grown(self._events, new, self._n)
            self._revents = _grown(self._revents, new, self._n)
            self._bind()

    def add(self, fd, events):
        """Append a ``struct pollfd`` entry (fd may be negative: skipped)."""
        fd = int(fd)
        if fd >= self.nr_open:
            raise OSError(EBADF, f"fd {fd}: bad file descriptor")
        events = int(events)
        if not 0 <= events <= 0xFFFF:
            raise ValueError(f"events must fit a short, got {events:#x}")
        self._reserve(1)
        self._fds[self._n] = fd
        self._events[self._n] = np.uint16(events).view(np.int16)
        self._n += 1

    def add_batch(self, fds, events):
        """Append many entries."""
        f = np.ascontiguousarray(fds)
        if f.ndim != 1 or (f.size and f.dtype.kind not in "iu"):
            raise ValueError("fds must be a one-dimensional integer array")
        if f.size and int(f.max()) >= self.nr_open:
            raise OSError(EBADF, f"fds: descriptor {int(f.max())} out of range")
        e = _as_events_array(events, f.shape[0], "events")
        if f.size and int(e.max()) > 0xFFFF:
            raise ValueError("events must fit a short")
        n = f.shape[0]
        self._reserve(n)
        self._fds[self._n: self._n + n] = f
        self._events[self._n: self._n + n] = e.astype(np.uint16).view(np.int16)
        self._n += n

    def clear(self):
        """Empty the pollfd array."""
        self._n = 0

    def __len__(self):
        return self._n

    def poll(self):
        """Scan every entry once (timeout 0).

        Returns
        -------
        fds : numpy.ndarray of int32
        revents : numpy.ndarray of uint16
            The entries with a non-zero ``revents``, in array order.
        """
        self.poll_into()
        rv = self.revents
        hit = rv != 0
        return self._fds[: self._n][hit].copy(), rv[hit].copy()

    def poll_into(self):
        """Scan every entry once, leaving results in :attr:`revents`.

        Returns
        -------
        int
            Number of entries with a non-zero ``revents`` (poll's result).
        """
        cdef intp_t n = self._n, got
        with nogil:
            got = poll_scan(self.fp, self.evp, self.rvp, n, self.mp, self.nmask)
        self.st[PS_CALLS] += 1
        self.st[PS_SCANNED] += n
        self.st[PS_READY] += got
        self.st[PS_FROM_USER] += 8 * n
        self.st[PS_TO_USER] += 2 * n
        return got

    @property
    def revents(self):
        """numpy.ndarray of uint16: ``revents`` of every entry after the last call."""
        return self._revents[: self._n].view(np.uint16)

    def __reduce__(self):
        state = self._base_state()
        state.update(fds=self._fds[: self._n].copy(), events=self._events[: self._n].copy(),
                     revents=self._revents[: self._n].copy())
        return (PollSet, (self.nr_open,), state)

    def __setstate__(self, state):
        self._set_base_state(state)
        self._n = 0
        self._reserve(len(state["fds"]))
        n = len(state["fds"])
        self._fds[:n] = state["fds"]
        self._events[:n] = state["events"]
        self._revents[:n] = state["revents"]
        self._n = n


def _grown(old, new, used):
    a = np.zeros(new, dtype=old.dtype)
    a[:used] = old[:used]
    return a


def fds_bytes(nfds):
    """Bytes of one ``fd_set`` select copies for `nfds` (``FDS_BYTES``).

    Whole ``unsigned long`` words: ``8 * ceil(nfds / 64)`` on x86-64.
    """
    return 8 * ((int(nfds) + 63) // 64)


cdef class SelectSet(_Readiness):
    """``select(2)``: three ``fd_set`` bitmaps scanned up to ``nfds``.

    Parameters
    ----------
    nr_open : int, optional
        Descriptor limit.

    Notes
    -----
    Descriptors at or above ``FD_SETSIZE`` (1024) cannot be put in an
    ``fd_set``: :meth:`add` raises ``ValueError`` (glibc's ``FD_SET`` aborts
    with "buffer overflow detected").  Each call copies in and back out
    ``fds_bytes(nfds)`` bytes per set (``nfds`` = highest fd + 1), and
    checks every descriptor named in a set is open (``EBADF``).  An fd is
    reported readable for ``POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP |
    POLLERR``, writable for ``POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR``,
    exceptional for ``POLLPRI``; the result counts set bits.
    """

    cdef uint64_t sets[3][FDSET_WORDS]     # what the caller asked for
    cdef uint64_t res[3][FDSET_WORDS]      # what the last call returned
    cdef intp_t _nfds

    def __cinit__(self, nr_open=NR_OPEN):
        memset(self.sets, 0, sizeof(self.sets))
        memset(self.res, 0, sizeof(self.res))
        self._nfds = 0

    def add(self, fd, read=True, write=False, exceptional=False):
        """Put `fd` in the read / write / exceptional sets (``FD_SET``).

        Raises
        ------
        ValueError
            If `fd` is negative or at least ``FD_SETSIZE``.
        """
        fd = int(fd)
        if not 0 <= fd < FD_SETSIZE:
            raise ValueError(f"fd {fd} does not fit an fd_set (FD_SETSIZE = {FD_SETSIZE})")
        cdef uint64_t bit = (<uint64_t>1) << (fd % 64)
        cdef int w = fd // 64
        if read:
            self.sets[0][w] |= bit
        if write:
            self.sets[1][w] |= bit
        if exceptional:
            self.sets[2][w] |= bit
        self._nfds = max(self._nfds, fd + 1)

    def add_batch(self, fds, read=True, write=False, exceptional=False):
        """:meth:`add` for many descriptors."""
        for fd in np.asarray(fds).ravel().tolist():
            self.add(fd, read, write, exceptional)

    def clear(self):
        """Empty the three sets."""
        memset(self.sets, 0, sizeof(self.sets))
        self._nfds = 0

    @property
    def nfds(self):
        """int: highest descriptor in a set, plus one."""
        return self._nfds

    def select_into(self):
        """Scan descriptors 0 .. nfds - 1 once (timeout 0), keeping the
        result sets for :meth:`result`.

        Returns
        -------
        int
            select's result: the number of bits set in the three result sets.

        Raises
        ------
        OSError
            ``EBADF`` if a set names a closed descriptor.
        """
        cdef intp_t nfds = self._nfds, got
        cdef intp_t nb = 3 * 8 * ((nfds + 63) // 64)
        with nogil:
            memcpy(self.res, self.sets, sizeof(self.sets))
            got = select_scan(nfds, self.res[0], self.res[1], self.res[2], self.mp, self.nmask)
        self.st[PS_CALLS] += 1
        self.st[PS_FROM_USER] += nb
        if got < 0:
            memset(self.res, 0, sizeof(self.res))
            raise _oserror(got, "select")
        self.st[PS_SCANNED] += nfds
        self.st[PS_READY] += got
        self.st[PS_TO_USER] += nb
        return got

    def result(self):
        """Return the last call's ``(rlist, wlist, xlist)`` as int32 arrays."""
        out = []
        for k in range(3):
            words = np.array([self.res[k][w] for w in range(FDSET_WORDS)], dtype=np.uint64)
            bits = np.unpackbits(words.view(np.uint8), bitorder="little")[: self._nfds]
            out.append(np.flatnonzero(bits).astype(np.int32))
        return tuple(out)

    def __reduce__(self):
        state = self._base_state()
        state.update(nfds=self._nfds,
                     sets=[[self.sets[k][w] for w in range(FDSET_WORDS)] for k in range(3)],
                     res=[[self.res[k][w] for w in range(FDSET_WORDS)] for k in range(3)])
        return (SelectSet, (self.nr_open,), state)

    def __setstate__(self, state):
        self._set_base_state(state)
        self._nfds = state["nfds"]
        for k in range(3):
            for w in range(FDSET_WORDS):
                self.sets[k][w] = state["sets"][k][w]
                self.res[k][w] = state["res"][k][w]

    def select(self):
        """Scan descriptors 0 .. nfds - 1 once (timeout 0).

        Returns
        -------
        rlist, wlist, xlist : numpy.ndarray of int32
            Ready descriptors of each set, ascending.

        Raises
        ------
        OSError
            ``EBADF`` if a set names a closed descriptor.
        """
        self.select_into()
        return self.result()
