"""SLUB-style slab caches (``kmem_cache``) and ``kmalloc`` over a page source.

A :class:`SlabCache` carves slabs of ``2**order`` pages into equal object
slots.  It follows Linux's SLUB allocator (the only one since Linux 6.8):

* **geometry** (``calculate_sizes`` / ``calculate_alignment``): alignment is at
  least 8 bytes (``ARCH_SLAB_MINALIGN``) and a multiple of the word size;
  with ``hwcache_align`` it is raised to the cache line (halved while the
  object fits in half of it).  The slot size is the object size rounded up to
  the word size, then to the alignment.  The free pointer sits in the middle
  of a free object, at ``offset = ALIGN_DOWN(object_size / 2, 8)``.
* **slab order** (``calculate_order`` / ``calc_slab_order``, Linux 6.7+):
  ``min_objects = 4 * (fls(nr_cpus) + 1)`` unless given, capped by how many
  objects fit in a slab of ``max_order`` (default 3, ``PAGE_ALLOC_COSTLY_ORDER``);
  start from the order that holds ``min_objects`` and take the smallest order
  up to ``max_order`` whose leftover is at most 1/16 of the slab, then 1/8,
  1/4, 1/2; failing all, ``get_order(size)``.
* **allocation**: each CPU allocates from its cpu slab's freelist; when it is
  exhausted the slab goes to the full list and the CPU takes the first slab of
  the node's partial list, or a new slab from the page source.  A new slab's
  freelist runs in address order (no ``CONFIG_SLAB_FREELIST_RANDOM``).
* **free**: the object is pushed on its slab's freelist (LIFO: the next
  allocation from that slab returns it).  A full slab that gets a free object
  goes to the tail of the partial list (``CONFIG_SLUB_CPU_PARTIAL=n``); a
  slab that becomes empty while the partial list already holds
  ``min_partial`` slabs (``ilog2(size) / 2`` clamped to 5..10) is discarded
  and its pages go back to the page source.  Cpu slabs are never discarded
  by a free.
* :meth:`SlabCache.shrink` (``kmem_cache_shrink``) deactivates the cpu slabs,
  discards every empty slab and orders the partial list fullest first.
* **colouring** (``colouring=True``, from the historic SLAB allocator and
  Bonwick's paper): the leftover bytes of a slab give ``colour = leftover //
  colour_off`` colours, ``colour_off`` being the cache line (or the
  alignment if larger); successive slabs start their first object at
  ``0, colour_off, 2*colour_off, ...`` and wrap after ``colour`` of them.

Object addresses are physical: ``pfn * 4096 + colour offset + index * size``.

The free list is held inside the free objects: the word ``freeptr`` of each
free slot links to the next free object (encoded as its index in the slab;
SLUB stores a pointer there).  A separate per-slot state byte makes every
double free and every foreign or misaligned pointer raise at once, leaving
the cache unchanged.

Only the SLUB parts that change which address an allocation returns, which
slabs exist and what ``/proc/slabinfo`` shows are modelled: one NUMA node, no
per-CPU partial lists, no lockless ``c->freelist`` separate from the slab's.

A page source is any object with ``alloc(order)`` returning the first pfn of
``2**order`` free pages (or None when it has none) and ``free(pfn, order)``,
such as ``memcore.buddy.BuddyAllocator``.  It is called only when a cache
grows or shrinks, never per object.
"""
import bisect

import numpy as np

cimport numpy as cnp

from memcore._typedefs cimport intp_t, int32_t, uint8_t, uint32_t, uint64_t, addr_t, pfn_t, count_t

cnp.import_array()

#: Largest default slab order (``PAGE_ALLOC_COSTLY_ORDER``).
SLUB_MAX_ORDER = 3
#: Most objects SLUB puts in one slab.
MAX_OBJS_PER_PAGE = 32767
#: Bounds of ``min_partial``.
MIN_PARTIAL = 5
MAX_PARTIAL = 10
#: Cache line size used by ``hwcache_align`` and colouring.
CACHE_LINE_SIZE = 64
#: Largest buddy order a slab may have (``MAX_PAGE_ORDER``).
MAX_PAGE_ORDER = 10
#: kmalloc size classes (x86-64, 4 KiB pages): ``kmalloc-8`` .. ``kmalloc-8k``.
KMALLOC_SIZES = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)
#: Largest kmalloc served by a slab cache (``KMALLOC_MAX_CACHE_SIZE``).
KMALLOC_MAX_CACHE_SIZE = 8192

#: First line of ``/proc/slabinfo``.
SLABINFO_HEADER = ("slabinfo - version: 2.1\n"
                   "# name            <active_objs> <num_objs> <objsize> <objperslab>"
                   " <pagesperslab> : tunables <limit> <batchcount> <sharedfactor>"
                   " : slabdata <active_slabs> <num_slabs> <sharedavail>\n")

_ERRORS = {
    SLAB_EFOREIGN: "is not in any slab of cache",
    SLAB_EBOUNDARY: "is not at an object boundary in cache",
    SLAB_EDOUBLE: "double free: object already free in cache",
}


def get_order(size):
    """Smallest page order whose block holds `size` bytes (Linux ``get_order``).

    Parameters
    ----------
    size : int
        Bytes (>= 1).

    Returns
    -------
    int
    """
    order = 0
    while (PAGE_SIZE << order) < size:
        order += 1
    return order


def _calc_slab_order(size, min_order, max_order, fract_leftover):
    for order in range(min_order, max_order + 1):
        slab_size = PAGE_SIZE << order
        if slab_size % size <= slab_size // fract_leftover:
            return order
    return max_order + 1


def calculate_order(size, nr_cpus=1, min_objects=None, min_order=0, max_order=SLUB_MAX_ORDER):
    """The slab order SLUB picks for slot size `size` (``calculate_order``).

    Parameters
    ----------
    size : int
        Slot size in bytes.
    nr_cpus : int, optional
        CPUs present; sets ``min_objects = 4 * (fls(nr_cpus) + 1)``.
    min_objects : int, optional
        ``slub_min_objects`` (overrides the CPU-derived value).
    min_order, max_order : int, optional
        ``slub_min_order`` and ``slub_max_order`` (default 0 and 3).

    Returns
    -------
    int
        The order.

    Examples
    --------
    >>> from memcore.slab import calculate_order
    >>> [calculate_order(s, nr_cpus=2) for s in (96, 192, 512, 1024, 2048, 8192)]
    [0, 0, 1, 2, 3, 3]
    """
    if min_objects is None or min_objects == 0:
        min_objects = 4 * (int(nr_cpus).bit_length() + 1)
    max_objects = max((PAGE_SIZE << max_order) // size, 1)
    min_objects = min(min_objects, max_objects)
    min_order = max(min_order, get_order(min_objects * size))
    if (PAGE_SIZE << min_order) // size > MAX_OBJS_PER_PAGE:
        return get_order(size * MAX_OBJS_PER_PAGE) - 1
    for fraction in (16, 8, 4, 2):
        order = _calc_slab_order(size, min_order, max_order, fraction)
        if order <= max_order:
            return order
    order = get_order(size)
    if order <= MAX_PAGE_ORDER:
        return order
    raise ValueError(f"object_size: {size} bytes does not fit a slab of order <= {MAX_PAGE_ORDER}")


# ---------------------------------------------------------------- kernel

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define memcore_prefetch(p) __builtin_prefetch(p)
    #else
    #define memcore_prefetch(p) ((void)(p))
    #endif
    """
    void __builtin_prefetch "memcore_prefetch"(const void *p) noexcept nogil

# how far ahead batch frees prefetch slab records and free-pointer words
cdef enum:
    PREFETCH_AHEAD = 8

cdef inline void _link_tail(int32_t *head, int32_t *tail, slab_t *sl, int32_t sid) noexcept nogil:
    sl[sid].prev = tail[0]
    sl[sid].next = -1
    if tail[0] >= 0:
        sl[tail[0]].next = sid
    else:
        head[0] = sid
    tail[0] = sid


cdef inline void _link_head(int32_t *head, int32_t *tail, slab_t *sl, int32_t sid) noexcept nogil:
    sl[sid].prev = -1
    sl[sid].next = head[0]
    if head[0] >= 0:
        sl[head[0]].prev = sid
    else:
        tail[0] = sid
    head[0] = sid


cdef inline void _unlink(int32_t *head, int32_t *tail, slab_t *sl, int32_t sid) noexcept nogil:
    cdef int32_t p = sl[sid].prev, q = sl[sid].next
    if p >= 0:
        sl[p].next = q
    else:
        head[0] = q
    if q >= 0:
        sl[q].prev = p
    else:
        tail[0] = p


cdef inline void _unlink_slab(slab_cache_t *s, int32_t sid) noexcept nogil:
    if s.slab[sid].state == SLAB_PARTIAL:
        _unlink(&s.partial_head, &s.partial_tail, s.slab, sid)
        s.nr_partial -= 1
    elif s.slab[sid].state == SLAB_FULL:
        _unlink(&s.full_head, &s.full_tail, s.slab, sid)
        s.nr_full -= 1


cdef inline void _set_map(slab_cache_t *s, pfn_t pfn, int32_t sid) noexcept nogil:
    cdef intp_t i, o = <intp_t>(pfn - s.map_base)
    for i in range(1 << s.order):
        s.pfn_map[o + i] = sid


cdef inline void _discard(slab_cache_t *s, int32_t sid) noexcept nogil:
    # the slab leaves the cache now; Python returns its pages afterwards
    _unlink_slab(s, sid)
    _set_map(s, s.slab[sid].pfn, -1)
    s.slab[sid].state = SLAB_UNUSED
    s.free_ids[s.nr_free_ids] = sid
    s.nr_free_ids += 1
    s.discard_pfn[s.nr_discard] = s.slab[sid].pfn
    s.nr_discard += 1
    s.nr_slabs -= 1
    s.total_objects -= s.objects


cdef int slab_reserve(slab_cache_t *s, pfn_t pfn, uint32_t colour) except -1 nogil:
    cdef intp_t i, o = <intp_t>(pfn - s.map_base)
    cdef int32_t sid
    if s.nr_free_ids == 0:
        return -1
    for i in range(1 << s.order):
        if s.pfn_map[o + i] >= 0:
            return -1
    s.nr_free_ids -= 1
    sid = s.free_ids[s.nr_free_ids]
    _set_map(s, pfn, sid)
    s.slab[sid].pfn = pfn
    s.slab[sid].colour = colour
    s.slab[sid].state = SLAB_RESERVE
    s.reserve[s.nr_reserve] = sid
    s.nr_reserve += 1
    return 0


cdef void slab_deactivate(slab_cache_t *s, intp_t cpu) noexcept nogil:
    cdef int32_t sid = s.cpu_slab[cpu]
    if sid < 0:
        return
    s.cpu_slab[cpu] = -1
    s.slab[sid].state = SLAB_UNUSED      # on no list while we decide
    if s.slab[sid].inuse == 0 and <uint32_t>s.nr_partial >= s.min_partial:
        _discard(s, sid)
    elif s.slab[sid].freelist != FREE_NONE:
        _link_head(&s.partial_head, &s.partial_tail, s.slab, sid)
        s.slab[sid].state = SLAB_PARTIAL
        s.nr_partial += 1
    else:
        _link_tail(&s.full_head, &s.full_tail, s.slab, sid)
        s.slab[sid].state = SLAB_FULL
        s.nr_full += 1


cdef void slab_install(slab_cache_t *s, intp_t cpu, int32_t sid) noexcept nogil:
    cdef intp_t base = <intp_t>sid * s.objects
    cdef uint32_t i
    slab_deactivate(s, cpu)
    for i in range(s.objects - 1):
        s.freeptr[base + i] = <int32_t>(i + 1)
    s.freeptr[base + s.objects - 1] = FREE_NONE
    s.slab[sid].freelist = 0
    s.slab[sid].inuse = 0
    s.slab[sid].state = SLAB_CPU
    s.cpu_slab[cpu] = sid
    s.nr_slabs += 1
    s.total_objects += s.objects


cdef int slab_alloc_obj(slab_cache_t *s, intp_t cpu, addr_t *out) noexcept nogil:
    cdef int32_t sid = s.cpu_slab[cpu]
    cdef int32_t idx
    cdef intp_t k
    if sid < 0 or s.slab[sid].freelist == FREE_NONE:
        if sid >= 0:
            slab_deactivate(s, cpu)
        sid = s.partial_head
        if sid >= 0:
            _unlink(&s.partial_head, &s.partial_tail, s.slab, sid)
            s.nr_partial -= 1
            s.slab[sid].state = SLAB_CPU
            s.cpu_slab[cpu] = sid
        elif s.nr_reserve > 0:
            s.nr_reserve -= 1
            sid = s.reserve[s.nr_reserve]
            slab_install(s, cpu, sid)
        else:
            return SLAB_ENOSLAB
    idx = s.slab[sid].freelist
    k = <intp_t>sid * s.objects + idx
    s.slab[sid].freelist = s.freeptr[k]
    s.freeptr[k] = OBJ_LIVE
    s.slab[sid].inuse += 1
    s.inuse_objects += 1
    out[0] = (s.slab[sid].pfn << PAGE_SHIFT) + s.slab[sid].colour + <addr_t>idx * s.size
    return SLAB_OK


cdef int slab_check_obj(slab_cache_t *s, addr_t addr, int32_t *sid, int32_t *idx) noexcept nogil:
    cdef pfn_t pfn = addr >> PAGE_SHIFT
    cdef addr_t base, off, i
    cdef int32_t sd
    if pfn < s.map_base or pfn - s.map_base >= <pfn_t>s.map_len:
        return SLAB_EFOREIGN
    sd = s.pfn_map[pfn - s.map_base]
    if sd < 0 or s.slab[sd].state == SLAB_RESERVE:
        return SLAB_EFOREIGN
    base = (s.slab[sd].pfn << PAGE_SHIFT) + s.slab[sd].colour
    if addr < base:
        return SLAB_EBOUNDARY
    off = addr - base
    i = off / s.size
    if i >= s.objects or off != i * s.size:
        return SLAB_EBOUNDARY
    if s.freeptr[<intp_t>sd * s.objects + <intp_t>i] != OBJ_LIVE:
        return SLAB_EDOUBLE
    sid[0] = sd
    idx[0] = <int32_t>i
    return SLAB_OK


cdef inline void _free_at(slab_cache_t *s, int32_t sid, int32_t idx) noexcept nogil:
    cdef intp_t k = <intp_t>sid * s.objects + idx
    cdef uint8_t st
    s.freeptr[k] = s.slab[sid].freelist
    s.slab[sid].freelist = idx
    s.slab[sid].inuse -= 1
    s.inuse_objects -= 1
    st = s.slab[sid].state
    if st == SLAB_FULL:
        _unlink(&s.full_head, &s.full_tail, s.slab, sid)
        s.nr_full -= 1
        if s.slab[sid].inuse == 0 and <uint32_t>s.nr_partial >= s.min_partial:
            s.slab[sid].state = SLAB_UNUSED
            _discard(s, sid)
        else:
            _link_tail(&s.partial_head, &s.partial_tail, s.slab, sid)
            s.slab[sid].state = SLAB_PARTIAL
            s.nr_partial += 1
    elif st == SLAB_PARTIAL and s.slab[sid].inuse == 0 and <uint32_t>s.nr_partial >= s.min_partial:
        _discard(s, sid)


cdef int slab_free_obj(slab_cache_t *s, addr_t addr) noexcept nogil:
    cdef int32_t sid, idx
    cdef int rc = slab_check_obj(s, addr, &sid, &idx)
    if rc == SLAB_OK:
        _free_at(s, sid, idx)
    return rc


cdef intp_t _alloc_loop(slab_cache_t *s, intp_t cpu, addr_t *out, intp_t start, intp_t n) noexcept nogil:
    """Fill out[start:n]; return how far it got (< n: a new slab is needed)."""
    cdef intp_t i
    for i in range(start, n):
        if slab_alloc_obj(s, cpu, &out[i]) != SLAB_OK:
            return i
    return n


cdef intp_t _free_loop(slab_cache_t *s, const addr_t *addrs, intp_t n, int32_t *sids,
                       int32_t *idxs, int *err) noexcept nogil:
    """Free addrs[:n] all or nothing; return n, or the index of a bad address
    (with its error code in err) having changed nothing."""
    cdef intp_t i, j
    cdef int rc
    cdef pfn_t pfn
    cdef int32_t sd
    cdef addr_t a, guess, slab_mask = (<addr_t>PAGE_SIZE << s.order) - 1
    # offset / size by multiplication (a guess may be one slot off: fine
    # for a prefetch; the check itself divides exactly)
    cdef uint64_t recip = ((<uint64_t>1 << 32) + s.size - 1) / s.size
    # prefetch only for scattered batches: sample how often neighbours in
    # the batch are more than a page apart (in-order frees gain nothing)
    cdef intp_t far = 0, sample = n - 1 if n - 1 < 32 else 32
    cdef addr_t d
    for i in range(1, sample + 1):
        d = addrs[i] - addrs[i - 1] if addrs[i] > addrs[i - 1] else addrs[i - 1] - addrs[i]
        if d > PAGE_SIZE:
            far += 1
    cdef bint scattered = 2 * far > sample
    for i in range(n):
        # random addresses: fetch the slab record and free-pointer word of the
        # object PREFETCH_AHEAD places on while this one is checked (its pfn
        # map entry is small and usually cached).  Slabs are naturally
        # aligned, so the offset in the slab is the address's low bits; the
        # colour is ignored (it shifts the guess by at most one slot).
        if scattered and i + PREFETCH_AHEAD < n:
            a = addrs[i + PREFETCH_AHEAD]
            pfn = a >> PAGE_SHIFT
            if pfn >= s.map_base and pfn - s.map_base < <pfn_t>s.map_len:
                sd = s.pfn_map[pfn - s.map_base]
                if sd >= 0:
                    guess = ((a & slab_mask) * recip) >> 32
                    if guess >= s.objects:
                        guess = s.objects - 1
                    __builtin_prefetch(&s.slab[sd])
                    __builtin_prefetch(&s.freeptr[<intp_t>sd * s.objects + <intp_t>guess])
        rc = slab_check_obj(s, addrs[i], &sids[i], &idxs[i])
        if rc != SLAB_OK:
            for j in range(i):
                s.freeptr[<intp_t>sids[j] * s.objects + idxs[j]] = OBJ_LIVE
            err[0] = rc
            return i
        s.freeptr[<intp_t>sids[i] * s.objects + idxs[i]] = OBJ_FREEING
    for i in range(n):
        if scattered and i + PREFETCH_AHEAD < n:
            __builtin_prefetch(&s.slab[sids[i + PREFETCH_AHEAD]])
            __builtin_prefetch(&s.freeptr[<intp_t>sids[i + PREFETCH_AHEAD] * s.objects
                                          + idxs[i + PREFETCH_AHEAD]])
        _free_at(s, sids[i], idxs[i])
    return n


# ---------------------------------------------------------------- Python face

cdef slab_t _slab_dummy


def _slab_dtype():
    # the numpy record of one struct slab, derived from the C struct itself
    return np.asarray(<slab_t[:1]>(&_slab_dummy)).dtype


#: numpy dtype of the per-slab records (``struct slab``): ``pfn``,
#: ``colour``, ``inuse``, ``freelist``, ``prev``, ``next``, ``state``.
SLAB_DTYPE = _slab_dtype()


cdef class SlabCache:
    """One ``kmem_cache``: objects of one size carved from slabs of pages.

    Parameters
    ----------
    name : str
        Cache name, as shown by ``/proc/slabinfo``.
    object_size : int
        Bytes per object (1 .. 4 MiB).
    align : int, optional
        Required alignment, a power of two (default 8).
    page_source : object
        Supplies slabs: ``alloc(order)`` -> first pfn or None, and
        ``free(pfn, order)`` (e.g. ``memcore.buddy.BuddyAllocator``).
    hwcache_align : bool, optional
        ``SLAB_HWCACHE_ALIGN``: align objects to the cache line.
    colouring : bool, optional
        Offset successive slabs by cache-line colours (historic SLAB).
    nr_cpus : int, optional
        CPUs with a cpu slab each (default 1); also sets ``min_objects``.
    min_objects, min_order, max_order : int, optional
        ``slub_min_objects``, ``slub_min_order``, ``slub_max_order``.

    Examples
    --------
    >>> from memcore.slab import SlabCache
    >>> class Pages:                       # a toy page source
    ...     def alloc(self, order): return 0x100
    ...     def free(self, pfn, order): pass
    >>> c = SlabCache("demo", 100, page_source=Pages())
    >>> c.size, c.objects, c.order
    (104, 39, 0)
    >>> hex(c.alloc()), hex(c.alloc())
    ('0x100000', '0x100068')
    """

    def __init__(self, name, object_size, align=8, page_source=None, *, hwcache_align=False,
                 colouring=False, nr_cpus=1, min_objects=None, min_order=0,
                 max_order=SLUB_MAX_ORDER):
        object_size = int(object_size)
        align = int(align)
        nr_cpus = int(nr_cpus)
        if page_source is None or not (hasattr(page_source, "alloc") and hasattr(page_source, "free")):
            raise ValueError("page_source: need an object with alloc(order) and free(pfn, order), "
                             f"got {page_source!r}")
        if not 1 <= object_size <= (PAGE_SIZE << MAX_PAGE_ORDER):
            raise ValueError(f"object_size: must be in 1..{PAGE_SIZE << MAX_PAGE_ORDER}, got {object_size}")
        if align < 1 or align & (align - 1) or align > PAGE_SIZE:
            raise ValueError(f"align: must be a power of two <= {PAGE_SIZE}, got {align}")
        if nr_cpus < 1:
            raise ValueError(f"nr_cpus: must be >= 1, got {nr_cpus}")
        if not 0 <= min_order <= max_order <= MAX_PAGE_ORDER:
            raise ValueError(f"max_order: need 0 <= min_order <= max_order <= {MAX_PAGE_ORDER}, "
                             f"got min_order={min_order}, max_order={max_order}")
        self._ctor = dict(name=str(name), object_size=object_size, align=align,
                          hwcache_align=bool(hwcache_align), colouring=bool(colouring),
                          nr_cpus=nr_cpus, min_objects=min_objects, min_order=int(min_order),
                          max_order=int(max_order))
        self.name = str(name)
        self.page_source = page_source
        self.object_size = object_size
        # calculate_alignment()
        if hwcache_align:
            ralign = CACHE_LINE_SIZE
            while object_size <= ralign // 2:
                ralign //= 2
            align = max(align, ralign)
        align = max(align, 8)
        align = (align + 7) & ~7
        self.align = align
        # calculate_sizes(): word-align, free pointer in the middle, then align
        size = (object_size + 7) & ~7
        size = (size + align - 1) & ~(align - 1)
        self.offset = (object_size // 2) & ~7
        order = calculate_order(size, nr_cpus, min_objects, int(min_order), int(max_order))
        objects = (PAGE_SIZE << order) // size
        self.colouring = bool(colouring)
        self.colour_off = max(CACHE_LINE_SIZE, align)
        leftover = (PAGE_SIZE << order) - objects * size
        self.colour = leftover // self.colour_off if colouring else 0
        self.colour_next = 0
        self.c.size = size
        self.c.objects = objects
        self.c.order = order
        # set_min_partial(s, ilog2(size) / 2)
        self.c.min_partial = min(MAX_PARTIAL, max(MIN_PARTIAL, (size.bit_length() - 1) // 2))
        self.c.nr_cpus = nr_cpus
        self.c.partial_head = self.c.partial_tail = -1
        self.c.full_head = self.c.full_tail = -1
        self.c.nr_partial = self.c.nr_full = 0
        self.c.nr_slabs = self.c.inuse_objects = self.c.total_objects = 0
        self.c.nr_discard = 0
        self.c.nr_reserve = 0
        self.c.max_slabs = 0
        self.c.nr_free_ids = 0
        self.c.map_base = 0
        self.c.map_len = 0
        self._arr = {"cpu_slab": np.full(nr_cpus, -1, dtype=np.int32),
                     "pfn_map": np.full(1, -1, dtype=np.int32)}
        self._arr["slab"] = np.zeros(0, dtype=SLAB_DTYPE)
        self._arr["freeptr"] = np.zeros(0, dtype=np.int32)
        self._arr["free_ids"] = np.zeros(0, dtype=np.int32)
        self._arr["reserve"] = np.zeros(0, dtype=np.int32)
        self._arr["discard_pfn"] = np.zeros(0, dtype=np.uint64)
        self._grow_table(4)

    # -- array management (Python only, never inside a nogil loop)

    cdef slab_cache_t *c_cache(self) noexcept:
        return &self.c

    cdef _bind(self):
        cdef slab_t[::1] sl = self._arr["slab"]
        cdef int32_t[::1] cpu = self._arr["cpu_slab"]
        cdef int32_t[::1] fp = self._arr["freeptr"], ids = self._arr["free_ids"]
        cdef int32_t[::1] res = self._arr["reserve"], pmap = self._arr["pfn_map"]
        cdef uint64_t[::1] disc = self._arr["discard_pfn"]
        self.c.slab = &sl[0]
        self.c.cpu_slab = &cpu[0]
        self.c.freeptr = &fp[0]
        self.c.free_ids = &ids[0]
        self.c.reserve = &res[0]
        self.c.discard_pfn = &disc[0]
        self.c.pfn_map = &pmap[0]

    def _grow_table(self, new_max):
        old = self.c.max_slabs
        a = self._arr
        grown = np.zeros(new_max, dtype=SLAB_DTYPE)
        grown[:old] = a["slab"]
        a["slab"] = grown
        grown = np.full(new_max * self.c.objects, OBJ_LIVE, dtype=np.int32)
        grown[:old * self.c.objects] = a["freeptr"]
        a["freeptr"] = grown
        ids = np.zeros(new_max, dtype=np.int32)
        ids[:self.c.nr_free_ids] = a["free_ids"][:self.c.nr_free_ids]
        # new ids stacked so the lowest is used first
        fresh = np.arange(new_max - 1, old - 1, -1, dtype=np.int32)
        ids[self.c.nr_free_ids:self.c.nr_free_ids + fresh.shape[0]] = fresh
        a["free_ids"] = ids
        reserve = np.zeros(new_max, dtype=np.int32)
        reserve[:self.c.nr_reserve] = a["reserve"][:self.c.nr_reserve]
        a["reserve"] = reserve
        disc = np.zeros(new_max, dtype=np.uint64)
        disc[:self.c.nr_discard] = a["discard_pfn"][:self.c.nr_discard]
        a["discard_pfn"] = disc
        self.c.nr_free_ids += fresh.shape[0]
        self.c.max_slabs = new_max
        self._bind()

    def _cover(self, lo, hi):
        """Grow the pfn map so it covers pfns [lo, hi)."""
        base, length = self.c.map_base, self.c.map_len
        if length and base <= lo and hi <= base + length:
            return
        nlo = lo if length == 0 else min(lo, base)
        nhi = hi if length == 0 else max(hi, base + length)
        if nhi - nlo > (1 << 28):
            raise ValueError(f"page_source: pfns spread over {nhi - nlo} pages; "
                             "the slab's pfn map is limited to 2**28 pages")
        span = min(1 << 28, max(2 * (nhi - nlo), 64))    # room to grow both ways
        nbase = max(0, nlo - (span - (nhi - nlo)) // 2)
        grown = np.full(span, -1, dtype=np.int32)
        if length:
            grown[base - nbase:base - nbase + length] = self._arr["pfn_map"][:length]
        self._arr["pfn_map"] = grown
        self.c.map_base = nbase
        self.c.map_len = span
        self._bind()

    def _grow(self, nslabs):
        """Take up to `nslabs` slabs from the page source into the reserve, in
        the order they will become cpu slabs.  Return how many it gave (fewer
        than `nslabs` when it ran dry)."""
        cdef intp_t npages = 1 << self.c.order
        pfns = []
        alloc = self.page_source.alloc
        for _ in range(nslabs):
            pfn = alloc(self.c.order)
            if pfn is None:
                break
            pfn = int(pfn)
            if pfn < 0 or pfn & (npages - 1):
                for p in pfns:
                    self.page_source.free(p, self.c.order)
                raise RuntimeError(f"page_source: alloc({self.c.order}) returned pfn {pfn}, "
                                   "not a naturally aligned block")
            pfns.append(pfn)
        if not pfns:
            return 0
        self._cover(min(pfns), max(pfns) + npages)
        if self.c.nr_free_ids < len(pfns):
            self._grow_table(max(2 * self.c.max_slabs, self.c.max_slabs + len(pfns)))
        cdef int32_t first = self.c.nr_reserve
        colours = []
        for _ in pfns:
            colours.append(self.colour_next * self.colour_off)
            if self.colour:
                self.colour_next = (self.colour_next + 1) % self.colour
        for i in range(len(pfns) - 1, -1, -1):        # reserve pops from the end
            if slab_reserve(&self.c, pfns[i], colours[i]) < 0:
                while self.c.nr_reserve > first:      # undo this grow
                    self.c.nr_reserve -= 1
                    sid = self.c.reserve[self.c.nr_reserve]
                    _set_map(&self.c, self.c.slab[sid].pfn, -1)
                    self.c.slab[sid].state = SLAB_UNUSED
                    self.c.free_ids[self.c.nr_free_ids] = sid
                    self.c.nr_free_ids += 1
                raise RuntimeError(f"page_source: alloc({self.c.order}) returned pfn "
                                   f"{pfns[i]:#x}, which cache {self.name!r} already holds")
        return len(pfns)

    def drain(self):
        """Return the pages of slabs discarded by frees to the page source.

        The Python methods do this themselves; C callers of
        ``slab_free_obj`` call it after their loop.
        """
        cdef intp_t n = self.c.nr_discard
        if n == 0:
            return
        pfns = self._arr["discard_pfn"][:n].tolist()     # in discard order
        self.c.nr_discard = 0
        free = self.page_source.free
        for pfn in pfns:
            free(pfn, self.c.order)

    def _cpu(self, cpu):
        cpu = int(cpu)
        if not 0 <= cpu < self.c.nr_cpus:
            raise ValueError(f"cpu: must be in 0..{self.c.nr_cpus - 1}, got {cpu}")
        return cpu

    def _raise(self, rc, addr, where=""):
        raise ValueError(f"free{where}: address {addr:#x} {_ERRORS[rc]} {self.name!r}")

    # -- single objects

    def alloc(self, cpu=0):
        """Allocate one object on `cpu`; return its address, or None when the
        page source has no slab to give.

        Returns
        -------
        int or None
        """
        cdef addr_t out
        cdef intp_t c = self._cpu(cpu)
        if slab_alloc_obj(&self.c, c, &out) == SLAB_OK:
            return out
        if not self._grow(1):
            return None
        slab_alloc_obj(&self.c, c, &out)
        return out

    def free(self, addr):
        """Free the object at `addr`.

        Raises
        ------
        ValueError
            If `addr` is not a live object of this cache (double free,
            foreign pointer, or not at an object boundary); the cache is left
            unchanged.
        """
        addr = int(addr)
        if addr < 0 or addr >= 1 << 64:
            self._raise(SLAB_EFOREIGN, addr)
        rc = slab_free_obj(&self.c, addr)
        if rc != SLAB_OK:
            self._raise(rc, addr)
        self.drain()

    def owns(self, addr):
        """Whether `addr` lies in one of this cache's slabs (live or free).

        Returns
        -------
        bool
        """
        addr = int(addr)
        if addr < 0 or addr >= 1 << 64:
            return False
        o = (addr >> PAGE_SHIFT) - self.c.map_base
        return 0 <= o < self.c.map_len and self.c.pfn_map[o] >= 0

    # -- batches

    def alloc_batch(self, n, cpu=0):
        """Allocate `n` objects in one ``nogil`` loop.

        The loop leaves only to take a new slab from the page source.

        Parameters
        ----------
        n : int
            Objects wanted.
        cpu : int, optional
            Allocating CPU.

        Returns
        -------
        numpy.ndarray of uint64
            The addresses; shorter than `n` if the page source ran dry.
        """
        n = int(n)
        if n < 0:
            raise ValueError(f"n: must be >= 0, got {n}")
        cdef intp_t c = self._cpu(cpu)
        out_arr = np.empty(n, dtype=np.uint64)
        if n == 0:
            return out_arr
        cdef uint64_t[::1] out = out_arr
        cdef intp_t done = 0, total = n, want
        dry = False
        while True:
            with nogil:
                done = _alloc_loop(&self.c, c, &out[0], done, total)
            if done == total:
                break
            if dry:
                return out_arr[:done].copy()
            # the cpu slab is exhausted and the partial list empty: exactly
            # this many new slabs finish the batch
            want = (total - done + self.c.objects - 1) // self.c.objects
            dry = self._grow(want) < want
        return out_arr

    def free_batch(self, addrs):
        """Free every address in `addrs` in one ``nogil`` loop, all or nothing.

        Raises
        ------
        ValueError
            Naming the first bad address and its position; nothing is freed.
        """
        arr = np.ascontiguousarray(addrs)
        if arr.ndim != 1:
            arr = arr.ravel()
        if arr.shape[0] and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"addrs: addresses must be integers, got dtype {arr.dtype}")
        if arr.dtype != np.uint64:
            if arr.shape[0] and arr.min() < 0:
                i = int(np.argmin(arr))
                raise ValueError(f"free_batch: addrs[{i}]: address {int(arr[i])} "
                                 f"{_ERRORS[SLAB_EFOREIGN]} {self.name!r}")
            arr = arr.astype(np.uint64)
        cdef intp_t n = arr.shape[0]
        if n == 0:
            return
        cdef const uint64_t[::1] a = arr
        sids_arr = np.empty(n, dtype=np.int32)
        idxs_arr = np.empty(n, dtype=np.int32)
        cdef int32_t[::1] sids = sids_arr, idxs = idxs_arr
        cdef int err = 0
        cdef intp_t done
        with nogil:
            done = _free_loop(&self.c, &a[0], n, &sids[0], &idxs[0], &err)
        if done != n:
            self._raise(err, int(a[done]), f"_batch: addrs[{done}]")
        self.drain()

    # -- shrinking

    def shrink(self):
        """``kmem_cache_shrink``: release every empty slab to the page source.

        Deactivates the cpu slabs, discards all empty slabs and reorders the
        partial list so the fullest slabs (fewest free objects) come first.

        Returns
        -------
        int
            Slabs returned to the page source.
        """
        before = self.c.nr_slabs
        for cpu in range(self.c.nr_cpus):
            slab_deactivate(&self.c, cpu)
        keep = []
        for sid in self._list(self.c.partial_head):
            if self.c.slab[sid].inuse == 0:
                _discard(&self.c, sid)
            else:
                keep.append(sid)
        keep.sort(key=lambda sid: self.c.objects - self.c.slab[sid].inuse)
        self.c.partial_head = self.c.partial_tail = -1
        for sid in keep:
            _link_tail(&self.c.partial_head, &self.c.partial_tail,
                       self.c.slab, sid)
        self.drain()
        return int(before - self.c.nr_slabs)

    # -- inspection

    def _list(self, int32_t head):
        out = []
        while head >= 0:
            out.append(head)
            head = self.c.slab[head].next
        return out

    @property
    def size(self):
        """int: Slot size in bytes (``s->size``, the slabinfo ``objsize``)."""
        return self.c.size

    @property
    def objects(self):
        """int: Objects per slab."""
        return self.c.objects

    @property
    def order(self):
        """int: Slab order (pages per slab = ``2**order``)."""
        return self.c.order

    @property
    def min_partial(self):
        """int: Empty slabs the partial list may keep."""
        return self.c.min_partial

    @property
    def nr_cpus(self):
        """int: Number of CPUs with a cpu slab."""
        return self.c.nr_cpus

    @property
    def nr_slabs(self):
        """int: Slabs held."""
        return int(self.c.nr_slabs)

    @property
    def nr_partial(self):
        """int: Slabs on the partial list."""
        return self.c.nr_partial

    @property
    def nr_full(self):
        """int: Slabs on the full list."""
        return self.c.nr_full

    @property
    def inuse_objects(self):
        """int: Live objects."""
        return int(self.c.inuse_objects)

    @property
    def total_objects(self):
        """int: Object slots in all slabs."""
        return int(self.c.total_objects)

    def slabs(self):
        """Every slab the cache holds, as a structured array.

        Returns
        -------
        numpy.ndarray
            Fields ``pfn``, ``colour`` (offset of object 0), ``inuse``,
            ``state`` (``"cpu"``, ``"partial"`` or ``"full"``); cpu slabs
            first (by CPU), then the partial list in order, then the full list.
        """
        sids = [int(self.c.cpu_slab[i]) for i in range(self.c.nr_cpus) if self.c.cpu_slab[i] >= 0]
        names = ["cpu"] * len(sids)
        for head, nm in ((self.c.partial_head, "partial"), (self.c.full_head, "full")):
            part = self._list(head)
            sids += part
            names += [nm] * len(part)
        a = self._arr
        out = np.zeros(len(sids), dtype=[("pfn", "u8"), ("colour", "u4"), ("inuse", "u4"),
                                         ("state", "U7")])
        idx = np.array(sids, dtype=np.intp)
        out["pfn"] = a["slab"]["pfn"][idx]
        out["colour"] = a["slab"]["colour"][idx]
        out["inuse"] = a["slab"]["inuse"][idx]
        out["state"] = names
        return out

    def freelist(self, pfn):
        """Addresses on the freelist of the slab starting at `pfn`, in
        allocation order (following the free pointers).

        Returns
        -------
        list of int
        """
        pfn = int(pfn)
        o = pfn - self.c.map_base
        if not (0 <= o < self.c.map_len) or self.c.pfn_map[o] < 0 \
                or self.c.slab[self.c.pfn_map[o]].pfn != pfn:
            raise ValueError(f"pfn: {pfn:#x} does not start a slab of cache {self.name!r}")
        sid = self.c.pfn_map[o]
        base = (pfn << PAGE_SHIFT) + self.c.slab[sid].colour
        out = []
        i = self.c.slab[sid].freelist
        while i != FREE_NONE:
            out.append(base + i * self.c.size)
            i = self.c.freeptr[sid * self.c.objects + i]
        return out

    def slabinfo(self):
        """The numbers of this cache's ``/proc/slabinfo`` row, as SLUB's
        ``get_slabinfo`` computes them.

        ``active_objs`` is ``num_objs`` minus the free objects of slabs on
        the partial list (SLUB counts the free objects of cpu slabs as
        active); ``active_slabs`` equals ``num_slabs``; tunables and
        ``sharedavail`` are 0.

        Returns
        -------
        dict
        """
        free = sum(self.c.objects - self.c.slab[sid].inuse for sid in self._list(self.c.partial_head))
        return {"name": self.name, "active_objs": int(self.c.total_objects) - free,
                "num_objs": int(self.c.total_objects), "objsize": self.c.size,
                "objperslab": self.c.objects, "pagesperslab": 1 << self.c.order,
                "limit": 0, "batchcount": 0, "sharedfactor": 0,
                "active_slabs": int(self.c.nr_slabs), "num_slabs": int(self.c.nr_slabs),
                "sharedavail": 0}

    def slabinfo_row(self):
        """This cache's line of ``/proc/slabinfo`` (without the newline), in
        the format of ``cache_show`` in mm/slab_common.c.

        Returns
        -------
        str
        """
        return format_slabinfo_row(self.slabinfo())

    def state(self):
        """The cache's state arrays, as zero-copy numpy views.

        Returns
        -------
        dict of numpy.ndarray
            ``slab`` (records of :data:`SLAB_DTYPE`, by slab id), ``freeptr``
            (the in-slot word of every object, by ``slab id * objects +
            index``), ``cpu_slab``, ``pfn_map``, ``free_ids``, ``reserve``,
            ``discard_pfn``.  Writing to them corrupts the cache.
        """
        return dict(self._arr)

    def _scalars(self):
        c = &self.c
        return dict(max_slabs=c.max_slabs, partial_head=c.partial_head,
                    partial_tail=c.partial_tail, nr_partial=c.nr_partial,
                    full_head=c.full_head, full_tail=c.full_tail, nr_full=c.nr_full,
                    nr_free_ids=c.nr_free_ids, nr_reserve=c.nr_reserve,
                    nr_discard=c.nr_discard, map_base=c.map_base, map_len=c.map_len,
                    nr_slabs=c.nr_slabs, inuse_objects=c.inuse_objects,
                    total_objects=c.total_objects, colour_next=self.colour_next)

    def _restore(self, sc, arrays):
        c = &self.c
        self._arr = {k: np.array(v, copy=True) for k, v in arrays.items()}
        c.max_slabs = sc["max_slabs"]
        c.partial_head, c.partial_tail = sc["partial_head"], sc["partial_tail"]
        c.nr_partial = sc["nr_partial"]
        c.full_head, c.full_tail, c.nr_full = sc["full_head"], sc["full_tail"], sc["nr_full"]
        c.nr_free_ids, c.nr_reserve = sc["nr_free_ids"], sc["nr_reserve"]
        c.nr_discard = sc["nr_discard"]
        c.map_base, c.map_len = sc["map_base"], sc["map_len"]
        c.nr_slabs, c.inuse_objects = sc["nr_slabs"], sc["inuse_objects"]
        c.total_objects = sc["total_objects"]
        self.colour_next = sc["colour_next"]
        self._bind()

    def __reduce__(self):
        # pickles the page source too: a checkpoint is cache + its pages
        return (_restore_slab_cache, (self._ctor, self.page_source, self._scalars(), self._arr))

    def __repr__(self):
        return (f"SlabCache({self.name!r}, size={self.c.size}, objects={self.c.objects}, "
                f"order={self.c.order}, slabs={self.c.nr_slabs}, inuse={self.c.inuse_objects})")


def _restore_slab_cache(ctor, page_source, scalars, arrays):
    cache = SlabCache(page_source=page_source, **ctor)
    cache._restore(scalars, arrays)
    return cache


def format_slabinfo_row(d):
    """Format one ``/proc/slabinfo`` row from a :meth:`SlabCache.slabinfo` dict.

    Returns
    -------
    str
    """
    return ("%-17s %6lu %6lu %6u %4u %4d" % (d["name"], d["active_objs"], d["num_objs"],
                                             d["objsize"], d["objperslab"], d["pagesperslab"])
            + " : tunables %4u %4u %4u" % (d["limit"], d["batchcount"], d["sharedfactor"])
            + " : slabdata %6lu %6lu %6lu" % (d["active_slabs"], d["num_slabs"], d["sharedavail"]))


def slabinfo(caches):
    """The text of ``/proc/slabinfo`` (version 2.1) for `caches`, in order.

    Parameters
    ----------
    caches : iterable of SlabCache

    Returns
    -------
    str
    """
    return SLABINFO_HEADER + "".join(c.slabinfo_row() + "\n" for c in caches)


def kmalloc_index(size):
    """The kmalloc size class serving `size` bytes (``kmalloc_index``).

    Returns
    -------
    int
        One of :data:`KMALLOC_SIZES`.

    Raises
    ------
    ValueError
        If `size` is not in 1 .. ``KMALLOC_MAX_CACHE_SIZE``.
    """
    if not 1 <= size <= KMALLOC_MAX_CACHE_SIZE:
        raise ValueError(f"size: kmalloc caches serve 1..{KMALLOC_MAX_CACHE_SIZE} bytes, got {size}")
    return KMALLOC_SIZES[bisect.bisect_left(KMALLOC_SIZES, size)]


def _kmalloc_name(size):
    return f"kmalloc-{size // 1024}k" if size >= 1024 else f"kmalloc-{size}"


class Kmalloc:
    """``kmalloc`` / ``kfree`` over the kmalloc size classes and a page source.

    Requests up to 8192 bytes go to the smallest ``kmalloc-N`` cache that
    fits (:data:`KMALLOC_SIZES`, including kmalloc-96 and kmalloc-192);
    larger ones take ``2**get_order(size)`` pages straight from the page
    source (``kmalloc_large``).

    Parameters
    ----------
    page_source : object
        ``alloc(order)`` / ``free(pfn, order)``, shared by every cache.
    nr_cpus : int, optional
        CPUs (sets each cache's slab order as SLUB does).

    Examples
    --------
    >>> from memcore.slab import Kmalloc
    >>> class Pages:
    ...     next = 0x200
    ...     def alloc(self, order):
    ...         pfn = self.next; self.next += 1 << order; return pfn
    ...     def free(self, pfn, order): pass
    >>> km = Kmalloc(Pages(), nr_cpus=2)
    >>> km.cache_for(70).name
    'kmalloc-96'
    >>> a = km.kmalloc(70); km.kfree(a)
    """

    def __init__(self, page_source, nr_cpus=1):
        self.page_source = page_source
        self.caches = {size: SlabCache(_kmalloc_name(size), size, 8, page_source, nr_cpus=nr_cpus)
                       for size in KMALLOC_SIZES}
        self.large = {}

    def cache_for(self, size):
        """The :class:`SlabCache` serving `size` bytes."""
        return self.caches[kmalloc_index(int(size))]

    def kmalloc(self, size, cpu=0):
        """Allocate `size` bytes; return the address, or None when out of pages.

        Raises
        ------
        ValueError
            If `size` < 1 (Linux returns ``ZERO_SIZE_PTR`` for 0; memcore
            refuses it, since address 16 can be a real object here).
        """
        size = int(size)
        if size < 1:
            raise ValueError(f"size: must be >= 1, got {size}")
        if size <= KMALLOC_MAX_CACHE_SIZE:
            return self.cache_for(size).alloc(cpu)
        order = get_order(size)
        pfn = self.page_source.alloc(order)
        if pfn is None:
            return None
        addr = int(pfn) << PAGE_SHIFT
        self.large[addr] = order
        return addr

    def kfree(self, addr):
        """Free memory returned by :meth:`kmalloc`.

        Raises
        ------
        ValueError
            If `addr` did not come from :meth:`kmalloc` or is already free.
        """
        addr = int(addr)
        order = self.large.pop(addr, None)
        if order is not None:
            self.page_source.free(addr >> PAGE_SHIFT, order)
            return
        for cache in self.caches.values():
            if cache.owns(addr):
                cache.free(addr)
                return
        raise ValueError(f"kfree: address {addr:#x} was not returned by kmalloc")

    def slabinfo(self):
        """``/proc/slabinfo`` text for the kmalloc caches, largest first, then
        kmalloc-192 and kmalloc-96 (the order Linux 6.x lists them in).

        Returns
        -------
        str
        """
        order = [s for s in reversed(KMALLOC_SIZES) if s not in (96, 192)] + [192, 96]
        return slabinfo(self.caches[s] for s in order)
