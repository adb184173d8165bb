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

# One step of a search: the sets of one array for one page size.
ctypedef struct tlb_plan_t:
    intp_t first        # the array's first entry
    intp_t ways
    uint64_t nsets
    uint64_t set_mask   # nsets - 1 when nsets is a power of two, else 0 (use %)
    uint32_t lanes      # (1 << ways) - 1 when ways <= 16 (one tag compare a set), else 0
    int shift

cdef enum:
    TLB_MAX_PLAN = 46   # page sizes 2**12 .. 2**57, each held by one array

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
    # Derived state, kept with the entries by every operation below and
    # rebuilt from them on restore (see _tlbfast.h): a tag byte per entry, 0
    # for a free way, else a hash of (vpn, shift) with the top bit set, so
    # that one byte compare finds the ways that may map a page and the free
    # ways; and for LRU and FIFO levels of at most 64 ways, the rank of each
    # way in its set by stamp (0: the oldest, the victim), NULL otherwise.
    # Both arrays are padded with 16 bytes for whole-vector loads.
    uint8_t* tags
    uint8_t* ranks
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
    # The last search that missed, for the fill that usually follows it:
    # nothing maps 4 KiB page ``miss_page`` for ``miss_asid`` (nor globally)
    # at any size of the plan (``miss_valid`` 0: nothing remembered).
    # Forgotten, as the memo above, by every insert, flush and restore.
    # Derived state: it only saves the fill's search, never changes a result.
    bint miss_valid
    uint64_t miss_page
    uint32_t miss_asid
    # Bit s set: the level may hold a valid entry of page size 1 << s (a
    # superset: set by every fill, recomputed when a flush scans the pool).
    # Derived state: searches skip the sizes it rules out, nothing more.
    uint64_t live_shifts
    # The search plan: the (array, page size) steps a lookup takes, in order
    # (arrays in order, sizes from the smallest), for the sizes in
    # live_shifts.  Derived state, rebuilt whenever live_shifts changes.
    int nplan
    tlb_plan_t plan[TLB_MAX_PLAN]
    # Whether a fill of the plan's first page size right after a miss may
    # take tlb_fill_missed: the plan has a step, its sets have at most 16
    # ways and are found by a mask, and the level keeps ranks.  Derived
    # with the plan, so that the fill tests one flag, not each condition.
    bint quick_fill


# The set scans (C, SSE2 where available): tags, ranks, bit scans.
cdef extern from "memcore/_tlbfast.h" nogil:
    const int TLB_PAD "MEMCORE_TLB_PAD"
    int memcore_tlb_ctz64(unsigned long long x)
    int memcore_tlb_msb64(unsigned long long x)
    uint8_t memcore_tlb_tag(uint64_t vpn, int shift)
    uint32_t memcore_bytes_eq(const uint8_t* p, intp_t n, uint8_t b)
    uint32_t memcore_bytes_eq_in(const uint8_t* p, uint32_t lanes, uint8_t b)
    void memcore_bytes_eq2(const uint8_t* p, intp_t n, uint8_t b, uint32_t* same, uint32_t* zero)
    void memcore_rank_newest(uint8_t* r, intp_t n, intp_t w)
    intp_t memcore_rank_oldest(const uint8_t* r, intp_t n)


# The set of array ``arr`` that holds page ``vpn`` (a mask when the number of
# sets is a power of two).
cdef inline intp_t tlb_set_of(const tlb_array_t* arr, uint64_t vpn) noexcept nogil:
    cdef uint64_t n = <uint64_t>arr.nsets
    if (n & (n - 1)) == 0:
        return <intp_t>(vpn & (n - 1))
    return <intp_t>(vpn % n)


# Forget the remembered last hit and last miss (the entries are changing).
cdef inline void tlb_forget(tlb_t* t) noexcept nogil:
    t.memo_entry = -1
    t.miss_valid = False


# The first of the ways ``base + i`` (bit i set in ``m``: their tag matches)
# whose entry maps page ``vpn`` at size 1 << s for ``asid`` (or globally); -1
# if none.  A free way's tag is 0, so every candidate is a valid entry.
cdef inline intp_t tlb_first_match(const tlb_t* t, intp_t base, uint32_t m, uint64_t vpn, int s,
                                   uint32_t asid) noexcept nogil:
    cdef intp_t i
    cdef const tlb_entry_t* e
    while m:
        i = base + memcore_tlb_ctz64(m)
        m &= m - 1
        e = &t.entries[i]
        if e.vpn == vpn and e.shift == s and ((e.flags & TLB_GLOBAL) or e.asid == asid):
            return i
    return -1


# The first way of the set at entry ``first`` (``ways`` ways; ``lanes`` the
# mask of its ways if at most 16, else 0) that maps page ``vpn`` at size
# 1 << s for ``asid``; -1 if none.
cdef inline intp_t tlb_find_in_set(const tlb_t* t, intp_t first, intp_t ways, uint32_t lanes, uint64_t vpn,
                                   int s, uint32_t asid) noexcept nogil:
    cdef intp_t base, i, end = first + ways
    cdef uint8_t tag = memcore_tlb_tag(vpn, s)
    if lanes:
        # the usual set: one compare
        return tlb_first_match(t, first, memcore_bytes_eq_in(t.tags + first, lanes, tag), vpn, s, asid)
    for base in range(first, end, 16):
        i = tlb_first_match(t, base, memcore_bytes_eq(t.tags + base, 16 if end - base > 16 else end - base, tag),
                            vpn, s, asid)
        if i >= 0:
            return i
    return -1


# The first valid entry translating ``vaddr`` for ``asid`` (arrays in order,
# page sizes from the smallest, ways in order), -1 if none; ``*first`` is the
# first entry of its set, ``*step`` the plan step that found it.
cdef inline intp_t tlb_find(const tlb_t* t, addr_t vaddr, uint32_t asid, intp_t* first,
                            int* step) noexcept nogil:
    cdef intp_t i, f
    cdef int k
    cdef uint64_t vpn
    cdef const tlb_plan_t* p
    for k in range(t.nplan):
        p = &t.plan[k]
        vpn = vaddr >> p.shift
        f = p.first + p.ways * (<intp_t>(vpn & p.set_mask) if p.set_mask or p.nsets == 1
                                else <intp_t>(vpn % p.nsets))
        i = tlb_find_in_set(t, f, p.ways, p.lanes, vpn, p.shift, asid)
        if i >= 0:
            first[0] = f
            step[0] = k
            return i
    return -1


# Point every node of a set's PLRU tree on the path to ``way`` away from it.
cdef inline void tlb_plru_touch(tlb_t* t, const tlb_array_t* arr, intp_t set_, intp_t way) noexcept nogil:
    cdef uint8_t* tree = t.plru + arr.plru_first + set_ * (arr.ways - 1)
    cdef intp_t node = 0
    cdef int level = memcore_tlb_msb64(<uint64_t>arr.ways) - 1
    cdef intp_t bit
    while level >= 0:
        bit = (way >> level) & 1
        tree[node] = <uint8_t>(1 - bit)
        node = 2 * node + 1 + bit
        level -= 1


# Replacement update for a hit (or an in-place refill) of entry ``i`` of the
# set whose way 0 is entry ``first`` (``ways`` ways).
cdef inline void tlb_touch(tlb_t* t, intp_t first, intp_t ways, intp_t i) noexcept nogil:
    cdef const tlb_array_t* arr
    if t.policy == TLB_LRU:
        t.regs[TLB_REG_CLOCK] += 1
        t.entries[i].stamp = t.regs[TLB_REG_CLOCK]
        if t.ranks != NULL:
            memcore_rank_newest(t.ranks + first, ways, i - first)
    elif t.policy == TLB_PLRU:
        arr = &t.arrays[t.entries[i].array]
        tlb_plru_touch(t, arr, (first - arr.first) // arr.ways, i - first)


# Write a translation into way ``victim`` of the set whose way 0 is entry
# ``first`` (``ways`` ways) and make it the set's newest: the entry (page
# ``vpn`` at size ``1 << s``, filled from a page of ``1 << orig``; ``flags``
# with TLB_VALID), its tag, its stamp and rank or PLRU bits.  Counts the fill.
cdef inline void tlb_install(tlb_t* t, intp_t first, intp_t ways, intp_t victim, uint64_t vpn, pfn_t pfn,
                             uint32_t asid, int s, int orig, uint8_t flags, uint8_t tag) noexcept nogil:
    cdef intp_t i = first + victim
    cdef tlb_entry_t* e = &t.entries[i]
    cdef const tlb_array_t* arr
    e.vpn = vpn
    e.pfn = pfn
    e.asid = asid
    e.shift = <uint8_t>s
    e.orig_shift = <uint8_t>orig
    e.flags = flags
    e.array = <uint8_t>t.array_of_shift[s]
    t.tags[i] = tag
    if t.policy == TLB_LRU or t.policy == TLB_FIFO:
        t.regs[TLB_REG_CLOCK] += 1
        e.stamp = t.regs[TLB_REG_CLOCK]
        if t.ranks != NULL:
            memcore_rank_newest(t.ranks + first, ways, victim)
    else:
        e.stamp = 0
        if t.policy == TLB_PLRU:
            arr = &t.arrays[e.array]
            tlb_plru_touch(t, arr, (first - arr.first) // arr.ways, victim)
    t.stats[TLB_STAT_FILLS] += 1


# Look ``vaddr`` up for ``asid``: 1 and ``*hit`` filled on a hit, 0 on a miss.
# Counts the access and updates the replacement state.  The search of the
# level, for when the remembered last hit does not answer (see tlb_lookup).
cdef inline int tlb_search(tlb_t* t, addr_t vaddr, uint32_t asid, tlb_hit_t* hit) noexcept nogil:
    cdef intp_t first = 0
    cdef int step = 0
    cdef intp_t i = tlb_find(t, vaddr, asid, &first, &step)
    t.stats[TLB_STAT_ACCESSES] += 1
    if i < 0:
        t.stats[TLB_STAT_MISSES] += 1
        t.miss_valid = True
        t.miss_page = vaddr >> 12
        t.miss_asid = asid
        return 0
    t.memo_entry = i
    t.memo_page = vaddr >> 12
    t.memo_asid = asid
    t.stats[TLB_STAT_HITS] += 1
    tlb_touch(t, first, t.plan[step].ways, i)
    hit.entry = i
    hit.pfn = t.entries[i].pfn
    hit.shift = t.entries[i].shift
    hit.flags = t.entries[i].flags
    return 1


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

# tlb_insert without the shortcut below (any page, any level).
cdef int tlb_insert_any(tlb_t* t, addr_t vaddr, uint32_t asid, int shift, pfn_t pfn,
                        uint8_t flags) noexcept nogil


cdef inline int tlb_fill_missed(tlb_t* t, addr_t vaddr, uint32_t asid, int s, pfn_t pfn,
                                uint8_t flags) noexcept nogil:
    # tlb_insert of a non-global page the last search missed (same page and
    # ASID), at the size of the plan's first step, whose sets have at most 16
    # ways: that search found no entry to refill in place (for a non-global
    # fill the same ones a lookup matches), so the fill takes the lowest free
    # way of the set, else the oldest by rank.
    cdef const tlb_plan_t* p = &t.plan[0]
    cdef uint64_t vpn = vaddr >> s
    cdef intp_t first = p.first + p.ways * <intp_t>(vpn & p.set_mask)
    cdef uint32_t free_ = memcore_bytes_eq_in(t.tags + first, p.lanes, 0)
    cdef intp_t victim
    tlb_forget(t)
    if free_:
        victim = memcore_tlb_ctz64(free_)
    else:
        victim = memcore_rank_oldest(t.ranks + first, p.ways)
        t.stats[TLB_STAT_EVICTIONS] += 1
    tlb_install(t, first, p.ways, victim, vpn, pfn, asid, s, s, (flags | TLB_VALID) & TLB_FLAG_MASK,
                memcore_tlb_tag(vpn, s))
    return s


# Insert the translation of ``vaddr`` (page of size ``1 << shift`` at 4 KiB
# frame ``pfn``, aligned to the page) with ``flags``.  Stores it at the largest
# page size the level holds that is no larger (fracturing a larger page);
# returns the shift stored, or -1 if the level holds no page size that small.
# Inline for the usual case, the fill right after a lookup of the page missed
# (see miss_valid), so that it costs the MMU no call.
cdef inline int tlb_insert(tlb_t* t, addr_t vaddr, uint32_t asid, int shift, pfn_t pfn,
                           uint8_t flags) noexcept nogil:
    if (t.miss_valid and t.quick_fill and shift == t.plan[0].shift and (vaddr >> 12) == t.miss_page
            and asid == t.miss_asid and not (flags & TLB_GLOBAL)):
        return tlb_fill_missed(t, vaddr, asid, shift, pfn, flags)
    return tlb_insert_any(t, vaddr, asid, shift, pfn, flags)


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
    cdef object _tags
    cdef object _ranks
    cdef readonly object arrays
    cdef readonly tuple geometry
    cdef readonly str policy
    cdef readonly object seed
    cdef object _plru
    cdef object _regs
    cdef object _stats
    cdef void _bind(self)
    cdef object _search(self, vaddr, asid, bint count)
