# C contract of memcore.replace: page-frame replacement over a fixed set of
# frame slots.  One state struct serves every policy; the offline simulator
# (``simulate``) and the online ``Replacer`` both drive it through the same
# five operations: touch, insert, victim, remove, tick.
#
# Slots are frames: slot s holds page[s] (-1 when empty).  Lists are
# index-linked over slots (prev/next), each with an "old" end (head, the next
# victim) and a "young" end (tail, where new pages go).

from memcore._typedefs cimport intp_t, int32_t, int64_t, uint8_t

cdef enum:
    POL_OPT = 0
    POL_FIFO = 1
    POL_LRU = 2
    POL_NRU = 3
    POL_SECOND_CHANCE = 4
    POL_CLOCK = 5
    POL_LRU2Q = 6
    N_POLICIES = 7

cdef enum:
    LIST_INACTIVE = 0     # the one list of fifo/lru/second_chance; lru2q's inactive list
    LIST_ACTIVE = 1       # lru2q's active list
    LIST_NONE = 255

ctypedef struct repl_t:
    int32_t policy
    int32_t nframes
    int32_t nused
    int32_t hand              # clock hand (a slot)
    int32_t clear_interval    # nru: clear every R bit after this many references (0: never)
    int32_t since_clear       # nru: references since the last clear
    uint8_t ref_on_load       # R bit given to a newly loaded page
    int32_t head[2]           # old end of each list (-1: empty)
    int32_t tail[2]           # young end of each list
    int32_t count[2]          # length of each list
    int32_t nfree             # number of entries on the free-slot stack
    int64_t *page             # [nframes] page held by each slot, -1 if empty
    int32_t *prev             # [nframes] list links
    int32_t *next
    uint8_t *lst              # [nframes] list a slot is on (LIST_*)
    uint8_t *rbit             # [nframes] referenced (R / PG_referenced)
    uint8_t *mbit             # [nframes] modified (M, dirty)
    int64_t *key              # [nframes] opt: time of the page's next use
    int32_t *heap             # [nframes] opt: max-heap of slots by key
    int32_t *heappos          # [nframes] opt: position of a slot in heap
    int32_t *freeslots        # [nframes] stack of empty slots (top = last)

# A page already resident in slot s is referenced now (write: a store);
# next_use is the time of its next reference (opt only).
cdef void repl_touch(repl_t *r, int32_t s, bint write, int64_t next_use) noexcept nogil
# Load page into an empty slot and return the slot (-1 if none is free).
cdef int32_t repl_insert(repl_t *r, int64_t page, bint write, int64_t next_use) noexcept nogil
# The slot whose page the policy would evict now (-1 when no page is
# resident).  Does not remove it, but may age state on the way as the policy
# does (clock and second chance clear R bits, lru2q rebalances its lists).
cdef int32_t repl_victim(repl_t *r) noexcept nogil
# Empty slot s (its page leaves memory).
cdef void repl_remove(repl_t *r, int32_t s) noexcept nogil
# One reference has been processed (nru's periodic clearing of R bits).
cdef void repl_tick(repl_t *r) noexcept nogil


cdef class _ReplState:
    cdef repl_t r
    cdef public object page, prev, next, lst, rbit, mbit, key, heap, heappos, freeslots
    cdef _bind(self)

# The online Python class, for C users: ``r.c_state()`` is its state.  The
# Python methods keep a page -> frame dict that the C functions do not see:
# drive one Replacer either from Python or from C, not both.
cdef class Replacer:
    cdef _ReplState st
    cdef dict slot_of
    cdef readonly str policy
    cdef tuple _ctor
    cdef repl_t *c_state(self) noexcept
