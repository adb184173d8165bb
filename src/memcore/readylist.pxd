# C contract of memcore.readylist: Linux epoll's interest set, ready list
# (rdllist) and overflow list (ovflist), and the select/poll scans that epoll
# replaces.
#
# Glossary (names as in fs/eventpoll.c):
#   epitem    one watched descriptor of an instance; here: index fd of the
#             per-fd arrays of eventpoll_t.
#   rdllist   ready list: items whose source signalled an event; epoll_wait
#             hands them out.  A doubly index-linked list through rdl_next /
#             rdl_prev, so an item is unlinked in O(1) by EPOLL_CTL_DEL.
#   txlist    the ready list spliced away by ep_start_scan while events are
#             transferred to user space; shares rdl_next / rdl_prev (an item
#             is on at most one of the two lists).
#   ovflist   items whose wake-up arrives while a transfer is under way: a
#             LIFO singly linked chain through ovf_next, head in `ovflist`.
#             EP_UNACTIVE (-2) as head means "no transfer under way"; as an
#             item's ovf_next it means "not chained".  -1 ends a chain.
#   linked    ep_is_linked(): the item is on rdllist or txlist.
#
# Every function takes fds already validated against `capacity` by the
# caller (the Python class grows the arrays and checks ranges first).
# Functions that can fail return -errno (Linux's convention) and leave the
# state unchanged; the Python layer raises OSError(errno).

from memcore._typedefs cimport intp_t, int16_t, int32_t, uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from *:
    """
    #define MC_EPOLLIN        0x00000001U
    #define MC_EPOLLPRI       0x00000002U
    #define MC_EPOLLOUT       0x00000004U
    #define MC_EPOLLERR       0x00000008U
    #define MC_EPOLLHUP       0x00000010U
    #define MC_EPOLLNVAL      0x00000020U
    #define MC_EPOLLRDNORM    0x00000040U
    #define MC_EPOLLRDBAND    0x00000080U
    #define MC_EPOLLWRNORM    0x00000100U
    #define MC_EPOLLWRBAND    0x00000200U
    #define MC_EPOLLMSG       0x00000400U
    #define MC_EPOLLRDHUP     0x00002000U
    #define MC_EPOLLEXCLUSIVE (1U << 28)
    #define MC_EPOLLWAKEUP    (1U << 29)
    #define MC_EPOLLONESHOT   (1U << 30)
    #define MC_EPOLLET        (1U << 31)
    """
    uint32_t EPOLL_IN "MC_EPOLLIN"
    uint32_t EPOLL_PRI "MC_EPOLLPRI"
    uint32_t EPOLL_OUT "MC_EPOLLOUT"
    uint32_t EPOLL_ERR "MC_EPOLLERR"
    uint32_t EPOLL_HUP "MC_EPOLLHUP"
    uint32_t EPOLL_NVAL "MC_EPOLLNVAL"
    uint32_t EPOLL_RDNORM "MC_EPOLLRDNORM"
    uint32_t EPOLL_RDBAND "MC_EPOLLRDBAND"
    uint32_t EPOLL_WRNORM "MC_EPOLLWRNORM"
    uint32_t EPOLL_WRBAND "MC_EPOLLWRBAND"
    uint32_t EPOLL_MSG "MC_EPOLLMSG"
    uint32_t EPOLL_RDHUP "MC_EPOLLRDHUP"
    uint32_t EPOLL_EXCLUSIVE "MC_EPOLLEXCLUSIVE"
    uint32_t EPOLL_WAKEUP "MC_EPOLLWAKEUP"
    uint32_t EPOLL_ONESHOT "MC_EPOLLONESHOT"
    uint32_t EPOLL_ET "MC_EPOLLET"

cdef enum:
    EP_NULL = -1          # end of a list / chain
    EP_UNACTIVE = -2      # EP_UNACTIVE_PTR
    EPI_REGISTERED = 1    # state bit: fd is in the interest set
    EPI_LINKED = 2        # state bit: on rdllist or txlist

# Statistics slots (counts only).
cdef enum:
    ST_CTL = 0            # epoll_ctl calls that succeeded
    ST_CALLBACKS = 1      # ep_poll_callback invocations
    ST_QUEUED = 2         # items appended to rdllist by a callback or ctl
    ST_OVF_QUEUED = 3     # items chained on ovflist during a transfer
    ST_WAITS = 4          # ep_send_events passes (epoll_wait calls)
    ST_EXAMINED = 5       # items taken off txlist and polled
    ST_DELIVERED = 6      # events copied to user space
    ST_DROPPED = 7        # items found no longer ready when polled
    ST_REQUEUED = 8       # level-triggered items put back on rdllist
    ST_WAKEUPS = 9        # blocked epoll_wait callers woken
    ST_BYTES_TO_USER = 10   # struct epoll_event bytes copied out (12 each)
    ST_BYTES_FROM_USER = 11 # struct epoll_event bytes copied in by ctl
    N_STATS = 12

ctypedef struct rlist_t:
    int32_t head
    int32_t tail
    intp_t count

ctypedef struct eventpoll_t:
    intp_t capacity       # length of every per-fd array
    uint8_t *state        # EPI_* bits
    uint32_t *events      # epi->event.events: interest | ERR | HUP | flags
    uint32_t *revents     # what the source's ->poll() returns now
    int32_t *rdl_next
    int32_t *rdl_prev
    int32_t *ovf_next     # EP_UNACTIVE when not chained
    rlist_t rdllist
    rlist_t txlist
    int32_t ovflist       # EP_UNACTIVE outside a transfer
    intp_t nitems
    intp_t waiters        # tasks blocked in epoll_wait on this instance
    uint64_t *stats       # N_STATS counters

# Interest set (epoll_ctl).  `events` already holds the flags.
cdef int ep_insert(eventpoll_t *ep, int32_t fd, uint32_t events) noexcept nogil
cdef int ep_modify(eventpoll_t *ep, int32_t fd, uint32_t events) noexcept nogil
cdef int ep_remove(eventpoll_t *ep, int32_t fd) noexcept nogil

# The source side: its ->poll() result changed / it signalled an event.
cdef void ep_set_revents(eventpoll_t *ep, int32_t fd, uint32_t mask) noexcept nogil
cdef int ep_poll_callback(eventpoll_t *ep, int32_t fd, uint32_t pollflags) noexcept nogil

# ->poll() of the instance itself (__ep_eventpoll_poll), for an epoll file
# watched by poll, select or another instance: EPOLL_IN | EPOLL_RDNORM if an
# item on the ready list is ready, the items ahead of it that are not taken
# off the list; 0 if none.  Not during a transfer.
cdef uint32_t ep_eventpoll_poll(eventpoll_t *ep) noexcept nogil

# epoll_wait's transfer: ep_start_scan, ep_send_events' loop, ep_done_scan.
cdef void ep_start_scan(eventpoll_t *ep) noexcept nogil
cdef intp_t ep_send_events(eventpoll_t *ep, int32_t *out_fds, uint32_t *out_events,
                           intp_t maxevents) noexcept nogil
cdef void ep_done_scan(eventpoll_t *ep) noexcept nogil
cdef intp_t ep_wait(eventpoll_t *ep, int32_t *out_fds, uint32_t *out_events,
                    intp_t maxevents) noexcept nogil

# poll(2) and select(2): scan every watched descriptor.  `mask[fd]` is the
# ->poll() result of the file open on fd (EPOLL_NVAL: nothing open there).
cdef intp_t poll_scan(const int32_t *fds, const int16_t *events, int16_t *revents,
                      intp_t nfds, const uint32_t *mask, intp_t nmask) noexcept nogil
cdef intp_t select_scan(intp_t nfds, uint64_t *inp, uint64_t *outp, uint64_t *exp,
                        const uint32_t *mask, intp_t nmask) noexcept nogil
