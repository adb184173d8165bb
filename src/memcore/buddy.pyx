"""The buddy allocator of one zone, as Linux 6.8 runs it.

A zone's free memory is held in 11 orders (0 .. ``MAX_PAGE_ORDER`` = 10): a
block of order *k* is ``1 << k`` pages aligned on its size.  Free blocks sit on
index-linked lists, one per (order, migrate type), threaded through a
``struct page`` array kept in numpy (:attr:`BuddyAllocator.pages`).

Rules followed (Linux 6.8, ``mm/page_alloc.c``), which make the same
operations give the kernel's pfn sequence (per-CPU page lists aside):

* **Allocation** (``__rmqueue_smallest``) takes the *first* block of the
  smallest sufficient order from the list of the requested migrate type and
  splits it (``expand``): the upper halves go to the *head* of the lower-order
  lists, the caller gets the lowest pfn.
* **Free** (``__free_one_page``) merges with the buddy ``pfn ^ (1 << order)``
  while that buddy is free at the same order (in the zone), then puts the
  block on the list of the freed page's *pageblock* migrate type, at the
  **tail** when ``buddy_merge_likely``: the merged block is below order
  ``MAX_PAGE_ORDER - 1`` and the buddy of its parent (order + 1) is free —
  the block is expected to merge soon, so allocations should not take it;
  otherwise at the **head**.
* **Boot** fills the free lists as ``memblock_free_all`` does: each run of
  usable pages is cut into maximal aligned blocks in ascending pfn order and
  freed with ``FPI_TO_TAIL``; every pageblock starts ``MIGRATE_MOVABLE``.
* **Fallback** (``__rmqueue_fallback``) when the requested type has no block:
  the largest block of a fallback type (``fallbacks[]``: unmovable →
  reclaimable, movable; movable → reclaimable, unmovable; reclaimable →
  unmovable, movable), except that a movable request that may not claim the
  whole pageblock takes the smallest one; stealing claims whole pageblocks as
  ``steal_suitable_fallback`` does.

``ALLOC_NOFRAGMENT`` (``alloc_fast(..., nofragment=True)``) limits the
fallback of requests below order 9 to blocks of order >= 9.

Not modelled: per-CPU page lists (pcp), the highatomic reserve, CMA,
watermark boosting, page shuffling.
"""
import numpy as np

cimport numpy as cnp
from libc.string cimport memset

from memcore._typedefs cimport int8_t, int16_t, int32_t, int64_t, uint8_t, intp_t
from memcore.buddy cimport (
    page_t, buddy_t,
    MAX_PAGE_ORDER, NR_PAGE_ORDERS, PAGEBLOCK_ORDER, PAGEBLOCK_NR_PAGES,
    PAGE_ALLOC_COSTLY_ORDER,
    MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, NR_MIGRATETYPES,
    PG_BUDDY, PG_HEAD, PG_RESERVED, PG_ISOLATED,
    WMARK_MIN, WMARK_LOW, WMARK_HIGH, WMARK_PROMO, NR_WMARK,
    CNT_FREE_PAGES, CNT_MANAGED, CNT_ALLOC, CNT_ALLOC_FAIL, CNT_FREE,
    CNT_FALLBACK, CNT_CLAIM, CNT_COMPACT_MIGRATED, N_COUNTERS,
    BUDDY_OK, BUDDY_ERANGE, BUDDY_EORDER, BUDDY_EALIGN, BUDDY_ENOTALLOC,
    BUDDY_EWRONGORDER, BUDDY_EBLOCK, ALLOC_NOFRAGMENT,
)

cnp.import_array()

# --- Python-visible constants ---------------------------------------------
# The C enum names of buddy.pxd, exported under the same names (a plain
# assignment would redeclare the cimported names, hence globals()).
globals().update({
    "MAX_PAGE_ORDER": MAX_PAGE_ORDER,              # largest order (Linux 6.8+ name)
    "NR_PAGE_ORDERS": NR_PAGE_ORDERS,              # orders 0..MAX_PAGE_ORDER
    "PAGEBLOCK_ORDER": PAGEBLOCK_ORDER,            # x86-64, 4 KiB pages: 2 MiB
    "PAGEBLOCK_NR_PAGES": PAGEBLOCK_NR_PAGES,
    "PAGE_ALLOC_COSTLY_ORDER": PAGE_ALLOC_COSTLY_ORDER,
    "MIGRATE_UNMOVABLE": MIGRATE_UNMOVABLE,
    "MIGRATE_MOVABLE": MIGRATE_MOVABLE,
    "MIGRATE_RECLAIMABLE": MIGRATE_RECLAIMABLE,
    "NR_MIGRATETYPES": NR_MIGRATETYPES,
    "PG_BUDDY": PG_BUDDY,
    "PG_HEAD": PG_HEAD,
    "PG_RESERVED": PG_RESERVED,
    "PG_ISOLATED": PG_ISOLATED,
})

#: Names of the migrate types, as ``/proc/pagetypeinfo`` prints them.
MIGRATETYPE_NAMES = ("Unmovable", "Movable", "Reclaimable")

#: ``fallbacks[]`` of mm/page_alloc.c: where each type looks when it runs dry.
FALLBACKS = ((MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE),
             (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE),
             (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE))

#: Names of the counters in :attr:`BuddyAllocator.counters`, by index.
COUNTER_NAMES = ("free_pages", "managed_pages", "alloc", "alloc_fail", "free",
                 "fallback", "pageblock_claim", "compact_migrated")

_ERRORS = {
    BUDDY_ERANGE: "pfn outside the zone",
    BUDDY_EORDER: "order outside 0..10",
    BUDDY_EALIGN: "pfn not aligned on its order (pfn % (1 << order) != 0)",
    BUDDY_ENOTALLOC: "not an allocated block (double free, or never allocated)",
    BUDDY_EWRONGORDER: "block was allocated with another order",
    BUDDY_EBLOCK: "block runs past the end of the zone",
}

cdef int[3][2] _fallbacks
_fallbacks[MIGRATE_UNMOVABLE][0] = MIGRATE_RECLAIMABLE
_fallbacks[MIGRATE_UNMOVABLE][1] = MIGRATE_MOVABLE
_fallbacks[MIGRATE_MOVABLE][0] = MIGRATE_RECLAIMABLE
_fallbacks[MIGRATE_MOVABLE][1] = MIGRATE_UNMOVABLE
_fallbacks[MIGRATE_RECLAIMABLE][0] = MIGRATE_UNMOVABLE
_fallbacks[MIGRATE_RECLAIMABLE][1] = MIGRATE_MOVABLE

cdef page_t _dummy_page

#: The numpy dtype of one ``struct page`` (derived from the C struct).
PAGE_DTYPE = np.asarray(<page_t[:1]>(&_dummy_page)).dtype


# --- free lists -------------------------------------------------------------

cdef inline int64_t _pb(buddy_t *z, int64_t idx) noexcept nogil:
    # pageblock number (in the zone's pageblock_mt array) of a page
    return ((z.base_pfn + idx) >> PAGEBLOCK_ORDER) - z.first_block


cdef inline void _list_add(buddy_t *z, int64_t idx, int order, int mt,
                           bint tail) noexcept nogil:
    cdef int li = order * NR_MIGRATETYPES + mt
    cdef page_t *p = &z.pages[idx]
    p.flags = PG_BUDDY
    p.order = <uint8_t>order
    p.migratetype = <uint8_t>mt
    if tail:
        p.next = -1
        p.prev = z.list_tail[li]
        if p.prev >= 0:
            z.pages[p.prev].next = <int32_t>idx
        else:
            z.list_head[li] = <int32_t>idx
        z.list_tail[li] = <int32_t>idx
    else:
        p.prev = -1
        p.next = z.list_head[li]
        if p.next >= 0:
            z.pages[p.next].prev = <int32_t>idx
        else:
            z.list_tail[li] = <int32_t>idx
        z.list_head[li] = <int32_t>idx
    z.nr_free[order] += 1
    z.nr_free_mt[li] += 1


cdef inline void _list_del(buddy_t *z, int64_t idx) noexcept nogil:
    # del_page_from_free_list: unlink, clear PageBuddy
    cdef page_t *p = &z.pages[idx]
    cdef int order = p.order
    cdef int li = order * NR_MIGRATETYPES + p.migratetype
    if p.prev >= 0:
        z.pages[p.prev].next = p.next
    else:
        z.list_head[li] = p.next
    if p.next >= 0:
        z.pages[p.next].prev = p.prev
    else:
        z.list_tail[li] = p.prev
    p.prev = -1
    p.next = -1
    p.flags = 0
    z.nr_free[order] -= 1
    z.nr_free_mt[li] -= 1


cdef inline void _move_to_free_list(buddy_t *z, int64_t idx, int mt) noexcept nogil:
    # move_to_free_list: list_move_tail onto another type's list, same order
    cdef int order = z.pages[idx].order
    _list_del(z, idx)
    _list_add(z, idx, order, mt, True)


cdef inline bint _page_is_buddy(buddy_t *z, int64_t bidx, int order) noexcept nogil:
    if bidx < 0 or bidx >= z.n_pages:
        return False
    return (z.pages[bidx].flags & PG_BUDDY) != 0 and z.pages[bidx].order == order


# --- free -------------------------------------------------------------------

cdef inline bint _buddy_merge_likely(buddy_t *z, int64_t pfn, int64_t buddy_pfn,
                                     int order) noexcept nogil:
    cdef int64_t higher
    if order >= MAX_PAGE_ORDER - 1:
        return False
    higher = buddy_pfn & pfn
    return _page_is_buddy(z, (higher ^ (<int64_t>1 << (order + 1))) - z.base_pfn, order + 1)


cdef void buddy_free_one(buddy_t *z, int64_t idx, int order, int migratetype,
                         bint fpi_to_tail) noexcept nogil:
    cdef int64_t pfn = z.base_pfn + idx
    cdef int64_t buddy_pfn = 0
    cdef bint to_tail
    z.counters[CNT_FREE_PAGES] += <int64_t>1 << order
    while order < MAX_PAGE_ORDER:
        buddy_pfn = pfn ^ (<int64_t>1 << order)
        if not _page_is_buddy(z, buddy_pfn - z.base_pfn, order):
            break
        _list_del(z, buddy_pfn - z.base_pfn)
        pfn = pfn & buddy_pfn
        order += 1
    if fpi_to_tail:
        to_tail = True
    else:
        to_tail = _buddy_merge_likely(z, pfn, buddy_pfn, order)
    _list_add(z, pfn - z.base_pfn, order, migratetype, to_tail)


cdef int buddy_check_free(buddy_t *z, int64_t pfn, int order) noexcept nogil:
    cdef int64_t idx
    if order < 0 or order > MAX_PAGE_ORDER:
        return BUDDY_EORDER
    idx = pfn - z.base_pfn
    if idx < 0 or idx >= z.n_pages:
        return BUDDY_ERANGE
    if pfn & ((<int64_t>1 << order) - 1):
        return BUDDY_EALIGN
    if idx + (<int64_t>1 << order) > z.n_pages:
        return BUDDY_EBLOCK
    if not (z.pages[idx].flags & PG_HEAD):
        return BUDDY_ENOTALLOC
    if z.pages[idx].order != order:
        return BUDDY_EWRONGORDER
    return BUDDY_OK


cdef int buddy_free(buddy_t *z, int64_t pfn, int order) noexcept nogil:
    cdef int rc = buddy_check_free(z, pfn, order)
    cdef int64_t idx
    if rc != BUDDY_OK:
        return rc
    idx = pfn - z.base_pfn
    z.pages[idx].flags = 0
    z.counters[CNT_FREE] += 1
    buddy_free_one(z, idx, order, z.pageblock_mt[_pb(z, idx)], False)
    return BUDDY_OK


# --- allocation -------------------------------------------------------------

cdef inline void _expand(buddy_t *z, int64_t idx, int low, int high, int mt) noexcept nogil:
    cdef int64_t size = <int64_t>1 << high
    while high > low:
        high -= 1
        size >>= 1
        _list_add(z, idx + size, high, mt, False)


cdef inline int64_t _rmqueue_smallest(buddy_t *z, int order, int mt) noexcept nogil:
    cdef int o
    cdef int64_t idx
    for o in range(order, NR_PAGE_ORDERS):
        idx = z.list_head[o * NR_MIGRATETYPES + mt]
        if idx < 0:
            continue
        _list_del(z, idx)
        _expand(z, idx, order, o, mt)
        return idx
    return -1


cdef inline bint _can_steal_fallback(int order, int start_mt) noexcept nogil:
    if order >= PAGEBLOCK_ORDER:
        return True
    return (order >= PAGEBLOCK_ORDER // 2 or start_mt == MIGRATE_RECLAIMABLE
            or start_mt == MIGRATE_UNMOVABLE)


cdef int _find_suitable_fallback(buddy_t *z, int order, int mt, bint only_stealable,
                                 bint *can_steal) noexcept nogil:
    cdef int i, fmt
    if z.nr_free[order] == 0:
        return -1
    can_steal[0] = False
    for i in range(NR_MIGRATETYPES - 1):
        fmt = _fallbacks[mt][i]
        if z.nr_free_mt[order * NR_MIGRATETYPES + fmt] == 0:
            continue
        if _can_steal_fallback(order, mt):
            can_steal[0] = True
        if not only_stealable:
            return fmt
        if can_steal[0]:
            return fmt
    return -1


cdef int64_t _move_freepages_block(buddy_t *z, int64_t idx, int mt,
                                   int64_t *num_movable) noexcept nogil:
    # move_freepages_block: every free block of the pageblock onto mt's lists
    # (tail); counts allocated movable blocks (their head pages, PageLRU).
    cdef int64_t pfn = z.base_pfn + idx
    cdef int64_t start = pfn & ~(<int64_t>PAGEBLOCK_NR_PAGES - 1)
    cdef int64_t end = start + PAGEBLOCK_NR_PAGES - 1
    cdef int64_t i, moved = 0
    cdef page_t *p
    num_movable[0] = 0
    if start < z.base_pfn:
        start = pfn
    if end >= z.base_pfn + z.n_pages:
        return 0
    i = start - z.base_pfn
    end -= z.base_pfn
    while i <= end:
        p = &z.pages[i]
        if p.flags & PG_BUDDY:
            _move_to_free_list(z, i, mt)
            moved += <int64_t>1 << p.order
            i += <int64_t>1 << p.order
            continue
        if (p.flags & PG_HEAD) and p.migratetype == MIGRATE_MOVABLE:
            num_movable[0] += 1
        i += 1
    return moved


cdef void _steal_suitable_fallback(buddy_t *z, int64_t idx, int start_type,
                                   bint whole_block) noexcept nogil:
    cdef int current_order = z.pages[idx].order
    cdef int64_t pb = _pb(z, idx)
    cdef int old_block_type = z.pageblock_mt[pb]
    cdef int64_t free_pages, movable_pages = 0, alike_pages, b
    if current_order >= PAGEBLOCK_ORDER:
        # change_pageblock_range: take ownership of every pageblock covered
        for b in range(<int64_t>1 << (current_order - PAGEBLOCK_ORDER)):
            if 0 <= pb + b < z.n_blocks:
                z.pageblock_mt[pb + b] = <uint8_t>start_type
        z.counters[CNT_CLAIM] += <int64_t>1 << (current_order - PAGEBLOCK_ORDER)
        _move_to_free_list(z, idx, start_type)
        return
    if whole_block:
        free_pages = _move_freepages_block(z, idx, start_type, &movable_pages)
        if free_pages:
            if start_type == MIGRATE_MOVABLE:
                alike_pages = movable_pages
            elif old_block_type == MIGRATE_MOVABLE:
                alike_pages = PAGEBLOCK_NR_PAGES - (free_pages + movable_pages)
            else:
                alike_pages = 0
            if free_pages + alike_pages >= (1 << (PAGEBLOCK_ORDER - 1)):
                z.pageblock_mt[pb] = <uint8_t>start_type
                z.counters[CNT_CLAIM] += 1
            return
    _move_to_free_list(z, idx, start_type)


cdef bint _rmqueue_fallback(buddy_t *z, int order, int start_mt, int alloc_flags) noexcept nogil:
    cdef int current_order, fmt = -1
    cdef bint can_steal = False
    cdef int64_t idx
    cdef int min_order = order
    # ALLOC_NOFRAGMENT: do not break up pageblocks of another type for a
    # small request; the caller retries without the flag when all zones fail
    if order < PAGEBLOCK_ORDER and (alloc_flags & ALLOC_NOFRAGMENT):
        min_order = PAGEBLOCK_ORDER
    current_order = MAX_PAGE_ORDER
    while current_order >= min_order:
        fmt = _find_suitable_fallback(z, current_order, start_mt, False, &can_steal)
        if fmt != -1:
            break
        current_order -= 1
    if fmt == -1:
        return False
    if not can_steal and start_mt == MIGRATE_MOVABLE and current_order > order:
        # find_smallest
        current_order = order
        while current_order < NR_PAGE_ORDERS:
            fmt = _find_suitable_fallback(z, current_order, start_mt, False, &can_steal)
            if fmt != -1:
                break
            current_order += 1
    idx = z.list_head[current_order * NR_MIGRATETYPES + fmt]
    z.counters[CNT_FALLBACK] += 1
    _steal_suitable_fallback(z, idx, start_mt, can_steal)
    return True


cdef int64_t buddy_rmqueue(buddy_t *z, int order, int migratetype) noexcept nogil:
    return _rmqueue(z, order, migratetype, 0)


cdef inline int64_t _rmqueue(buddy_t *z, int order, int migratetype, int alloc_flags) noexcept nogil:
    cdef int64_t idx
    cdef page_t *p
    if order < 0 or order > MAX_PAGE_ORDER or migratetype < 0 or migratetype >= NR_MIGRATETYPES:
        return -1
    idx = _rmqueue_smallest(z, order, migratetype)
    if idx < 0:
        if _rmqueue_fallback(z, order, migratetype, alloc_flags):
            idx = _rmqueue_smallest(z, order, migratetype)
    if idx < 0:
        z.counters[CNT_ALLOC_FAIL] += 1
        return -1
    p = &z.pages[idx]
    p.flags = PG_HEAD
    p.order = <uint8_t>order
    p.migratetype = <uint8_t>migratetype
    z.counters[CNT_FREE_PAGES] -= <int64_t>1 << order
    z.counters[CNT_ALLOC] += 1
    return z.base_pfn + idx


cdef bint buddy_watermark_ok(buddy_t *z, int order, int64_t mark) noexcept nogil:
    cdef int64_t free_pages = z.counters[CNT_FREE_PAGES] - ((<int64_t>1 << order) - 1)
    cdef int o
    if free_pages <= mark:
        return False
    if order == 0:
        return True
    for o in range(order, NR_PAGE_ORDERS):
        if z.nr_free[o]:
            return True
    return False


cdef int64_t buddy_alloc(buddy_t *z, int order, int migratetype, int64_t mark) noexcept nogil:
    return buddy_alloc_flags(z, order, migratetype, mark, 0)


cdef int64_t buddy_alloc_flags(buddy_t *z, int order, int migratetype, int64_t mark,
                               int alloc_flags) noexcept nogil:
    if order < 0 or order > MAX_PAGE_ORDER:
        return -1
    if not buddy_watermark_ok(z, order, mark):
        z.counters[CNT_ALLOC_FAIL] += 1
        return -1
    return _rmqueue(z, order, migratetype, alloc_flags)


# --- compaction -------------------------------------------------------------

cdef bint _compact_finished(buddy_t *z, int order, int mt) noexcept nogil:
    # __compact_finished for a direct compactor: a suitable page is free
    cdef int o
    cdef bint can_steal = False
    for o in range(order, NR_PAGE_ORDERS):
        if z.nr_free_mt[o * NR_MIGRATETYPES + mt]:
            return True
        if _find_suitable_fallback(z, o, mt, True, &can_steal) != -1:
            return True
    return False


cdef int64_t _isolate_freepages_block(buddy_t *z, int64_t block_pfn, int32_t *pool_next,
                                      int32_t *pool_head, int32_t *pool_tail) noexcept nogil:
    # The free scanner takes every free block of one pageblock off the free
    # lists, onto the per-order pool lists (tail), in ascending pfn order.
    # Only MOVABLE pageblocks are targets, and not a pageblock that is itself
    # (part of) a free block of order >= pageblock_order
    # (suitable_migration_target).
    cdef int64_t start = block_pfn, end = block_pfn + PAGEBLOCK_NR_PAGES
    cdef int64_t i, n = 0
    cdef page_t *p
    cdef int o
    if start < z.base_pfn:
        start = z.base_pfn
    if end > z.base_pfn + z.n_pages:
        end = z.base_pfn + z.n_pages
    if z.pageblock_mt[(block_pfn >> PAGEBLOCK_ORDER) - z.first_block] != MIGRATE_MOVABLE:
        return 0
    i = start - z.base_pfn
    if (z.pages[i].flags & PG_BUDDY) and z.pages[i].order >= PAGEBLOCK_ORDER:
        return 0
    end -= z.base_pfn
    while i < end:
        p = &z.pages[i]
        if p.flags & PG_BUDDY:
            o = p.order
            _list_del(z, i)
            p.flags = PG_ISOLATED
            p.order = <uint8_t>o
            pool_next[i] = -1
            if pool_tail[o] >= 0:
                pool_next[pool_tail[o]] = <int32_t>i
            else:
                pool_head[o] = <int32_t>i
            pool_tail[o] = <int32_t>i
            z.counters[CNT_FREE_PAGES] -= <int64_t>1 << o
            n += <int64_t>1 << o
            i += <int64_t>1 << o
        elif p.flags & PG_HEAD:
            i += <int64_t>1 << p.order
        else:
            i += 1
    return n


cdef int64_t _compaction_alloc(int order, int32_t *pool_next, int32_t *pool_head,
                               int32_t *pool_tail, page_t *pages) noexcept nogil:
    # Smallest sufficient pool block, split like expand() (upper halves to the
    # head of the lower pool lists).
    cdef int o = order, high
    cdef int64_t idx, size, half
    while o < NR_PAGE_ORDERS and pool_head[o] < 0:
        o += 1
    if o == NR_PAGE_ORDERS:
        return -1
    idx = pool_head[o]
    pool_head[o] = pool_next[idx]
    if pool_head[o] < 0:
        pool_tail[o] = -1
    high = o
    size = <int64_t>1 << o
    while high > order:
        high -= 1
        size >>= 1
        half = idx + size
        pages[half].flags = PG_ISOLATED
        pages[half].order = <uint8_t>high
        pool_next[half] = pool_head[high]
        pool_head[high] = <int32_t>half
        if pool_tail[high] < 0:
            pool_tail[high] = <int32_t>half
    return idx


cdef intp_t buddy_compact(buddy_t *z, int order, int migratetype, int32_t *pool_next,
                          int64_t *moved, intp_t cap) noexcept nogil:
    cdef int32_t pool_head[NR_PAGE_ORDERS]
    cdef int32_t pool_tail[NR_PAGE_ORDERS]
    cdef int64_t zone_end = z.base_pfn + z.n_pages
    cdef int64_t migrate_block = z.base_pfn & ~(<int64_t>PAGEBLOCK_NR_PAGES - 1)
    # free_next: the pageblock the free scanner isolates next; every block it
    # isolated lies above it.  The scanners meet when free_next <= migrate_block.
    cdef int64_t free_next = (zone_end - 1) & ~(<int64_t>PAGEBLOCK_NR_PAGES - 1)
    cdef int64_t i, end, target, old_pfn
    cdef intp_t n = 0
    cdef int o, k
    cdef page_t *p
    cdef bint met = False
    for o in range(NR_PAGE_ORDERS):
        pool_head[o] = -1
        pool_tail[o] = -1
    if z.n_pages == 0:
        return 0
    if order >= 0 and _compact_finished(z, order, migratetype):
        return 0
    while not met and migrate_block <= free_next:
        i = migrate_block - z.base_pfn
        if i < 0:
            i = 0
        end = migrate_block + PAGEBLOCK_NR_PAGES - z.base_pfn
        if end > z.n_pages:
            end = z.n_pages
        while i < end:
            p = &z.pages[i]
            if p.flags & PG_BUDDY:
                i += <int64_t>1 << p.order
                continue
            if not (p.flags & PG_HEAD):
                i += 1
                continue
            k = p.order
            # skip_isolation_on_order: never pageblock-sized folios; for a
            # direct compactor, nothing as large as the target order.
            if (p.migratetype != MIGRATE_MOVABLE or k >= PAGEBLOCK_ORDER
                    or (order >= 0 and k >= order)):
                i += <int64_t>1 << k
                continue
            target = _compaction_alloc(k, pool_next, pool_head, pool_tail, z.pages)
            while target < 0:
                if free_next <= migrate_block:
                    met = True
                    break
                _isolate_freepages_block(z, free_next, pool_next, pool_head, pool_tail)
                free_next -= PAGEBLOCK_NR_PAGES
                target = _compaction_alloc(k, pool_next, pool_head, pool_tail, z.pages)
            if met:
                break
            # migrate: the target (already out of the free count) becomes the
            # allocated block; the old block is freed and coalesces.
            z.pages[target].flags = PG_HEAD
            z.pages[target].order = <uint8_t>k
            z.pages[target].migratetype = MIGRATE_MOVABLE
            old_pfn = z.base_pfn + i
            p.flags = 0
            buddy_free_one(z, i, k, z.pageblock_mt[_pb(z, i)], False)
            z.counters[CNT_COMPACT_MIGRATED] += 1
            if n < cap:
                moved[3 * n] = old_pfn
                moved[3 * n + 1] = z.base_pfn + target
                moved[3 * n + 2] = k
            n += 1
            i += <int64_t>1 << k
        if met:
            break
        migrate_block += PAGEBLOCK_NR_PAGES
        if order >= 0 and _compact_finished(z, order, migratetype):
            break
    # release_free_list: what the free scanner isolated but did not use
    for o in range(NR_PAGE_ORDERS):
        i = pool_head[o]
        while i >= 0:
            end = pool_next[i]
            z.pages[i].flags = 0
            buddy_free_one(z, i, o, z.pageblock_mt[_pb(z, i)], False)
            i = end
    return n


# --- boot -------------------------------------------------------------------

cdef void _boot_free(buddy_t *z, const uint8_t *usable) noexcept nogil:
    # memblock_free_all -> __free_pages_memory: each run of usable pages is cut
    # into maximal aligned blocks, freed in ascending pfn order to the tail.
    cdef int64_t i = 0, s, e, pfn
    cdef int order
    while i < z.n_pages:
        if not usable[i]:
            z.pages[i].flags = PG_RESERVED
            i += 1
            continue
        s = i
        while i < z.n_pages and usable[i]:
            i += 1
        e = i
        pfn = z.base_pfn + s
        while pfn < z.base_pfn + e:
            order = MAX_PAGE_ORDER
            while order > 0 and (pfn & ((<int64_t>1 << order) - 1)):
                order -= 1
            while pfn + (<int64_t>1 << order) > z.base_pfn + e:
                order -= 1
            buddy_free_one(z, pfn - z.base_pfn, order, MIGRATE_MOVABLE, True)
            pfn += <int64_t>1 << order
    z.counters[CNT_MANAGED] = z.counters[CNT_FREE_PAGES]


# --- Python-level helpers (Linux's formulas) --------------------------------

def int_sqrt(x):
    """Integer square root, rounded down (Linux ``int_sqrt``).

    Parameters
    ----------
    x : int
        A non-negative integer.

    Returns
    -------
    int
    """
    import math
    return math.isqrt(int(x))


def calculate_min_free_kbytes(lowmem_kbytes):
    """Default ``vm.min_free_kbytes`` for an amount of low memory.

    ``calculate_min_free_kbytes`` in mm/page_alloc.c:
    ``clamp(int_sqrt(lowmem_kbytes * 16), 128, 262144)``, where
    ``lowmem_kbytes`` is the managed memory of the zones up to ZONE_NORMAL.
    (Linux raises it further when transparent huge pages are enabled; that is
    not done here.)

    Parameters
    ----------
    lowmem_kbytes : int
        Managed low memory in KiB.

    Returns
    -------
    int
        min_free_kbytes.
    """
    if lowmem_kbytes < 0:
        raise ValueError(f"lowmem_kbytes must be >= 0, got {lowmem_kbytes}")
    return min(max(int_sqrt(int(lowmem_kbytes) * 16), 128), 262144)


def _mult_frac(x, n, d):
    return (x // d) * n + ((x % d) * n) // d


def setup_per_zone_wmarks(managed, lowmem, min_free_kbytes, watermark_scale_factor=10):
    """Watermarks of a set of zones, as ``__setup_per_zone_wmarks`` sets them.

    ``pages_min = min_free_kbytes >> 2`` (4 KiB pages) is shared out over the
    low zones in proportion to their managed pages:
    ``tmp = pages_min * managed // lowmem_pages``.  A low zone's min is
    ``tmp``; a highmem or movable zone's min is
    ``clamp(managed // 1024, 32, 128)``.  Then
    ``gap = max(tmp >> 2, mult_frac(managed, watermark_scale_factor, 10000))``
    and low = min + gap, high = low + gap, promo = high + gap.

    Parameters
    ----------
    managed : sequence of int
        Managed pages of every zone (all nodes).
    lowmem : sequence of bool
        For each zone, True unless it is ZONE_HIGHMEM or ZONE_MOVABLE.
    min_free_kbytes : int
        ``vm.min_free_kbytes``.
    watermark_scale_factor : int, optional
        ``vm.watermark_scale_factor`` (default 10, i.e. 0.1% of the zone).

    Returns
    -------
    list of tuple
        ``(min, low, high, promo)`` per zone.
    """
    if min_free_kbytes < 0:
        raise ValueError(f"min_free_kbytes must be >= 0, got {min_free_kbytes}")
    if not 1 <= watermark_scale_factor <= 3000:
        raise ValueError("watermark_scale_factor must be in 1..3000, got "
                         f"{watermark_scale_factor}")
    pages_min = int(min_free_kbytes) >> 2
    lowmem_pages = sum(int(m) for m, low in zip(managed, lowmem) if low)
    out = []
    for m, low in zip(managed, lowmem):
        m = int(m)
        tmp = pages_min * m // lowmem_pages if lowmem_pages else 0
        if low:
            wmin = tmp
        else:
            wmin = min(max(m // 1024, 32), 128)
        gap = max(tmp >> 2, _mult_frac(m, watermark_scale_factor, 10000))
        out.append((wmin, wmin + gap, wmin + 2 * gap, wmin + 3 * gap))
    return out


def _contig_page_info(nr_free, suitable_order):
    free_pages = 0
    free_blocks_total = 0
    free_blocks_suitable = 0
    for order in range(NR_PAGE_ORDERS):
        blocks = int(nr_free[order])
        free_blocks_total += blocks
        free_pages += blocks << order
        if order >= suitable_order:
            free_blocks_suitable += blocks << (order - suitable_order)
    return free_pages, free_blocks_total, free_blocks_suitable


def fragmentation_index(nr_free, order):
    """Linux's external fragmentation index for an order (mm/vmstat.c).

    ``-1000`` when a block of that order is free (the request would
    succeed); 0 when nothing is free; otherwise
    ``1000 - (1000 + free_pages * 1000 // 2**order) // free_blocks_total``:
    towards 0 the failure is for lack of memory, towards 1000 for
    fragmentation.  Thousandths, as debugfs ``extfrag_index`` prints them.

    Parameters
    ----------
    nr_free : sequence of int
        Free blocks per order (11 values).
    order : int
        Requested order.

    Returns
    -------
    int
    """
    if not 0 <= order <= MAX_PAGE_ORDER:
        raise ValueError(f"order must be in 0..{MAX_PAGE_ORDER}, got {order}")
    free_pages, total, suitable = _contig_page_info(nr_free, order)
    if not total:
        return 0
    if suitable:
        return -1000
    return 1000 - (1000 + free_pages * 1000 // (1 << order)) // total


def unusable_free_index(nr_free, order):
    """Linux's unusable free space index for an order (mm/vmstat.c).

    The share of free memory, in thousandths, that lies in blocks smaller
    than ``2**order`` pages:
    ``(free_pages - (suitable_blocks << order)) * 1000 // free_pages``;
    1000 when nothing is free.

    Parameters
    ----------
    nr_free : sequence of int
        Free blocks per order (11 values).
    order : int
        Requested order.

    Returns
    -------
    int
    """
    if not 0 <= order <= MAX_PAGE_ORDER:
        raise ValueError(f"order must be in 0..{MAX_PAGE_ORDER}, got {order}")
    free_pages, total, suitable = _contig_page_info(nr_free, order)
    if free_pages == 0:
        return 1000
    return (free_pages - (suitable << order)) * 1000 // free_pages


#: Reclaim retries of the slow path while reclaim makes progress
#: (``MAX_RECLAIM_RETRIES``).
MAX_RECLAIM_RETRIES = 16


def alloc_slowpath(try_alloc, compact, order, *, wake_kswapd=None,
                   direct_reclaim=None, out_of_memory=None):
    """The allocation slow path, after the fast path failed at the low mark.

    Follows the steps of ``__alloc_pages_slowpath`` (simplified):

    1. ``wake_kswapd(order)`` (background reclaim is woken, not waited for);
    2. retry at the *min* watermark;
    3. for a costly order (> 3), compaction first, then retry;
    4. up to :data:`MAX_RECLAIM_RETRIES` rounds while they make progress:
       ``direct_reclaim(order)`` → pages reclaimed, retry; compaction,
       retry;
    5. ``out_of_memory(order)`` for non-costly orders → True if the OOM
       handler freed memory, in which case one more attempt is made.

    Callbacks are entered only here, never on the fast path.

    Parameters
    ----------
    try_alloc : callable
        ``try_alloc(wmark)`` with wmark ``"min"``: the allocation attempt,
        returning a result or None.
    compact : callable or None
        ``compact(order)``: direct compaction over the candidate zones;
        returns the number of blocks moved.  None disables compaction.
    order : int
        Requested order.
    wake_kswapd, direct_reclaim, out_of_memory : callable, optional
        The caller's policy.

    Returns
    -------
    object or None
        What ``try_alloc`` returned, or None when every step failed.
    """
    if wake_kswapd is not None:
        wake_kswapd(order)
    page = try_alloc("min")
    if page is not None:
        return page
    if compact is not None and order > PAGE_ALLOC_COSTLY_ORDER:
        if compact(order):
            page = try_alloc("min")
            if page is not None:
                return page
    for _ in range(MAX_RECLAIM_RETRIES):
        progress = 0
        if direct_reclaim is not None:
            progress = int(direct_reclaim(order) or 0)
            if progress:
                page = try_alloc("min")
                if page is not None:
                    return page
        if compact is not None and compact(order):
            progress += 1
            page = try_alloc("min")
            if page is not None:
                return page
        if not progress:
            break
    if out_of_memory is not None and order <= PAGE_ALLOC_COSTLY_ORDER:
        if out_of_memory(order):
            return try_alloc("min")
    return None


def _check_order(order, what="order"):
    try:
        o = int(order)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be an int, got {order!r}") from None
    if not 0 <= o <= MAX_PAGE_ORDER:
        raise ValueError(f"{what} must be in 0..{MAX_PAGE_ORDER}, got {order}")
    return o


def _check_mt(migratetype):
    try:
        mt = int(migratetype)
    except (TypeError, ValueError):
        raise TypeError(f"migratetype must be an int, got {migratetype!r}") from None
    if not 0 <= mt < NR_MIGRATETYPES:
        raise ValueError("migratetype must be MIGRATE_UNMOVABLE (0), MIGRATE_MOVABLE (1) "
                         f"or MIGRATE_RECLAIMABLE (2), got {migratetype}")
    return mt


_WMARK_INDEX = {"min": WMARK_MIN, "low": WMARK_LOW, "high": WMARK_HIGH}


def _int64_array(values, where, what):
    # A 1-d contiguous int64 view of integer input (no copy when it already is one).
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.ravel()
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"{where}: {what} must be integers, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{where}: {what} has values above 2**63-1")
    return np.ascontiguousarray(arr, dtype=np.int64)


cdef class BuddyAllocator:
    """The buddy allocator of one zone.

    Parameters
    ----------
    n_pages : int
        Pages the zone spans (``spanned_pages``), at most 2**31 - 1.
    base_pfn : int, optional
        First pfn of the zone (``zone_start_pfn``).  Buddies are computed on
        absolute pfns, so blocks are aligned on absolute pfn multiples.
    reserved : array_like, optional
        Pages never handed out (holes, firmware and kernel reservations):
        either a boolean mask of length `n_pages` or a sequence of absolute
        ``(start_pfn, end_pfn)`` ranges (end exclusive).
    watermarks : tuple of int, optional
        ``(min, low, high)`` or ``(min, low, high, promo)`` in pages.
    min_free_kbytes : int or "auto", optional
        Compute the watermarks from ``vm.min_free_kbytes`` as Linux does
        for a machine whose only low zone is this one (``"auto"``: the
        kernel's default for this zone's managed memory).  Exclusive with
        `watermarks`.  Default: all watermarks 0, so that an allocation
        fails only when no block of the order is free.
    watermark_scale_factor : int, optional
        ``vm.watermark_scale_factor`` for `min_free_kbytes` (default 10).
    wake_kswapd, direct_reclaim, out_of_memory : callable, optional
        Policy callbacks of the slow path, each called as
        ``f(allocator, order)``; ``direct_reclaim`` returns the number of
        pages it freed, ``out_of_memory`` True if it freed memory.
    compaction : bool, optional
        Let the slow path compact the zone (default True).

    Notes
    -----
    ``alloc`` and ``alloc_batch`` default to ``MIGRATE_MOVABLE``, the type
    every pageblock has at boot, so that an allocator used without migrate
    types behaves as a plain buddy allocator.
    """

    def __init__(self, n_pages, base_pfn=0, *, reserved=None, watermarks=None,
                 min_free_kbytes=None, watermark_scale_factor=10, wake_kswapd=None,
                 direct_reclaim=None, out_of_memory=None, compaction=True, _state=None):
        n_pages = int(n_pages)
        base_pfn = int(base_pfn)
        if not 0 <= n_pages < 2 ** 31:
            raise ValueError(f"n_pages must be in 0..2**31-1, got {n_pages}")
        if not 0 <= base_pfn < 2 ** 52:
            raise ValueError(f"base_pfn must be in 0..2**52-1, got {base_pfn}")
        first_block = base_pfn >> PAGEBLOCK_ORDER
        n_blocks = 0 if n_pages == 0 else ((base_pfn + n_pages - 1) >> PAGEBLOCK_ORDER) - first_block + 1
        self.wake_kswapd = wake_kswapd
        self.direct_reclaim = direct_reclaim
        self.out_of_memory = out_of_memory
        self.compaction = compaction
        nl = NR_PAGE_ORDERS * NR_MIGRATETYPES
        if _state is not None:
            self._adopt(n_pages, base_pfn, first_block, n_blocks, _state)
            return
        usable = self._usable_mask(n_pages, base_pfn, reserved)
        self._adopt(n_pages, base_pfn, first_block, n_blocks, dict(
            pages=np.zeros(n_pages, dtype=PAGE_DTYPE),
            pageblock_migratetype=np.full(n_blocks, MIGRATE_MOVABLE, dtype=np.uint8),
            list_head=np.full(nl, -1, dtype=np.int32),
            list_tail=np.full(nl, -1, dtype=np.int32),
            nr_free=np.zeros(NR_PAGE_ORDERS, dtype=np.int64),
            nr_free_mt=np.zeros(nl, dtype=np.int64),
            counters=np.zeros(N_COUNTERS, dtype=np.int64),
            watermark=np.zeros(NR_WMARK, dtype=np.int64),
        ))
        self.pages["prev"] = -1
        self.pages["next"] = -1
        cdef const uint8_t[::1] u = usable
        cdef const uint8_t *up = NULL
        if n_pages:
            up = &u[0]
        with nogil:
            _boot_free(&self.z, up)
        if watermarks is not None and min_free_kbytes is not None:
            raise ValueError("give either watermarks or min_free_kbytes, not both")
        if watermarks is not None:
            self.set_watermarks(*watermarks)
        elif min_free_kbytes is not None:
            managed = self.managed_pages
            if isinstance(min_free_kbytes, str):
                if min_free_kbytes != "auto":
                    raise ValueError(f"min_free_kbytes must be an int or 'auto', got {min_free_kbytes!r}")
                min_free_kbytes = calculate_min_free_kbytes(managed * 4)
            self.set_watermarks(*setup_per_zone_wmarks([managed], [True], int(min_free_kbytes),
                                                       watermark_scale_factor)[0])

    @staticmethod
    def _usable_mask(n_pages, base_pfn, reserved):
        usable = np.ones(n_pages, dtype=np.uint8)
        if reserved is None:
            return usable
        arr = np.asarray(reserved)
        if arr.dtype == np.bool_ and arr.ndim == 1:
            if arr.shape[0] != n_pages:
                raise ValueError(f"reserved mask has length {arr.shape[0]}, expected n_pages={n_pages}")
            usable[arr] = 0
            return usable
        for k, rng in enumerate(reserved):
            try:
                s, e = (int(v) for v in rng)
            except (TypeError, ValueError):
                raise ValueError(f"reserved[{k}] must be a (start_pfn, end_pfn) pair, got {rng!r}") from None
            if s > e:
                raise ValueError(f"reserved[{k}] = {rng!r}: start_pfn > end_pfn")
            s = min(max(s - base_pfn, 0), n_pages)
            e = min(max(e - base_pfn, 0), n_pages)
            usable[s:e] = 0
        return usable

    def _adopt(self, n_pages, base_pfn, first_block, n_blocks, st):
        # Take ownership of the state arrays and point the C struct at them.
        nl = NR_PAGE_ORDERS * NR_MIGRATETYPES
        pages = np.ascontiguousarray(st["pages"], dtype=PAGE_DTYPE)
        pbm = np.ascontiguousarray(st["pageblock_migratetype"], dtype=np.uint8)
        lh = np.ascontiguousarray(st["list_head"], dtype=np.int32)
        lt = np.ascontiguousarray(st["list_tail"], dtype=np.int32)
        nf = np.ascontiguousarray(st["nr_free"], dtype=np.int64)
        nfm = np.ascontiguousarray(st["nr_free_mt"], dtype=np.int64)
        cnt = np.ascontiguousarray(st["counters"], dtype=np.int64)
        wm = np.ascontiguousarray(st["watermark"], dtype=np.int64)
        if (pages.shape != (n_pages,) or pbm.shape != (n_blocks,) or lh.shape != (nl,)
                or lt.shape != (nl,) or nf.shape != (NR_PAGE_ORDERS,) or nfm.shape != (nl,)
                or cnt.shape != (N_COUNTERS,) or wm.shape != (NR_WMARK,)):
            raise ValueError("BuddyAllocator state arrays have the wrong shapes")
        # A state may come from outside (a checkpoint file): every index the
        # kernels follow must be in range before the C struct points at it.
        if n_pages:
            for name in ("prev", "next"):
                col = pages[name]
                if col.min() < -1 or col.max() >= n_pages:
                    raise ValueError(f"BuddyAllocator state: pages['{name}'] has links outside 0..{n_pages - 1}")
            if pages["order"].max() > MAX_PAGE_ORDER or pages["migratetype"].max() >= NR_MIGRATETYPES:
                raise ValueError("BuddyAllocator state: a page has an order above 10 or an unknown migratetype")
        if n_blocks and pbm.max() >= NR_MIGRATETYPES:
            raise ValueError("BuddyAllocator state: unknown pageblock migratetype")
        if (lh.min() < -1 or lh.max() >= n_pages or lt.min() < -1 or lt.max() >= n_pages):
            raise ValueError("BuddyAllocator state: free list heads/tails outside the zone")
        self.pages = pages
        self.pageblock_migratetype = pbm
        self._list_head, self._list_tail = lh, lt
        self._nr_free, self._nr_free_mt = nf, nfm
        self.counters, self._watermark = cnt, wm
        self.z.pages = <page_t *>cnp.PyArray_DATA(pages)
        self.z.pageblock_mt = <uint8_t *>cnp.PyArray_DATA(pbm)
        self.z.list_head = <int32_t *>cnp.PyArray_DATA(lh)
        self.z.list_tail = <int32_t *>cnp.PyArray_DATA(lt)
        self.z.nr_free = <int64_t *>cnp.PyArray_DATA(nf)
        self.z.nr_free_mt = <int64_t *>cnp.PyArray_DATA(nfm)
        self.z.counters = <int64_t *>cnp.PyArray_DATA(cnt)
        self.z.watermark = <int64_t *>cnp.PyArray_DATA(wm)
        self.z.base_pfn = base_pfn
        self.z.n_pages = n_pages
        self.z.first_block = first_block
        self.z.n_blocks = n_blocks

    cdef buddy_t *c_zone(self) noexcept:
        return &self.z

    # -- pickling ---------------------------------------------------------

    def state(self):
        """Copies of every state array, by name (the allocator's checkpoint).

        Returns
        -------
        dict of numpy.ndarray
            Suitable for ``np.savez`` and for :meth:`from_state`.
        """
        return dict(pages=self.pages.copy(),
                    pageblock_migratetype=self.pageblock_migratetype.copy(),
                    list_head=self._list_head.copy(), list_tail=self._list_tail.copy(),
                    nr_free=self._nr_free.copy(), nr_free_mt=self._nr_free_mt.copy(),
                    counters=self.counters.copy(), watermark=self._watermark.copy())

    @classmethod
    def from_state(cls, n_pages, base_pfn, state, **options):
        """Rebuild an allocator from :meth:`state`.

        Parameters
        ----------
        n_pages, base_pfn : int
            As given to the constructor.
        state : mapping of numpy.ndarray
            What :meth:`state` returned (for instance loaded by ``np.load``).
        **options
            Callbacks and ``compaction``, as for the constructor.

        Returns
        -------
        BuddyAllocator
        """
        return cls(n_pages, base_pfn, _state=dict(state), **options)

    def __reduce__(self):
        return (_rebuild, (self.z.n_pages, self.z.base_pfn, self.state(),
                           dict(wake_kswapd=self.wake_kswapd, direct_reclaim=self.direct_reclaim,
                                out_of_memory=self.out_of_memory, compaction=self.compaction)))

    # -- properties -------------------------------------------------------

    @property
    def n_pages(self):
        """Pages spanned by the zone (int)."""
        return self.z.n_pages

    @property
    def base_pfn(self):
        """First pfn of the zone (int)."""
        return self.z.base_pfn

    @property
    def end_pfn(self):
        """One past the last pfn of the zone (int)."""
        return self.z.base_pfn + self.z.n_pages

    @property
    def free_pages(self):
        """Free pages (``NR_FREE_PAGES``), int."""
        return int(self.z.counters[CNT_FREE_PAGES])

    @property
    def managed_pages(self):
        """Pages given to the allocator at boot: spanned minus reserved (int)."""
        return int(self.z.counters[CNT_MANAGED])

    @property
    def watermarks(self):
        """``{"min", "low", "high", "promo"}`` watermarks in pages (dict)."""
        return {"min": int(self.z.watermark[WMARK_MIN]), "low": int(self.z.watermark[WMARK_LOW]),
                "high": int(self.z.watermark[WMARK_HIGH]), "promo": int(self.z.watermark[WMARK_PROMO])}

    def set_watermarks(self, min, low, high, promo=None):
        """Set the zone's watermarks (pages).

        Parameters
        ----------
        min, low, high : int
            Must satisfy ``0 <= min <= low <= high``.
        promo : int, optional
            The promotion watermark (default: ``high + (high - low)``).
        """
        min, low, high = int(min), int(low), int(high)
        promo = high + (high - low) if promo is None else int(promo)
        if not 0 <= min <= low <= high <= promo:
            raise ValueError(f"watermarks must satisfy 0 <= min <= low <= high <= promo, "
                             f"got min={min} low={low} high={high} promo={promo}")
        self._watermark[:] = (min, low, high, promo)

    def stats(self):
        """Counters by name (see :data:`COUNTER_NAMES`).

        Returns
        -------
        dict of int
        """
        return {name: int(v) for name, v in zip(COUNTER_NAMES, self.counters)}

    # -- allocation -------------------------------------------------------

    def _mark(self, wmark, reserve):
        if wmark is None:
            return -(1 << 62)
        try:
            return int(self.z.watermark[_WMARK_INDEX[wmark]]) + int(reserve)
        except KeyError:
            raise ValueError(f"wmark must be 'min', 'low', 'high' or None, got {wmark!r}") from None

    def alloc_fast(self, order, migratetype=MIGRATE_MOVABLE, wmark="low", reserve=0, mark=None,
                   nofragment=False):
        """One allocation attempt without the slow path.

        Parameters
        ----------
        order : int
            0..10.
        migratetype : int, optional
            ``MIGRATE_UNMOVABLE``, ``MIGRATE_MOVABLE`` (default) or
            ``MIGRATE_RECLAIMABLE``.
        wmark : {"low", "min", "high", None}, optional
            Watermark to respect: the allocation must leave more than
            ``mark + reserve`` free pages (``__zone_watermark_ok``).  None:
            no watermark.
        reserve : int, optional
            ``lowmem_reserve`` of this zone for the request's highest zone.
        mark : int, optional
            An explicit mark in pages (overrides `wmark` and `reserve`).
        nofragment : bool, optional
            ``ALLOC_NOFRAGMENT``: for orders below 9, the fallback may only
            take blocks of order >= 9 from another migrate type (so that
            pageblocks are not mixed); the allocation fails instead.

        Returns
        -------
        int or None
            First pfn of the block.
        """
        cdef int o = _check_order(order)
        cdef int mt = _check_mt(migratetype)
        cdef int64_t m = self._mark(wmark, reserve) if mark is None else int(mark)
        cdef int64_t pfn
        pfn = buddy_alloc_flags(&self.z, o, mt, m, ALLOC_NOFRAGMENT if nofragment else 0)
        return None if pfn < 0 else int(pfn)

    def alloc(self, order, migratetype=MIGRATE_MOVABLE):
        """Allocate a block of ``2**order`` pages.

        The fast path respects the low watermark; when it fails, the slow
        path (:func:`alloc_slowpath`) wakes reclaim, retries at the min
        watermark, and calls the reclaim, compaction and OOM policies.

        Parameters
        ----------
        order : int
            0..10.
        migratetype : int, optional
            Migrate type of the allocation (default ``MIGRATE_MOVABLE``).

        Returns
        -------
        int or None
            The first pfn of the block, or None when no block of that order
            can be had.
        """
        cdef int o = _check_order(order)
        cdef int mt = _check_mt(migratetype)
        cdef int64_t pfn = buddy_alloc(&self.z, o, mt, self.z.watermark[WMARK_LOW])
        if pfn >= 0:
            return int(pfn)
        cb = lambda f: None if f is None else (lambda order: f(self, order))
        return alloc_slowpath(
            lambda wmark: self.alloc_fast(o, mt, wmark),
            (lambda order: self.compact(order, mt).shape[0]) if self.compaction else None,
            o, wake_kswapd=cb(self.wake_kswapd), direct_reclaim=cb(self.direct_reclaim),
            out_of_memory=cb(self.out_of_memory))

    def free(self, pfn, order):
        """Free the block of ``2**order`` pages at `pfn`.

        Parameters
        ----------
        pfn : int
            First pfn of a block that `alloc` returned.
        order : int
            The order it was allocated with.

        Raises
        ------
        ValueError
            Double free, a pfn never allocated, the wrong order, a pfn
            outside the zone or not aligned on its order.  The allocator is
            unchanged.
        """
        cdef int64_t p
        try:
            p = int(pfn)
            o = int(order)
        except (TypeError, ValueError):
            raise TypeError(f"free(pfn={pfn!r}, order={order!r}): pfn and order must be ints") from None
        except OverflowError:
            raise ValueError(f"free(pfn={pfn!r}, order={order!r}): pfn out of range") from None
        if not -1 <= o <= 255:
            o = -1
        cdef int rc = buddy_free(&self.z, p, o)
        if rc != BUDDY_OK:
            raise ValueError(self._free_error(pfn, order, rc))

    def _free_error(self, pfn, order, rc):
        msg = f"free(pfn={pfn}, order={order}): {_ERRORS[rc]}"
        if rc == BUDDY_ERANGE:
            msg += f" [{self.z.base_pfn}, {self.z.base_pfn + self.z.n_pages})"
        elif rc == BUDDY_EWRONGORDER:
            msg += f" ({self.pages['order'][pfn - self.z.base_pfn]})"
        return msg

    def alloc_batch(self, orders, migratetype=MIGRATE_MOVABLE, out=None):
        """Allocate a block for each order, in one nogil loop.

        Each allocation is a fast-path attempt at the low watermark (the
        slow path and its callbacks are not entered).

        Parameters
        ----------
        orders : array_like of int
            Orders, each 0..10 (checked before anything is allocated).
        migratetype : int or array_like of int, optional
            One migrate type, or one per allocation.
        out : numpy.ndarray of int64, optional
            Where to write the result (contiguous, same length as `orders`);
            reusing it saves allocating a fresh array per batch.

        Returns
        -------
        numpy.ndarray of int64
            First pfn of each block, -1 where no block could be had.
        """
        ords = _int64_array(orders, "alloc_batch", "orders")
        cdef const int64_t[::1] o = ords
        cdef intp_t i, n = ords.shape[0], bad = -1
        with nogil:
            for i in range(n):
                if o[i] < 0 or o[i] > MAX_PAGE_ORDER:
                    bad = i
                    break
        if bad >= 0:
            raise ValueError(f"alloc_batch: orders[{bad}] = {o[bad]} is outside 0..{MAX_PAGE_ORDER}")
        mts = np.asarray(migratetype)
        cdef int mt0 = 0
        cdef const uint8_t[::1] m = None
        if mts.ndim == 0:
            mt0 = _check_mt(mts)
        elif mts.shape != ords.shape:
            raise ValueError(f"alloc_batch: migratetype has shape {mts.shape}, orders {ords.shape}")
        else:
            bad_mt = np.flatnonzero((mts < 0) | (mts >= NR_MIGRATETYPES))
            if bad_mt.size:
                raise ValueError(f"alloc_batch: migratetype[{bad_mt[0]}] = {mts[bad_mt[0]]} "
                                 "is not a migrate type")
            m = np.ascontiguousarray(mts, dtype=np.uint8)
        if out is None:
            out = np.empty(n, dtype=np.int64)
        elif (not isinstance(out, np.ndarray) or out.dtype != np.int64 or out.shape != (n,)
                or not out.flags.c_contiguous or not out.flags.writeable):
            raise ValueError(f"alloc_batch: out must be a writeable contiguous int64 array of length {n}")
        cdef int64_t[::1] res = out
        cdef int64_t mark = self.z.watermark[WMARK_LOW]
        with nogil:
            if m is None:
                for i in range(n):
                    res[i] = buddy_alloc(&self.z, <int>o[i], mt0, mark)
            else:
                for i in range(n):
                    res[i] = buddy_alloc(&self.z, <int>o[i], m[i], mark)
        return out

    def free_batch(self, pfns, orders):
        """Free blocks in order, in one nogil loop.

        Parameters
        ----------
        pfns : array_like of int
            First pfn of each block.
        orders : array_like of int or int
            Order of each block (or one for all).

        Raises
        ------
        ValueError
            At the first invalid item (as for :meth:`free`), naming its
            index.  Items before it have been freed; it and the items after
            it have not.
        """
        parr = _int64_array(pfns, "free_batch", "pfns")
        cdef const int64_t[::1] p = parr
        cdef intp_t i, n = parr.shape[0], bad = -1
        cdef int rc = 0
        cdef int64_t o0 = 0, oi
        cdef const int64_t[::1] o = None
        oarr = np.asarray(orders)
        if oarr.ndim == 0:
            o0 = _int64_array(oarr.reshape(1), "free_batch", "orders")[0]
        else:
            if oarr.shape != parr.shape:
                raise ValueError(f"free_batch: orders has shape {oarr.shape}, pfns {parr.shape}")
            o = _int64_array(oarr, "free_batch", "orders")
        with nogil:
            for i in range(n):
                oi = o0 if o is None else o[i]
                if oi < 0 or oi > MAX_PAGE_ORDER:
                    rc = BUDDY_EORDER
                else:
                    rc = buddy_free(&self.z, p[i], <int>oi)
                if rc != BUDDY_OK:
                    bad = i
                    break
        if bad >= 0:
            oi = o0 if o is None else o[bad]
            raise ValueError(f"free_batch: item {bad}: "
                             + self._free_error(int(p[bad]), int(oi), rc)
                             + f"; items 0..{bad - 1} were freed, items {bad}.. were not")

    # -- views --------------------------------------------------------------

    def free_counts(self):
        """Free blocks per order (``free_area[order].nr_free``).

        Returns
        -------
        numpy.ndarray of int64, shape (11,)
        """
        return self._nr_free.copy()

    def free_counts_by_type(self):
        """Free blocks per migrate type and order (``/proc/pagetypeinfo``).

        Returns
        -------
        numpy.ndarray of int64, shape (3, 11)
            Row = migrate type, column = order.
        """
        return self._nr_free_mt.reshape(NR_PAGE_ORDERS, NR_MIGRATETYPES).T.copy()

    def free_list(self, order, migratetype=MIGRATE_MOVABLE):
        """The pfns on one free list, head first.

        Parameters
        ----------
        order : int
        migratetype : int, optional

        Returns
        -------
        list of int
        """
        o = _check_order(order)
        mt = _check_mt(migratetype)
        out = []
        idx = int(self._list_head[o * NR_MIGRATETYPES + mt])
        nxt = self.pages["next"]
        while idx >= 0:
            out.append(self.z.base_pfn + idx)
            idx = int(nxt[idx])
        return out

    def allocated_blocks(self):
        """Allocated blocks: ``(pfns, orders, migratetypes)`` arrays, by pfn.

        Returns
        -------
        tuple of numpy.ndarray
        """
        return self._blocks_flagged(PG_HEAD)

    def free_blocks(self):
        """Free blocks: ``(pfns, orders, migratetypes)`` arrays, by pfn.

        Returns
        -------
        tuple of numpy.ndarray
        """
        return self._blocks_flagged(PG_BUDDY)

    def _blocks_flagged(self, flag):
        heads = np.flatnonzero(self.pages["flags"] & flag)
        return (heads.astype(np.int64) + self.z.base_pfn, self.pages["order"][heads].astype(np.int64),
                self.pages["migratetype"][heads].astype(np.int64))

    def reserved_pages(self):
        """Number of reserved (never managed) pages in the zone.

        Returns
        -------
        int
        """
        return int(np.count_nonzero(self.pages["flags"] & PG_RESERVED))

    def watermark_ok(self, order, wmark="low", reserve=0):
        """``__zone_watermark_ok``: may an allocation of `order` proceed?

        Parameters
        ----------
        order : int
        wmark : {"min", "low", "high"}
        reserve : int, optional
            ``lowmem_reserve`` to add to the mark.

        Returns
        -------
        bool
        """
        return bool(buddy_watermark_ok(&self.z, _check_order(order), self._mark(wmark, reserve)))

    def fragmentation_index(self):
        """Extfrag index per order (see :func:`fragmentation_index`).

        Returns
        -------
        numpy.ndarray of int64, shape (11,)
        """
        nf = self._nr_free
        return np.array([fragmentation_index(nf, o) for o in range(NR_PAGE_ORDERS)], dtype=np.int64)

    def unusable_index(self):
        """Unusable free space index per order (see :func:`unusable_free_index`).

        Returns
        -------
        numpy.ndarray of int64, shape (11,)
        """
        nf = self._nr_free
        return np.array([unusable_free_index(nf, o) for o in range(NR_PAGE_ORDERS)], dtype=np.int64)

    # -- compaction ---------------------------------------------------------

    def compact(self, order=-1, migratetype=MIGRATE_MOVABLE):
        """Compact the zone: move movable blocks to free up high orders.

        A migrate scanner walks pageblocks up from the bottom of the zone and
        picks allocated ``MIGRATE_MOVABLE`` blocks (smaller than a pageblock,
        and smaller than `order` when one is given); a free scanner walks
        ``MIGRATE_MOVABLE`` pageblocks down from the top and isolates their
        free blocks as migration targets (the smallest sufficient one, split
        as ``expand`` does).  Each moved block's old place is freed and
        coalesces.  It stops when the scanners meet or, for ``order >= 0``,
        at a pageblock boundary once a block of `order` can be allocated for
        `migratetype`.  Free blocks isolated but not used go back.

        Parameters
        ----------
        order : int, optional
            Target order, or -1 (default) for the whole zone
            (``/proc/sys/vm/compact_memory``).
        migratetype : int, optional
            Migrate type of the allocation compaction is for.

        Returns
        -------
        numpy.ndarray of int64, shape (n, 3)
            ``(old_pfn, new_pfn, order)`` of each moved block, in the order
            moved, so a caller can fix its mappings.
        """
        cdef int o = -1 if int(order) < 0 else _check_order(order)
        cdef int mt = _check_mt(migratetype)
        pool = np.empty(max(self.z.n_pages, 1), dtype=np.int32)
        # every movable block moves at most once (it lands above the migrate scanner)
        cap = int(np.count_nonzero(((self.pages["flags"] & PG_HEAD) != 0)
                                   & (self.pages["migratetype"] == MIGRATE_MOVABLE)))
        moved = np.empty((max(cap, 1), 3), dtype=np.int64)
        n = self._compact_into(o, mt, pool, moved, cap)
        if n > cap:  # pragma: no cover - cannot happen: each block moves at most once
            raise RuntimeError(f"compact: {n} moves for {cap} movable blocks")
        return moved[:n].copy()

    def _compact_into(self, int o, int mt, int32_t[::1] pool_v, cnp.ndarray moved, intp_t cap):
        cdef int64_t *mp = <int64_t *>cnp.PyArray_DATA(moved)
        cdef intp_t n
        with nogil:
            n = buddy_compact(&self.z, o, mt, &pool_v[0], mp, cap)
        return n

    def __repr__(self):
        return (f"BuddyAllocator(n_pages={self.z.n_pages}, base_pfn={self.z.base_pfn}, "
                f"free_pages={self.free_pages}, managed_pages={self.managed_pages})")


def _rebuild(n_pages, base_pfn, state, options):
    return BuddyAllocator(n_pages, base_pfn, _state=state, **options)
