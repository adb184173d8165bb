# C contract of the cache engine: one set-associative level (``level_t``)
# and a hierarchy of levels (``hier_t``) driven one access at a time.
#
# Other kernels (TLB, MMU page walks) ``cimport memcore.cache`` (or
# ``memcore.hierarchy``) and push accesses through a hierarchy with
# ``hier_access``; they get the ``hier_t*`` of a Python object as
# ``&hierarchy_obj.h`` (``memcore.hierarchy.Hierarchy``) or
# ``&cache_obj.solo`` (a single ``Cache`` with memory below it).
#
# Glossary
#   line      address >> line_bits: the number of a cache line (64 bits)
#   set       line & set_mask; its ways are slots set*ways .. set*ways+ways-1
#   slot      index of one way in the flat tags/repl/dirty arrays
#   repl      per-slot replacement state: a use/fill stamp (LRU, MRU, FIFO),
#             a 2-bit RRPV (SRRIP), or tree bits (PLRU: node k of a set's
#             tree lives in slot set*ways+k, k = 1..ways-1)
#   clock     per-level counter that produces the stamps
#
# Invariants: an invalid way holds tag INVALID_TAG (line_size >= 2 makes it
# impossible as a real line number) and dirty 0; a way is valid exactly when
# its tag is not INVALID_TAG (there is no separate valid bit to keep: one
# host line less to touch per set on a fill).  All indices used
# by these functions are derived from masks over validated geometry, so no
# input address can reach outside the arrays.

from memcore._typedefs cimport intp_t, uint8_t, uint32_t, uint64_t, addr_t, count_t
from memcore.access cimport access_t

cdef enum:
    MAX_LEVELS = 16

# Replacement policies (index into memcore.cache.POLICIES).
cdef enum:
    POL_LRU = 0
    POL_FIFO = 1
    POL_RANDOM = 2
    POL_PLRU = 3
    POL_MRU = 4
    POL_SRRIP = 5

# A level's relation to the levels above it.
cdef enum:
    INC_NON = 0
    INC_INCLUSIVE = 1
    INC_EXCLUSIVE = 2

# Counting / semantic modes (index into memcore.hierarchy.COMPAT_MODES).
cdef enum:
    COMPAT_DEFAULT = 0
    COMPAT_PYCACHESIM = 1
    COMPAT_CACHEGRIND = 2
    COMPAT_DINERO = 3

# Primitive per-level counters (the reported ones are sums of these).
cdef enum:
    S_RECORDS = 0       # trace records that reached the level
    S_IHITS = 1         # instruction-fetch line accesses that hit
    S_IMISSES = 2
    S_RHITS = 3         # data load line accesses (incl. fetches from above)
    S_RMISSES = 4
    S_WHITS = 5         # store line accesses (incl. write-backs from above)
    S_WMISSES = 6
    S_FILLS = 7         # lines installed
    S_CLEAN_EV = 8      # valid clean lines displaced by a fill
    S_DIRTY_EV = 9      # valid dirty lines displaced by a fill
    S_WRITEBACKS = 10   # writes sent to the next level (see the guide)
    S_INVALIDATIONS = 11
    S_DIRTY_AT_END = 12
    S_PLOADS = 13       # pycachesim LOAD calls
    S_PSTORES = 14      # pycachesim STORE calls
    N_STATS = 15

# Per-level control words (kept in a numpy array so state is checkpointable).
cdef enum:
    CTL_CLOCK = 0
    CTL_RNG = 1
    CTL_LAST_REC = 2
    N_CTL = 3

# Whole-hierarchy counters.
cdef enum:
    G_RECORDS = 0       # records processed (every kind)
    G_INSTRUCTIONS = 1  # instruction-fetch records
    G_SKIPPED = 2       # instruction records skipped (no instruction cache)
    G_FLUSHES = 3       # flush records (kind 4)
    G_MEM_READS = 4     # line fetches (or references, cachegrind) reaching memory
    G_MEM_WRITES = 5    # writes reaching memory
    N_GSTATS = 6

cdef extern from *:
    """
    #define MEMCORE_INVALID_TAG (~(unsigned long long)0)
    """
    const uint64_t INVALID_TAG "MEMCORE_INVALID_TAG"

ctypedef struct level_t:
    uint64_t* tags      # [sets*ways] line numbers, INVALID_TAG when invalid
    uint64_t* repl      # [sets*ways] replacement state (see glossary)
    uint8_t* dirty      # [sets*ways]
    count_t* st         # [N_STATS] counters
    uint64_t* ctl       # [N_CTL] clock, rng state, last record id
    intp_t sets
    intp_t ways
    uint64_t set_mask   # sets - 1
    uint32_t line_bits
    uint32_t plru_depth # log2(ways) for PLRU
    int policy
    int write_back
    int write_allocate

ctypedef struct hier_t:
    level_t* lv[MAX_LEVELS]     # levels; index n_levels means memory
    int next[MAX_LEVELS]        # level below each level (n_levels = memory)
    int incl[MAX_LEVELS]        # INC_* of each level
    int n_up[MAX_LEVELS]        # number of levels whose path passes through
    int up[MAX_LEVELS][MAX_LEVELS]  # ... and their indices
    int order[MAX_LEVELS]       # levels top-down (each before its next)
    int n_levels
    int data_entry              # level data records enter
    int inst_entry              # level instruction fetches enter, -1: skip
    int compat                  # COMPAT_*
    uint32_t line_bits          # common line size of the hierarchy
    count_t* gst                # [N_GSTATS]
    uint64_t cur                # id of the record being processed (0: none)
    # Derived: every level LRU, write-back, write-allocate and non-inclusive
    # in the default or dinero mode, so misses take the specialised path
    # (set by hier_prepare; never changes a result).
    int all_lru

# ---- one level ---------------------------------------------------------

# Slot holding `line`, or -1.
cdef intp_t level_lookup(level_t* L, uint64_t line) noexcept nogil
# Update replacement state for a hit (fill=0) or a fill (fill=1) of `slot`.
cdef void level_touch(level_t* L, intp_t slot, bint fill) noexcept nogil
# Slot to fill for `line`: the lowest invalid way of its set, else the
# policy's victim (may change replacement state: SRRIP ageing, RNG draw).
cdef intp_t level_victim(level_t* L, uint64_t line) noexcept nogil
# Invalidate one slot (tag, valid, dirty and replacement state).
cdef void level_invalidate(level_t* L, intp_t slot) noexcept nogil

# ---- a hierarchy -------------------------------------------------------

# One access record (addr, size bytes, kind KIND_*) through the hierarchy,
# with h.compat's semantics and counting.  Returns the index of the deepest
# level that served it (h.n_levels = memory); a flush record (KIND_FLUSH)
# or a skipped instruction returns -1.  Never fails: callers validate kind
# (0..4) beforehand; size 0 is read as 1.
cdef int hier_access(hier_t* h, addr_t addr, uint32_t size, uint8_t kind) noexcept nogil
# Write every dirty line back, level by level top-down (and invalidate
# every line when `invalidate`).
cdef void hier_flush(hier_t* h, bint invalidate) noexcept nogil
# Run `n` validated records (kinds 0..4) through the hierarchy.
cdef void hier_run(hier_t* h, const access_t* tr, intp_t n) noexcept nogil
# Validate a trace array (Python object) and run it with the GIL released;
# raises ValueError (nothing run) on a bad record.
cdef int run_trace(hier_t* h, object trace) except -1
# Number of dirty lines in one level.
cdef count_t level_count_dirty(level_t* L) noexcept nogil
# A hint: start loading, on the host, the state of the sets that an access
# of `kind` at `addr` will look up below its entry level.  Changes nothing
# in the model.
cdef void hier_prefetch(hier_t* h, addr_t addr, uint8_t kind) noexcept nogil
# Derive the fields of `h` that follow from its levels (``all_lru``): call
# once the levels, links and mode are set, before the first access.
cdef void hier_prepare(hier_t* h) noexcept nogil


cdef class Cache:
    cdef level_t lv
    cdef hier_t solo            # this level alone, with memory below
    cdef readonly object tags, repl, dirty, counters, ctl, gstats
    cdef readonly str name, policy
    cdef readonly intp_t size, line_size, ways, sets
    cdef readonly bint write_back, write_allocate
    cdef readonly object seed
    cdef _bind(self)
