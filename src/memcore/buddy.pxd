# C contract of the buddy allocator (one zone), as Linux 6.8 runs it.
#
# Glossary (Linux names):
#   pfn          page frame number (absolute; buddies are computed on it)
#   idx          pfn - base_pfn, the index of a page in the zone's arrays
#   order        a block is 1 << order pages, aligned on its size
#   free_area    free_area[order].free_list[migratetype]: here the index-linked
#                lists list_head/list_tail[order * NR_MIGRATETYPES + mt]
#   nr_free      free blocks per order (free_area[order].nr_free)
#   pageblock    1 << PAGEBLOCK_ORDER pages that share one migratetype
#
# Every function takes a buddy_t whose pointers point into numpy arrays owned
# by memcore.buddy.BuddyAllocator.  Nothing here allocates or raises:
# failures come back as return codes (BUDDY_E*), so callers may run these in
# nogil loops (the slab kernel uses buddy_alloc / buddy_free as page source).

from memcore._typedefs cimport int32_t, int64_t, uint8_t, intp_t

cdef enum:
    MAX_PAGE_ORDER = 10              # largest order (Linux 6.8+ name)
    NR_PAGE_ORDERS = 11              # orders 0..MAX_PAGE_ORDER
    PAGEBLOCK_ORDER = 9              # x86-64, 4 KiB pages
    PAGEBLOCK_NR_PAGES = 512
    PAGE_ALLOC_COSTLY_ORDER = 3

# Migrate types (enum migratetype; the first MIGRATE_PCPTYPES of Linux).
cdef enum:
    MIGRATE_UNMOVABLE = 0
    MIGRATE_MOVABLE = 1
    MIGRATE_RECLAIMABLE = 2
    NR_MIGRATETYPES = 3

# page_t.flags bits.
cdef enum:
    PG_BUDDY = 1        # head of a free block on a free list (PageBuddy)
    PG_HEAD = 2         # head of an allocated block
    PG_RESERVED = 4     # hole or reserved memory: never on a free list
    PG_ISOLATED = 8     # free block held by the compaction free scanner

# Watermark indices into buddy_t.watermark (enum zone_watermarks).
cdef enum:
    WMARK_MIN = 0
    WMARK_LOW = 1
    WMARK_HIGH = 2
    WMARK_PROMO = 3
    NR_WMARK = 4

# Indices into buddy_t.counters.
cdef enum:
    CNT_FREE_PAGES = 0      # NR_FREE_PAGES
    CNT_MANAGED = 1         # managed pages (present minus reserved)
    CNT_ALLOC = 2           # successful allocations
    CNT_ALLOC_FAIL = 3      # allocations that found no block
    CNT_FREE = 4            # frees
    CNT_FALLBACK = 5        # allocations served from another migratetype (extfrag events)
    CNT_CLAIM = 6           # pageblocks claimed (migratetype changed) by fallback
    CNT_COMPACT_MIGRATED = 7  # blocks moved by compaction
    N_COUNTERS = 8

# alloc_flags bits of buddy_alloc_flags (mm/internal.h values).
cdef enum:
    ALLOC_NOFRAGMENT = 0x100    # fallback may only steal blocks >= pageblock_order

# Return codes of buddy_check_free / buddy_free (0 = success).
cdef enum:
    BUDDY_OK = 0
    BUDDY_ERANGE = -1       # pfn outside the zone
    BUDDY_EORDER = -2       # order outside 0..MAX_PAGE_ORDER
    BUDDY_EALIGN = -3       # pfn not a multiple of 1 << order
    BUDDY_ENOTALLOC = -4    # not the head of an allocated block (double free)
    BUDDY_EWRONGORDER = -5  # allocated with another order
    BUDDY_EBLOCK = -6       # block runs past the end of the zone

# One struct page (12 bytes).  Links are zone indices, -1 for none.
ctypedef struct page_t:
    int32_t prev
    int32_t next
    uint8_t flags
    uint8_t order          # free or allocated block order (heads only)
    uint8_t migratetype    # free list it is on (free head) / allocation type (allocated head)
    uint8_t _pad

ctypedef struct buddy_t:
    page_t *pages              # [n_pages]
    uint8_t *pageblock_mt      # [n_blocks] migratetype of each pageblock
    int32_t *list_head         # [NR_PAGE_ORDERS * NR_MIGRATETYPES]
    int32_t *list_tail         # [NR_PAGE_ORDERS * NR_MIGRATETYPES]
    int64_t *nr_free           # [NR_PAGE_ORDERS]
    int64_t *nr_free_mt        # [NR_PAGE_ORDERS * NR_MIGRATETYPES]
    int64_t *counters          # [N_COUNTERS]
    int64_t *watermark         # [NR_WMARK]
    int64_t base_pfn
    int64_t n_pages
    int64_t first_block        # base_pfn >> PAGEBLOCK_ORDER
    int64_t n_blocks

# Allocation --------------------------------------------------------------

# __rmqueue: smallest sufficient block of `migratetype`, else fallback
# (steal from another type).  No watermark check.  pfn, or -1.
cdef int64_t buddy_rmqueue(buddy_t *z, int order, int migratetype) noexcept nogil

# __zone_watermark_ok for an order with a mark (+ lowmem reserve folded in).
cdef bint buddy_watermark_ok(buddy_t *z, int order, int64_t mark) noexcept nogil

# Fast path: watermark check at `mark`, then __rmqueue.  pfn, or -1.
cdef int64_t buddy_alloc(buddy_t *z, int order, int migratetype, int64_t mark) noexcept nogil

# The same with alloc_flags (ALLOC_NOFRAGMENT).
cdef int64_t buddy_alloc_flags(buddy_t *z, int order, int migratetype, int64_t mark,
                               int alloc_flags) noexcept nogil

# Free ---------------------------------------------------------------------

# Validate a free without changing anything: BUDDY_OK or a BUDDY_E* code.
cdef int buddy_check_free(buddy_t *z, int64_t pfn, int order) noexcept nogil

# Validate, then free (coalescing).  BUDDY_OK or a BUDDY_E* code; on error
# nothing changed.
cdef int buddy_free(buddy_t *z, int64_t pfn, int order) noexcept nogil

# __free_one_page for a block known to be valid (index, order, list type).
cdef void buddy_free_one(buddy_t *z, int64_t idx, int order, int migratetype,
                         bint fpi_to_tail) noexcept nogil

# Compaction: move movable allocated blocks (migrate scanner from the bottom)
# into free blocks isolated by the free scanner (from the top).  order < 0
# compacts the whole zone.  Writes up to `cap` (old_pfn, new_pfn, order)
# triples into `moved` (row-major) and returns how many blocks moved.
cdef intp_t buddy_compact(buddy_t *z, int order, int migratetype, int32_t *pool_next,
                          int64_t *moved, intp_t cap) noexcept nogil


# The Python-level allocator; its buddy_t is what the functions above take:
#     cdef buddy_t *z = (<BuddyAllocator>obj).c_zone()
# The state arrays it owns keep the pointers valid while it lives.
cdef class BuddyAllocator:
    cdef buddy_t z
    cdef readonly object pages                  # page_t array (PAGE_DTYPE)
    cdef readonly object pageblock_migratetype  # uint8 per pageblock
    cdef object _list_head, _list_tail, _nr_free, _nr_free_mt
    cdef readonly object counters               # int64[N_COUNTERS]
    cdef object _watermark
    cdef public object wake_kswapd
    cdef public object direct_reclaim
    cdef public object out_of_memory
    cdef public bint compaction
    cdef buddy_t *c_zone(self) noexcept
