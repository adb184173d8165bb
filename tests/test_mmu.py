"""memcore.mmu: the translation pipeline, hand-worked and against the reference."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from memcore import access
from memcore.hierarchy import Hierarchy
from memcore.mmu import MMU
from memcore.pagetable import (PageTable, SequentialFrames, _PAGE_GLOBAL, _PAGE_NX, _PAGE_RW,
                               _PAGE_USER)
from memcore.tlb import TLB
from tests.reference.mmu import RefMMU

K4, M2, G1 = 4096, 2 << 20, 1 << 30
USER_RW = _PAGE_RW | _PAGE_USER
LOAD, STORE, IFETCH, MODIFY = access.LOAD, access.STORE, access.IFETCH, access.MODIFY

# A small Skylake-shaped core, small enough that the hypothesis test evicts;
# its STLB holds no 1 GiB pages, so they are fractured there and the dTLB
# above gets them back whole.
SHAPES = [
    ("DTLB", ([8, 4, 1], [2, 2, 0], [K4, M2, G1]), "lru", "STLB"),
    ("ITLB", ([8], [4], [[K4]]), "plru", "STLB"),
    ("STLB", ([24], [4], [[K4, M2]]), "fifo", None),
]
WALK_CACHES = {"PML4E": 2, "PDPTE": 2, "PDE": 4}


def core(walk_caches=WALK_CACHES, hierarchy=None, pcid=True, **kw):
    tlbs = [(name, TLB(*arrays, policy=policy), nxt) for name, arrays, policy, nxt in SHAPES]
    return MMU(tlbs, "DTLB", "ITLB", walk_caches=walk_caches, hierarchy=hierarchy, pcid=pcid, **kw)


def caches():
    return Hierarchy([dict(name="L1I", size=4096, line_size=64, ways=4, next="L2"),
                      dict(name="L1D", size=4096, line_size=64, ways=4, next="L2"),
                      dict(name="L2", size=65536, line_size=64, ways=8)],
                     data_entry="L1D", inst_entry="L1I")


# ---------------------------------------------------------------------------
# Hand-worked
# ---------------------------------------------------------------------------

def test_first_walk_reads_four_entries_then_the_tlb_answers():
    mmu, pt = core(), PageTable("x86_64-4level", SequentialFrames(0x100))
    mmu.attach(0, pt)
    pt.map(0x7F12_3456_7000, 0x1234_5000, K4, USER_RW)
    r = mmu.translate(0x7F12_3456_7ABC)
    assert r.count == 1 and r.fault is None and int(r.paddrs[0]) == 0x1234_5ABC
    s = mmu.stats()
    assert s["walks"]["count"] == 1 and s["walks"]["memory_references"] == 4
    assert s["tlbs"]["DTLB"]["misses"] == 1 and s["tlbs"]["STLB"]["misses"] == 1
    mmu.translate(0x7F12_3456_7000)
    s = mmu.stats()
    assert s["walks"]["count"] == 1 and s["tlbs"]["DTLB"]["hits"] == 1


def test_pde_cache_skips_three_levels_for_a_neighbouring_page():
    mmu, pt = core(), PageTable("x86_64-4level")
    mmu.attach(0, pt)
    pt.map(0x4000_0000, 0x80_0000, 2 * K4, USER_RW)
    mmu.translate(0x4000_0000)
    mmu.translate(0x4000_1000)      # same page table: the PDE cache holds its address
    w = mmu.stats()["walks"]
    assert w["count"] == 2 and w["walk_cache_hits"] == 1 and w["memory_references"] == 4 + 1
    assert w["caches"]["PDE"]["hits"] == 1


def test_two_mib_page_fills_the_2m_arrays_and_fractures_into_the_itlb():
    mmu, pt = core(), PageTable("x86_64-4level")
    mmu.attach(0, pt)
    pt.map(0x20_0000, 0x4000_0000, M2, USER_RW)
    r = mmu.translate(0x21_2345, kind=IFETCH)
    assert int(r.paddrs[0]) == 0x4001_2345
    itlb, stlb = mmu.tlbs["ITLB"], mmu.tlbs["STLB"]
    assert stlb.probe(0x3F_FFFF).page_size == M2          # the STLB holds the whole page
    assert itlb.probe(0x21_2000).page_size == K4          # the iTLB a 4 KiB piece
    assert itlb.probe(0x22_0000) is None
    mmu.translate(0x22_0000, kind=IFETCH)                 # another piece: STLB hit, no walk
    assert mmu.stats()["walks"]["count"] == 1
    assert itlb.probe(0x22_0000).paddr == 0x4002_0000


def test_a_level_above_gets_the_whole_page_back_from_a_fractured_entry():
    mmu, pt = core(), PageTable("x86_64-4level")      # this STLB holds no 1 GiB pages
    mmu.attach(0, pt)
    pt.map(1 * G1, 4 * G1, G1, USER_RW, page_size=G1)
    pt.map(2 * G1, 8 * G1, G1, USER_RW, page_size=G1)
    mmu.translate(1 * G1 + 0x1000)     # walk: the dTLB holds the page, the STLB a 2 MiB piece
    mmu.translate(2 * G1)              # evicts the first page from the dTLB's one 1 GiB entry
    assert mmu.tlbs["STLB"].probe(1 * G1 + 0x1000).page_size == M2
    mmu.translate(1 * G1 + 0x2000)     # dTLB miss, STLB hit: the dTLB gets the whole 1 GiB page
    assert mmu.tlbs["DTLB"].probe(1 * G1 + 0x3000_0000).page_size == G1
    s = mmu.stats()
    assert s["walks"]["count"] == 2 and s["tlbs"]["STLB"]["hits"] == 1


def test_user_access_to_supervisor_page_faults_with_its_error_code():
    mmu, pt = core(), PageTable("x86_64-4level")
    mmu.attach(0, pt)
    pt.map(0x1000, 0x9000, K4, _PAGE_RW)                   # supervisor only
    r = mmu.translate(0x1008, kind=LOAD, cpl=3)
    assert (r.count, r.fault, r.error_code, r.vaddr) == (0, "#PF", 0x5, 0x1008)   # P | U
    assert mmu.translate(0x1008, kind=STORE, cpl=0).fault is None
    # Now the dTLB holds it: the check on the hit faults the same way.
    r = mmu.translate(0x1008, kind=STORE, cpl=3)
    assert (r.fault, r.error_code) == ("#PF", 0x7)          # P | W | U
    assert mmu.tlbs["DTLB"].probe(0x1008) is None          # the fault dropped the entry


def test_fetch_from_nx_page_and_non_canonical_address():
    mmu, pt = core(), PageTable("x86_64-4level")
    mmu.attach(0, pt)
    pt.map(0x1000, 0x9000, K4, USER_RW | _PAGE_NX)
    assert mmu.translate(0x1000, kind=LOAD).fault is None
    r = mmu.translate(0x1000, kind=IFETCH)
    assert (r.fault, r.error_code) == ("#PF", 0x15)          # P | U | I/D
    r = mmu.translate(0x8000_0000_0000, kind=LOAD)
    assert r.fault == "#GP"


def test_store_through_a_clean_entry_walks_to_set_dirty_and_modify_translates_twice():
    mmu, pt = core(), PageTable("x86_64-4level")
    mmu.attach(0, pt)
    pt.map(0x5000, 0x7000, K4, USER_RW)
    r = mmu.translate_batch([0x5000, 0x5008, 0x5010], [LOAD, MODIFY, STORE])
    assert r.count == 3
    s = mmu.stats()
    assert s["translations"] == 4 and s["walks"]["count"] == 2 and s["walks"]["dirty_walks"] == 1
    assert pt.walk(0x5000).flags & 0x40                     # D set by the walk
    assert mmu.tlbs["DTLB"].probe(0x5000).flags & 0x10      # and in the entry


def test_batch_stops_at_first_fault_and_resumes():
    mmu, pt = core(), PageTable("x86_64-4level")
    mmu.attach(0, pt)
    pt.map(0x1000, 0x10_0000, K4, USER_RW)
    va = np.array([0x1000, 0x1004, 0x3000, 0x1008], dtype=np.uint64)
    r = mmu.translate_batch(va, LOAD)
    assert r.count == 2 and r.fault == "#PF" and r.error_code == 0x4 and r.vaddr == 0x3000
    assert list(r.paddrs[:2]) == [0x10_0000, 0x10_0004]
    pt.map(0x3000, 0x20_0000, K4, USER_RW)
    r = mmu.translate_batch(va[r.count:], LOAD)
    assert r.count == 2 and list(r.paddrs) == [0x20_0000, 0x10_0008]


def test_invlpg_and_pcid_switching():
    mmu = core()
    a, b = PageTable("x86_64-4level"), PageTable("x86_64-4level")
    mmu.attach(1, a)
    mmu.attach(2, b)
    a.map(0x1000, 0x10_0000, K4, USER_RW)
    b.map(0x1000, 0x20_0000, K4, USER_RW)
    assert int(mmu.translate(0x1000, asid=1).paddrs[0]) == 0x10_0000
    assert int(mmu.translate(0x1000, asid=2).paddrs[0]) == 0x20_0000
    assert int(mmu.translate(0x1000, asid=1).paddrs[0]) == 0x10_0000   # tagged: still cached
    assert mmu.stats()["walks"]["count"] == 2
    a.unmap(0x1000, K4)
    mmu.invlpg(0x1000, asid=1)
    assert mmu.translate(0x1000, asid=1).fault == "#PF"
    assert int(mmu.translate(0x1000, asid=2).paddrs[0]) == 0x20_0000
    # Without PCIDs every switch drops the non-global translations.
    flat = core(pcid=False)
    flat.attach(1, PageTable("x86_64-4level"))
    flat.attach(2, b)
    flat.translate(0x1000, asid=2)
    flat.translate(0x1000, asid=2)
    assert flat.stats()["walks"]["count"] == 1
    with pytest.raises(ValueError, match="asid"):
        flat.translate(0x1000, asid=3)


def test_walk_references_go_through_the_data_caches():
    h = caches()
    mmu, pt = core(hierarchy=h), PageTable("x86_64-4level")
    mmu.attach(0, pt)
    pt.map(0x1000, 0x10_0000, 2 * K4, USER_RW)
    mmu.translate(0x1000)
    mmu.translate(0x2000)          # PDE cache hit: one PTE read, same line as the first
    w = mmu.stats()["walks"]
    assert w["memory_references"] == 5
    assert w["served"]["memory"] == 4 and w["served"]["L1D"] == 1
    assert (w["cache_hits"], w["cache_misses"]) == (1, 4)
    assert h.stats()["levels"]["L1D"]["misses"] >= 4


def test_run_maps_on_first_touch_splits_page_crossing_records():
    h = caches()
    mmu, frames = core(hierarchy=h), SequentialFrames(0x100)
    pt = PageTable("x86_64-4level", frames)
    mmu.attach(0, pt)
    touched = []

    def first_touch(ev):
        assert ev.kind == "fault" and ev.error_code & 1 == 0
        touched.append(ev.vaddr & ~0xFFF)
        pt.map(ev.vaddr & ~0xFFF, frames.alloc(0) << 12, K4, USER_RW)

    tr = access.make([0x1000, 0x1FFC, 0x1000, 0x3000], size=8, kind=[LOAD, LOAD, MODIFY, 4])
    assert mmu.run(tr, first_touch) == 2
    assert touched == [0x1000, 0x2000]
    s = mmu.stats()
    # Record 0 faults, then restarts (2); record 1 straddles two pages and
    # faults on the second, then restarts (2 + 2); the modify translates for
    # its load and its store (2); the flush translates nothing.
    assert s["translations"] == 2 + 4 + 2
    assert h.stats()["records"] == 4 + s["walks"]["memory_references"]
    assert h.stats()["flushes"] == 1
    with pytest.raises(ValueError, match="record 0"):
        core().run(tr)                                     # no handler, no page table


def test_walks_beside_the_caches_still_send_the_data_through_them():
    # walk_through_caches=False keeps the walker's reads out of the caches,
    # not the accesses themselves.
    tr = access.make([0x1000, 0x2000, 0x1000, 0x1FFC], size=8, kind=[LOAD, STORE, LOAD, LOAD])
    counts = {}
    for through in (True, False):
        h = caches()
        mmu, frames = core(hierarchy=h, walk_through_caches=through), SequentialFrames(0x100)
        pt = PageTable("x86_64-4level", frames)
        mmu.attach(0, pt)
        mmu.run(tr, lambda ev: pt.map(ev.vaddr & ~0xFFF, frames.alloc(0) << 12, K4, USER_RW))
        counts[through] = (h.stats()["records"], mmu.stats()["walks"])
    refs = counts[True][1]["memory_references"]
    assert counts[True][0] == 4 + refs
    assert counts[False][0] == 4                   # the four records, split ones counted once
    assert counts[False][1]["memory_references"] == refs and counts[False][1]["served"] == {}


def _first_touch_pipeline():
    h = caches()
    mmu, frames = core(hierarchy=h), SequentialFrames(0x100)

    def on_event(ev):
        if ev.kind == "new_space":
            mmu.attach(ev.asid, PageTable("x86_64-4level", frames))
        else:
            mmu.spaces[ev.asid].map(ev.vaddr & ~0xFFF, frames.alloc(0) << 12, K4, USER_RW)

    return mmu, h, on_event


def test_batched_run_sends_the_caches_what_record_by_record_runs_send():
    # A batch run translates ahead and sends the caches its queued accesses
    # afterwards; the counts and final contents must be those of running one
    # record at a time (where nothing is held back), across faults, page
    # crossings, modifies, fetches, flushes and address-space switches, and
    # over enough walks to fill and drain the queue many times.
    # Stretches over 16 KiB (nearly all hits: accesses are sent at once)
    # alternate with stretches over 8 MiB (mostly misses: they are queued),
    # so the run switches between the two ways of sending.
    rng = np.random.default_rng(11)
    n = 9000
    span = np.where((np.arange(n) // 1500) % 2 == 0, 16 << 10, 8 << 20).astype(np.uint64)
    addr = 0x10_0000_0000 + (rng.random(n) * span).astype(np.uint64)
    kind = rng.choice([IFETCH, LOAD, STORE, MODIFY, 4], n, p=[0.2, 0.4, 0.2, 0.195, 0.005])
    size = rng.choice([1, 8, 64, 200], n)
    tr = access.make(addr, size=size, kind=kind)
    tr["pid"] = rng.integers(0, 2, n)
    batch, hb, ev_b = _first_touch_pipeline()
    single, hs, ev_s = _first_touch_pipeline()
    batch.run(tr, ev_b)
    for i in range(n):
        single.run(tr[i:i + 1], ev_s)
    assert batch.stats() == single.stats()
    assert batch.stats()["walks"]["memory_references"] > 2 * 1024
    assert hb.stats() == hs.stats()
    for nm in hb.level_names:
        assert np.array_equal(hb.level(nm).tags, hs.level(nm).tags), nm
        assert np.array_equal(hb.level(nm).dirty, hs.level(nm).dirty), nm


def test_run_reports_new_address_spaces():
    mmu = core()
    seen = []

    def on_event(ev):
        if ev.kind == "new_space":
            seen.append(ev.asid)
            mmu.attach(ev.asid, PageTable("x86_64-4level"))
        else:
            mmu.spaces[ev.asid].map(ev.vaddr & ~0xFFF, 0x100000 * (ev.asid + 1), K4, USER_RW)

    tr = access.make([0x1000, 0x1000, 0x1000], kind=LOAD)
    tr["pid"] = [7, 9, 7]
    assert mmu.run(tr, on_event) == 4
    assert seen == [7, 9]


def test_pickled_pipeline_continues_identically():
    import pickle

    h = caches()
    mmu, frames = core(hierarchy=h), SequentialFrames(0x100)
    mmu.attach(0, PageTable("x86_64-4level", frames))

    def first_touch(m):
        def handler(ev):
            m.spaces[ev.asid].map(ev.vaddr & ~0xFFF, m.spaces[ev.asid].frame_source.alloc(0) << 12, K4, USER_RW)
        return handler

    rng = np.random.default_rng(2)
    tr = access.make(0x1000_0000 + rng.integers(0, 1 << 16, 4000, dtype=np.uint64) * 64, size=8,
                     kind=rng.integers(1, 4, 4000))
    mmu.run(tr[:2000], first_touch(mmu))
    copy = pickle.loads(pickle.dumps(mmu))
    mmu.run(tr[2000:], first_touch(mmu))
    copy.run(tr[2000:], first_touch(copy))
    assert copy.stats() == mmu.stats()
    assert copy.hierarchy.stats() == mmu.hierarchy.stats()


def test_bad_arguments():
    with pytest.raises(ValueError, match="walk_caches"):
        core(walk_caches={"PML5E": 2})
    with pytest.raises(ValueError, match="next"):
        MMU([("DTLB", TLB(4), "STLB")], "DTLB", None)
    with pytest.raises(ValueError, match="cycle"):
        MMU([("A", TLB(4), "B"), ("B", TLB(4), "A")], "A", None)
    mmu = core()
    mmu.attach(0, PageTable("x86_64-4level"))
    with pytest.raises(ValueError, match="pagetable"):
        mmu.attach(1, PageTable("i386-pae"))
    with pytest.raises(ValueError, match="kinds"):
        mmu.translate_batch([0], [4])
    tr = access.make([0, 0])
    tr["kind"][1] = 9
    with pytest.raises(ValueError, match="record 1 has unknown kind 9"):
        mmu.run(tr)


# ---------------------------------------------------------------------------
# Against the reference
# ---------------------------------------------------------------------------

REGIONS = [0x7F00_0000_0000, 0x40_0000_0000, 0x1000_0000]


@st.composite
def mm_ops(draw):
    ops = []
    for _ in range(draw(st.integers(1, 80))):
        kind = draw(st.sampled_from(["translate"] * 8 + ["map", "map", "unmap", "protect"]))
        size = draw(st.sampled_from([K4, K4, K4, M2, G1]))
        base = REGIONS[draw(st.integers(0, 2))] + draw(st.integers(0, 2)) * G1 + draw(st.integers(0, 3)) * M2 + draw(st.integers(0, 5)) * K4
        base &= ~(size - 1)
        off = draw(st.integers(0, size - 1))
        flags = draw(st.sampled_from([USER_RW, USER_RW, _PAGE_USER, _PAGE_RW, USER_RW | _PAGE_NX,
                                      USER_RW | _PAGE_GLOBAL]))
        ops.append((kind, base, size, off, flags, draw(st.sampled_from([IFETCH, LOAD, STORE, MODIFY])),
                    draw(st.sampled_from([3, 3, 0])), draw(st.integers(0, 1 << 20))))
    return ops


# Walk caches wider than 4 entries keep their LRU order as ranks (memcore.tlb).
WIDE_WALK_CACHES = {"PML4E": 2, "PDPTE": 6, "PDE": 20}


@settings(max_examples=60)
@given(mm_ops(), st.sampled_from([{}, WALK_CACHES, WIDE_WALK_CACHES]))
def test_mmu_agrees_with_reference(ops, wc):
    mmu = core(walk_caches=wc)
    pt_a, pt_b = PageTable("x86_64-4level"), PageTable("x86_64-4level")
    mmu.attach(0, pt_a)
    ref = RefMMU([(n, [(e, w, p if isinstance(p, list) else [p]) for e, w, p in zip(*arrays)], pol, nxt)
                  for n, arrays, pol, nxt in SHAPES], "DTLB", "ITLB",
                 pt_b, walk_caches=wc)
    mapped = []
    for kind, base, size, off, flags, akind, cpl, frame in ops:
        va = base + off
        if kind == "translate":
            r = mmu.translate(va, kind=akind, cpl=cpl)
            accesses = {IFETCH: ["exec"], LOAD: ["read"], STORE: ["write"], MODIFY: ["read", "write"]}[akind]
            want = None
            for acc in accesses:
                want = ref.translate(va, acc, cpl)
                if want[0] != "ok":
                    break
            got = ("ok", int(r.paddrs[0])) if r.fault is None else (r.fault, r.error_code)
            assert got == want, (hex(va), akind, cpl)
        elif kind == "map":
            if not any(b < base + size and base < b + s for b, s in mapped):
                pa = (frame * size) % (1 << 44)
                pt_a.map(base, pa, size, flags, page_size=size)
                pt_b.map(base, pa, size, flags, page_size=size)
                mapped.append((base, size))
        else:
            hits = [(b, s) for b, s in mapped if b <= va < b + s]
            if hits:
                b, s = hits[0]
                if kind == "unmap":
                    pt_a.unmap(b, s)
                    pt_b.unmap(b, s)
                    mapped.remove((b, s))
                else:
                    pt_a.protect(b, s, flags)
                    pt_b.protect(b, s, flags)
                mmu.invlpg(va, asid=0)
                for t in ref.tlbs.values():
                    t.invlpg(va, 0, True)
                for c in ref.pwc.values():
                    c.flush_asid(0)
    s = mmu.stats()
    assert {k: s[k] for k in ("translations", "faults")} == {k: ref.stats[k] for k in ("translations", "faults")}
    w = s["walks"]
    assert (w["count"], w["walk_cache_hits"], w["memory_references"], w["dirty_walks"]) == \
        (ref.stats["walks"], ref.stats["walk_cache_hits"], ref.stats["memory_references"], ref.stats["dirty_walks"])
    for name, t in ref.tlbs.items():
        assert s["tlbs"][name] == t.stats, name
