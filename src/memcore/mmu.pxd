# The C contract of the translation pipeline (``memcore.mmu``).
#
# One translation: look the address up in the TLB levels (from the entry
# level for its kind, following ``tlb_next``); on a hit check the rights held
# in the entry; on a miss everywhere look the upper levels up in the page-walk
# caches (the deepest cached level first), walk the page table from there,
# send every entry the walker reads through the data caches (when
# configured), fill the walk caches and every TLB level that missed.  A fault
# (from the rights of a TLB entry or from the walk) invalidates the TLB and
# walk-cache entries used for the address, as x86 does, and is returned.
#
# The state points into objects owned by ``memcore.mmu.MMU`` (TLB levels,
# walk caches, page tables, the hierarchy) and its numpy statistics.

from memcore._typedefs cimport intp_t, addr_t, pfn_t, count_t, uint8_t, uint16_t, uint32_t, uint64_t
from memcore.tlb cimport tlb_t
from memcore.pagetable cimport pt_state_t, walk_result_t
from memcore.cache cimport hier_t

cdef enum:
    MMU_MAX_TLBS = 8            # TLB levels in one MMU
    MMU_MAX_LEVEL = 5           # page-table levels (1 = PT .. 5 = PML5)
    MMU_MAX_SERVED = 17         # cache levels + memory a walk reference can be served by

# Indices into the statistics array.
cdef enum:
    MMU_STAT_TRANSLATIONS = 0   # translations asked for (one per page per access)
    MMU_STAT_WALKS = 1          # page walks started (faulting ones included)
    MMU_STAT_PWC_HITS = 2       # walks that started below the root from a walk cache
    MMU_STAT_WALK_REFS = 3      # paging-structure entries the walks read
    MMU_STAT_DIRTY_WALKS = 4    # walks made to set a dirty bit (store hitting a clean entry)
    MMU_STAT_FAULTS = 5         # faults returned (#PF and #GP)
    MMU_STAT_SERVED = 6         # + i: walk references served by cache level i (n_levels: memory)
    MMU_N_STATS = 6 + MMU_MAX_SERVED

# Outcome codes (as in memcore.pagetable).
cdef enum:
    MMU_OK = 0
    MMU_PF = 1
    MMU_GP = 2

# A cache-hierarchy operation of a batch run (``MMU.run``): a walker
# reference, a record's physical piece or a flush.  While a quarter or more
# of them miss their entry level, the translations of a stretch of records
# are made first and the operations they produce are then sent to the
# hierarchy in the same order, the sets of those ahead prefetched; while
# fewer miss, each is sent at once.  Translation never depends on the
# caches, so the counts are those of sending each at once.
cdef enum:
    HOP_DATA = 0        # a record's (first) physical piece, or a flush record
    HOP_PIECE = 1       # the piece on the next page of the same record
    HOP_WALK = 2        # a paging-structure entry read by the walker
    HOP_QUEUE = 1024    # operations held at most

ctypedef struct hop_t:
    addr_t addr
    uint32_t size
    uint8_t kind
    uint8_t what        # HOP_*

# The ring of a two-thread run (see "Two threads" in mmu.pyx): the
# translating thread fills chunks of operations and hands each over by
# counting it in ``produced``; the sending thread sends them in order and
# counts each one done in ``consumed``.  The two counters are only read and
# written through the atomic helpers of _ring.h; each sits on its own host
# line so that the threads do not share a line they write.
cdef enum:
    RING_CHUNKS = 8     # chunks of HOP_QUEUE operations in the ring

cdef extern from "memcore/_ring.h" nogil:
    # Where a waiting thread sleeps (a mutex and a condition variable).
    ctypedef struct memcore_ring_sync:
        pass

ctypedef struct ring_t:
    intp_t produced             # chunks handed over (the translating thread writes)
    intp_t _pad1[7]
    intp_t consumed             # chunks sent (the sending thread writes)
    intp_t _pad2[7]
    intp_t done                 # 1: no chunk will follow the last one handed over
    intp_t count[RING_CHUNKS]   # operations in each chunk
    hop_t* bufs                 # RING_CHUNKS * HOP_QUEUE operations
    void* thread                # the sending thread
    memcore_ring_sync sync      # where either thread sleeps while it waits for the other
    # The hierarchy the sending thread sends to (copied from the MMU before
    # it starts, so that it never reads the mmu_t the translating thread
    # keeps writing; a walk reference carries its size in its hop_t).
    hier_t* hier
    # The sending thread's own: whether it prefetches ahead (judged on each
    # chunk, as _drain judges a stretch) and the walk references served at
    # each level (added to the MMU's counters when the run ends, so that the
    # threads never write one host line).
    bint prefetch
    count_t served[MMU_MAX_SERVED]

ctypedef struct mmu_t:
    tlb_t* tlb[MMU_MAX_TLBS]
    int tlb_next[MMU_MAX_TLBS]  # level below each TLB level, -1: the walker
    int ntlbs
    int data_entry              # first level for loads and stores, -1: walk every time
    int inst_entry              # first level for instruction fetches, -1: walk every time
    tlb_t* pwc[MMU_MAX_LEVEL + 1]   # walk cache of the entries at each level, NULL if none
    pt_state_t* pt              # page table of the current address space
    uint32_t asid               # current ASID (PCID)
    hier_t* hier                # the caches MMU.run sends the physical accesses to (NULL: none)
    bint walk_refs              # walker references go through hier too (else counted only)
    int entry_size              # bytes the walker reads per entry
    count_t* stats
    # Runs of hits on one entry of an entry level (DTLB, ITLB, TLB), answered
    # without the TLB call: entry, 4 KiB page and ASID of the run, and the
    # hits not yet added to the counters (mmu_sync adds them).  A run is
    # valid while the level still remembers that entry as its last hit.
    intp_t run_entry[MMU_MAX_TLBS]
    uint64_t run_page[MMU_MAX_TLBS]
    uint32_t run_asid[MMU_MAX_TLBS]
    count_t run_count[MMU_MAX_TLBS]
    # During a batch run: the queue of held hierarchy operations (NULL
    # outside a run: walker references go straight through) and its length;
    # whether operations are being queued; and, while they are sent at once,
    # how many have been and how many of those missed their entry level.
    # The mode carries over from one run to the next.
    hop_t* queue
    intp_t nqueue
    bint queueing
    intp_t win_ops
    intp_t win_misses
    # The levels that can have a run (data_entry, inst_entry; 0 for none: its
    # run_count stays 0), so that a translation checks two counts, not every
    # level, before it syncs.
    int run_level[2]
    # Two-thread runs: wanted (threads > 1) and, during one, its ring (NULL:
    # the operations are sent by the translating thread).
    int threads
    ring_t* ring
    # Records a run sends on one thread before it starts the second (and at
    # least as many must be left): _SPAWN_AFTER, smaller in tests.
    intp_t spawn_after

# Result of one translation.
ctypedef struct mmu_result_t:
    addr_t pa
    uint32_t error_code         # x86 #PF error code on MMU_PF
    uint8_t shift               # page size of the translation (log2)

# Translate `va` for `access` (pagetable ACCESS_READ / WRITE / EXEC) at
# privilege `cpl` in the current address space.  Returns MMU_OK, MMU_PF or
# MMU_GP and fills `out`.
cdef int mmu_translate(mmu_t* m, addr_t va, uint8_t access, uint8_t cpl, mmu_result_t* out) noexcept nogil

# Add the hits of the current runs to the counters (and LRU stamps) of the
# TLB levels; done before anything else touches a level and at the end of
# every batch, so counters are exact whenever Python can see them.
cdef void mmu_sync(mmu_t* m) noexcept nogil

# INVLPG: invalidate the translations of `va` in every TLB level (current
# ASID and global entries) and every walk-cache entry of the current ASID
# (the SDM: INVLPG empties the paging-structure caches for the current PCID
# whatever the address).
cdef void mmu_invlpg(mmu_t* m, addr_t va) noexcept nogil
