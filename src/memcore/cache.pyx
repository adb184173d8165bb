"""One set-associative cache level, and the engine that runs hierarchies.

:class:`Cache` is one level (size, line size, associativity, replacement
policy, write policy) with main memory below it.  Its whole state lives in
numpy arrays (:attr:`Cache.tags`, :attr:`Cache.dirty`, ...) that the compiled
kernel reads and writes in place.  :mod:`memcore.hierarchy` composes several
levels with the same kernel; the C contract is in ``memcore/cache.pxd``.

The semantics (what is counted, when replacement state changes, where
write-backs go) are described in the user guide, *Cache semantics*.
"""
import numpy as np

cimport numpy as cnp

from memcore._typedefs cimport intp_t, uint8_t, uint32_t, uint64_t, addr_t, count_t
from memcore.access cimport (access_t, KIND_IFETCH, KIND_LOAD, KIND_STORE,
                             KIND_MODIFY, KIND_FLUSH, N_KINDS)

from memcore.access import ACCESS_DTYPE, LOAD
from memcore._hostmem import own_lines

cnp.import_array()

#: Replacement policies, in the order of their numeric ids.
POLICIES = ("lru", "fifo", "random", "plru", "mru", "srrip")

#: Names of the primitive per-level counters (columns of :attr:`Cache.counters`).
COUNTER_NAMES = ("records", "ifetch_hits", "ifetch_misses", "data_load_hits",
                 "data_load_misses", "store_hits", "store_misses", "fills",
                 "clean_evictions", "dirty_evictions", "writebacks",
                 "invalidations", "dirty_at_end", "load_calls", "store_calls")

_INVALID = np.uint64(0xFFFFFFFFFFFFFFFF)

cdef enum:
    _RRPV_MAX = 3       # SRRIP: distant re-reference (victim candidates)
    _RRPV_INSERT = 2    # SRRIP: value given to a newly filled line


# ---------------------------------------------------------------- one level

cdef extern from "memcore/_cachefast.h" nogil:
    # The way of `line` in a set of `ways` tags, or -1 (SSE2 compares for
    # 2, 4, 8 and 16 ways; see the header).
    intp_t _scan "mc_scan"(const uint64_t* tags, intp_t ways, uint64_t line)
    intp_t _scan8 "mc_scan8"(const uint64_t* tags, uint64_t line)
    # The first way with the smallest stamp of a set (LRU/FIFO victim).
    intp_t _oldest "mc_oldest"(const uint64_t* repl, intp_t ways)
    # _scan for the all-LRU miss path (AVX2 for 16 ways where the host has it).
    intp_t _find "mc_find"(const uint64_t* tags, intp_t ways, uint64_t line)
    # Let _oldest and _find use AVX2 where the host has it.
    void _cpu_init "mc_cpu_init"()
    intp_t _stamp_hits "mc_stamp_hits"(const void* r, intp_t n, const uint64_t* tags,
                                        uint64_t* repl, uint8_t* dirty, uint64_t set_mask,
                                        intp_t ways, unsigned bits, unsigned kmax,
                                        uint64_t* clk, uint64_t* stores, int* missed)
    ctypedef struct mc_lru_level_t:
        uint64_t* tags
        uint64_t* repl
        uint8_t* dirty
        uint8_t* valid
        uint64_t* st
        uint64_t* ctl
        uint64_t* gst
        uint64_t set_mask
        intp_t ways
        unsigned bits
    intp_t _lru_run "mc_lru_run"(const mc_lru_level_t* L, const void* r, intp_t n,
                                 uint64_t rec0, uint64_t* clk, uint64_t* stores,
                                 uint64_t* misses)
    unsigned _max_kind "mc_max_kind"(const void* r, intp_t n)
    void _prefetch_set "mc_prefetch_set"(const uint64_t* tags, const uint64_t* repl,
                                         const uint8_t* dirty, intp_t base, intp_t ways)
    enum:
        MC_S_RECORDS, MC_S_RMISSES, MC_S_WMISSES, MC_S_FILLS, MC_S_CLEAN_EV,
        MC_S_DIRTY_EV, MC_S_WRITEBACKS, MC_CTL_CLOCK, MC_CTL_LAST_REC,
        MC_G_MEM_READS, MC_G_MEM_WRITES

_cpu_init()

# The header's copy of the counter indices must be this module's.
assert (MC_S_RECORDS, MC_S_RMISSES, MC_S_WMISSES, MC_S_FILLS, MC_S_CLEAN_EV, MC_S_DIRTY_EV,
        MC_S_WRITEBACKS, MC_CTL_CLOCK, MC_CTL_LAST_REC, MC_G_MEM_READS, MC_G_MEM_WRITES) == (
        S_RECORDS, S_RMISSES, S_WMISSES, S_FILLS, S_CLEAN_EV, S_DIRTY_EV,
        S_WRITEBACKS, CTL_CLOCK, CTL_LAST_REC, G_MEM_READS, G_MEM_WRITES), "_cachefast.h"


cdef inline intp_t _lookup(level_t* L, uint64_t line) noexcept nogil:
    cdef intp_t base = <intp_t>(line & L.set_mask) * L.ways
    cdef intp_t w = _scan(L.tags + base, L.ways, line)
    return base + w if w >= 0 else -1


cdef inline void _plru_touch(level_t* L, intp_t slot) noexcept nogil:
    # Make every tree node on the way's path point away from it.
    cdef intp_t w = slot & (L.ways - 1)
    cdef uint64_t* tree = L.repl + (slot - w)
    cdef intp_t node = 1
    cdef intp_t b
    cdef int d = <int>L.plru_depth - 1
    while d >= 0:
        b = (w >> d) & 1
        tree[node] = b ^ 1
        node = 2 * node + b
        d -= 1


cdef inline void _touch(level_t* L, intp_t slot, bint fill) noexcept nogil:
    cdef int p = L.policy
    if p == POL_LRU or p == POL_MRU:
        L.ctl[CTL_CLOCK] += 1
        L.repl[slot] = L.ctl[CTL_CLOCK]
    elif p == POL_FIFO:
        if fill:
            L.ctl[CTL_CLOCK] += 1
            L.repl[slot] = L.ctl[CTL_CLOCK]
    elif p == POL_PLRU:
        _plru_touch(L, slot)
    elif p == POL_SRRIP:
        L.repl[slot] = _RRPV_INSERT if fill else 0


cdef inline uint64_t _splitmix64(uint64_t* state) noexcept nogil:
    cdef uint64_t z
    state[0] += <uint64_t>0x9E3779B97F4A7C15ULL
    z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline intp_t _victim(level_t* L, uint64_t line) noexcept nogil:
    cdef intp_t base = <intp_t>(line & L.set_mask) * L.ways
    cdef intp_t w, best = 0
    cdef uint64_t v, bestv
    cdef uint64_t* r = L.repl + base
    cdef int p = L.policy
    if p == POL_LRU or p == POL_FIFO:
        # Invalid ways carry stamp 0, below every valid stamp.
        return base + _oldest(r, L.ways)
    for w in range(L.ways):
        if L.tags[base + w] == INVALID_TAG:
            return base + w
    if p == POL_MRU:
        bestv = r[0]
        for w in range(1, L.ways):
            if r[w] > bestv:
                bestv = r[w]
                best = w
        return base + best
    if p == POL_RANDOM:
        return base + <intp_t>(_splitmix64(&L.ctl[CTL_RNG]) % <uint64_t>L.ways)
    if p == POL_PLRU:
        w = 1
        while w < L.ways:
            w = 2 * w + <intp_t>r[w]
        return base + (w - L.ways)
    # SRRIP: age every way until one reaches the distant RRPV; take the first.
    bestv = 0
    for w in range(L.ways):
        if r[w] > bestv:
            bestv = r[w]
    if bestv < _RRPV_MAX:
        v = _RRPV_MAX - bestv
        for w in range(L.ways):
            r[w] += v
    for w in range(L.ways):
        if r[w] == _RRPV_MAX:
            return base + w
    return base  # not reached


cdef inline void _invalidate(level_t* L, intp_t slot) noexcept nogil:
    L.tags[slot] = INVALID_TAG
    L.dirty[slot] = 0
    if L.policy == POL_LRU or L.policy == POL_FIFO or L.policy == POL_MRU:
        L.repl[slot] = 0
    elif L.policy == POL_SRRIP:
        L.repl[slot] = _RRPV_MAX
    # PLRU: repl holds tree nodes of the whole set, not this way's state.


cdef inline void _install(level_t* L, intp_t slot, uint64_t line, uint8_t dirty) noexcept nogil:
    L.tags[slot] = line
    L.dirty[slot] = dirty
    _touch(L, slot, 1)
    L.st[S_FILLS] += 1


cdef count_t level_count_dirty(level_t* L) noexcept nogil:
    cdef intp_t i
    cdef count_t n = 0
    for i in range(L.sets * L.ways):
        if L.tags[i] != INVALID_TAG and L.dirty[i]:
            n += 1
    return n


cdef intp_t level_lookup(level_t* L, uint64_t line) noexcept nogil:
    return _lookup(L, line)


cdef void level_touch(level_t* L, intp_t slot, bint fill) noexcept nogil:
    _touch(L, slot, fill)


cdef intp_t level_victim(level_t* L, uint64_t line) noexcept nogil:
    return _victim(L, line)


cdef void level_invalidate(level_t* L, intp_t slot) noexcept nogil:
    _invalidate(L, slot)


# ------------------------------------------------------------ hierarchy core

cdef inline void _count_rec(hier_t* h, level_t* L) noexcept nogil:
    if h.cur != 0 and L.ctl[CTL_LAST_REC] != h.cur:
        L.ctl[CTL_LAST_REC] = h.cur
        L.st[S_RECORDS] += 1


# -- default / dinero -------------------------------------------------------

cdef void _d_victim(hier_t* h, int xi, uint64_t line, uint8_t dirty) noexcept nogil:
    # A line evicted above enters exclusive level `xi` (victim fill).
    cdef level_t* X = h.lv[xi]
    cdef intp_t s = _lookup(X, line)
    if s >= 0:
        if dirty:
            X.dirty[s] = 1
        _touch(X, s, 0)
        return
    _d_fill(h, xi, line, dirty)


cdef intp_t _d_fill(hier_t* h, int li, uint64_t line, uint8_t dirty) noexcept nogil:
    # Install `line` in level li; the victim goes down after the install.
    cdef level_t* L = h.lv[li]
    cdef level_t* U
    cdef intp_t slot = _victim(L, line)
    cdef intp_t s
    cdef uint64_t vline = L.tags[slot]
    cdef uint8_t vd = 0
    cdef int k, nx
    if vline != INVALID_TAG:
        vd = L.dirty[slot]
        if vd:
            L.st[S_DIRTY_EV] += 1
        else:
            L.st[S_CLEAN_EV] += 1
        if h.incl[li] == INC_INCLUSIVE:
            for k in range(h.n_up[li]):
                U = h.lv[h.up[li][k]]
                s = _lookup(U, vline)
                if s >= 0:
                    vd |= U.dirty[s]
                    _invalidate(U, s)
                    U.st[S_INVALIDATIONS] += 1
    _install(L, slot, line, dirty)
    if vline != INVALID_TAG:
        nx = h.next[li]
        if nx < h.n_levels and h.incl[nx] == INC_EXCLUSIVE:
            if vd:
                L.st[S_WRITEBACKS] += 1
            _d_victim(h, nx, vline, vd)
        elif vd:
            L.st[S_WRITEBACKS] += 1
            _d_write(h, nx, vline, 1, 0)
    return slot


cdef int _d_read(hier_t* h, int li, uint64_t line, bint is_i, bint demand,
                 uint8_t* dirty_out) noexcept nogil:
    # A line read (demand load/fetch, or a fetch from the level above).
    cdef level_t* L
    cdef intp_t slot
    if li >= h.n_levels:
        h.gst[G_MEM_READS] += 1
        return li
    L = h.lv[li]
    _count_rec(h, L)
    slot = _lookup(L, line)
    if slot < 0:
        return _d_read_miss(h, L, li, line, is_i, demand, dirty_out)
    L.st[S_IHITS if is_i else S_RHITS] += 1
    if h.incl[li] == INC_EXCLUSIVE and not demand:
        # The line moves up: it leaves this level with its dirty bit.
        dirty_out[0] |= L.dirty[slot]
        _invalidate(L, slot)
        L.st[S_INVALIDATIONS] += 1
    else:
        _touch(L, slot, 0)
    return li


cdef int _d_read_miss(hier_t* h, level_t* L, int li, uint64_t line, bint is_i,
                      bint demand, uint8_t* dirty_out) noexcept nogil:
    cdef int served
    cdef uint8_t d = 0
    L.st[S_IMISSES if is_i else S_RMISSES] += 1
    if h.incl[li] == INC_EXCLUSIVE and not demand:
        return _d_read(h, h.next[li], line, is_i, 0, dirty_out)
    served = _d_read(h, h.next[li], line, is_i, 0, &d)
    _d_fill(h, li, line, d)
    return served


cdef int _d_write(hier_t* h, int li, uint64_t line, bint full, bint demand) noexcept nogil:
    # A store of part of a line (full=0) or a write-back of a whole line.
    cdef level_t* L
    cdef intp_t slot
    if li >= h.n_levels:
        h.gst[G_MEM_WRITES] += 1
        return li
    L = h.lv[li]
    _count_rec(h, L)
    slot = _lookup(L, line)
    if slot < 0:
        return _d_write_miss(h, L, li, line, full, demand)
    L.st[S_WHITS] += 1
    _touch(L, slot, 0)
    if L.write_back:
        L.dirty[slot] = 1
    else:
        _d_write(h, h.next[li], line, full, 0)
    return li


cdef int _d_write_miss(hier_t* h, level_t* L, int li, uint64_t line, bint full,
                       bint demand) noexcept nogil:
    cdef int served
    cdef uint8_t d = 0
    L.st[S_WMISSES] += 1
    if L.write_allocate and (demand or h.incl[li] != INC_EXCLUSIVE):
        served = li
        if not full:
            served = _d_read(h, h.next[li], line, 0, 0, &d)
        _d_fill(h, li, line, 1 if L.write_back else 0)
        if not L.write_back:
            _d_write(h, h.next[li], line, full, 0)
        return served
    return _d_write(h, h.next[li], line, full, 0)


# -- default / dinero, every level LRU write-back write-allocate ---------------
#
# The same operations as _d_read/_d_write/_d_fill above, for hierarchies whose
# levels are all LRU, write-back, write-allocate and non-inclusive
# (``h.all_lru``): no policy or inclusion to dispatch on, the set found by a
# missed lookup reused for the fill.  Lower levels never touch a level's sets
# (lines move only downwards), so the set is still the one to fill when the
# read from below returns, and the victim is the one _d_fill would choose.

cdef inline intp_t _f_find(hier_t* h, level_t* L, uint64_t line, intp_t* base,
                           bint below) noexcept nogil:
    # Count the record at L; the way holding `line` (or -1) and its set.
    # `below` (a constant at each call): a level below the first, searched
    # with _find (lower levels are mostly 16-way); the first level's search
    # stays inline.
    _count_rec(h, L)
    base[0] = <intp_t>(line & L.set_mask) * L.ways
    if below:
        return _find(L.tags + base[0], L.ways, line)
    return _scan(L.tags + base[0], L.ways, line)


cdef inline void _f_hit(level_t* L, intp_t slot) noexcept nogil:
    L.ctl[CTL_CLOCK] += 1
    L.repl[slot] = L.ctl[CTL_CLOCK]


cdef void _f_fill(hier_t* h, int li, level_t* L, intp_t base, uint64_t line,
                  uint8_t dirty) noexcept nogil:
    # Install `line` in the set at `base`: the oldest way is the victim; a
    # dirty victim is written to the next level after the install.
    cdef intp_t slot = base + _oldest(L.repl + base, L.ways)
    cdef uint64_t vline = L.tags[slot]
    cdef uint8_t vd = 0
    if vline != INVALID_TAG:
        vd = L.dirty[slot]
        L.st[S_DIRTY_EV if vd else S_CLEAN_EV] += 1
    L.tags[slot] = line
    L.dirty[slot] = dirty
    _f_hit(L, slot)
    L.st[S_FILLS] += 1
    if vd:
        L.st[S_WRITEBACKS] += 1
        _f_ref(h, h.next[li], vline, _F_WRITEBACK)


cdef enum:
    # What _f_ref does to a line: read it for a load or a fetch (the
    # levels below are read for the same kind), store to part of it, or
    # take a dirty victim's write-back of all of it.
    _F_LOAD = 0
    _F_FETCH = 1
    _F_STORE = 2
    _F_WRITEBACK = 3


cdef inline int _f_ref(hier_t* h, int li, uint64_t line, int op) noexcept nogil:
    # _d_read (op _F_LOAD/_F_FETCH) or _d_write (_F_STORE/_F_WRITEBACK) of an
    # all-LRU hierarchy: the level that served it (n_levels: memory).  The
    # first level is looked up here (inline: most accesses end there); a
    # miss goes on in _f_below.
    cdef level_t* L
    cdef intp_t base, w
    if li >= h.n_levels:
        h.gst[G_MEM_WRITES if op == _F_WRITEBACK else G_MEM_READS] += 1
        return li
    L = h.lv[li]
    w = _f_find(h, L, line, &base, 0)
    if w < 0:
        return _f_below(h, li, base, line, op)
    L.st[S_WHITS if op >= _F_STORE else (S_IHITS if op == _F_FETCH else S_RHITS)] += 1
    _f_hit(L, base + w)
    if op >= _F_STORE:
        L.dirty[base + w] = 1
    return li


cdef int _f_below(hier_t* h, int li, intp_t base, uint64_t line, int op) noexcept nogil:
    # Level li missed `line` (its set at `base`).  The levels below are looked
    # up going down until one holds the line (a store's miss reads the line
    # from below; a write-back's does not), then the levels that missed are
    # filled going up, the deepest first, as the recursion of
    # _d_read/_d_write does.
    cdef level_t* L = h.lv[li]
    cdef intp_t w
    cdef int served, k, nm = 0
    cdef int missed[MAX_LEVELS]
    cdef intp_t bases[MAX_LEVELS]
    cdef bint write = op >= _F_STORE
    while True:
        L.st[S_WMISSES if op >= _F_STORE else (S_IMISSES if op == _F_FETCH else S_RMISSES)] += 1
        missed[nm] = li
        bases[nm] = base
        nm += 1
        if op == _F_WRITEBACK:
            served = li
            break
        if op == _F_STORE:
            op = _F_LOAD
        li = h.next[li]
        if li >= h.n_levels:
            h.gst[G_MEM_READS] += 1
            served = li
            break
        L = h.lv[li]
        w = _f_find(h, L, line, &base, 1)
        if w >= 0:
            L.st[S_IHITS if op == _F_FETCH else S_RHITS] += 1
            _f_hit(L, base + w)
            served = li
            break
    for k in range(nm - 1, -1, -1):
        _f_fill(h, missed[k], h.lv[missed[k]], bases[k], line, write and k == 0)
    return served


cdef void hier_prepare(hier_t* h) noexcept nogil:
    cdef int i
    cdef level_t* L
    h.all_lru = h.compat == COMPAT_DEFAULT or h.compat == COMPAT_DINERO
    for i in range(h.n_levels):
        L = h.lv[i]
        if not (L.policy == POL_LRU and L.write_back and L.write_allocate
                and h.incl[i] == INC_NON):
            h.all_lru = 0


# -- pycachesim ---------------------------------------------------------------

cdef intp_t _p_inject(hier_t* h, int li, uint64_t line, uint8_t dirty) noexcept nogil:
    cdef level_t* L = h.lv[li]
    cdef intp_t slot = _victim(L, line)
    cdef uint64_t vline = L.tags[slot]
    cdef uint8_t vd = L.dirty[slot]
    _install(L, slot, line, dirty)
    if vline != INVALID_TAG:
        if vd:
            L.st[S_DIRTY_EV] += 1
        else:
            L.st[S_CLEAN_EV] += 1
        if vd and L.write_back:
            L.st[S_WRITEBACKS] += 1
            if h.next[li] < h.n_levels:
                _p_store(h, h.next[li], vline << L.line_bits, (<uint64_t>1) << L.line_bits)
            else:
                h.gst[G_MEM_WRITES] += 1
    return slot


cdef int _p_load(hier_t* h, int li, uint64_t first, uint64_t last, bint is_i,
                 intp_t* slot_out) noexcept nogil:
    cdef level_t* L
    cdef intp_t slot = -1, dummy
    cdef int served, s
    cdef uint64_t line
    if li >= h.n_levels:
        h.gst[G_MEM_READS] += 1
        return li
    L = h.lv[li]
    _count_rec(h, L)
    L.st[S_PLOADS] += 1
    served = li
    line = first
    while True:
        slot = _lookup(L, line)
        if slot >= 0:
            L.st[S_IHITS if is_i else S_RHITS] += 1
            _touch(L, slot, 0)
        else:
            L.st[S_IMISSES if is_i else S_RMISSES] += 1
            s = _p_load(h, h.next[li], line, line, is_i, &dummy)
            if s > served:
                served = s
            slot = _p_inject(h, li, line, 0)
        if line == last:
            break
        line += 1
    slot_out[0] = slot
    return served


cdef inline uint64_t _last_byte(uint64_t addr, uint64_t length) noexcept nogil:
    cdef uint64_t end = addr + (length - 1 if length else 0)
    if end < addr:  # wraps past the top of the address space
        end = <uint64_t>0xFFFFFFFFFFFFFFFFULL
    return end


cdef void _p_store(hier_t* h, int li, uint64_t addr, uint64_t length) noexcept nogil:
    # pycachesim's Cache__store of the byte range [addr, addr+length).
    cdef level_t* L = h.lv[li]
    cdef intp_t slot
    cdef uint64_t line = addr >> L.line_bits
    cdef uint64_t end = _last_byte(addr, length)
    cdef uint64_t last = end >> L.line_bits
    cdef uint64_t line_size = (<uint64_t>1) << L.line_bits
    cdef uint64_t sub_addr, sub_len
    _count_rec(h, L)
    L.st[S_PSTORES] += 1
    while True:
        slot = _lookup(L, line)
        L.st[S_WHITS if slot >= 0 else S_WMISSES] += 1
        if L.write_allocate:
            if slot < 0:
                _p_load(h, li, line, line, 0, &slot)
        elif slot < 0 and L.write_back:
            slot = _p_inject(h, li, line, 1)
        if L.write_back and slot >= 0:
            L.dirty[slot] = 1
        elif h.next[li] < h.n_levels:
            # The part of the range in this line, computed as pycachesim
            # does: the length is a whole line unless the range ends first,
            # so a range that starts inside a line is forwarded too long.
            sub_addr = line << L.line_bits
            if addr > sub_addr:
                sub_addr = addr
            sub_len = end - sub_addr + 1   # bytes left in the range
            if line_size < sub_len:
                sub_len = line_size
            L.st[S_WRITEBACKS] += 1
            _p_store(h, h.next[li], sub_addr, sub_len)
        if line == last:
            break
        line += 1


# -- cachegrind ---------------------------------------------------------------

cdef int _c_ref(hier_t* h, int li, uint64_t first, uint64_t last, bint is_i,
                bint is_w) noexcept nogil:
    # One reference: every line looked up, at most one miss counted, and the
    # next level consulted with the whole reference only on a miss.
    cdef level_t* L
    cdef intp_t slot
    cdef bint miss = 0
    cdef uint64_t line = first
    if li >= h.n_levels:
        h.gst[G_MEM_READS] += 1
        return li
    L = h.lv[li]
    _count_rec(h, L)
    while True:
        slot = _lookup(L, line)
        if slot >= 0:
            _touch(L, slot, 0)
        else:
            miss = 1
            slot = _victim(L, line)
            if L.tags[slot] != INVALID_TAG:
                L.st[S_CLEAN_EV] += 1
            _install(L, slot, line, 0)
        if line == last:
            break
        line += 1
    if is_w:
        L.st[S_WMISSES if miss else S_WHITS] += 1
    elif is_i:
        L.st[S_IMISSES if miss else S_IHITS] += 1
    else:
        L.st[S_RMISSES if miss else S_RHITS] += 1
    if miss:
        return _c_ref(h, h.next[li], first, last, is_i, is_w)
    return li


# -- entry points -------------------------------------------------------------

cdef void hier_flush(hier_t* h, bint invalidate) noexcept nogil:
    cdef uint64_t saved = h.cur
    cdef int k, li, nx
    cdef intp_t i
    cdef level_t* L
    cdef uint64_t line
    h.cur = 0
    for k in range(h.n_levels):
        li = h.order[k]
        L = h.lv[li]
        nx = h.next[li]
        for i in range(L.sets * L.ways):
            if L.tags[i] != INVALID_TAG and L.dirty[i]:
                L.dirty[i] = 0
                line = L.tags[i]
                L.st[S_WRITEBACKS] += 1
                if h.compat == COMPAT_PYCACHESIM:
                    if nx < h.n_levels:
                        _p_store(h, nx, line << L.line_bits, (<uint64_t>1) << L.line_bits)
                    else:
                        h.gst[G_MEM_WRITES] += 1
                else:
                    _d_write(h, nx, line, 1, 0)
        if invalidate:
            for i in range(L.sets * L.ways):
                if L.tags[i] != INVALID_TAG:
                    _invalidate(L, i)
    h.cur = saved


cdef int hier_access(hier_t* h, addr_t addr, uint32_t size, uint8_t kind) noexcept nogil:
    # The common case first: a fetch, load or store within one line (size
    # 0 is one byte; a range that wraps past the top of the address space
    # ends past its line) in an all-LRU hierarchy, counted as _access
    # counts it.  The MMU sends every data operation and walk reference
    # here; this path needs no stack frame, everything else is _access
    # (called from three places, so the compiler keeps it out of line).
    cdef uint32_t bits = h.line_bits
    cdef uint64_t lsize = (<uint64_t>1) << bits
    cdef int li
    if h.all_lru and kind <= KIND_STORE and (addr & (lsize - 1)) + size <= lsize:
        h.gst[G_RECORDS] += 1
        h.cur = h.gst[G_RECORDS]
        if kind != KIND_IFETCH:
            return _f_ref(h, h.data_entry, addr >> bits, _F_STORE if kind == KIND_STORE else _F_LOAD)
        h.gst[G_INSTRUCTIONS] += 1
        li = h.inst_entry
        if li < 0:
            h.gst[G_SKIPPED] += 1
            return -1
        return _f_ref(h, li, addr >> bits, _F_FETCH)
    return _access(h, addr, size, kind)


cdef int _access(hier_t* h, addr_t addr, uint32_t size, uint8_t kind) noexcept nogil:
    # hier_access of any record in any mode.
    cdef int li, s, served = -1
    cdef uint64_t first, last, line, end
    cdef uint8_t d
    cdef intp_t slot
    cdef bint is_i = kind == KIND_IFETCH
    h.gst[G_RECORDS] += 1
    h.cur = h.gst[G_RECORDS]
    if kind == KIND_FLUSH:
        h.gst[G_FLUSHES] += 1
        hier_flush(h, 1)
        return -1
    if is_i:
        h.gst[G_INSTRUCTIONS] += 1
        li = h.inst_entry
        if li < 0:
            h.gst[G_SKIPPED] += 1
            return -1
    else:
        li = h.data_entry
    if size == 0:
        size = 1
    end = addr + (size - 1)
    if end < addr:  # wraps past the top of the address space
        end = <uint64_t>0xFFFFFFFFFFFFFFFFULL
    first = addr >> h.line_bits
    last = end >> h.line_bits
    if h.compat == COMPAT_PYCACHESIM:
        if kind != KIND_STORE:
            served = _p_load(h, li, first, last, is_i, &slot)
        if kind == KIND_STORE or kind == KIND_MODIFY:
            _p_store(h, li, addr, size)
            if served < li:
                served = li
        return served
    if h.compat == COMPAT_CACHEGRIND:
        return _c_ref(h, li, first, last, is_i, kind == KIND_STORE)
    if kind != KIND_STORE:
        line = first
        while True:
            if h.all_lru:
                s = _f_ref(h, li, line, _F_FETCH if is_i else _F_LOAD)
            else:
                d = 0
                s = _d_read(h, li, line, is_i, 1, &d)
            if s > served:
                served = s
            if line == last:
                break
            line += 1
    if kind == KIND_STORE or kind == KIND_MODIFY:
        line = first
        while True:
            s = _f_ref(h, li, line, _F_STORE) if h.all_lru else _d_write(h, li, line, 0, 1)
            if s > served:
                served = s
            if line == last:
                break
            line += 1
    return served


cdef inline void _flush_fast(hier_t* h, level_t* D, level_t* I, count_t* fast) noexcept nogil:
    # Add the hit counts kept in registers by hier_run's fast path.
    # fast[0..2]: entry-level hits by kind; fast[3]: records whose miss was
    # handled from hier_run (already counted at their levels).
    h.gst[G_RECORDS] += fast[0] + fast[1] + fast[2] + fast[3]
    h.gst[G_INSTRUCTIONS] += fast[0]
    D.st[S_RECORDS] += fast[1] + fast[2]
    D.st[S_RHITS] += fast[1]
    D.st[S_WHITS] += fast[2]
    if I != NULL:
        I.st[S_RECORDS] += fast[0]
        I.st[S_IHITS] += fast[0]
    fast[0] = fast[1] = fast[2] = fast[3] = 0


cdef void _run_compat(hier_t* h, const access_t* tr, intp_t n) noexcept nogil:
    # Batch loop of the pycachesim and cachegrind modes: a fetch, load or
    # (write-back) store within one line that hits its entry level is
    # counted here, as hier_access would count it; the rest goes through
    # hier_access.
    cdef intp_t i, slot
    cdef const access_t* r
    cdef uint8_t kind
    cdef uint64_t line
    cdef level_t* L
    cdef level_t* D = h.lv[h.data_entry]
    cdef level_t* I = h.lv[h.inst_entry] if h.inst_entry >= 0 else NULL
    cdef uint32_t bits = h.line_bits
    cdef bint pyc = h.compat == COMPAT_PYCACHESIM
    for i in range(n):
        r = tr + i
        kind = r.kind
        L = I if kind == KIND_IFETCH else D
        line = r.addr >> bits
        if (kind <= KIND_STORE and L != NULL and (kind != KIND_STORE or L.write_back or not pyc)
                and line == (r.addr + (r.size - 1 if r.size else 0)) >> bits
                and r.addr + (r.size - 1 if r.size else 0) >= r.addr):
            slot = _lookup(L, line)
            if slot >= 0:
                h.gst[G_RECORDS] += 1
                h.gst[G_INSTRUCTIONS] += kind == KIND_IFETCH
                L.st[S_RECORDS] += 1
                L.st[1 + 2 * kind] += 1  # S_IHITS, S_RHITS, S_WHITS
                if pyc:
                    if kind == KIND_STORE:
                        L.st[S_PSTORES] += 1
                        L.dirty[slot] = 1
                        continue  # pycachesim: store hits leave LRU alone
                    L.st[S_PLOADS] += 1
                _touch(L, slot, 0)
                continue
        _access(h, r.addr, r.size, kind)


cdef enum:
    # How many records ahead hier_run's miss path prefetches the sets of the
    # levels below the entry level: enough to cover a host memory access
    # while the records in between are simulated.
    _PREFETCH_AHEAD = 12


cdef inline void _prefetch_below(hier_t* h, int li, uint64_t line) noexcept nogil:
    # Prefetch the sets `line` maps to in the levels below level li.
    cdef level_t* L
    cdef intp_t base
    li = h.next[li]
    while li < h.n_levels:
        L = h.lv[li]
        base = <intp_t>(line & L.set_mask) * L.ways
        _prefetch_set(L.tags, L.repl, L.dirty, base, L.ways)
        li = h.next[li]


cdef void hier_prefetch(hier_t* h, addr_t addr, uint8_t kind) noexcept nogil:
    cdef int li = h.data_entry
    if kind == KIND_IFETCH:
        li = h.inst_entry
    elif kind == KIND_FLUSH:
        return
    if li >= 0:
        _prefetch_below(h, li, addr >> h.line_bits)


cdef void hier_run(hier_t* h, const access_t* tr, intp_t n) noexcept nogil:
    # The batch loop.  Default/dinero records that touch one line and hit
    # their entry level are handled here: a branch-free scan of the set, the
    # data entry level's fields and clock held in locals, hit counts kept in
    # locals.  Single-line misses go straight to the miss path; everything
    # else goes through hier_access.  Locals are written back before any
    # other code runs.
    cdef intp_t i, w, slot, base
    cdef const access_t* r
    cdef uint8_t kind
    cdef uint64_t addr, line, last
    cdef uint32_t bits = h.line_bits
    cdef level_t* L
    cdef level_t* D = h.lv[h.data_entry]
    cdef level_t* I = h.lv[h.inst_entry] if h.inst_entry >= 0 else NULL
    cdef uint64_t* d_tags = D.tags
    cdef uint64_t* d_repl = D.repl
    cdef uint8_t* d_dirty = D.dirty
    cdef uint64_t d_mask = D.set_mask
    cdef intp_t d_ways = D.ways
    cdef int d_pol = D.policy
    cdef bint d_stamp = d_pol == POL_LRU or d_pol == POL_MRU
    cdef uint8_t d_kmax = KIND_STORE - 1 if D.write_back else KIND_LOAD - 1
    cdef uint64_t d_clk
    cdef count_t fast[4]
    cdef count_t n_ld = 0, n_st = 0
    cdef uint64_t k_st, k_ms
    cdef int k_miss = 0
    cdef uint64_t g0 = h.gst[G_RECORDS]
    cdef mc_lru_level_t ll
    cdef bint alone = (d_pol == POL_LRU and D.write_back and D.write_allocate
                       and h.incl[h.data_entry] == INC_NON
                       and h.next[h.data_entry] >= h.n_levels)
    cdef intp_t k
    cdef uint8_t d
    if h.compat != COMPAT_DEFAULT and h.compat != COMPAT_DINERO:
        _run_compat(h, tr, n)
        return
    fast[0] = fast[1] = fast[2] = fast[3] = 0
    d_clk = D.ctl[CTL_CLOCK]
    i = 0
    # `alone`: one LRU write-back write-allocate level with memory below;
    # the whole single-line load/store stream, misses too, runs in C.
    ll.tags = D.tags
    ll.repl = D.repl
    ll.dirty = D.dirty
    ll.st = D.st
    ll.ctl = D.ctl
    ll.gst = h.gst
    ll.set_mask = D.set_mask
    ll.ways = D.ways
    ll.bits = bits
    while i < n:
        if alone:
            k_st = k_ms = 0
            k = _lru_run(&ll, tr + i, n - i, g0 + <uint64_t>i, &d_clk, &k_st, &k_ms)
            n_st += k_st
            n_ld += <count_t>k - k_st - k_ms
            fast[3] += k_ms
            i += k
            if i >= n:
                break
        elif d_stamp:
            # Runs of hits at a stamp-policy entry level: the tight C loop.
            k_st = 0
            k = _stamp_hits(tr + i, n - i, d_tags, d_repl, d_dirty, d_mask, d_ways,
                            bits, d_kmax, &d_clk, &k_st, &k_miss)
            n_st += k_st
            n_ld += <count_t>k - k_st
            i += k
            if i >= n:
                break
        r = tr + i
        i += 1
        kind = r.kind
        addr = r.addr
        line = addr >> bits
        last = (addr + (r.size - 1 if r.size else 0)) >> bits
        # One well-predicted branch: a load, or a store to a write-back
        # level, within one line (bitwise & so no short-circuit branches);
        # or such a record the C loop already found missing.
        if k_miss | (<uint8_t>(kind - 1) <= d_kmax) & (line == last) & (last >= line):
            w = -1
            if not k_miss:
                base = <intp_t>(line & d_mask) * d_ways
                w = _scan8(d_tags + base, line) if d_ways == 8 else _scan(d_tags + base, d_ways, line)
            k_miss = 0
            if w >= 0:
                slot = base + w
                n_ld += kind == KIND_LOAD
                n_st += kind == KIND_STORE
                d_dirty[slot] |= kind == KIND_STORE
                if d_stamp:
                    d_clk += 1
                    d_repl[slot] = d_clk
                elif d_pol == POL_SRRIP:
                    d_repl[slot] = 0
                elif d_pol == POL_PLRU:
                    _plru_touch(D, slot)
                continue
            # Single-line miss at the data entry level.
            D.ctl[CTL_CLOCK] = d_clk
            fast[1] += n_ld
            fast[2] += n_st
            n_ld = n_st = 0
            fast[3] += 1
            h.cur = h.gst[G_RECORDS] + fast[0] + fast[1] + fast[2] + fast[3]
            _count_rec(h, D)
            d = 0
            if i + _PREFETCH_AHEAD < n:
                _prefetch_below(h, h.data_entry, tr[i + _PREFETCH_AHEAD].addr >> bits)
            if h.all_lru:
                # Counted at D above; the rest of the miss from its set.
                _f_below(h, h.data_entry, <intp_t>(line & d_mask) * d_ways, line,
                         _F_STORE if kind == KIND_STORE else _F_LOAD)
            elif kind == KIND_STORE:
                _d_write_miss(h, D, h.data_entry, line, 0, 1)
            else:
                _d_read_miss(h, D, h.data_entry, line, 0, 1, &d)
            d_clk = D.ctl[CTL_CLOCK]
            continue
        D.ctl[CTL_CLOCK] = d_clk
        fast[1] += n_ld
        fast[2] += n_st
        n_ld = n_st = 0
        if kind == KIND_IFETCH and I != NULL and line == last and last >= line:
            base = <intp_t>(line & I.set_mask) * I.ways
            w = _scan(I.tags + base, I.ways, line)
            if w >= 0:
                fast[0] += 1
                _touch(I, base + w, 0)
                d_clk = D.ctl[CTL_CLOCK]
                continue
        _flush_fast(h, D, I, fast)
        _access(h, addr, r.size, kind)
        d_clk = D.ctl[CTL_CLOCK]
    D.ctl[CTL_CLOCK] = d_clk
    fast[1] += n_ld
    fast[2] += n_st
    _flush_fast(h, D, I, fast)


# ------------------------------------------------------------ Python face

def _is_pow2(x):
    return x > 0 and (x & (x - 1)) == 0


def _as_int(field, value, where):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{field}: must be an integer, got {value!r}{where}")
    return int(value)


def check_level_config(size, line_size, ways, policy="lru", write_back=True,
                       write_allocate=True, seed=0, name="cache"):
    """Validate one level's configuration.

    Parameters
    ----------
    size, line_size, ways, policy, write_back, write_allocate, seed, name
        As for :class:`Cache`.

    Returns
    -------
    dict
        The normalised configuration, with ``ways`` resolved (0 becomes the
        number of lines) and ``sets`` added.

    Raises
    ------
    ValueError
        Naming the field and the value when the configuration is invalid.
    """
    where = f" (cache {name!r})"
    size = _as_int("size", size, where)
    line_size = _as_int("line_size", line_size, where)
    ways = _as_int("ways", ways, where)
    seed = _as_int("seed", seed, where)
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: must be a non-empty string, got {name!r}")
    if line_size < 2 or not _is_pow2(line_size):
        raise ValueError(f"line_size: must be a power of two >= 2, got {line_size}{where}")
    if size <= 0 or size % line_size:
        raise ValueError(f"size: must be a positive multiple of line_size ({line_size}), got {size}{where}")
    n_lines = size // line_size
    if ways < 0:
        raise ValueError(f"ways: must be >= 0 (0 = fully associative), got {ways}{where}")
    if ways == 0:
        ways = n_lines
    if n_lines % ways:
        raise ValueError(f"ways: must divide the number of lines ({n_lines}), got {ways}{where}")
    sets = n_lines // ways
    if not _is_pow2(sets):
        raise ValueError(f"size: size / (line_size * ways) = {sets} sets must be a power of two, "
                         f"got size {size}{where}")
    if n_lines > 2**31:
        raise ValueError(f"size: at most 2**31 lines, got {n_lines}{where}")
    if not isinstance(policy, str) or policy.lower() not in POLICIES:
        raise ValueError(f"policy: must be one of {', '.join(POLICIES)}, got {policy!r}{where}")
    policy = policy.lower()
    if policy == "plru" and not _is_pow2(ways):
        raise ValueError(f"ways: plru needs a power-of-two associativity, got {ways}{where}")
    for field, v in (("write_back", write_back), ("write_allocate", write_allocate)):
        if not isinstance(v, (bool, np.bool_)) and v not in (0, 1):
            raise ValueError(f"{field}: must be a boolean, got {v!r}{where}")
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed: must be in 0..2**64-1, got {seed}{where}")
    return dict(name=name, size=size, line_size=line_size, ways=ways, sets=sets,
                policy=policy, write_back=bool(write_back),
                write_allocate=bool(write_allocate), seed=seed)


def as_trace(trace):
    """Return `trace` as a C-contiguous :data:`~memcore.access.ACCESS_DTYPE` array.

    Accepts any structured array with fields ``addr``, ``size`` and ``kind``
    (other fields are copied when present in ACCESS_DTYPE, else dropped).

    Raises
    ------
    ValueError
        If a field is missing or a record has an unknown kind; the message
        names the first bad record.
    """
    arr = np.asarray(trace)
    if arr.dtype != ACCESS_DTYPE:
        names = arr.dtype.names or ()
        missing = [f for f in ("addr", "size", "kind") if f not in names]
        if missing:
            raise ValueError(f"trace: structured array needs fields addr, size, kind; "
                             f"missing {', '.join(missing)}")
        out = np.zeros(arr.shape[0] if arr.ndim else 1, dtype=ACCESS_DTYPE)
        for f in ACCESS_DTYPE.names:
            if f in names:
                out[f] = arr[f]
        arr = out
    arr = np.ascontiguousarray(arr).reshape(-1)
    cdef const access_t[::1] tr = arr
    cdef intp_t i, n = tr.shape[0], bad = -1
    with nogil:
        if n and _max_kind(&tr[0], n) >= N_KINDS:
            for i in range(n):
                if tr[i].kind >= N_KINDS:
                    bad = i
                    break
    if bad >= 0:
        raise ValueError(f"trace: record {bad} has unknown kind {tr[bad].kind} (kinds are 0..4)")
    return arr


cdef int run_trace(hier_t* h, object trace) except -1:
    # Validate `trace` (see as_trace), then run it with the GIL released.
    arr = as_trace(trace)
    cdef const access_t[::1] tr = arr
    cdef intp_t n = tr.shape[0]
    if n:
        with nogil:
            hier_run(h, &tr[0], n)
    return 0


def level_stats(counters, compat=0):
    """Reported counters of one level, derived from its primitive counters.

    Parameters
    ----------
    counters : numpy.ndarray
        The level's primitive counters (:data:`COUNTER_NAMES`).
    compat : int
        Index of the compat mode in :data:`memcore.hierarchy.COMPAT_MODES`.

    Returns
    -------
    dict
        Counts keyed by name (see the user guide for their meaning per mode).
    """
    c = {k: int(v) for k, v in zip(COUNTER_NAMES, counters)}
    ih, im = c["ifetch_hits"], c["ifetch_misses"]
    load_hits = ih + c["data_load_hits"]
    load_misses = im + c["data_load_misses"]
    sh, sm = c["store_hits"], c["store_misses"]
    if compat == COMPAT_PYCACHESIM:
        loads, stores = c["load_calls"], c["store_calls"]
        hits, misses = load_hits, load_misses
    else:
        loads, stores = load_hits + load_misses, sh + sm
        hits, misses = load_hits + sh, load_misses + sm
    return {
        "records": c["records"],
        "accesses": load_hits + load_misses + sh + sm,
        "loads": loads,
        "stores": stores,
        "hits": hits,
        "misses": misses,
        "load_hits": load_hits,
        "load_misses": load_misses,
        "store_hits": sh,
        "store_misses": sm,
        "ifetches": ih + im,
        "ifetch_hits": ih,
        "ifetch_misses": im,
        "fills": c["fills"],
        "evictions": c["clean_evictions"] + c["dirty_evictions"],
        "clean_evictions": c["clean_evictions"],
        "dirty_evictions": c["dirty_evictions"],
        "writebacks": c["writebacks"],
        "invalidations": c["invalidations"],
        "dirty_at_end": c["dirty_at_end"],
    }


cdef class Cache:
    """One set-associative cache level with main memory below it.

    Parameters
    ----------
    size : int
        Capacity in bytes.
    line_size : int
        Line (block) size in bytes, a power of two >= 2.
    ways : int
        Associativity; 0 means fully associative.  ``size / (line_size *
        ways)`` (the number of sets) must be a power of two.
    policy : str
        Replacement policy, one of :data:`POLICIES`.
    write_back : bool
        Write-back (True) or write-through (False).
    write_allocate : bool
        Allocate a line on a store miss (True) or send the store below.
    seed : int
        Seed of the ``random`` policy's generator (splitmix64).
    name : str
        Name used in messages and reports.

    Attributes
    ----------
    tags : numpy.ndarray of uint64, shape (sets * ways,)
        Line number held by each way (set-major), ``2**64-1`` when invalid.
    dirty : numpy.ndarray of uint8, shape (sets * ways,)
        Per-way dirty bits (0 for an invalid way).
    valid : numpy.ndarray of uint8, shape (sets * ways,)
        Per-way valid bits: 1 where the tag is not ``2**64-1`` (a copy,
        derived from ``tags``).
    repl : numpy.ndarray of uint64, shape (sets * ways,)
        Replacement state (stamps, RRPVs or PLRU tree bits; see the guide).
    counters : numpy.ndarray of uint64
        Primitive counters, named by :data:`COUNTER_NAMES`.

    Raises
    ------
    ValueError
        Naming the field and the value when the configuration is invalid.

    Examples
    --------
    >>> from memcore.cache import Cache
    >>> c = Cache(1024, 64, 2)
    >>> c.access(0x40), c.access(0x44)
    (False, True)
    >>> c.stats()["misses"]
    1
    """

    def __init__(self, size, line_size, ways, policy="lru", write_back=True,
                 write_allocate=True, seed=0, name="cache"):
        cfg = check_level_config(size, line_size, ways, policy, write_back,
                                 write_allocate, seed, name)
        self._setup(cfg)

    def _setup(self, cfg):
        self.name = cfg["name"]
        self.size = cfg["size"]
        self.line_size = cfg["line_size"]
        self.ways = cfg["ways"]
        self.sets = cfg["sets"]
        self.policy = cfg["policy"]
        self.write_back = cfg["write_back"]
        self.write_allocate = cfg["write_allocate"]
        self.seed = cfg["seed"]
        n = self.sets * self.ways
        # Sets start on host lines; the arrays written on every access own
        # their lines (see memcore._hostmem).
        self.tags = own_lines(n, np.uint64, _INVALID)
        self.repl = own_lines(n, np.uint64, _RRPV_MAX if self.policy == "srrip" else 0)
        self.dirty = own_lines(n, np.uint8, 0)
        self.counters = own_lines(N_STATS, np.uint64)
        self.ctl = own_lines(N_CTL, np.uint64)
        self.ctl[CTL_RNG] = self.seed
        self.gstats = own_lines(N_GSTATS, np.uint64)
        self._bind()

    cdef _bind(self):
        cdef uint64_t[::1] tags = self.tags
        cdef uint64_t[::1] repl = self.repl
        cdef uint8_t[::1] dirty = self.dirty
        cdef uint64_t[::1] st = self.counters
        cdef uint64_t[::1] ctl = self.ctl
        cdef uint64_t[::1] gst = self.gstats
        self.lv.tags = &tags[0]
        self.lv.repl = &repl[0]
        self.lv.dirty = &dirty[0]
        self.lv.st = &st[0]
        self.lv.ctl = &ctl[0]
        self.lv.sets = self.sets
        self.lv.ways = self.ways
        self.lv.set_mask = self.sets - 1
        self.lv.line_bits = self.line_size.bit_length() - 1
        self.lv.plru_depth = self.ways.bit_length() - 1
        self.lv.policy = POLICIES.index(self.policy)
        self.lv.write_back = self.write_back
        self.lv.write_allocate = self.write_allocate
        self.solo.lv[0] = &self.lv
        self.solo.next[0] = 1
        self.solo.incl[0] = INC_NON
        self.solo.n_up[0] = 0
        self.solo.order[0] = 0
        self.solo.n_levels = 1
        self.solo.data_entry = 0
        self.solo.inst_entry = 0
        self.solo.compat = COMPAT_DEFAULT
        self.solo.line_bits = self.lv.line_bits
        self.solo.gst = &gst[0]
        self.solo.cur = 0
        hier_prepare(&self.solo)

    def config(self):
        """Return the configuration as a dict (accepted by ``Cache(**cfg)``)."""
        return dict(size=self.size, line_size=self.line_size, ways=self.ways,
                    policy=self.policy, write_back=self.write_back,
                    write_allocate=self.write_allocate, seed=self.seed, name=self.name)

    def __reduce__(self):
        return (_restore_cache, (self.config(), self.tags, self.repl, self.dirty,
                                 self.valid, self.counters, self.ctl, self.gstats))

    @property
    def valid(self):
        """numpy.ndarray of uint8: 1 for each way whose tag is not ``2**64-1``.

        A copy derived from :attr:`tags` (the engine keeps no separate valid
        bit); writing to it changes nothing.
        """
        return (self.tags != _INVALID).astype(np.uint8)

    def _load_state(self, tags, repl, dirty, valid, counters, ctl, gstats):
        # `valid` stays in the state (pickles keep their layout) and must
        # agree with the tags it is derived from.
        pairs = ((self.tags, tags), (self.repl, repl), (self.dirty, dirty),
                 (self.counters, counters), (self.ctl, ctl), (self.gstats, gstats))
        for dst, src in pairs + ((self.tags, valid),):
            if np.shape(src) != dst.shape:
                raise ValueError(f"state: array of shape {np.shape(src)} does not fit {dst.shape}")
        if not np.array_equal(np.asarray(valid) != 0, np.asarray(tags) != _INVALID):
            raise ValueError("state: the valid bits disagree with the tags "
                             f"(an invalid way has tag {_INVALID:#x})")
        for dst, src in pairs:
            dst[...] = np.asarray(src)

    def access(self, addr, size=1, kind=LOAD):
        """Make one access; return True if every line it touches hit.

        Parameters
        ----------
        addr : int
            Byte address (0 .. 2**64-1).
        size : int
            Bytes accessed (split at line boundaries; 0 is read as 1).
        kind : int
            Access kind (:data:`memcore.access.LOAD`, ...; 4 flushes).

        Returns
        -------
        bool
        """
        a, s, k = _check_access(addr, size, kind)
        cdef int served
        served = hier_access(&self.solo, a, s, k)
        return served <= 0

    def run(self, trace):
        """Run a batch of accesses (one nogil loop).

        Parameters
        ----------
        trace : numpy.ndarray
            Records of :data:`~memcore.access.ACCESS_DTYPE` (or any structured
            array with ``addr``, ``size``, ``kind`` fields).
        """
        run_trace(&self.solo, trace)

    def stats(self):
        """Return the counters as a dict (counts, never rates).

        Returns
        -------
        dict
            The level counters of :func:`level_stats` plus ``memory_reads``
            and ``memory_writes``.
        """
        d = level_stats(self.counters)
        d["memory_reads"] = int(self.gstats[G_MEM_READS])
        d["memory_writes"] = int(self.gstats[G_MEM_WRITES])
        return d

    def reset_stats(self):
        """Zero every counter (contents and replacement state are kept)."""
        self.counters[:] = 0
        self.gstats[:] = 0
        self.ctl[CTL_LAST_REC] = 0

    def flush(self, invalidate=False):
        """Write every dirty line back to memory.

        Parameters
        ----------
        invalidate : bool
            Also invalidate every line.
        """
        hier_flush(&self.solo, bool(invalidate))

    def finish(self):
        """Record the number of dirty lines in ``dirty_at_end``; return stats."""
        self.counters[S_DIRTY_AT_END] = level_count_dirty(&self.lv)
        return self.stats()

    def contains(self, addr):
        """Return True if the line holding byte `addr` is resident."""
        a, _, _ = _check_access(addr, 1, LOAD)
        return _lookup(&self.lv, <uint64_t>a >> self.lv.line_bits) >= 0

    def lines(self):
        """Resident lines as a sorted list of ``(line_address, dirty)``."""
        idx = np.flatnonzero(self.valid)
        bits = self.lv.line_bits
        return sorted((int(self.tags[i]) << bits, bool(self.dirty[i])) for i in idx)

    def __repr__(self):
        return (f"Cache(size={self.size}, line_size={self.line_size}, ways={self.ways}, "
                f"policy={self.policy!r}, write_back={self.write_back}, "
                f"write_allocate={self.write_allocate}, seed={self.seed}, name={self.name!r})")


def _restore_cache(cfg, *state):
    c = Cache(**cfg)
    c._load_state(*state)
    return c


def _check_access(addr, size, kind):
    if isinstance(addr, bool) or not isinstance(addr, (int, np.integer)) or not 0 <= addr < 2**64:
        raise ValueError(f"addr: must be an integer in 0..2**64-1, got {addr!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 0 <= size < 2**32:
        raise ValueError(f"size: must be an integer in 0..2**32-1, got {size!r}")
    if isinstance(kind, bool) or not isinstance(kind, (int, np.integer)) or not 0 <= kind < N_KINDS:
        raise ValueError(f"kind: must be one of 0..{N_KINDS - 1}, got {kind!r}")
    return int(addr), int(size), int(kind)
