"""Translation lookaside buffers: one TLB level.

A :class:`TLB` level caches translations from virtual pages to physical
frames.  It is made of one or more set-associative *arrays*, each holding a
set of page sizes (a Skylake L1 dTLB has three arrays, one per page size; its
STLB shares one array between 4 KiB and 2 MiB pages).  Entries are tagged with
the address-space identifier (ASID, x86 PCID), the virtual page number and the
page size, and carry the global bit, the frame number and the permission bits
(:data:`RW`, :data:`US`, :data:`NX`, :data:`DIRTY`).

Flushes follow x86: :meth:`TLB.flush_all` (``keep_global=True`` is a CR3
write without PCID), :meth:`TLB.flush_asid` (INVPCID single-context) and
:meth:`TLB.invlpg` (INVLPG; ``include_global=False`` is INVPCID
individual-address).  The C contract other kernels use is in ``tlb.pxd``.
See :doc:`/guide/translation` for the semantics.
"""
from collections import namedtuple
import operator

import numpy as np

from memcore._hostmem import own_lines

cimport numpy as cnp

from memcore._typedefs cimport intp_t, addr_t, pfn_t, count_t, int8_t, uint8_t, uint32_t, uint64_t

cnp.import_array()

#: Flag: the page is writable (x86 R/W).
RW = TLB_RW
#: Flag: the page is accessible from user mode (x86 U/S).
US = TLB_US
#: Flag: instruction fetches from the page fault (x86 XD/NX).
NX = TLB_NX
#: Flag: the page's dirty bit was set when the entry was filled.
DIRTY = TLB_DIRTY
#: Flag: a global translation (x86 G): matches every ASID, survives
#: ``flush_all(keep_global=True)`` and :meth:`TLB.flush_asid`.
GLOBAL = TLB_GLOBAL
#: Flag: the entry is valid (set by the TLB itself; read it in :attr:`TLB.entries`).
VALID = TLB_VALID

#: Replacement policy names, indexed by their code.
POLICIES = ("lru", "fifo", "random", "plru")

#: Names of the statistics, in the order of the counters.
STAT_NAMES = ("accesses", "hits", "misses", "fills", "evictions", "invalidations", "fractures")

#: The smallest and largest page sizes a level may hold (4 KiB .. 2**57 bytes;
#: the large ones serve the page-walk caches, whose "pages" are the regions
#: one upper-level entry maps).
MIN_PAGE_SHIFT = 12
MAX_PAGE_SHIFT = 57

#: A hit: the physical address, the 4 KiB frame number of the page base, the
#: page size the entry maps and its flags (:data:`RW`, :data:`US`, :data:`NX`,
#: :data:`DIRTY`, :data:`GLOBAL`).
Translation = namedtuple("Translation", ["paddr", "pfn", "page_size", "flags"])

cdef tlb_entry_t _dummy_entry
cdef tlb_array_t _dummy_array

#: The structured dtype of one entry of :attr:`TLB.entries` (derived from the
#: C struct ``tlb_entry_t``): ``vpn``, ``pfn``, ``stamp`` (uint64), ``asid``
#: (uint32), ``shift``, ``orig_shift``, ``flags``, ``array`` (uint8).
ENTRY_DTYPE = np.asarray(<tlb_entry_t[:1]>(&_dummy_entry)).dtype
ARRAY_DTYPE = np.asarray(<tlb_array_t[:1]>(&_dummy_array)).dtype


# ---------------------------------------------------------------------------
# The kernel (C contract in tlb.pxd)
# ---------------------------------------------------------------------------

cdef inline uint64_t _splitmix64(uint64_t* state) noexcept nogil:
    state[0] += <uint64_t>0x9E3779B97F4A7C15
    cdef uint64_t z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
    return z ^ (z >> 31)


cdef inline intp_t _set_first(const tlb_array_t* arr, addr_t vaddr, int s) noexcept nogil:
    # Index of way 0 of the set that holds vaddr's page of size 1 << s.
    return arr.first + tlb_set_of(arr, vaddr >> s) * arr.ways


cdef inline intp_t _plru_victim(const tlb_t* t, const tlb_array_t* arr, intp_t set_) noexcept nogil:
    cdef const uint8_t* tree = t.plru + arr.plru_first + set_ * (arr.ways - 1)
    cdef intp_t node = 0, way = 0
    cdef int levels = memcore_tlb_msb64(<uint64_t>arr.ways)
    cdef int k
    cdef intp_t b
    for k in range(levels):
        b = tree[node]
        way = (way << 1) | b
        node = 2 * node + 1 + b
    return way


cdef int tlb_probe(const tlb_t* t, addr_t vaddr, uint32_t asid, tlb_hit_t* hit) noexcept nogil:
    cdef intp_t first
    cdef int step
    cdef intp_t i = tlb_find(t, vaddr, asid, &first, &step)
    if i < 0:
        return 0
    hit.entry = i
    hit.pfn = t.entries[i].pfn
    hit.shift = t.entries[i].shift
    hit.flags = t.entries[i].flags
    return 1


cdef int tlb_insert_any(tlb_t* t, addr_t vaddr, uint32_t asid, int shift, pfn_t pfn,
                        uint8_t flags) noexcept nogil:
    cdef uint64_t held
    cdef int s
    cdef intp_t a, set_, first, i, way, victim, invalid, oldest, base, end
    cdef uint64_t vpn, oldest_stamp
    cdef uint32_t same, free_
    cdef uint8_t tag
    cdef bint older
    cdef tlb_array_t* arr
    cdef tlb_entry_t* e
    if shift < 0 or shift > 63:
        return -1
    tlb_forget(t)
    held = t.shifts
    if shift < 63:
        held &= ((<uint64_t>1) << (shift + 1)) - 1
    if held == 0:
        return -1
    s = memcore_tlb_msb64(held)
    if s < shift:
        # Fracture: keep the piece of the large page that holds vaddr.
        pfn += ((vaddr & (((<uint64_t>1) << shift) - 1)) & ~(((<uint64_t>1) << s) - 1)) >> 12
        t.stats[TLB_STAT_FRACTURES] += 1
        t.regs[TLB_REG_FRACTURED] += 1
    flags = (flags | TLB_VALID) & TLB_FLAG_MASK
    a = t.array_of_shift[s]
    arr = &t.arrays[a]
    vpn = vaddr >> s
    set_ = tlb_set_of(arr, vpn)
    first = arr.first + set_ * arr.ways
    end = first + arr.ways
    tag = memcore_tlb_tag(vpn, s)
    # The same page already cached (same ASID, or either global) is refilled
    # in place; else the lowest invalid way, else the policy's victim (oldest
    # stamp for LRU and FIFO: every way is valid then).
    invalid = -1
    for base in range(first, end, 16):
        # (one pass for a set of up to 16 ways)
        memcore_bytes_eq2(t.tags + base, 16 if end - base > 16 else end - base, tag, &same, &free_)
        while same:
            i = base + memcore_tlb_ctz64(same)
            same &= same - 1
            e = &t.entries[i]
            if e.vpn == vpn and e.shift == s and (e.asid == asid or ((e.flags | flags) & TLB_GLOBAL)):
                e.pfn = pfn
                e.asid = asid
                e.flags = flags
                e.orig_shift = <uint8_t>shift
                tlb_touch(t, first, arr.ways, i)
                return s
        if invalid < 0 and free_:
            invalid = base - first + memcore_tlb_ctz64(free_)
    if invalid >= 0:
        victim = invalid
    else:
        if t.ranks != NULL:
            victim = memcore_rank_oldest(t.ranks + first, arr.ways)
        elif t.policy == TLB_LRU or t.policy == TLB_FIFO:
            oldest = 0
            oldest_stamp = t.entries[first].stamp
            for way in range(1, arr.ways):
                # Select without a branch: which way is older is unpredictable.
                older = t.entries[first + way].stamp < oldest_stamp
                oldest = way if older else oldest
                oldest_stamp = t.entries[first + way].stamp if older else oldest_stamp
            victim = oldest
        elif t.policy == TLB_RANDOM:
            victim = <intp_t>(_splitmix64(&t.regs[TLB_REG_RNG]) % <uint64_t>arr.ways)
        else:
            victim = _plru_victim(t, arr, set_)
        t.stats[TLB_STAT_EVICTIONS] += 1
    tlb_install(t, first, arr.ways, victim, vpn, pfn, asid, s, shift, flags, tag)
    if not ((t.live_shifts >> s) & 1):
        t.live_shifts |= (<uint64_t>1) << s
        _replan(t)
    return s


cdef void _replan(tlb_t* t) noexcept nogil:
    # The search plan for the page sizes in live_shifts.
    cdef intp_t a
    cdef uint64_t m
    cdef int s, n = 0
    cdef const tlb_array_t* arr
    for a in range(t.narrays):
        arr = &t.arrays[a]
        m = arr.shifts & t.live_shifts
        while m and n < TLB_MAX_PLAN:
            s = memcore_tlb_ctz64(m)
            m &= m - 1
            t.plan[n].first = arr.first
            t.plan[n].ways = arr.ways
            t.plan[n].nsets = <uint64_t>arr.nsets
            t.plan[n].set_mask = (<uint64_t>arr.nsets - 1) if (arr.nsets & (arr.nsets - 1)) == 0 else 0
            t.plan[n].lanes = ((<uint32_t>1 << arr.ways) - 1) if arr.ways <= 16 else 0
            t.plan[n].shift = s
            n += 1
    t.nplan = n
    t.quick_fill = (n > 0 and t.ranks != NULL and t.plan[0].lanes != 0
                    and (t.plan[0].set_mask != 0 or t.plan[0].nsets == 1))


cdef void _rebuild_derived(tlb_t* t) noexcept nogil:
    # The tags, and the ranks of the ways of each set by (stamp, way), from
    # the entries (after a restore).
    cdef intp_t i, j, a, k, first
    cdef const tlb_array_t* arr
    cdef uint8_t r
    for i in range(t.nentries):
        if t.entries[i].flags & TLB_VALID:
            t.tags[i] = memcore_tlb_tag(t.entries[i].vpn, t.entries[i].shift)
        else:
            t.tags[i] = 0
    if t.ranks == NULL:
        return
    for a in range(t.narrays):
        arr = &t.arrays[a]
        for k in range(arr.nsets):
            first = arr.first + k * arr.ways
            for i in range(first, first + arr.ways):
                r = 0
                for j in range(first, first + arr.ways):
                    if (t.entries[j].stamp < t.entries[i].stamp
                            or (t.entries[j].stamp == t.entries[i].stamp and j < i)):
                        r += 1
                t.ranks[i] = r


cdef uint64_t _live_shifts(const tlb_t* t) noexcept nogil:
    # The page sizes of the valid entries.
    cdef intp_t i
    cdef uint64_t live = 0
    for i in range(t.nentries):
        if t.entries[i].flags & TLB_VALID:
            live |= (<uint64_t>1) << (t.entries[i].shift & 63)
    return live


cdef intp_t tlb_flush_all(tlb_t* t, bint keep_global) noexcept nogil:
    cdef intp_t i, n = 0
    cdef uint64_t live = 0
    tlb_forget(t)
    for i in range(t.nentries):
        if t.entries[i].flags & TLB_VALID:
            if keep_global and (t.entries[i].flags & TLB_GLOBAL):
                live |= (<uint64_t>1) << (t.entries[i].shift & 63)
            else:
                t.entries[i].flags = 0
                t.tags[i] = 0
                n += 1
    t.live_shifts = live
    _replan(t)
    t.stats[TLB_STAT_INVALIDATIONS] += n
    return n


cdef intp_t tlb_flush_asid(tlb_t* t, uint32_t asid) noexcept nogil:
    cdef intp_t i, n = 0
    cdef uint8_t f
    tlb_forget(t)
    for i in range(t.nentries):
        f = t.entries[i].flags
        if (f & TLB_VALID) and not (f & TLB_GLOBAL) and t.entries[i].asid == asid:
            t.entries[i].flags = 0
            t.tags[i] = 0
            n += 1
    t.stats[TLB_STAT_INVALIDATIONS] += n
    return n


cdef inline bint _owned(const tlb_entry_t* e, uint32_t asid, bint include_global) noexcept nogil:
    if e.flags & TLB_GLOBAL:
        return include_global
    return e.asid == asid


cdef intp_t _invalidate_covering(tlb_t* t, intp_t first, intp_t end, addr_t vaddr, uint32_t asid,
                                 bint include_global) noexcept nogil:
    # Invalidate, among entries first..end-1, those of `asid` (and global
    # ones if include_global) whose page -- the page they were filled from,
    # for a fractured piece -- holds vaddr.
    cdef intp_t i, n = 0
    cdef tlb_entry_t* e
    for i in range(first, end):
        e = &t.entries[i]
        if ((e.flags & TLB_VALID) and _owned(e, asid, include_global)
                and ((e.vpn << e.shift) >> e.orig_shift) == (vaddr >> e.orig_shift)):
            e.flags = 0
            t.tags[i] = 0
            n += 1
    return n


cdef intp_t tlb_invlpg(tlb_t* t, addr_t vaddr, uint32_t asid, bint include_global) noexcept nogil:
    cdef intp_t a, first, n = 0
    cdef uint64_t m
    cdef int s
    tlb_forget(t)
    if t.regs[TLB_REG_FRACTURED]:
        # The pieces of a fractured page sit in other sets: scan everything.
        n = _invalidate_covering(t, 0, t.nentries, vaddr, asid, include_global)
    else:
        for a in range(t.narrays):
            m = t.arrays[a].shifts
            while m:
                s = memcore_tlb_ctz64(m)
                m &= m - 1
                first = _set_first(&t.arrays[a], vaddr, s)
                if not ((t.live_shifts >> s) & 1):
                    continue
                n += _invalidate_covering(t, first, first + t.arrays[a].ways, vaddr, asid, include_global)
    t.stats[TLB_STAT_INVALIDATIONS] += n
    return n


cdef void _lookup_loop(tlb_t* t, const uint64_t* vaddrs, const uint32_t* asids, intp_t asid_step,
                       intp_t n, uint8_t* hits, uint64_t* paddrs) noexcept nogil:
    cdef intp_t k
    cdef tlb_hit_t h
    cdef uint64_t va
    for k in range(n):
        va = vaddrs[k]
        if tlb_lookup(t, va, asids[k * asid_step], &h):
            hits[k] = 1
            paddrs[k] = (h.pfn << 12) | (va & (((<uint64_t>1) << h.shift) - 1))
        else:
            hits[k] = 0
            paddrs[k] = 0


# ---------------------------------------------------------------------------
# Python face
# ---------------------------------------------------------------------------

def _is_seq(x):
    return isinstance(x, (list, tuple))


def _page_shift(size, where):
    try:
        size = operator.index(size)
    except TypeError:
        raise ValueError(f"page_sizes: {where}: a page size must be a number of bytes, got {size!r}") from None
    if size <= 0 or size & (size - 1) or not (MIN_PAGE_SHIFT <= size.bit_length() - 1 <= MAX_PAGE_SHIFT):
        raise ValueError(f"page_sizes: {where}: a page size must be a power of two from 4096 to "
                         f"2**{MAX_PAGE_SHIFT}, got {size!r}")
    return size.bit_length() - 1


def normalize_geometry(entries, ways=0, page_sizes=(4096,)):
    """Check and normalise the shape of a TLB level.

    A level is either one array (``entries`` and ``ways`` integers,
    ``page_sizes`` the sizes it holds) or several (``entries``, ``ways`` and
    ``page_sizes`` lists of the same length; each item of ``page_sizes`` is one
    size or a list of sizes that array holds).

    Parameters
    ----------
    entries : int or list of int
        Entries per array.
    ways : int or list of int
        Associativity per array; 0 means fully associative.
    page_sizes : int, list of int, or list of (int or list of int)
        Page sizes in bytes (with one array, ``[[a, b]]`` is read as
        ``[a, b]``).

    Returns
    -------
    tuple of (int, int, tuple of int)
        ``(entries, ways, page_sizes)`` per array, ``ways`` resolved (a fully
        associative array has ``ways == entries``) and page sizes sorted.

    Raises
    ------
    ValueError
        Naming the field (``entries``, ``ways``, ``page_sizes``) and the value.
    """
    if _is_seq(entries):
        n = len(entries)
        if n == 0:
            raise ValueError("entries: a TLB level needs at least one array, got []")
        if not _is_seq(ways):
            ways = [ways] * n
        if not _is_seq(page_sizes) or len(page_sizes) != n or len(ways) != n:
            raise ValueError(f"page_sizes/ways: with entries={list(entries)!r} give one item per array, "
                             f"got ways={ways!r}, page_sizes={page_sizes!r}")
        arrays = [(e, w, p if _is_seq(p) else [p]) for e, w, p in zip(entries, ways, page_sizes)]
    else:
        if _is_seq(ways):
            raise ValueError(f"ways: must be an integer when entries is, got {ways!r}")
        if _is_seq(page_sizes) and len(page_sizes) == 1 and _is_seq(page_sizes[0]):
            page_sizes = page_sizes[0]          # [[4096, 2097152]]: the one array's sizes
        arrays = [(entries, ways, page_sizes if _is_seq(page_sizes) else [page_sizes])]
    if len(arrays) > 255:
        raise ValueError(f"entries: at most 255 arrays per level, got {len(arrays)}")
    out = []
    seen = {}
    for k, (e, w, sizes) in enumerate(arrays):
        where = f"array {k}" if len(arrays) > 1 else "the level"
        try:
            e = operator.index(e)
        except TypeError:
            raise ValueError(f"entries: {where} needs an integer, got {e!r}") from None
        try:
            w = operator.index(w)
        except TypeError:
            raise ValueError(f"ways: {where} needs an integer, got {w!r}") from None
        if e < 1 or e > (1 << 24):
            raise ValueError(f"entries: {where} needs 1..{1 << 24} entries, got {e}")
        if w < 0:
            raise ValueError(f"ways: {where} needs ways >= 0 (0 = fully associative), got {w}")
        w = w or e
        if e % w:
            raise ValueError(f"ways: {where} has {e} entries, not a multiple of ways={w}")
        if not sizes:
            raise ValueError(f"page_sizes: {where} holds no page size")
        shifts = set()
        for size in sizes:
            s = _page_shift(size, where)
            if s in seen or s in shifts:
                raise ValueError(f"page_sizes: page size {size} is held twice in one level")
            shifts.add(s)
        for s in shifts:
            seen[s] = k
        out.append((e, w, tuple(1 << s for s in sorted(shifts))))
    return tuple(out)


cdef class TLB:
    """One TLB level: set-associative arrays of translations.

    Parameters
    ----------
    entries : int or list of int
        Number of entries, or one number per array (see
        :func:`normalize_geometry`).
    ways : int or list of int, optional
        Associativity (per array); 0 (default) means fully associative.
    page_sizes : list, optional
        Page sizes in bytes the level holds (default ``[4096]``); with several
        arrays, one item per array, each a size or a list of sizes.
    policy : {'lru', 'fifo', 'random', 'plru'}, optional
        Replacement policy (default ``'lru'``).  ``'plru'`` (tree pseudo-LRU)
        needs a power-of-two number of ways.
    seed : int, optional
        Seed of the ``'random'`` policy (default 0).

    Attributes
    ----------
    entries : numpy.ndarray
        The entry pool, a read-only zero-copy view of dtype
        :data:`ENTRY_DTYPE`: array ``a``, set ``s``, way ``w`` is at
        ``arrays[a]['first'] + s * ways + w``.
    arrays : numpy.ndarray
        The geometry of each array (``first``, ``nsets``, ``ways``,
        ``plru_first``, ``shifts`` bitmask), dtype ``ARRAY_DTYPE``; read-only.
    geometry : tuple
        ``(entries, ways, page_sizes)`` per array, as normalised.
    policy : str
    seed : int

    Examples
    --------
    A Skylake-like L1 dTLB, one array per page size:

    >>> from memcore.tlb import TLB, RW, US
    >>> dtlb = TLB([64, 32, 4], [4, 4, 0], [4096, 2 << 20, 1 << 30])
    >>> dtlb.insert(0x7f0000201000, pfn=0x1234, flags=RW | US)
    4096
    >>> hex(dtlb.lookup(0x7f0000201abc).paddr)
    '0x1234abc'
    """
    def __init__(self, entries, ways=0, page_sizes=(4096,), policy="lru", seed=0):
        geometry = normalize_geometry(entries, ways, page_sizes)
        if policy not in POLICIES:
            raise ValueError(f"policy: must be one of {', '.join(POLICIES)}, got {policy!r}")
        seed = _uint(seed, "seed")
        if policy == "plru":
            for k, (e, w, _) in enumerate(geometry):
                if w & (w - 1):
                    raise ValueError(f"ways: policy 'plru' needs a power-of-two number of ways, "
                                     f"array {k} has {w}")
        arrays = np.zeros(len(geometry), dtype=ARRAY_DTYPE)
        first = plru_first = 0
        for k, (e, w, sizes) in enumerate(geometry):
            arrays[k]["first"] = first
            arrays[k]["nsets"] = e // w
            arrays[k]["ways"] = w
            arrays[k]["plru_first"] = plru_first
            arrays[k]["shifts"] = sum(1 << (s.bit_length() - 1) for s in sizes)
            first += e
            plru_first += (e // w) * (w - 1) if policy == "plru" else 0
        arrays.flags.writeable = False
        self.geometry = geometry
        self.policy = policy
        self.seed = seed
        self.arrays = arrays
        # Every array here is written by lookups or fills: each starts on and
        # owns its host lines (memcore._hostmem), which also keeps a small
        # level's state off the lines of another thread's arrays.
        self._entries = own_lines(first, ENTRY_DTYPE)
        self._tags = own_lines(first + TLB_PAD, np.uint8)
        # Ranks for the victim choice of LRU and FIFO (a rank is a byte
        # below 128, so at most 64 ways).  Even at 4 ways one vector compare
        # beats scanning the stamps: a fill (every miss of an L1 TLB) saves
        # more than a hit that is not the last one spends keeping the ranks.
        keep_ranks = policy in ("lru", "fifo") and max(w for _, w, _ in geometry) <= 64
        self._ranks = own_lines(first + TLB_PAD if keep_ranks else 0, np.uint8)
        self._plru = own_lines(max(plru_first, 1), np.uint8)
        self._regs = own_lines(TLB_N_REGS, np.uint64)
        self._regs[TLB_REG_RNG] = seed
        self._stats = own_lines(TLB_N_STATS, np.uint64)
        self._bind()

    cdef void _bind(self):
        cdef intp_t k
        cdef int s
        self.c.entries = <tlb_entry_t*>cnp.PyArray_DATA(self._entries)
        self.c.nentries = self._entries.shape[0]
        self.c.tags = <uint8_t*>cnp.PyArray_DATA(self._tags)
        self.c.ranks = <uint8_t*>cnp.PyArray_DATA(self._ranks) if self._ranks.shape[0] else NULL
        self.c.arrays = <tlb_array_t*>cnp.PyArray_DATA(self.arrays)
        self.c.narrays = self.arrays.shape[0]
        self.c.plru = <uint8_t*>cnp.PyArray_DATA(self._plru)
        self.c.regs = <uint64_t*>cnp.PyArray_DATA(self._regs)
        self.c.stats = <count_t*>cnp.PyArray_DATA(self._stats)
        self.c.policy = POLICIES.index(self.policy)
        tlb_forget(&self.c)
        _rebuild_derived(&self.c)
        self.c.live_shifts = _live_shifts(&self.c)
        _replan(&self.c)
        self.c.shifts = 0
        for s in range(64):
            self.c.array_of_shift[s] = -1
        for k in range(self.c.narrays):
            self.c.shifts |= self.c.arrays[k].shifts
            for s in range(64):
                if (self.c.arrays[k].shifts >> s) & 1:
                    self.c.array_of_shift[s] = <int8_t>k

    # -- pickling / checkpoints -------------------------------------------
    def __reduce__(self):
        state = (self._entries.copy(), self._plru.copy(), self._regs.copy(), self._stats.copy())
        entries, ways, sizes = zip(*self.geometry)
        return (_rebuild, ((list(entries), list(ways), [list(s) for s in sizes], self.policy, self.seed), state))

    def _set_state(self, entries, plru, regs, stats):
        entries = np.asarray(entries)
        if entries.dtype != ENTRY_DTYPE or entries.shape != self._entries.shape:
            raise ValueError("state: the entry pool does not match this TLB's geometry")
        if np.shape(plru) != self._plru.shape or np.shape(regs) != self._regs.shape \
                or np.shape(stats) != self._stats.shape:
            raise ValueError("state: replacement or statistics arrays do not match this TLB")
        ok = entries["flags"] & VALID != 0
        shift_ok = np.array([(int(self.arrays[a]["shifts"]) >> int(s)) & 1 for a, s in
                             zip(entries["array"][ok], entries["shift"][ok])], dtype=bool)
        if np.any(entries["array"][ok] >= self.arrays.shape[0]) or not np.all(shift_ok):
            raise ValueError("state: a valid entry names an array or page size this TLB does not have")
        self._entries[...] = entries
        _rebuild_derived(&self.c)
        tlb_forget(&self.c)
        self.c.live_shifts = _live_shifts(&self.c)
        _replan(&self.c)
        self._plru[...] = plru
        self._regs[...] = regs
        self._stats[...] = stats

    # -- single-item operations -------------------------------------------
    cdef object _search(self, vaddr, asid, bint count):
        # lookup (count: statistics and replacement updated) or probe.
        cdef uint64_t va = _uint(vaddr, "vaddr")
        cdef uint32_t a = _asid(asid)
        cdef tlb_hit_t h
        if not (tlb_lookup(&self.c, va, a, &h) if count else tlb_probe(&self.c, va, a, &h)):
            return None
        return Translation(int((h.pfn << 12) | (va & (((<uint64_t>1) << h.shift) - 1))),
                           int(h.pfn), 1 << h.shift, int(h.flags & ~TLB_VALID))

    def lookup(self, vaddr, asid=0):
        """Look a virtual address up, counting the access.

        Parameters
        ----------
        vaddr : int
            Virtual address (64-bit).
        asid : int, optional
            Address-space identifier (PCID) of the access (default 0).

        Returns
        -------
        Translation or None
            The translation on a hit (its replacement state is updated), None
            on a miss.
        """
        return self._search(vaddr, asid, True)

    def probe(self, vaddr, asid=0):
        """Like :meth:`lookup` but change nothing (no statistics, no replacement update).

        Parameters
        ----------
        vaddr : int
        asid : int, optional

        Returns
        -------
        Translation or None
        """
        return self._search(vaddr, asid, False)

    def insert(self, vaddr, pfn, page_size=4096, asid=0, flags=TLB_RW | TLB_US):
        """Insert the translation of the page holding `vaddr`.

        If the level does not hold `page_size`, the translation is stored at
        the largest page size it holds that is smaller (the large page is
        *fractured*: the entry maps the piece holding `vaddr`).  An entry for
        the same page (same ASID, or either one global) is overwritten in
        place; otherwise an invalid way is used, else the policy's victim.

        Parameters
        ----------
        vaddr : int
            Any virtual address inside the page.
        pfn : int
            4 KiB frame number of the page's base (aligned to the page size).
        page_size : int, optional
            Size of the page in the page tables (default 4096).
        asid : int, optional
            Address-space identifier (default 0); ignored by lookups of a
            global entry.
        flags : int, optional
            OR of :data:`RW`, :data:`US`, :data:`NX`, :data:`DIRTY`,
            :data:`GLOBAL` (default ``RW | US``).

        Returns
        -------
        int or None
            The page size stored, or None if the level holds no page size
            that small.

        Raises
        ------
        ValueError
            If `page_size` is not a power of two in range, `pfn` is not aligned
            to it or beyond 2**52, or `flags` has unknown bits.
        """
        cdef uint64_t va = _uint(vaddr, "vaddr")
        cdef uint32_t a = _asid(asid)
        cdef int shift = _page_shift(page_size, "page_size")
        p = _uint(pfn, "pfn")
        if p >= (1 << 52) or p & ((1 << (shift - 12)) - 1):
            raise ValueError(f"pfn: must be below 2**52 and aligned to the page size {page_size}, got {pfn:#x}")
        f = operator.index(flags)
        if f < 0 or f & ~(TLB_FLAG_MASK & ~TLB_VALID):
            raise ValueError(f"flags: unknown bits in {flags:#x} (use RW, US, NX, DIRTY, GLOBAL)")
        s = tlb_insert(&self.c, va, a, shift, <pfn_t>p, <uint8_t>f)
        return None if s < 0 else 1 << s

    def flush_all(self, keep_global=False):
        """Invalidate every entry, or all but the global ones.

        Parameters
        ----------
        keep_global : bool, optional
            Keep global entries, as a CR3 write without PCID (or INVPCID
            all-context-except-global) does.  Default False: everything, as
            INVPCID all-context or toggling CR4.PGE.

        Returns
        -------
        int
            Number of entries invalidated.
        """
        return tlb_flush_all(&self.c, bool(keep_global))

    def flush_asid(self, asid):
        """Invalidate the non-global entries of one address space (INVPCID single-context).

        Parameters
        ----------
        asid : int

        Returns
        -------
        int
            Number of entries invalidated.
        """
        return tlb_flush_asid(&self.c, _asid(asid))

    def invlpg(self, vaddr, asid=0, include_global=True):
        """Invalidate the translations of the page holding `vaddr`.

        Every entry of `asid` that translates `vaddr` is invalidated, whatever
        its page size, including every fractured piece of a large page; with
        `include_global` (INVLPG) global entries too, without (INVPCID
        individual-address) only the non-global ones.  Entries of other ASIDs
        are kept (the SDM allows but does not require their invalidation).

        Parameters
        ----------
        vaddr : int
        asid : int, optional
            The current PCID (default 0).
        include_global : bool, optional
            Default True.

        Returns
        -------
        int
            Number of entries invalidated.
        """
        return tlb_invlpg(&self.c, _uint(vaddr, "vaddr"), _asid(asid), bool(include_global))

    # -- batches -------------------------------------------------------------
    def lookup_batch(self, vaddrs, asid=0):
        """Look many addresses up in order, in one nogil loop.

        Parameters
        ----------
        vaddrs : array_like of uint64
            Virtual addresses.
        asid : int or array_like of int, optional
            One ASID for all, or one per address.

        Returns
        -------
        hits : numpy.ndarray of bool
        paddrs : numpy.ndarray of uint64
            Physical addresses (0 where the lookup missed).
        """
        cdef cnp.ndarray va = np.ascontiguousarray(vaddrs, dtype=np.uint64).reshape(-1)
        cdef intp_t n = va.shape[0]
        cdef cnp.ndarray asids
        cdef intp_t step
        if np.ndim(asid) == 0:
            asids = np.array([_asid(asid)], dtype=np.uint32)
            step = 0
        else:
            raw = np.asarray(asid).reshape(-1)
            if raw.shape[0] != n:
                raise ValueError(f"asid: {raw.shape[0]} ASIDs for {n} addresses")
            if raw.size and (raw.min() < 0 or raw.max() >= 1 << 32):
                raise ValueError("asid: values must be in 0..2**32-1")
            asids = np.ascontiguousarray(raw, dtype=np.uint32)
            step = 1
        hits = np.empty(n, dtype=np.uint8)
        paddrs = np.empty(n, dtype=np.uint64)
        cdef uint8_t* h = <uint8_t*>cnp.PyArray_DATA(hits)
        cdef uint64_t* p = <uint64_t*>cnp.PyArray_DATA(paddrs)
        cdef const uint64_t* v = <const uint64_t*>cnp.PyArray_DATA(va)
        cdef const uint32_t* a = <const uint32_t*>cnp.PyArray_DATA(asids)
        if n:
            with nogil:
                _lookup_loop(&self.c, v, a, step, n, h, p)
        return hits.view(np.bool_), paddrs

    # -- statistics and inspection -------------------------------------------
    @property
    def entries(self):
        """The entry pool as a read-only numpy view (zero-copy, dtype :data:`ENTRY_DTYPE`)."""
        view = self._entries.view()
        view.flags.writeable = False
        return view

    def stats(self):
        """Return the counters as a dict.

        Returns
        -------
        dict
            ``accesses``, ``hits``, ``misses`` (lookups), ``fills``,
            ``evictions`` (valid entries displaced), ``invalidations`` (valid
            entries removed by flushes), ``fractures`` (fills that stored a
            piece of a page larger than the level holds).
        """
        return {name: int(self._stats[k]) for k, name in enumerate(STAT_NAMES)}

    def reset_stats(self):
        """Zero the counters (the cached translations stay)."""
        self._stats[...] = 0

    @property
    def occupancy(self):
        """Number of valid entries."""
        return int(np.count_nonzero(self._entries["flags"] & TLB_VALID))

    @property
    def page_sizes(self):
        """All page sizes the level holds, ascending."""
        return tuple(sorted(s for _, _, sizes in self.geometry for s in sizes))

    def __len__(self):
        return int(self.c.nentries)

    def __repr__(self):
        parts = ", ".join(f"{e}x{w}-way {'/'.join(_size_name(s) for s in sizes)}"
                          for e, w, sizes in self.geometry)
        return f"TLB({parts}, policy={self.policy!r})"


def _size_name(size):
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift}{unit}"
    return str(size)


def _uint(x, name, bits=64):
    """`x` as a Python int in 0..2**bits-1, or ValueError naming `name`."""
    try:
        v = operator.index(x)
    except TypeError:
        raise ValueError(f"{name}: must be an integer, got {x!r}") from None
    if not 0 <= v < 1 << bits:
        raise ValueError(f"{name}: must be in 0..2**{bits}-1, got {v}")
    return v


def _asid(x):
    return _uint(x, "asid", 32)


def _rebuild(args, state):
    tlb = TLB(*args)
    tlb._set_state(*state)
    return tlb
