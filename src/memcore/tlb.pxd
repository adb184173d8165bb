# The C contract of one TLB level (``memcore.tlb``).
#
# A level is one or more *arrays* (real L1 dTLBs have one array per page size,
# an STLB may share one array between 4 KiB and 2 MiB pages); each array is
# set-associative and holds a set of page sizes.  Every entry is tagged with
# (ASID/PCID, virtual page number, page size) and the global bit and carries
# the translation: the 4 KiB frame number of the page's base and the
# permission bits.  The whole state lives in numpy arrays owned by the Python
# object ``memcore.tlb.TLB``; ``tlb_t`` only points into them, so other kernels
# (the MMU) drive a level through these functions without touching Python.
#
# Glossary: ``shift`` is log2 of a page size (12 for 4 KiB, 21 for 2 MiB, 30
# for 1 GiB); ``vpn`` is ``vaddr >> shift``; ``pfn`` is always in 4 KiB frames
# (as in an x86 PTE), so ``paddr = pfn << 12 | vaddr & (1 << shift) - 1``.

from memcore._typedefs cimport intp_t, addr_t, pfn_t, count_t, int8_t, uint8_t, uint16_t, uint32_t, uint64_t

# Entry flag bits.  VALID is internal; the others are the translation's
# permissions and state as read from the paging-structure entries.
cdef enum:
    TLB_VALID = 0x01
    TLB_RW = 0x02       # writable (x86 R/W)
    TLB_US = 0x04       # user-accessible (x86 U/S)
    TLB_NX = 0x08       # no instruction fetch (x86 XD/NX)
    TLB_DIRTY = 0x10    # the page's D bit was set when the entry was filled
    TLB_GLOBAL = 0x20   # x86 G: survives CR3 writes, matches every ASID
    TLB_FLAG_MASK = 0x3F

# Replacement policies.
cdef enum:
    TLB_LRU = 0
    TLB_FIFO = 1
    TLB_RANDOM = 2
    TLB_PLRU = 3        # tree pseudo-LRU, ways a power of two

# Indices into the statistics array.
cdef enum:
    TLB_STAT_ACCESSES = 0
    TLB_STAT_HITS = 1
    TLB_STAT_MISSES = 2
    TLB_STAT_FILLS = 3          # entries written into an invalid or victim way
    TLB_STAT_EVICTIONS = 4      # valid entries displaced by a fill
    TLB_STAT_INVALIDATIONS = 5  # valid entries removed by flushes
    TLB_STAT_FRACTURES = 6      # fills that stored a piece of a larger page
    TLB_N_STATS = 7

# Indices into the register array (replacement and bookkeeping state).
cdef enum:
    TLB_REG_CLOCK = 0       # last LRU/FIFO stamp handed out
    TLB_REG_RNG = 1         # splitmix64 state of the random policy
    TLB_REG_FRACTURED = 2   # fills that fractured a page, ever (not reset with the statistics)
    TLB_N_REGS = 3

ctypedef struct tlb_entry_t:
    uint64_t vpn        # vaddr >> shift
    uint64_t pfn        # 4 KiB frame number of the page base
    uint64_t stamp      # LRU: last use; FIFO: fill time (from the level's clock)
    uint32_t asid       # ASID / PCID of the address space that filled it
    uint8_t shift       # log2 of the page size this entry maps
    uint8_t orig_shift  # log2 of the page size in the page tables (> shift if fractured)
    uint8_t flags       # TLB_* bits; TLB_VALID clear = free way
    uint8_t array       # index of the array holding the entry

ctypedef struct tlb_array_t:
    intp_t first        # index in the entry pool of way 0 of set 0
    intp_t nsets
    intp_t ways
    intp_t plru_first   # index in the PLRU bit pool of set 0's tree (ways - 1 nodes a set)
    uint64_t shifts     # bit s set: the array holds pages of size 1 << s

# Result of a hit.
ctypedef struct tlb_hit_t:
    pfn_t pfn           # 4 KiB frame of the page base
    intp_t entry        # index of the entry in the pool
    uint8_t shift
    uint8_t flags

# One level: pointers into the numpy arrays of the owning Python object.
ctypedef struct tlb_t:
    tlb_entry_t* entries
    intp_t nentries
    tlb_array_t* arrays
    intp_t narrays
    uint8_t* plru
    uint64_t* regs
    count_t* stats
    uint64_t shifts              # union of the arrays' shifts
    int8_t array_of_shift[64]    # array holding each shift, -1 if none
    int policy
    # The last lookup that hit: entry ``memo_entry`` is what a search for any
    # address of 4 KiB page ``memo_page`` by ``memo_asid`` finds, until the
    # next insert or flush changes the entries (-1: nothing remembered).
    # Derived state: it only saves the search, never changes a result.
    intp_t memo_entry
    uint64_t memo_page
    uint32_t memo_asid
    # Bit s set: the level may hold a valid entry of page size 1 << s (a
    # superset: set by every fill, recomputed when a flush scans the pool).
    # Derived state: searches skip the sizes it rules out, nothing more.
    uint64_t live_shifts


# Look ``vaddr`` up for ``asid``: 1 and ``*hit`` filled on a hit, 0 on a miss.
# Counts the access and updates the replacement state.  The search of the
# level, for when the remembered last hit does not answer (see tlb_lookup).
cdef int tlb_search(tlb_t* t, addr_t vaddr, uint32_t asid, tlb_hit_t* hit) noexcept nogil


# tlb_search, answered at once when the address is on the 4 KiB page (and
# ASID) of the last hit: defined here so that it inlines into the kernels
# that drive a TLB per access.  Every page size is a multiple of 4 KiB, so a
# search would find the same entry; touching it again changes nothing for
# FIFO, random and tree-PLRU (it was the last way touched) and restamps it
# for LRU.
cdef inline int tlb_lookup(tlb_t* t, addr_t vaddr, uint32_t asid, tlb_hit_t* hit) noexcept nogil:
    cdef intp_t i = t.memo_entry
    if i >= 0 and t.memo_page == (vaddr >> 12) and t.memo_asid == asid:
        t.stats[TLB_STAT_ACCESSES] += 1
        t.stats[TLB_STAT_HITS] += 1
        if t.policy == TLB_LRU:
            t.regs[TLB_REG_CLOCK] += 1
            t.entries[i].stamp = t.regs[TLB_REG_CLOCK]
        hit.entry = i
        hit.pfn = t.entries[i].pfn
        hit.shift = t.entries[i].shift
        hit.flags = t.entries[i].flags
        return 1
    return tlb_search(t, vaddr, asid, hit)

# Same search as tlb_lookup without counting or touching anything.
cdef int tlb_probe(const tlb_t* t, addr_t vaddr, uint32_t asid, tlb_hit_t* hit) noexcept nogil

# Insert the translation of ``vaddr`` (page of size ``1 << shift`` at 4 KiB
# frame ``pfn``, aligned to the page) with ``flags``.  Stores it at the largest
# page size the level holds that is no larger (fracturing a larger page);
# returns the shift stored, or -1 if the level holds no page size that small.
cdef int tlb_insert(tlb_t* t, addr_t vaddr, uint32_t asid, int shift, pfn_t pfn,
                    uint8_t flags) noexcept nogil

# Invalidate every entry (keep_global: all but the global ones, as a CR3
# write without PCID does).  Returns the number of entries invalidated.
cdef intp_t tlb_flush_all(tlb_t* t, bint keep_global) noexcept nogil

# Invalidate the non-global entries of ``asid`` (INVPCID single-context).
cdef intp_t tlb_flush_asid(tlb_t* t, uint32_t asid) noexcept nogil

# Invalidate the entries translating ``vaddr`` for ``asid`` at any page size,
# fractured pieces of a large page included, and (include_global) the global
# ones: INVLPG with include_global, INVPCID individual-address without.
cdef intp_t tlb_invlpg(tlb_t* t, addr_t vaddr, uint32_t asid, bint include_global) noexcept nogil


# The Python object that owns a level's arrays.  Other kernels take one and
# drive ``(<TLB>obj).c`` through the functions above.
cdef class TLB:
    cdef tlb_t c
    cdef object _entries
    cdef readonly object arrays
    cdef readonly tuple geometry
    cdef readonly str policy
    cdef readonly object seed
    cdef object _plru
    cdef object _regs
    cdef object _stats
    cdef void _bind(self)
    cdef object _search(self, vaddr, asid, bint count)
