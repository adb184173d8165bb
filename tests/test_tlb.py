"""memcore.tlb: one TLB level, against the reference model and x86 semantics."""
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from memcore import tlb as mtlb
from memcore.tlb import GLOBAL, NX, RW, TLB, US, VALID, DIRTY
from tests.reference.tlb import RefTLB

K4, M2, G1 = 4096, 2 << 20, 1 << 30


def skylake_dtlb(policy="lru"):
    return TLB([64, 32, 4], [4, 4, 0], [K4, M2, G1], policy=policy)


# ---------------------------------------------------------------------------
# Hand-worked behaviour
# ---------------------------------------------------------------------------

def test_hit_returns_frame_plus_offset_per_page_size():
    t = skylake_dtlb()
    assert t.insert(0x7F00_0020_1000, pfn=0x1234, flags=RW | US) == K4
    assert t.insert(0x7F00_0040_0000, pfn=0x8_0000, page_size=M2) == M2
    assert t.insert(0x80_4000_0000, pfn=0x40_0000, page_size=G1, flags=RW) == G1
    assert t.lookup(0x7F00_0020_1ABC).paddr == 0x1234ABC
    hit = t.lookup(0x7F00_005F_FFFF)
    assert hit.paddr == 0x8000_0000 + 0x1F_FFFF and hit.page_size == M2
    hit = t.lookup(0x80_7FFF_FFF8)
    assert hit == mtlb.Translation(0x4_0000_0000 + 0x3FFF_FFF8, 0x40_0000, G1, RW)
    assert t.lookup(0x7F00_0020_2000) is None
    assert t.stats() == dict(accesses=4, hits=3, misses=1, fills=3, evictions=0, invalidations=0, fractures=0)


def test_entries_are_tagged_by_asid_unless_global():
    t = TLB(16, 4)
    t.insert(0x1000, pfn=1, asid=1)
    t.insert(0x1000, pfn=2, asid=2)
    t.insert(0xFFFF_8000_0000_0000, pfn=3, asid=1, flags=RW | GLOBAL)
    assert t.lookup(0x1000, asid=1).pfn == 1
    assert t.lookup(0x1000, asid=2).pfn == 2
    assert t.lookup(0x1000, asid=3) is None
    assert t.lookup(0xFFFF_8000_0000_0000, asid=7).flags == RW | GLOBAL


def test_cr3_write_keeps_globals_full_flush_does_not():
    t = TLB(16, 4)
    t.insert(0x1000, pfn=1)
    t.insert(0x2000, pfn=2, flags=GLOBAL)
    assert t.flush_all(keep_global=True) == 1
    assert t.probe(0x1000) is None and t.probe(0x2000).pfn == 2
    assert t.flush_all() == 1
    assert t.occupancy == 0
    assert t.stats()["invalidations"] == 2


def test_flush_asid_spares_other_asids_and_globals():
    t = TLB(16, 0)
    t.insert(0x1000, pfn=1, asid=1)
    t.insert(0x2000, pfn=2, asid=1)
    t.insert(0x1000, pfn=3, asid=2)
    t.insert(0x3000, pfn=4, asid=1, flags=GLOBAL)
    assert t.flush_asid(1) == 2
    assert t.probe(0x1000, asid=1) is None
    assert t.probe(0x1000, asid=2).pfn == 3
    assert t.probe(0x3000, asid=1).pfn == 4


def test_invlpg_current_pcid_and_globals_invpcid_single_address_spares_globals():
    t = TLB([16, 8], [4, 0], [K4, M2])
    t.insert(0x1000, pfn=1, asid=1)
    t.insert(0x1000, pfn=2, asid=2)
    t.insert(0x20_0000, pfn=0x200, page_size=M2, asid=1)
    t.insert(0x60_0000, pfn=0x400, page_size=M2, asid=1, flags=GLOBAL)
    # INVLPG of an address in the 2 MiB page removes only that page of ASID 1.
    assert t.invlpg(0x2F_F123, asid=1) == 1
    assert t.probe(0x20_0000, asid=1) is None
    assert t.probe(0x1000, asid=1).pfn == 1 and t.probe(0x1000, asid=2).pfn == 2
    # INVPCID individual-address keeps the global page, INVLPG removes it.
    assert t.invlpg(0x60_0000, asid=1, include_global=False) == 0
    assert t.invlpg(0x60_0000, asid=5) == 1
    assert t.invlpg(0x1FFF, asid=2) == 1
    assert t.probe(0x1000, asid=1).pfn == 1


def test_large_page_is_fractured_and_invlpg_removes_every_piece():
    t = TLB(64, 4, [K4])            # an L1 iTLB that holds 4 KiB pages only
    base_va, base_pfn = 0x4000_0000, 0x4_0000
    for off in (0x0, 0x1234_5000, 0x3FFF_F000):
        assert t.insert(base_va + off + 0x10, pfn=base_pfn, page_size=G1) == K4
    assert t.probe(base_va + 0x1234_5678).paddr == (base_pfn << 12) + 0x1234_5678
    assert t.probe(base_va + 0x1234_6000) is None      # another piece, never filled
    assert t.entries["orig_shift"][t.entries["flags"] & VALID != 0].tolist() == [30, 30, 30]
    assert t.stats()["fractures"] == 3
    assert t.invlpg(base_va + 0x2000_0000) == 3
    assert t.occupancy == 0
    assert TLB(8, 0, [M2]).insert(0x1000, pfn=1) is None   # nothing small enough


def test_lru_fifo_and_plru_pick_their_victims():
    # One set of 4 ways: fill pages 0..3, touch page 0, insert page 4.
    def victim(policy):
        t = TLB(4, 4, policy=policy)
        for p in range(4):
            t.insert(p * K4, pfn=p)
        t.lookup(0)
        t.insert(4 * K4, pfn=4)
        return [p for p in range(4) if t.probe(p * K4) is None]
    assert victim("lru") == [1]
    assert victim("fifo") == [0]
    # Tree PLRU after fills of ways 0,1,2,3 and a hit on 0: the root points
    # at the right half (0 was touched last), whose node points at way 2
    # (3 was touched after 2).
    assert victim("plru") == [2]


def test_random_policy_is_seeded_and_reproducible():
    def run(seed):
        t = TLB(8, 8, policy="random", seed=seed)
        for p in range(64):
            t.insert(p * K4, pfn=p)
        return t.entries["vpn"].tolist()
    assert run(7) == run(7)
    ref = RefTLB([(8, 8, [K4])], "random", seed=7)
    for p in range(64):
        ref.insert(p * K4, p)
    assert sorted(e[3] for e in ref.valid_entries()) == sorted(run(7))


def test_set_index_uses_non_power_of_two_set_counts():
    t = TLB(1536, 12, [K4, M2])     # Skylake STLB: 128 sets... and 12 ways
    assert t.arrays["nsets"].tolist() == [128]
    t3 = TLB(6, 2)                  # 3 sets
    for p in range(6):
        t3.insert(p * K4, pfn=p)
    assert t3.occupancy == 6
    t3.insert(6 * K4, pfn=6)        # set 0 holds pages 0, 3 -> evicts 0 (LRU)
    assert t3.probe(0) is None and t3.probe(3 * K4) is not None


def test_reinsert_updates_in_place():
    t = TLB(4, 4)
    t.insert(0x1000, pfn=1, flags=RW)
    t.insert(0x1000, pfn=1, flags=RW | DIRTY)
    assert t.occupancy == 1 and t.probe(0x1000).flags == RW | DIRTY
    assert t.stats()["fills"] == 1


def test_entries_view_is_zero_copy():
    t = TLB(8, 2)
    view = t.entries
    t.insert(0x5000, pfn=9, asid=3, flags=NX)
    (i,) = np.flatnonzero(view["flags"] & VALID)
    assert view[i]["vpn"] == 5 and view[i]["pfn"] == 9 and view[i]["asid"] == 3
    assert view.dtype == mtlb.ENTRY_DTYPE and view.dtype.itemsize == 32
    with pytest.raises(ValueError):
        view["pfn"][i] = 1          # state changes only through the TLB's operations


def test_lookup_batch_matches_single_lookups():
    rng = np.random.default_rng(1)
    a, b = TLB(32, 4, policy="plru"), TLB(32, 4, policy="plru")
    for p in range(0, 64, 2):
        a.insert(p * K4, pfn=p + 100)
        b.insert(p * K4, pfn=p + 100)
    va = rng.integers(0, 64 * K4, 500, dtype=np.uint64)
    hits, paddrs = a.lookup_batch(va)
    for v, h, pa in zip(va.tolist(), hits.tolist(), paddrs.tolist()):
        r = b.lookup(v)
        assert h == (r is not None) and pa == (r.paddr if r else 0)
    assert a.stats() == b.stats()
    assert np.array_equal(a.entries, b.entries)
    h2, _ = a.lookup_batch(va[:3], asid=[0, 1, 0])
    assert not h2[1]
    with pytest.raises(ValueError, match="asid"):
        a.lookup_batch(va[:3], asid=[0, 1])


def test_pickle_round_trip_continues_identically():
    t = TLB([16, 4], [4, 0], [K4, M2], policy="random", seed=3)
    for p in range(40):
        t.insert(p * 0x3000, pfn=p)
    u = pickle.loads(pickle.dumps(t))
    assert np.array_equal(u.entries, t.entries) and u.stats() == t.stats()
    for p in range(40, 80):
        t.insert(p * 0x3000, pfn=p)
        u.insert(p * 0x3000, pfn=p)
    assert np.array_equal(u.entries, t.entries)


@pytest.mark.parametrize("kwargs, field", [
    (dict(entries=0), "entries"),
    (dict(entries=12, ways=5), "ways"),
    (dict(entries=12, ways=-1), "ways"),
    (dict(entries=12, ways=3, policy="plru"), "ways"),
    (dict(entries=8, policy="mru"), "policy"),
    (dict(entries=8, page_sizes=[3000]), "page_sizes"),
    (dict(entries=8, page_sizes=[2048]), "page_sizes"),
    (dict(entries=[8, 8], ways=[2, 2], page_sizes=[K4, [M2, K4]]), "page_sizes"),
    (dict(entries=[8, 8], ways=[2], page_sizes=[K4, M2]), "ways"),
    (dict(entries=8, seed=-1), "seed"),
])
def test_bad_configuration_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        TLB(**kwargs)


def test_bad_operands_raise_and_leave_state_alone():
    t = TLB(8, 2, [K4, M2])
    t.insert(0x1000, pfn=1)
    before = t.entries.copy()
    with pytest.raises(ValueError, match="pfn"):
        t.insert(0x20_0000, pfn=0x201, page_size=M2)   # not 2 MiB aligned
    with pytest.raises(ValueError, match="flags"):
        t.insert(0x2000, pfn=2, flags=0x100)
    with pytest.raises(ValueError, match="page_size"):
        t.insert(0x2000, pfn=2, page_size=5000)
    with pytest.raises(ValueError, match="asid"):
        t.lookup(0x1000, asid=-1)
    with pytest.raises(ValueError, match="vaddr"):
        t.invlpg(1 << 64)
    with pytest.raises(ValueError, match="state"):
        TLB(4, 2)._set_state(*t.__reduce__()[1][1])      # another geometry's state
    assert np.array_equal(t.entries, before)
    assert t.stats()["accesses"] == 0


# ---------------------------------------------------------------------------
# Differential test against the reference model
# ---------------------------------------------------------------------------

SIZES = [K4, M2, G1]


@st.composite
def levels(draw):
    policy = draw(st.sampled_from(mtlb.POLICIES))
    held = draw(st.lists(st.sampled_from(SIZES), min_size=1, max_size=3, unique=True))
    groups = draw(st.integers(1, len(held)))
    arrays = []
    for g in range(groups):
        sizes = held[g::groups]
        ways = draw(st.sampled_from([1, 2, 4] if policy == "plru" else [1, 2, 3, 4]))
        nsets = draw(st.sampled_from([1, 2, 3, 4]))
        arrays.append((nsets * ways, ways if draw(st.booleans()) or nsets > 1 else 0, sizes))
    return arrays, policy, draw(st.integers(0, 2**64 - 1))


def address(draw):
    region = draw(st.integers(0, 2))         # three 1 GiB regions
    page = draw(st.integers(0, 9))           # a few 2 MiB pages in each
    small = draw(st.integers(0, 5))          # a few 4 KiB pages in each
    return (region << 30) | (page << 21) | (small << 12) | draw(st.integers(0, 4095))


@st.composite
def operations(draw, address=address, sizes=SIZES, asids=2, max_ops=120, pickles=False, fills=False):
    # fills: also "fill", a lookup followed on a miss by the insert of the
    # same page (what the MMU does, and what the level's remembered miss
    # serves without a second search).
    ops = []
    kinds = ["lookup"] * 5 + ["insert"] * 5 + ["probe", "invlpg", "flush_asid", "flush_all"]
    for _ in range(draw(st.integers(1, max_ops))):
        kind = draw(st.sampled_from(kinds + ["pickle"] * pickles + ["fill"] * 10 * fills))
        va, asid = address(draw), draw(st.integers(0, asids))
        if kind in ("insert", "fill"):
            size = draw(st.sampled_from(sizes))
            pfn = draw(st.integers(0, 1 << 20)) & ~((size >> 12) - 1)
            flags = draw(st.integers(0, 0x3F)) & ~VALID
            ops.append((kind, (va, pfn, size, asid, flags)))
        elif kind == "invlpg":
            ops.append((kind, (va, asid, draw(st.booleans()))))
        elif kind == "flush_asid":
            ops.append((kind, (asid,)))
        elif kind == "flush_all":
            ops.append((kind, (draw(st.booleans()),)))
        elif kind == "pickle":
            ops.append((kind, ()))
        else:
            ops.append((kind, (va, asid)))
    return ops


def state_of(t):
    out = []
    e = t.entries
    for a, arr in enumerate(t.arrays):
        for s in range(int(arr["nsets"])):
            for w in range(int(arr["ways"])):
                x = e[int(arr["first"]) + s * int(arr["ways"]) + w]
                if x["flags"] & VALID:
                    out.append((a, s, w, int(x["vpn"]), 1 << int(x["shift"]), int(x["asid"]), int(x["pfn"]),
                                int(x["flags"])))
    return out


@settings(max_examples=100)
@given(levels(), operations())
def test_tlb_agrees_with_reference(level, ops):
    agrees_with_reference(level, ops)


def agrees_with_reference(level, ops):
    """Run `ops` on a TLB and the reference; ``("pickle", ())`` round-trips the TLB."""
    arrays, policy, seed = level
    entries, ways, sizes = zip(*arrays)
    t = TLB(list(entries), list(ways), [list(s) for s in sizes], policy=policy, seed=seed)
    ref = RefTLB(arrays, policy, seed)
    for kind, args in ops:
        if kind == "pickle":
            t = pickle.loads(pickle.dumps(t))
            continue
        if kind == "fill":
            va, pfn, size, asid, flags = args
            got, want = t.lookup(va, asid), ref.lookup(va, asid)
            assert (None if got is None else tuple(got)) == want, (kind, args)
            if got is None:
                assert t.insert(va, pfn, size, asid, flags) == ref.insert(va, pfn, size, asid, flags), (kind, args)
            continue
        got = getattr(t, kind)(*args)
        want = getattr(ref, kind)(*args)
        if kind in ("lookup", "probe"):
            got = None if got is None else tuple(got)
        assert got == want, (kind, args)
    assert state_of(t) == ref.valid_entries()
    assert t.stats() == ref.stats


# Wide sets: the level scans them 16 tag bytes at a time and keeps the LRU /
# FIFO order of sets wider than 4 ways as ranks; both are derived from the
# entries and must never change a result, across fills, hits, in-place
# refills, every kind of invalidation and a pickle round trip in the middle.

@st.composite
def wide_levels(draw):
    policy = draw(st.sampled_from(mtlb.POLICIES))
    ways = draw(st.sampled_from([8, 16, 32, 64] if policy == "plru" else [5, 8, 12, 16, 17, 33, 64, 80]))
    nsets = draw(st.sampled_from([1, 2, 3]))
    sizes = draw(st.sampled_from([[K4], [K4, M2]]))
    return [(nsets * ways, ways, sizes)], policy, draw(st.integers(0, 2**64 - 1))


def wide_address(draw):
    # 96 pages in 3 regions of 2 MiB: enough to fill and evict 64 ways
    return (draw(st.integers(0, 2)) << 21) | (draw(st.integers(0, 31)) << 12) | draw(st.integers(0, 4095))


@settings(max_examples=60, deadline=None)
@given(wide_levels(), operations(address=wide_address, sizes=[K4, K4, K4, M2], asids=1, max_ops=300,
                                         pickles=True))
def test_wide_sets_agree_with_reference(level, ops):
    agrees_with_reference(level, ops)


@settings(max_examples=100, deadline=None)
@given(levels(), operations(fills=True, pickles=True))
def test_fill_after_a_miss_agrees_with_reference(level, ops):
    agrees_with_reference(level, ops)


@settings(max_examples=40, deadline=None)
@given(wide_levels(), operations(address=wide_address, sizes=[K4, K4, K4, M2], asids=1,
                                 max_ops=300, pickles=True, fills=True))
def test_fill_after_a_miss_in_wide_sets_agrees_with_reference(level, ops):
    agrees_with_reference(level, ops)


@pytest.mark.parametrize("policy", ["lru", "fifo"])
def test_wide_set_evicts_in_stamp_order_after_a_round_trip(policy):
    # One fully associative set of 20 ways: fill it, touch every other page
    # (LRU moves them to the back, FIFO does not), pickle, then each insert
    # evicts the page with the oldest stamp, as the reference says.
    t, ref = TLB(20, 0, policy=policy), RefTLB([(20, 0, [K4])], policy)
    for x in (t, ref):
        for p in range(20):
            x.insert(p * K4, p, K4, 0, RW)
        for p in range(0, 20, 2):
            x.lookup(p * K4)
    t = pickle.loads(pickle.dumps(t))
    for p in range(20, 45):
        t.insert(p * K4, p, K4, 0, RW)
        ref.insert(p * K4, p, K4, 0, RW)
        assert state_of(t) == ref.valid_entries()
    order = sorted(t.entries, key=lambda e: e["stamp"])
    assert [int(e["vpn"]) for e in order] == list(range(25, 45))


# ---------------------------------------------------------------------------
# No stale translation after the invalidations x86 software performs
# ---------------------------------------------------------------------------

KERNEL = 0xFFFF_8000_0000_0000


@st.composite
def tlb_shapes(draw):
    policy = draw(st.sampled_from(mtlb.POLICIES))
    shape = draw(st.sampled_from([
        ([16], [4], [[K4]]),                          # fractures every large page
        ([16, 8, 2], [4, 2, 0], [K4, M2, G1]),        # Skylake-like dTLB, shrunk
        ([24, 2], [4, 2], [[K4, M2], G1]),             # STLB-like shared array
    ]))
    return shape, policy


@st.composite
def mm_operations(draw):
    ops = []
    for _ in range(draw(st.integers(1, 150))):
        kind = draw(st.sampled_from(["access"] * 6 + ["map", "map", "unmap", "remap", "unmap_all_flush_pcid",
                                                      "cr3_write"]))
        asid = draw(st.integers(0, 2))
        glob = draw(st.integers(0, 5)) == 0
        size = draw(st.sampled_from([K4, K4, M2, G1]))
        base = (KERNEL if glob else 0) + draw(st.integers(0, 3)) * G1 + draw(st.integers(0, 3)) * M2 \
            + draw(st.integers(0, 3)) * K4
        off = draw(st.integers(0, G1 - 1))
        ops.append((kind, asid, glob, size, base, off, draw(st.integers(1, 1 << 16))))
    return ops


@settings(max_examples=80)
@given(tlb_shapes(), mm_operations())
def test_no_stale_translation_after_invlpg_or_pcid_flush(shape, ops):
    (entries, ways, sizes), policy = shape
    t = TLB(entries, ways, sizes, policy=policy, seed=1)
    # The page tables: ASID (None for global pages) -> {(base, size): pfn}.
    tables = {None: {}, 0: {}, 1: {}, 2: {}}

    def mapping(va, asid):
        for space in (asid, None):
            for (base, size), pfn in tables[space].items():
                if base <= va < base + size:
                    return base, size, pfn, space
        return None

    for kind, asid, glob, size, base, off, pfn in ops:
        space = None if glob else asid
        base &= ~(size - 1)
        va = base + off % size
        if kind == "access":
            m = mapping(va, asid)
            hit = t.lookup(va, asid)
            if hit is not None:
                assert m is not None, f"stale hit at {va:#x} (asid {asid}): page unmapped"
                mbase, msize, mpfn, mspace = m
                assert hit.paddr == (mpfn << 12) + (va - mbase), f"stale translation at {va:#x}"
                assert bool(hit.flags & GLOBAL) == (mspace is None)
            elif m is not None:
                mbase, msize, mpfn, mspace = m
                t.insert(va, mpfn, msize, asid, RW | US | (GLOBAL if mspace is None else 0))
        elif kind == "map":
            if not any(b < base + size and base < b + s for b, s in tables[space]):
                tables[space][(base, size)] = pfn * (size >> 12) % (1 << 40)
        elif kind in ("unmap", "remap"):
            m = mapping(va, asid)
            if m is not None and (m[3] is None) == glob:
                mbase, msize, _, mspace = m
                if kind == "unmap":
                    del tables[mspace][(mbase, msize)]
                else:
                    tables[mspace][(mbase, msize)] = pfn * (msize >> 12) % (1 << 40)
                # Any address of the page will do, as in Linux's flush_tlb_page.
                t.invlpg(mbase + off % msize, asid)
        elif kind == "unmap_all_flush_pcid":
            tables[asid].clear()
            t.flush_asid(asid)
        else:
            # A CR3 write with PCIDs off: non-global entries go, globals stay
            # valid because kernel mappings are the same in every space.
            t.flush_all(keep_global=True)
