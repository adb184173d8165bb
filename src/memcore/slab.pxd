# C contract of memcore.slab: one kmem_cache as SLUB keeps it.
#
# Glossary (mm/slub.c names):
#   slab      a block of 2**order pages cut into `objects` slots of `size` bytes
#   cpu slab  the slab a CPU allocates from (kmem_cache_cpu.slab)
#   partial   slabs with some free objects, on the node's list (n->partial)
#   full      slabs with no free object (SLUB tracks them only when
#             debugging; kept here so /proc/slabinfo and invariants see them)
#   freelist  per slab, a chain of free objects; the link ("free pointer") is
#             held inside each free object's slot
#
# Slabs are numbered by a slab id (sid); per-slab arrays are indexed by sid,
# per-object arrays by sid * objects + object index.  The Python class owns
# every array and grows them (outside nogil) when a slab arrives.

from memcore._typedefs cimport intp_t, int32_t, uint8_t, uint32_t, uint64_t, addr_t, pfn_t, count_t

cdef enum:
    PAGE_SHIFT = 12
    PAGE_SIZE = 4096
    FREE_NONE = -1         # end of a freelist (the NULL free pointer)

cdef enum:                 # slab_state values
    SLAB_UNUSED = 0        # sid not in use
    SLAB_CPU = 1           # a cpu slab
    SLAB_PARTIAL = 2       # on the node's partial list
    SLAB_FULL = 3          # on the full list
    SLAB_RESERVE = 4       # taken from the page source, waiting to become a cpu slab

cdef enum:                 # freeptr words that are not free pointers
    OBJ_LIVE = -2          # the slot holds a live object
    OBJ_FREEING = -3       # live, and named by the batch being freed

cdef enum:                 # return codes of slab_free_obj / slab_check_obj
    SLAB_OK = 0
    SLAB_ENOSLAB = 1       # alloc: no free object without a new slab
    SLAB_EFOREIGN = -1     # address in no slab of this cache
    SLAB_EBOUNDARY = -2    # inside a slab but not the start of an object
    SLAB_EDOUBLE = -3      # object already free (double free)

# struct slab: one slab's metadata (32 bytes, one numpy record per slab).
ctypedef struct slab_t:
    pfn_t pfn                  # first pfn of the slab
    uint32_t colour            # colour offset of object 0, bytes
    uint32_t inuse             # live objects
    int32_t freelist           # first free object index, FREE_NONE if none
    int32_t prev               # list links (partial or full list)
    int32_t next
    uint8_t state              # SLAB_*

ctypedef struct slab_cache_t:
    # geometry (fixed at creation)
    uint32_t size              # slot stride: object size rounded (s->size)
    uint32_t objects           # objects per slab (oo_objects(s->oo))
    uint32_t order             # pages per slab = 1 << order
    uint32_t min_partial       # empty slabs kept on the partial list
    uint32_t nr_cpus
    # slab table, indexed by sid
    intp_t max_slabs           # capacity of every per-slab array
    slab_t *slab               # [max_slabs]
    int32_t *cpu_slab          # [nr_cpus] sid or -1
    # per object, indexed by sid * objects + index
    int32_t *freeptr           # the word inside each slot: while the object is
                               # free, its free pointer (next free index or
                               # FREE_NONE); while live, OBJ_LIVE
    # lists
    int32_t partial_head, partial_tail, nr_partial
    int32_t full_head, full_tail, nr_full
    int32_t *free_ids          # stack of unused sids
    int32_t nr_free_ids
    int32_t *reserve           # new slabs taken from the page source, not yet
    int32_t nr_reserve         #   used: reserve[nr_reserve - 1] is used next
    pfn_t *discard_pfn         # first pfns of discarded slabs, pages still to
    int32_t nr_discard         #   return to the page source (in this order)
    # pfn -> sid map over [map_base, map_base + map_len)
    pfn_t map_base
    intp_t map_len
    int32_t *pfn_map           # sid owning the page, -1 if none
    # counters
    count_t nr_slabs
    count_t inuse_objects
    count_t total_objects

# Take one object for `cpu`; SLAB_ENOSLAB when a new slab is needed (none on
# the partial list or in the reserve).
cdef int slab_alloc_obj(slab_cache_t *s, intp_t cpu, addr_t *out) noexcept nogil
# Locate the live object at addr: SLAB_OK and its sid / index, or an error code.
cdef int slab_check_obj(slab_cache_t *s, addr_t addr, int32_t *sid, int32_t *idx) noexcept nogil
# Free the object at addr (checked first: on error nothing changes).
cdef int slab_free_obj(slab_cache_t *s, addr_t addr) noexcept nogil
# Make the (already mapped) slab `sid` the cpu slab of `cpu` with every object free.
cdef void slab_install(slab_cache_t *s, intp_t cpu, int32_t sid) noexcept nogil
# Map a new slab at pfn (map must cover it) into the reserve; -1 (nothing
# changed) if a page of it already belongs to this cache or no sid is free.
cdef int slab_reserve(slab_cache_t *s, pfn_t pfn, uint32_t colour) except -1 nogil
# Move cpu's slab to the partial or full list (or queue it for discard).
cdef void slab_deactivate(slab_cache_t *s, intp_t cpu) noexcept nogil


# The Python class, for C users: ``cache.c_cache()`` is its state.  In a
# nogil loop call slab_alloc_obj / slab_free_obj on it; when slab_alloc_obj
# says SLAB_ENOSLAB, leave the loop and call ``cache.alloc()`` (which takes a
# slab from the page source); after frees, ``cache.drain()`` gives the pages
# of discarded slabs (s.nr_discard > 0) back to the page source.
cdef class SlabCache:
    cdef slab_cache_t c
    cdef readonly str name
    cdef readonly object page_source
    cdef readonly int object_size
    cdef readonly int align
    cdef readonly int offset
    cdef readonly int colour_off
    cdef readonly int colour
    cdef readonly bint colouring
    cdef int colour_next
    cdef dict _arr
    cdef dict _ctor
    cdef slab_cache_t *c_cache(self) noexcept
    cdef _bind(self)
