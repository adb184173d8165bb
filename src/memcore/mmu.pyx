"""The translation pipeline: TLB levels, page-walk caches and the page walker.

An :class:`MMU` chains :class:`memcore.tlb.TLB` levels (an L1 dTLB and iTLB
over a unified STLB, say), page-walk caches for the upper page-table levels
(PML4E, PDPTE, PDE caches) and the walker of :mod:`memcore.pagetable`, whose
memory references can go through a :class:`memcore.hierarchy.Hierarchy`.

:meth:`MMU.translate_batch` translates an array of virtual addresses in one
nogil loop and stops at the first fault, returning its index and x86 error
code so that Python (a kernel model) can handle it and resume.
:meth:`MMU.run` replays a trace of virtual accesses: each record is
translated once per page it touches (a ``modify`` once for its load and once
for its store) and its physical pieces go through the cache hierarchy, all in
one nogil loop that leaves it only for events that need policy (a page fault,
an address space it has not seen); with ``threads=2`` a second host thread
sends the physical accesses to the hierarchy while the first translates,
with the same results.  See :doc:`/guide/translation`.
"""
import os
from collections import namedtuple

import numpy as np

from memcore._hostmem import own_lines

cimport numpy as cnp

from memcore._typedefs cimport intp_t, addr_t, pfn_t, count_t, uint8_t, uint16_t, uint32_t, uint64_t
from memcore.access cimport access_t, KIND_IFETCH, KIND_LOAD, KIND_STORE, KIND_MODIFY, KIND_FLUSH
from memcore.tlb cimport (TLB, tlb_t, tlb_hit_t, tlb_entry_t, tlb_lookup, tlb_insert, tlb_flush_all,
                          tlb_flush_asid, tlb_invlpg, TLB_RW, TLB_US, TLB_NX, TLB_DIRTY, TLB_GLOBAL,
                          TLB_LRU, TLB_STAT_ACCESSES, TLB_STAT_HITS, TLB_REG_CLOCK)
from memcore.pagetable cimport (PageTable, pt_state_t, walk_result_t, pt_walk_from, pt_walk_asid,
                                ACCESS_READ, ACCESS_WRITE, ACCESS_EXEC, WALK_OK, WALK_PF, WALK_GP,
                                WALK_MAX_REFS, PAGING_INVERTED, RIGHT_W, RIGHT_U, RIGHT_NX, RIGHTS_TOP,
                                X86_PF_PROT, PAGE_DIRTY, PAGE_GLOBAL, pt_permitted, pt_error_bits)
from memcore.cache cimport hier_t, hier_access, hier_prefetch, G_RECORDS, G_INSTRUCTIONS
from memcore.hierarchy cimport Hierarchy
from libc.stdlib cimport malloc, free
from libc.string cimport memset

from memcore.access import ACCESS_DTYPE
from memcore.pagetable import PAGING_NAMES

cnp.import_array()

#: Names of the page-walk caches, by the page-table level whose entries they
#: hold (level 1 is the PT).
WALK_CACHE_LEVELS = {"PDE": 2, "PDPTE": 3, "PML4E": 4, "PML5E": 5}

#: Walk caches each paging organisation can have.
WALK_CACHES_OF = {
    "x86_64-4level": ("PML4E", "PDPTE", "PDE"),
    "x86_64-5level": ("PML5E", "PML4E", "PDPTE", "PDE"),
    "i386-2level": ("PDE",),
    "i386-pae": ("PDPTE", "PDE"),
    "inverted": (),
}

#: Result of :meth:`MMU.translate_batch`: ``paddrs`` (uint64 array, valid up to
#: ``count``), ``count`` (addresses translated before the fault, or all),
#: ``fault`` (None, ``"#PF"`` or ``"#GP"``), ``error_code`` (x86 #PF error code,
#: 0 without a fault) and ``vaddr`` (the faulting address, or None).
Translated = namedtuple("Translated", ["paddrs", "count", "fault", "error_code", "vaddr"])

#: An event that stopped :meth:`MMU.run`: ``index`` of the record, ``kind``
#: (``"fault"`` or ``"new_space"``), ``vaddr`` and ``access`` (``"read"``,
#: ``"write"``, ``"exec"``) of the faulting translation, ``fault`` (``"#PF"``
#: or ``"#GP"``), ``error_code``, and ``asid`` (the record's pid).
RunEvent = namedtuple("RunEvent", ["index", "kind", "vaddr", "access", "fault", "error_code", "asid"])

_FAULT_NAMES = {MMU_PF: "#PF", MMU_GP: "#GP"}
_ACCESS_NAMES = ("read", "write", "exec")

cdef enum:
    EV_NONE = 0
    EV_FAULT = 1
    EV_NEW_SPACE = 2


# ---------------------------------------------------------------------------
# The kernel (C contract in mmu.pxd)
# ---------------------------------------------------------------------------

# The TLB keeps the rights in the bits just above RIGHT_W/U/NX (TLB_RW, TLB_US,
# TLB_NX), checked at import below.
cdef inline uint8_t _rights_to_flags(uint8_t rights) noexcept nogil:
    return (rights & (RIGHT_W | RIGHT_U | RIGHT_NX)) << 1


cdef inline uint8_t _flags_to_rights(uint8_t flags) noexcept nogil:
    return (flags >> 1) & (RIGHT_W | RIGHT_U | RIGHT_NX)


if (TLB_RW, TLB_US, TLB_NX) != (RIGHT_W << 1, RIGHT_U << 1, RIGHT_NX << 1):  # pragma: no cover
    raise ImportError("memcore.mmu: TLB flag bits no longer mirror the walker's RIGHT_* bits")


cdef void mmu_sync(mmu_t* m) noexcept nogil:
    cdef int l
    cdef count_t k
    cdef tlb_t* t
    for l in range(m.ntlbs):
        k = m.run_count[l]
        if k:
            t = m.tlb[l]
            t.stats[TLB_STAT_ACCESSES] += k
            t.stats[TLB_STAT_HITS] += k
            if t.policy == TLB_LRU:
                # The hits of a run were the level's last k touches.
                t.regs[TLB_REG_CLOCK] += k
                t.entries[m.run_entry[l]].stamp = t.regs[TLB_REG_CLOCK]
            m.stats[MMU_STAT_TRANSLATIONS] += k
            m.run_count[l] = 0


cdef void _fault_invalidate(mmu_t* m, addr_t va) noexcept nogil:
    # A page fault invalidates the TLB entries for the address's page and the
    # walk-cache entries that would be used for it (SDM 4.10.4.1).
    cdef int k
    for k in range(m.ntlbs):
        tlb_invlpg(m.tlb[k], va, m.asid, True)
    for k in range(2, MMU_MAX_LEVEL + 1):
        if m.pwc[k] != NULL:
            tlb_invlpg(m.pwc[k], va, m.asid, False)


cdef void mmu_invlpg(mmu_t* m, addr_t va) noexcept nogil:
    cdef int k
    mmu_sync(m)
    for k in range(m.ntlbs):
        tlb_invlpg(m.tlb[k], va, m.asid, True)
    for k in range(2, MMU_MAX_LEVEL + 1):
        if m.pwc[k] != NULL:
            tlb_flush_asid(m.pwc[k], m.asid)


cdef inline int _walk_ref(hier_t* h, addr_t pa, uint32_t size, count_t* by_level) noexcept nogil:
    # One paging-structure read (`size` bytes) through the data caches,
    # counted in by_level[i] by the level i that served it (returned).
    cdef int served = hier_access(h, pa, size, KIND_LOAD)
    if 0 <= served < MMU_MAX_SERVED:
        by_level[served] += 1
    return served


cdef inline void _queue(mmu_t* m, addr_t addr, uint32_t size, uint8_t kind, uint8_t what) noexcept nogil:
    # Room is guaranteed by _run (it drains before a record could overflow).
    cdef hop_t* q = &m.queue[m.nqueue]
    q.addr = addr
    q.size = size
    q.kind = kind
    q.what = what
    m.nqueue += 1


cdef enum:
    # Operations one record can queue at most: four translations (two pages,
    # twice for a modify) of WALK_MAX_REFS references, and two pieces.
    _HOP_PER_RECORD = 4 * WALK_MAX_REFS + 2
    # How far ahead of the operation being sent the drain prefetches.
    _HOP_AHEAD = 8
    # Operations sent at once between two looks at their miss rate.
    _HOP_WINDOW = 256


cdef inline bint _send(hier_t* h, addr_t addr, uint32_t size, uint8_t kind, uint8_t what,
                       count_t* by_level) noexcept nogil:
    # One operation to the hierarchy now, a walk reference counted in
    # by_level (see _walk_ref); True if it missed its entry level.
    cdef int served
    if what == HOP_WALK:
        served = _walk_ref(h, addr, size, by_level)
    else:
        if what == HOP_PIECE:
            # The piece on the next page belongs to the same record.
            h.gst[G_RECORDS] -= 1
            if kind == KIND_IFETCH:
                h.gst[G_INSTRUCTIONS] -= 1
        served = hier_access(h, addr, size, kind)
    return served != (h.inst_entry if kind == KIND_IFETCH else h.data_entry)


cdef inline void _submit(mmu_t* m, addr_t addr, uint32_t size, uint8_t kind, uint8_t what) noexcept nogil:
    # An operation of a batch run, in program order.  Queued while at least
    # a quarter of the operations miss their entry level (judged over each
    # drained stretch); else sent at once, with the misses counted over
    # windows of _HOP_WINDOW operations to notice when to queue again.
    if m.queueing:
        _queue(m, addr, size, kind, what)
        return
    m.win_misses += _send(m.hier, addr, size, kind, what, m.stats + MMU_STAT_SERVED)
    m.win_ops += 1
    if m.win_ops == _HOP_WINDOW:
        m.queueing = 4 * m.win_misses >= m.win_ops
        m.win_ops = m.win_misses = 0


cdef bint _send_all(hier_t* h, const hop_t* queue, intp_t n, bint prefetch, count_t* by_level) noexcept nogil:
    # Send n operations to the hierarchy h, in order (with `prefetch`, the sets
    # of the one _HOP_AHEAD places ahead prefetched); True if a quarter or
    # more of them missed their entry level (prefetching pays).
    cdef intp_t k, misses = 0
    cdef const hop_t* q
    for k in range(n):
        if prefetch and k + _HOP_AHEAD < n:
            q = &queue[k + _HOP_AHEAD]
            hier_prefetch(h, q.addr, q.kind)
        q = &queue[k]
        misses += _send(h, q.addr, q.size, q.kind, q.what, by_level)
    return 4 * misses >= n


cdef void _drain(mmu_t* m) noexcept nogil:
    # Send the queued operations, prefetching, and judge whether to go on
    # queueing.
    m.queueing = _send_all(m.hier, m.queue, m.nqueue, True, m.stats + MMU_STAT_SERVED)
    m.nqueue = 0


# -- Two threads ------------------------------------------------------------
#
# Translation never depends on the caches, and the caches see the same
# operations in the same order whichever thread sends them.  So a run with
# ``threads`` 2 hands its operations over, a chunk of HOP_QUEUE at a time
# through the ring (ring_t), to a second thread that sends them while the
# first translates on: the two halves of a record's cost overlap and every
# count is the one a single thread makes.  The translating thread never
# touches the hierarchy then, and the sending thread touches nothing else
# (its walk-reference counts go to the ring, added up at the end).  The
# second thread starts only once _SPAWN_AFTER records of a run have gone by
# without an event, so runs that events cut short never pay for it, and it
# is joined before the run returns.

cdef extern from "memcore/_ring.h" nogil:
    intp_t memcore_load_acquire(const intp_t* p)
    void memcore_store_release(intp_t* p, intp_t v)
    int memcore_sync_init(memcore_ring_sync* s)
    void memcore_sync_destroy(memcore_ring_sync* s)
    void memcore_ring_wait(memcore_ring_sync* s, const intp_t* word, intp_t seen, const intp_t* stop)
    void memcore_ring_notify(memcore_ring_sync* s)
    ctypedef void* (*memcore_thread_fn)(void*) noexcept nogil
    int memcore_thread_start(memcore_thread_fn fn, void* arg, void** handle)
    void memcore_thread_join(void* handle)

cdef enum:
    # Records of a run sent by the translating thread before the second
    # thread starts (and at least as many must be left for it to start).
    _SPAWN_AFTER = 8192


cdef void* _sender(void* arg) noexcept nogil:
    # The sending thread: each chunk handed over, in order, to the hierarchy.
    # It reads nothing of the mmu_t, which the translating thread keeps
    # writing: the hierarchy comes through the ring.
    cdef ring_t* r = <ring_t*>arg
    cdef intp_t c = 0, k
    while True:
        while memcore_load_acquire(&r.produced) == c:
            if memcore_load_acquire(&r.done) and memcore_load_acquire(&r.produced) == c:
                return NULL
            memcore_ring_wait(&r.sync, &r.produced, c, &r.done)
        k = c % RING_CHUNKS
        r.prefetch = _send_all(r.hier, r.bufs + k * HOP_QUEUE, r.count[k], r.prefetch, r.served)
        c += 1
        memcore_store_release(&r.consumed, c)
        memcore_ring_notify(&r.sync)


cdef bint _ring_start(mmu_t* m) noexcept nogil:
    # Send what is queued, then start the sending thread and queue into the
    # ring from now on; False (nothing changed) if no thread could start.
    cdef ring_t* r = <ring_t*>malloc(sizeof(ring_t))
    cdef hop_t* bufs = <hop_t*>malloc(RING_CHUNKS * HOP_QUEUE * sizeof(hop_t))
    if r == NULL or bufs == NULL:
        free(r)
        free(bufs)
        return False
    if m.nqueue:
        _drain(m)
    memset(r, 0, sizeof(ring_t))
    if memcore_sync_init(&r.sync) != 0:
        free(bufs)
        free(r)
        return False
    r.bufs = bufs
    r.prefetch = m.queueing
    r.hier = m.hier
    m.ring = r
    if memcore_thread_start(_sender, r, &r.thread) != 0:
        m.ring = NULL
        memcore_sync_destroy(&r.sync)
        free(bufs)
        free(r)
        return False
    m.queue = bufs
    m.nqueue = 0
    m.queueing = True
    return True


cdef intp_t _publish(ring_t* r, intp_t n) noexcept nogil:
    # Hand the chunk being filled (n operations) to the sending thread;
    # return the number of chunks handed over.
    cdef intp_t p = r.produced     # only this thread writes it
    r.count[p % RING_CHUNKS] = n
    p += 1
    memcore_store_release(&r.produced, p)
    memcore_ring_notify(&r.sync)
    return p


cdef void _hand_over(mmu_t* m) noexcept nogil:
    # Hand the chunk being filled to the sending thread; fill the next one
    # once that thread is done with it.
    cdef ring_t* r = m.ring
    cdef intp_t p, done
    if m.nqueue == 0:
        return
    p = _publish(r, m.nqueue)
    while True:
        done = memcore_load_acquire(&r.consumed)
        if p - done < RING_CHUNKS:
            break
        memcore_ring_wait(&r.sync, &r.consumed, done, NULL)
    m.queue = r.bufs + (p % RING_CHUNKS) * HOP_QUEUE
    m.nqueue = 0


cdef void _ring_stop(mmu_t* m) noexcept nogil:
    # Hand over the last chunk, wait for the sending thread to send it, and
    # take the thread's counts back.
    cdef ring_t* r = m.ring
    cdef int k
    if m.nqueue:
        _publish(r, m.nqueue)
    memcore_store_release(&r.done, 1)
    memcore_ring_notify(&r.sync)
    memcore_thread_join(r.thread)
    memcore_sync_destroy(&r.sync)
    for k in range(MMU_MAX_SERVED):
        m.stats[MMU_STAT_SERVED + k] += r.served[k]
    m.queueing = r.prefetch
    m.ring = NULL
    m.queue = NULL
    m.nqueue = 0
    free(r.bufs)
    free(r)


cdef int _walk(mmu_t* m, addr_t va, uint8_t access, uint8_t cpl, walk_result_t* res) noexcept nogil:
    # A page walk, starting below the deepest walk-cache hit.
    cdef pt_state_t* pt = m.pt
    cdef int level, rc, k, served
    cdef tlb_hit_t h
    cdef uint8_t start = pt.levels
    cdef addr_t table = pt.cr3
    cdef uint8_t rights = RIGHTS_TOP
    cdef int nrec
    m.stats[MMU_STAT_WALKS] += 1
    if pt.paging == PAGING_INVERTED:
        rc = pt_walk_asid(pt, va, access, cpl, <uint16_t>m.asid, res)
    else:
        for level in range(2, pt.levels + 1):
            if m.pwc[level] != NULL and tlb_lookup(m.pwc[level], va, m.asid, &h):
                start = <uint8_t>(level - 1)
                table = h.pfn << 12
                rights = _flags_to_rights(h.flags)
                m.stats[MMU_STAT_PWC_HITS] += 1
                break
        rc = pt_walk_from(pt, va, access, cpl, start, table, rights, res)
    m.stats[MMU_STAT_WALK_REFS] += res.n_refs
    nrec = <int>res.n_refs if res.n_refs < WALK_MAX_REFS else WALK_MAX_REFS
    if m.walk_refs:
        for k in range(nrec):
            if m.queue != NULL:
                _submit(m, res.ref_addr[k], <uint32_t>m.entry_size, KIND_LOAD, HOP_WALK)
            else:
                _walk_ref(m.hier, res.ref_addr[k], <uint32_t>m.entry_size, m.stats + MMU_STAT_SERVED)
    if rc == WALK_OK:
        for k in range(nrec):
            level = res.ref_level[k]
            if 2 <= level <= MMU_MAX_LEVEL and res.ref_next[k] != 0 and m.pwc[level] != NULL:
                tlb_insert(m.pwc[level], va, m.asid, pt.level_shift[level], res.ref_next[k] >> 12,
                           _rights_to_flags(res.ref_rights[k]))
    return rc


cdef int mmu_translate(mmu_t* m, addr_t va, uint8_t access, uint8_t cpl, mmu_result_t* out) noexcept nogil:
    cdef int rc
    cdef int entry = m.inst_entry if access == ACCESS_EXEC else m.data_entry
    cdef tlb_t* t
    cdef const tlb_entry_t* e
    if entry >= 0:
        # Another hit in the current run of the entry level?
        t = m.tlb[entry]
        if (t.memo_entry >= 0 and t.memo_entry == m.run_entry[entry] and m.run_page[entry] == (va >> 12)
                and m.run_asid[entry] == m.asid):
            e = &t.entries[t.memo_entry]
            if (pt_permitted(m.pt, _flags_to_rights(e.flags), access, cpl)
                    and not (access == ACCESS_WRITE and not (e.flags & TLB_DIRTY))):
                m.run_count[entry] += 1
                out.pa = (e.pfn << 12) | (va & ((<uint64_t>1 << e.shift) - 1))
                out.shift = e.shift
                out.error_code = 0
                return MMU_OK
    if m.run_count[m.run_level[0]] or m.run_count[m.run_level[1]]:
        mmu_sync(m)
    rc = _translate(m, entry, va, access, cpl, out)
    if rc == MMU_OK and entry >= 0:
        t = m.tlb[entry]
        if t.memo_entry >= 0 and t.memo_page == (va >> 12) and t.memo_asid == m.asid:
            m.run_entry[entry] = t.memo_entry
            m.run_page[entry] = va >> 12
            m.run_asid[entry] = m.asid
    return rc


cdef int _translate(mmu_t* m, int l, addr_t va, uint8_t access, uint8_t cpl, mmu_result_t* out) noexcept nogil:
    # The full translation, from entry level l (-1: walk).
    cdef int fill[MMU_MAX_TLBS]
    cdef int nfill = 0, k, rc
    cdef tlb_hit_t h
    cdef walk_result_t res
    cdef bint hit = False
    cdef uint8_t flags, shift, orig
    cdef pfn_t base
    m.stats[MMU_STAT_TRANSLATIONS] += 1
    while l >= 0:
        if tlb_lookup(m.tlb[l], va, m.asid, &h):
            hit = True
            break
        fill[nfill] = l
        nfill += 1
        l = m.tlb_next[l]
    if hit:
        if not pt_permitted(m.pt, _flags_to_rights(h.flags), access, cpl):
            m.stats[MMU_STAT_FAULTS] += 1
            _fault_invalidate(m, va)
            out.error_code = X86_PF_PROT | pt_error_bits(m.pt, access, cpl)
            return MMU_PF
        if not (access == ACCESS_WRITE and not (h.flags & TLB_DIRTY)):
            shift = h.shift
            if nfill:
                # Fill the levels above with the page as the page tables map
                # it (a fractured entry gives back its whole page).
                orig = m.tlb[l].entries[h.entry].orig_shift
                base = h.pfn - ((((va & ((<uint64_t>1 << orig) - 1)) >> shift) << shift) >> 12)
                for k in range(nfill):
                    tlb_insert(m.tlb[fill[k]], va, m.asid, orig, base, h.flags)
            out.pa = (h.pfn << 12) | (va & ((<uint64_t>1 << shift) - 1))
            out.shift = shift
            out.error_code = 0
            return MMU_OK
        # A store through a clean entry: the processor walks to set D.
        m.stats[MMU_STAT_DIRTY_WALKS] += 1
        fill[nfill] = l
        nfill += 1
    rc = _walk(m, va, access, cpl, &res)
    if rc != WALK_OK:
        m.stats[MMU_STAT_FAULTS] += 1
        _fault_invalidate(m, va)
        out.error_code = res.error_code
        return MMU_GP if rc == WALK_GP else MMU_PF
    flags = _rights_to_flags(res.rights)
    if res.leaf & PAGE_DIRTY:
        flags |= TLB_DIRTY
    if res.leaf & PAGE_GLOBAL:
        flags |= TLB_GLOBAL
    base = (res.pa >> res.page_shift << res.page_shift) >> 12
    for k in range(nfill):
        tlb_insert(m.tlb[fill[k]], va, m.asid, res.page_shift, base, flags)
    out.pa = res.pa
    out.shift = res.page_shift
    out.error_code = 0
    return MMU_OK


ctypedef struct run_event_t:
    intp_t index
    int kind
    addr_t vaddr
    uint8_t access
    int fault
    uint32_t error_code
    uint32_t asid


ctypedef struct space_table_t:
    pt_state_t** pts
    const uint32_t* asids
    intp_t n
    bint pcid
    intp_t last


cdef bint _switch(mmu_t* m, space_table_t* sp, uint32_t asid) noexcept nogil:
    # Make `asid` the current address space (CR3 write); False if unknown.
    cdef intp_t k, found = -1
    cdef int j
    if sp.last >= 0 and sp.asids[sp.last] == asid:
        found = sp.last
    else:
        for k in range(sp.n):
            if sp.asids[k] == asid:
                found = k
                break
    if found < 0:
        return False
    sp.last = found
    if m.asid != asid or m.pt != sp.pts[found]:
        mmu_sync(m)
        if not sp.pcid:
            # Without PCIDs a CR3 write drops every non-global translation.
            for j in range(m.ntlbs):
                tlb_flush_all(m.tlb[j], True)
            for j in range(2, MMU_MAX_LEVEL + 1):
                if m.pwc[j] != NULL:
                    tlb_flush_all(m.pwc[j], False)
        m.asid = asid
        m.pt = sp.pts[found]
    return True


cdef inline int _translate_span(mmu_t* m, addr_t va, uint32_t size, uint8_t access, uint8_t cpl,
                                addr_t* pa1, uint32_t* len1, addr_t* pa2, run_event_t* ev) noexcept nogil:
    # Translate every page [va, va + size) touches (at most two: size < 4 KiB).
    cdef mmu_result_t r
    cdef int rc
    cdef addr_t last = va + (size - 1)
    cdef addr_t page_end
    if last < va:
        last = <addr_t>0xFFFFFFFFFFFFFFFFULL
    rc = mmu_translate(m, va, access, cpl, &r)
    if rc != MMU_OK:
        ev.vaddr = va
        ev.access = access
        ev.fault = rc
        ev.error_code = r.error_code
        return rc
    pa1[0] = r.pa
    page_end = va | ((<addr_t>1 << r.shift) - 1)
    if last <= page_end:
        len1[0] = size
        return MMU_OK
    len1[0] = <uint32_t>(page_end - va + 1)
    rc = mmu_translate(m, page_end + 1, access, cpl, &r)
    if rc != MMU_OK:
        ev.vaddr = page_end + 1
        ev.access = access
        ev.fault = rc
        ev.error_code = r.error_code
        return rc
    pa2[0] = r.pa
    return MMU_OK


cdef intp_t _run(mmu_t* m, space_table_t* sp, const access_t* tr, intp_t start, intp_t n,
                 uint8_t cpl, run_event_t* ev) noexcept nogil:
    # With a hierarchy, its operations go through _submit (see hop_t in
    # mmu.pxd); the queue is drained before any return, so the hierarchy is
    # up to date whenever Python runs.
    cdef hop_t queue[HOP_QUEUE]
    cdef intp_t i = _run_queued(m, sp, tr, start, n, cpl, ev, queue if m.hier != NULL else NULL)
    if m.ring != NULL:
        _ring_stop(m)
    elif m.queue != NULL:
        _drain(m)
    m.queue = NULL
    return i


cdef intp_t _run_queued(mmu_t* m, space_table_t* sp, const access_t* tr, intp_t start, intp_t n,
                        uint8_t cpl, run_event_t* ev, hop_t* queue) noexcept nogil:
    cdef intp_t i
    cdef const access_t* rec
    cdef uint8_t kind, access
    cdef uint32_t size, len1
    cdef addr_t pa1 = 0, pa2 = 0
    cdef bint caches = queue != NULL
    # The record at which the sending thread starts (-1: this run stays on
    # one thread).
    cdef intp_t spawn_at = -1
    if caches and m.threads > 1 and n - start >= 2 * m.spawn_after:
        spawn_at = start + m.spawn_after
    m.queue = queue
    m.nqueue = 0
    ev.kind = EV_NONE
    for i in range(start, n):
        if caches and m.nqueue > HOP_QUEUE - _HOP_PER_RECORD:
            if m.ring != NULL:
                _hand_over(m)
            else:
                _drain(m)
        if i == spawn_at:
            _ring_start(m)
        rec = &tr[i]
        kind = rec.kind
        if kind == KIND_FLUSH:
            if caches:
                _submit(m, rec.addr, 1, KIND_FLUSH, HOP_DATA)
            continue
        if rec.pid != m.asid or m.pt == NULL:
            if not _switch(m, sp, rec.pid):
                ev.kind = EV_NEW_SPACE
                ev.index = i
                ev.asid = rec.pid
                return i
        size = rec.size if rec.size else 1
        access = ACCESS_EXEC if kind == KIND_IFETCH else (ACCESS_WRITE if kind == KIND_STORE else ACCESS_READ)
        if _translate_span(m, rec.addr, size, access, cpl, &pa1, &len1, &pa2, ev) != MMU_OK:
            ev.kind = EV_FAULT
            ev.index = i
            ev.asid = rec.pid
            return i
        if kind == KIND_MODIFY:
            # The store half translates again (and hits, or walks to set D).
            if _translate_span(m, rec.addr, size, ACCESS_WRITE, cpl, &pa1, &len1, &pa2, ev) != MMU_OK:
                ev.kind = EV_FAULT
                ev.index = i
                ev.asid = rec.pid
                return i
        if caches:
            _submit(m, pa1, len1, kind, HOP_DATA)
            if len1 < size:
                _submit(m, pa2, size - len1, kind, HOP_PIECE)
    return n


# ---------------------------------------------------------------------------
# Python face
# ---------------------------------------------------------------------------

#: Names of the MMU's own counters (:meth:`MMU.stats` ``walks`` and totals).
STAT_NAMES = ("translations", "walks", "walk_cache_hits", "memory_references", "dirty_walks", "faults")


def _check_tlb_chain(levels, data_entry, inst_entry):
    names = [name for name, _, _ in levels]
    if len(names) != len(set(names)):
        raise ValueError(f"tlbs: names must be unique, got {names}")
    if len(names) > MMU_MAX_TLBS:
        raise ValueError(f"tlbs: at most {MMU_MAX_TLBS} TLB levels, got {len(names)}")
    for name, tlb, nxt in levels:
        if not isinstance(tlb, TLB):
            raise ValueError(f"tlb.{name}: expected a memcore.tlb.TLB, got {tlb!r}")
        if nxt is not None and nxt not in names:
            raise ValueError(f"tlb.{name}.next: no TLB named {nxt!r} (TLBs: {', '.join(names)}; "
                             "omit next for the page walker)")
    for entry, what in ((data_entry, "data_entry"), (inst_entry, "inst_entry")):
        if entry is not None and entry not in names:
            raise ValueError(f"{what}: no TLB named {entry!r} (TLBs: {', '.join(names) or 'none'})")
    nxt = {name: n for name, _, n in levels}
    for name in names:
        seen = [name]
        node = nxt[name]
        while node is not None:
            if node in seen:
                raise ValueError(f"tlb.{name}.next: TLB levels form a cycle ({' -> '.join(seen + [node])})")
            seen.append(node)
            node = nxt[node]


cdef class MMU:
    """A memory-management unit: TLB levels, walk caches and the page walker.

    Parameters
    ----------
    tlbs : list of (str, memcore.tlb.TLB, str or None)
        The TLB levels as ``(name, level, next)``: ``next`` names the level a
        miss looks up next, None for the page walker.  May be empty (every
        translation walks).
    data_entry, inst_entry : str or None
        The level loads and stores (instruction fetches) look up first; None
        means they go straight to the walker.
    paging : str, optional
        The page-table organisation of the address spaces (one of
        :data:`memcore.pagetable.PAGING_NAMES`, default ``"x86_64-4level"``).
    walk_caches : dict, optional
        Entries of each page-walk cache, by name (``"PDE"``, ``"PDPTE"``,
        ``"PML4E"``, ``"PML5E"``, those :data:`WALK_CACHES_OF` the paging
        allows); each is fully associative with LRU replacement.  0 or absent:
        no such cache.
    hierarchy : memcore.hierarchy.Hierarchy, optional
        Where page-walk references go (as 8-byte loads, 4-byte with 2-level
        paging, entering at the hierarchy's data entry level) and where
        :meth:`run` sends the physical accesses.  None: walk references are
        counted but not cached.
    walk_through_caches : bool, optional
        Send walk references through `hierarchy` (default True).
    pcid : bool, optional
        True (default): translations are tagged with the address space (PCID)
        and switching spaces flushes nothing; False: switching drops every
        non-global translation and the walk caches (CR3 write without PCID).
    threads : int, optional
        Host threads :meth:`run` may use: 1, or 2 to send the physical
        accesses to `hierarchy` from a second thread while the first
        translates (long runs only; the results are the same).  Default
        (None): the environment variable ``MEMCORE_THREADS`` (``1`` or
        ``2``) if set, else 2 when this process may run on two or more
        CPUs, else 1.  Set it to 1 when as many processes as cores replay
        at once (a parameter sweep): each waiting thread then takes CPU time
        the other processes need.

    Attributes
    ----------
    tlbs : dict
        Name -> :class:`memcore.tlb.TLB`, in the order given.
    walk_caches : dict
        Name -> :class:`memcore.tlb.TLB` of each walk cache.
    spaces : dict
        ASID -> :class:`memcore.pagetable.PageTable` attached.
    threads : int
        Host threads :meth:`run` uses (see the parameter); may be set.
    """
    cdef mmu_t m
    cdef readonly dict tlbs
    cdef readonly dict next_level
    cdef readonly dict walk_caches
    cdef readonly dict spaces
    cdef readonly str paging
    cdef readonly object hierarchy
    cdef readonly object data_entry, inst_entry
    cdef readonly bint pcid, walk_through_caches
    cdef object _stats
    cdef object _space_pts
    cdef object _space_asids
    cdef space_table_t sp

    def __init__(self, tlbs=(), data_entry=None, inst_entry=None, *, paging="x86_64-4level",
                 walk_caches=None, hierarchy=None, walk_through_caches=True, pcid=True, threads=None):
        levels = [(str(name), tlb, None if nxt is None else str(nxt)) for name, tlb, nxt in tlbs]
        _check_tlb_chain(levels, data_entry, inst_entry)
        if paging not in PAGING_NAMES:
            raise ValueError(f"paging: expected one of {', '.join(PAGING_NAMES)}, got {paging!r}")
        walk_caches = dict(walk_caches or {})
        allowed = WALK_CACHES_OF[paging]
        for name, entries in walk_caches.items():
            if name not in allowed:
                raise ValueError(f"walk_caches: {paging} paging has no {name} cache "
                                 f"(it can have {', '.join(allowed) or 'none'})")
            if not isinstance(entries, (int, np.integer)) or isinstance(entries, bool) or entries < 0:
                raise ValueError(f"walk_caches: {name} needs a number of entries >= 0, got {entries!r}")
        if hierarchy is not None and not isinstance(hierarchy, Hierarchy):
            raise ValueError(f"hierarchy: expected a memcore.hierarchy.Hierarchy, got {hierarchy!r}")
        self.tlbs = {name: tlb for name, tlb, _ in levels}
        self.next_level = {name: nxt for name, _, nxt in levels}
        self.data_entry = data_entry
        self.inst_entry = inst_entry
        self.paging = paging
        self.hierarchy = hierarchy
        self.walk_through_caches = bool(walk_through_caches)
        self.pcid = bool(pcid)
        self.spaces = {}
        self._stats = own_lines(MMU_N_STATS, np.uint64)   # written on every translation (memcore._hostmem)
        # The page size of a walk cache is the region one entry at its level
        # maps; it is fixed by the paging organisation.
        shifts = _level_shifts(paging)
        self.walk_caches = {}
        for name in allowed:
            entries = int(walk_caches.get(name, 0))
            if entries:
                self.walk_caches[name] = TLB(entries, 0, [1 << shifts[WALK_CACHE_LEVELS[name]]], policy="lru")
        self._space_pts = np.zeros(0, dtype=np.uintp)
        self._space_asids = np.zeros(0, dtype=np.uint32)
        self._bind()
        self.threads = threads
        self.m.spawn_after = _SPAWN_AFTER

    @property
    def threads(self):
        """int: Host threads :meth:`run` uses, 1 or 2 (see the class)."""
        return self.m.threads

    @threads.setter
    def threads(self, value):
        if value is None:
            value = _default_threads()
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value not in (1, 2):
            raise ValueError(f"threads: expected 1 or 2 (or None for the default), got {value!r}")
        self.m.threads = int(value)

    cdef void _bind(self):
        cdef int k
        cdef TLB t
        names = list(self.tlbs)
        self.m.ntlbs = len(names)
        for k, name in enumerate(names):
            t = self.tlbs[name]
            self.m.tlb[k] = &t.c
            nxt = self.next_level[name]
            self.m.tlb_next[k] = -1 if nxt is None else names.index(nxt)
        self.m.data_entry = -1 if self.data_entry is None else names.index(self.data_entry)
        self.m.inst_entry = -1 if self.inst_entry is None else names.index(self.inst_entry)
        self.m.run_level[0] = max(self.m.data_entry, 0)
        self.m.run_level[1] = max(self.m.inst_entry, 0)
        for k in range(MMU_MAX_TLBS):
            self.m.run_entry[k] = -1
            self.m.run_page[k] = 0
            self.m.run_asid[k] = 0
            self.m.run_count[k] = 0
        for k in range(MMU_MAX_LEVEL + 1):
            self.m.pwc[k] = NULL
        for name, t in self.walk_caches.items():
            self.m.pwc[WALK_CACHE_LEVELS[name]] = &t.c
        self.m.ring = NULL
        # The physical accesses of run() go to the hierarchy whenever there
        # is one; the walker's references only with walk_through_caches.
        self.m.hier = NULL
        if self.hierarchy is not None:
            self.m.hier = &(<Hierarchy>self.hierarchy).h
        self.m.walk_refs = self.m.hier != NULL and self.walk_through_caches
        self.m.entry_size = 4 if self.paging == "i386-2level" else 8
        self.m.stats = <count_t*>cnp.PyArray_DATA(self._stats)
        self.m.pt = NULL
        self.m.asid = 0
        self.sp.last = -1
        self.sp.pcid = self.pcid
        self._bind_spaces()

    cdef void _bind_spaces(self):
        self.sp.pts = <pt_state_t**>cnp.PyArray_DATA(self._space_pts)
        self.sp.asids = <const uint32_t*>cnp.PyArray_DATA(self._space_asids)
        self.sp.n = self._space_asids.shape[0]
        self.sp.last = -1

    def _set_spawn_after(self, records):
        # Tests: start the second thread of a run after `records` records
        # (and only when as many are left) instead of _SPAWN_AFTER, so that
        # short traces cross the hand-over.
        if records < 0:
            raise ValueError("records: expected >= 0")
        self.m.spawn_after = records

    # -- checkpoints ---------------------------------------------------------
    def __reduce__(self):
        tlbs = [(name, t, self.next_level[name]) for name, t in self.tlbs.items()]
        sizes = {name: len(t) for name, t in self.walk_caches.items()}
        return (_restore_mmu, ((tlbs, self.data_entry, self.inst_entry, self.paging, sizes, self.hierarchy,
                                self.walk_through_caches, self.pcid, self.threads),
                               (dict(self.walk_caches), dict(self.spaces), self._stats.copy())))

    def _restore(self, walk_caches, spaces, stats):
        for name, t in walk_caches.items():
            if name not in self.walk_caches or len(t) != len(self.walk_caches[name]):
                raise ValueError(f"walk_caches: {name} does not match this MMU")
            self.walk_caches[name] = t
        self._stats[...] = stats
        self._bind()
        for asid, table in spaces.items():
            self.attach(asid, table)

    # -- address spaces ------------------------------------------------------
    def attach(self, asid, pagetable):
        """Give address space `asid` its page table.

        Parameters
        ----------
        asid : int
            Address-space identifier (PCID; the ``pid`` of trace records),
            0..2**32-1 (0..65535 with the inverted table).
        pagetable : memcore.pagetable.PageTable
            Its page table, of this MMU's paging organisation.  With the
            inverted table every address space shares the one table.

        Raises
        ------
        ValueError
            If the table's organisation is not the MMU's or `asid` is taken.
        """
        if not isinstance(pagetable, PageTable):
            raise ValueError(f"pagetable: expected a memcore.pagetable.PageTable, got {pagetable!r}")
        if pagetable.paging != self.paging:
            raise ValueError(f"pagetable: this MMU walks {self.paging} tables, got a {pagetable.paging} one")
        asid = _check_asid(asid, self.paging)
        if asid in self.spaces:
            raise ValueError(f"asid: address space {asid} already has a page table")
        self.spaces[asid] = pagetable
        cdef PageTable pt = pagetable
        self._space_pts = np.append(self._space_pts, np.uintp(<size_t>&pt.st))
        self._space_asids = np.append(self._space_asids, np.uint32(asid))
        self._bind_spaces()

    cdef int _enter(self, uint32_t asid) except -1:
        if not _switch(&self.m, &self.sp, asid):
            raise ValueError(f"asid: no page table attached for address space {asid}")
        return 0

    # -- translation -----------------------------------------------------------
    def translate(self, vaddr, kind=KIND_LOAD, asid=0, cpl=3):
        """Translate one address; see :meth:`translate_batch`.

        Returns
        -------
        Translated
        """
        return self.translate_batch(np.array([vaddr], dtype=np.uint64), np.array([kind], dtype=np.uint8),
                                    asid=asid, cpl=cpl)

    def translate_batch(self, vaddrs, kinds, asid=0, cpl=3):
        """Translate addresses in order, in one nogil loop, up to the first fault.

        Parameters
        ----------
        vaddrs : array_like of uint64
            Virtual addresses.
        kinds : array_like of int or int
            Access kind of each (0 ifetch, 1 load, 2 store, 3 modify: a load
            then a store), or one kind for all.
        asid : int, optional
            The address space (must be attached).
        cpl : int, optional
            Privilege level 0..3 (3, user, by default).

        Returns
        -------
        Translated
            ``count == len(vaddrs)`` when every address translated; else the
            fault of address ``count`` (``paddrs[count:]`` are 0).  The fault
            has invalidated the TLB and walk-cache entries for that address;
            resume with ``vaddrs[count:]`` once it is handled.

        Raises
        ------
        ValueError
            On a kind outside 0..3, a bad `cpl`, or an unattached `asid`.
        """
        cdef cnp.ndarray va = np.ascontiguousarray(vaddrs, dtype=np.uint64).reshape(-1)
        cdef intp_t n = va.shape[0]
        raw = np.asarray(kinds)
        if raw.ndim == 0:
            raw = np.full(n, raw)
        raw = raw.reshape(-1)
        if raw.shape[0] != n:
            raise ValueError(f"kinds: {raw.shape[0]} kinds for {n} addresses")
        if n and (raw.min() < 0 or raw.max() > KIND_MODIFY):
            raise ValueError("kinds: values must be 0 (ifetch), 1 (load), 2 (store) or 3 (modify)")
        cdef cnp.ndarray kd = np.ascontiguousarray(raw, dtype=np.uint8)
        cdef uint8_t c = _check_cpl(cpl)
        self._enter(_check_asid(asid, self.paging))
        paddrs = np.zeros(n, dtype=np.uint64)
        cdef uint64_t* out = <uint64_t*>cnp.PyArray_DATA(paddrs)
        cdef const uint64_t* v = <const uint64_t*>cnp.PyArray_DATA(va)
        cdef const uint8_t* k = <const uint8_t*>cnp.PyArray_DATA(kd)
        cdef intp_t i = 0
        cdef int rc = MMU_OK
        cdef mmu_result_t r
        cdef uint8_t access
        with nogil:
            while i < n:
                access = ACCESS_EXEC if k[i] == KIND_IFETCH else (
                    ACCESS_WRITE if k[i] == KIND_STORE else ACCESS_READ)
                rc = mmu_translate(&self.m, v[i], access, c, &r)
                if rc == MMU_OK and k[i] == KIND_MODIFY:
                    rc = mmu_translate(&self.m, v[i], ACCESS_WRITE, c, &r)
                if rc != MMU_OK:
                    break
                out[i] = r.pa
                i += 1
            mmu_sync(&self.m)
        if rc == MMU_OK:
            return Translated(paddrs, int(n), None, 0, None)
        return Translated(paddrs, int(i), _FAULT_NAMES[rc], int(r.error_code), int(v[i]))

    def invlpg(self, vaddr, asid=0):
        """INVLPG in address space `asid`.

        Invalidates the translations of the page holding `vaddr` in every
        TLB level (that ASID's and global entries) and every walk-cache entry
        of that ASID.
        """
        self._enter(_check_asid(asid, self.paging))
        mmu_invlpg(&self.m, _check_u64(vaddr, "vaddr"))

    def flush_asid(self, asid):
        """Invalidate the non-global translations of `asid` everywhere (INVPCID single-context)."""
        cdef uint32_t a = _check_asid(asid, self.paging)
        cdef int k
        for k in range(self.m.ntlbs):
            tlb_flush_asid(self.m.tlb[k], a)
        for k in range(2, MMU_MAX_LEVEL + 1):
            if self.m.pwc[k] != NULL:
                tlb_flush_asid(self.m.pwc[k], a)

    def flush_all(self, keep_global=False):
        """Invalidate every translation (``keep_global``: all but the global ones) and the walk caches."""
        cdef int k
        for k in range(self.m.ntlbs):
            tlb_flush_all(self.m.tlb[k], bool(keep_global))
        for k in range(2, MMU_MAX_LEVEL + 1):
            if self.m.pwc[k] != NULL:
                tlb_flush_all(self.m.pwc[k], False)

    # -- trace replay ------------------------------------------------------------
    def run(self, trace, on_event=None, cpl=3):
        """Replay a trace of virtual accesses through the MMU and its hierarchy.

        Each record is translated in the address space of its ``pid`` (once
        per page it touches; a modify for its load and again for its store),
        then its physical bytes go through the hierarchy (a record split by a
        page boundary goes as two pieces of one record).  Flush records go
        straight to the hierarchy.  Everything runs in one nogil loop that
        returns to Python only for an event: a fault, or a record whose
        address space has no page table yet.  With :attr:`threads` 2 a long
        run sends the physical accesses from a second host thread while
        this one translates; the counts are the same.

        Parameters
        ----------
        trace : numpy.ndarray
            Records of :data:`memcore.access.ACCESS_DTYPE`.
        on_event : callable, optional
            Called with each :class:`RunEvent`; it must resolve it (map the
            page, :meth:`attach` the address space) and return, and the
            replay resumes at the event's record, which starts over (its TLB
            lookups and walk are counted again, as a restarted instruction's
            are).  It may raise to stop.  Without it the first event raises.
        cpl : int, optional
            Privilege level of the accesses (3).

        Returns
        -------
        int
            Number of events handled.

        Raises
        ------
        ValueError
            If a record has an unknown kind (nothing is replayed then), or an
            event occurs without `on_event`, or `on_event` leaves it
            unresolved (the same event again at once).
        """
        if not isinstance(trace, np.ndarray) or trace.dtype != ACCESS_DTYPE:
            raise ValueError("trace: expected a numpy array of memcore.access.ACCESS_DTYPE records")
        tr = np.ascontiguousarray(trace).reshape(-1)
        if tr.shape[0] == 0:
            return 0
        kinds = tr["kind"]
        if kinds.max() > KIND_FLUSH:
            bad = int(np.argmax(kinds > KIND_FLUSH))
            raise ValueError(f"trace: record {bad} has unknown kind {int(kinds[bad])}")
        cdef uint8_t c = _check_cpl(cpl)
        cdef intp_t start = 0
        events = 0
        last = None
        while True:
            ev = self._run_from(tr, start, c)
            if ev is None:
                return events
            if on_event is None:
                raise ValueError(f"trace: record {ev.index}: {_describe(ev)} and no on_event handler")
            if ev == last:
                raise ValueError(f"trace: record {ev.index}: {_describe(ev)} again after on_event handled it")
            on_event(ev)
            events += 1
            last = ev
            start = ev.index

    cdef object _run_from(self, tr, intp_t start, uint8_t cpl):
        cdef const access_t* p = <const access_t*>cnp.PyArray_DATA(tr)
        cdef intp_t n = tr.shape[0]
        cdef run_event_t ev
        with nogil:
            _run(&self.m, &self.sp, p, start, n, cpl, &ev)
            mmu_sync(&self.m)
        if ev.kind == EV_NONE:
            return None
        if ev.kind == EV_NEW_SPACE:
            return RunEvent(int(ev.index), "new_space", None, None, None, 0, int(ev.asid))
        return RunEvent(int(ev.index), "fault", int(ev.vaddr), _ACCESS_NAMES[ev.access],
                        _FAULT_NAMES[ev.fault], int(ev.error_code), int(ev.asid))

    # -- statistics ---------------------------------------------------------------
    def stats(self):
        """Return every counter as plain data.

        Returns
        -------
        dict
            ``translations``; ``tlbs`` (name -> the level's
            :meth:`~memcore.tlb.TLB.stats`); ``walks``: ``count``,
            ``walk_cache_hits`` (walks that started below the root thanks to
            a walk cache), ``memory_references`` (entries read),
            ``dirty_walks`` (walks made to set a dirty bit), ``served`` (walk
            references per cache level name and ``memory``, when they go
            through the hierarchy), ``cache_hits`` and ``cache_misses`` (those
            served by a cache / by memory), ``caches`` (name -> each walk
            cache's statistics); ``faults``.
        """
        s = self._stats
        served = {}
        hits = misses = 0
        if self.m.walk_refs:
            names = list(self.hierarchy.level_names)
            for i, name in enumerate(names):
                served[name] = int(s[MMU_STAT_SERVED + i])
                hits += served[name]
            served["memory"] = misses = int(s[MMU_STAT_SERVED + len(names)])
        return {
            "translations": int(s[MMU_STAT_TRANSLATIONS]),
            "tlbs": {name: t.stats() for name, t in self.tlbs.items()},
            "walks": {
                "count": int(s[MMU_STAT_WALKS]),
                "walk_cache_hits": int(s[MMU_STAT_PWC_HITS]),
                "memory_references": int(s[MMU_STAT_WALK_REFS]),
                "dirty_walks": int(s[MMU_STAT_DIRTY_WALKS]),
                "served": served,
                "cache_hits": hits,
                "cache_misses": misses,
                "caches": {name: t.stats() for name, t in self.walk_caches.items()},
            },
            "faults": int(s[MMU_STAT_FAULTS]),
        }

    def reset_stats(self):
        """Zero the MMU's, its TLBs' and its walk caches' counters."""
        self._stats[...] = 0
        for t in list(self.tlbs.values()) + list(self.walk_caches.values()):
            t.reset_stats()

    def __repr__(self):
        chain = ", ".join(f"{n}->{self.next_level[n] or 'walk'}" for n in self.tlbs)
        return (f"MMU({self.paging}, tlbs=[{chain}], walk_caches={ {n: len(t) for n, t in self.walk_caches.items()} },"
                f" spaces={len(self.spaces)})")


def _restore_mmu(args, state):
    tlbs, data_entry, inst_entry, paging, sizes, hierarchy, through, pcid = args[:8]
    threads = args[8] if len(args) > 8 else None    # pickled before MMUs had threads: the default
    mmu = MMU(tlbs, data_entry, inst_entry, paging=paging, walk_caches=sizes, hierarchy=hierarchy,
              walk_through_caches=through, pcid=pcid, threads=threads)
    mmu._restore(*state)
    return mmu


def _default_threads():
    """MEMCORE_THREADS if set, else 2 where this process may use two CPUs, else 1."""
    env = os.environ.get("MEMCORE_THREADS")
    if env is not None and env.strip():
        if env.strip() not in ("1", "2"):
            raise ValueError(f"MEMCORE_THREADS: expected 1 or 2, got {env!r}")
        return int(env)
    return 2 if _usable_cpus() >= 2 else 1


def _usable_cpus():
    """CPUs this process may run on (all of the machine's where that cannot be asked)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _describe(ev):
    if ev.kind == "new_space":
        return f"address space {ev.asid} has no page table"
    return f"{ev.fault} (error code {ev.error_code:#x}) on {ev.access} of {ev.vaddr:#x} in address space {ev.asid}"


def _level_shifts(paging):
    # Shift of the region one entry of each level maps (index = level).
    if paging == "i386-2level":
        return {1: 12, 2: 22}
    if paging == "i386-pae":
        return {1: 12, 2: 21, 3: 30}
    if paging == "inverted":
        return {1: 12}
    return {lv: 12 + 9 * (lv - 1) for lv in range(1, 6)}


def _check_u64(x, name):
    if not isinstance(x, (int, np.integer)) or isinstance(x, bool) or not 0 <= int(x) < 1 << 64:
        raise ValueError(f"{name}: expected an integer in 0..2**64-1, got {x!r}")
    return int(x)


def _check_asid(asid, paging):
    # Python ints on purpose: a C ``1 << 32`` would overflow an int.
    top = 0x10000 if paging == "inverted" else 0x100000000
    if not isinstance(asid, (int, np.integer)) or isinstance(asid, bool) or not 0 <= int(asid) < top:
        raise ValueError(f"asid: expected an integer in 0..{top - 1}, got {asid!r}")
    return int(asid)


def _check_cpl(cpl):
    if not isinstance(cpl, (int, np.integer)) or isinstance(cpl, bool) or not 0 <= int(cpl) <= 3:
        raise ValueError(f"cpl: expected 0..3, got {cpl!r}")
    return int(cpl)
