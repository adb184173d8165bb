"""memcore.mmu: a run on two host threads counts exactly what a run on one counts.

With ``threads=2`` a long :meth:`MMU.run` hands its cache operations to a
second thread, which sends them while the first translates on.  Everything a
user can see afterwards (the MMU's, the TLBs' and the hierarchy's counters,
the contents of every cache level, the events and their order) must be what
one thread makes.  ``_set_spawn_after`` starts the second thread early, so
that short traces cross the start of the thread, many hand-overs of chunks
and the wrap of the ring.
"""
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from memcore import access
from memcore.hierarchy import Hierarchy
from memcore.mmu import MMU
from memcore.pagetable import PageTable, SequentialFrames, _PAGE_RW, _PAGE_USER
from memcore.tlb import TLB

K4 = 4096
USER_RW = _PAGE_RW | _PAGE_USER
LOAD, STORE, IFETCH, MODIFY, FLUSH = access.LOAD, access.STORE, access.IFETCH, access.MODIFY, access.FLUSH


def pipeline(threads, spawn_after=None):
    """A small core over a three-level hierarchy that maps pages on first touch."""
    h = Hierarchy([dict(name="L1I", size=4096, line_size=64, ways=4, next="L2"),
                   dict(name="L1D", size=4096, line_size=64, ways=4, next="L2"),
                   dict(name="L2", size=32768, line_size=64, ways=8, next="L3"),
                   dict(name="L3", size=131072, line_size=64, ways=16)],
                  data_entry="L1D", inst_entry="L1I")
    tlbs = [("DTLB", TLB(16, 4), "STLB"), ("ITLB", TLB(8, 4, policy="plru"), "STLB"),
            ("STLB", TLB(64, 8, policy="fifo"), None)]
    mmu = MMU(tlbs, "DTLB", "ITLB", walk_caches={"PML4E": 2, "PDPTE": 2, "PDE": 4}, hierarchy=h,
              threads=threads)
    if spawn_after is not None:
        mmu._set_spawn_after(spawn_after)
    frames = SequentialFrames(0x100)
    events = []

    def on_event(ev):
        events.append(ev)
        if ev.kind == "new_space":
            mmu.attach(ev.asid, PageTable("x86_64-4level", frames))
        else:
            mmu.spaces[ev.asid].map(ev.vaddr & ~0xFFF, frames.alloc(0) << 12, K4, USER_RW)

    return mmu, h, on_event, events


def assert_same(a, b):
    """Everything observable of two pipelines (mmu, hierarchy, on_event, events) agrees."""
    (ma, ha, _, ea), (mb, hb, _, eb) = a, b
    assert ma.stats() == mb.stats()
    assert ha.stats() == hb.stats()
    assert ea == eb
    for name in ha.level_names:
        la, lb = ha.level(name), hb.level(name)
        assert np.array_equal(la.tags, lb.tags), name
        assert np.array_equal(la.dirty, lb.dirty), name
        assert np.array_equal(la.repl, lb.repl), name
    for name in ma.tlbs:
        assert pickle.dumps(ma.tlbs[name]) == pickle.dumps(mb.tlbs[name]), name


def mixed_trace(n, seed):
    """Stretches of hits and of misses, faults, page crossings, modifies, fetches, flushes, two spaces."""
    rng = np.random.default_rng(seed)
    span = np.where((np.arange(n) // 1500) % 2 == 0, 16 << 10, 8 << 20).astype(np.uint64)
    addr = 0x10_0000_0000 + (rng.random(n) * span).astype(np.uint64)
    kind = rng.choice([IFETCH, LOAD, STORE, MODIFY, FLUSH], n, p=[0.2, 0.4, 0.2, 0.195, 0.005])
    tr = access.make(addr, size=rng.choice([1, 8, 64, 200], n), kind=kind)
    tr["pid"] = rng.integers(0, 2, n)
    return tr


@pytest.mark.parametrize("spawn_after", [0, 1, 777, None])
def test_two_threads_count_what_one_thread_counts(spawn_after):
    # None: the engine's own threshold, which this trace is long enough to pass.
    tr = mixed_trace(40_000, seed=11)
    one, two = pipeline(1), pipeline(2, spawn_after)
    for p in (one, two):
        p[0].run(tr, p[2])
        p[0].run(tr[:5000], p[2])          # a second run starts from the mode the first left
    assert one[0].stats()["walks"]["memory_references"] > 8 * 1024    # many chunks, the ring wraps
    assert len(one[3]) > 100                                           # events after the thread started
    assert_same(one, two)


def test_threads_argument_default_and_pickle():
    mmu = pipeline(None)[0]
    assert mmu.threads in (1, 2)
    assert pipeline(1)[0].threads == 1
    for bad in (0, 3, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads"):
            pipeline(bad)
    mmu.threads = 1
    assert pickle.loads(pickle.dumps(mmu)).threads == 1
    mmu.threads = 2
    assert pickle.loads(pickle.dumps(mmu)).threads == 2
    with pytest.raises(ValueError, match="threads"):
        mmu.threads = 4
    assert mmu.threads == 2


@st.composite
def traces(draw):
    n = draw(st.integers(1, 6000))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    span = draw(st.sampled_from([4 << 10, 256 << 10, 16 << 20, 1 << 32]))
    p = np.array(draw(st.lists(st.integers(0, 9), min_size=5, max_size=5)), dtype=float) + 0.01
    kind = rng.choice([IFETCH, LOAD, STORE, MODIFY, FLUSH], n, p=p / p.sum())
    addr = 0x7000_0000_0000 + (rng.random(n) * span).astype(np.uint64)
    tr = access.make(addr, size=rng.choice([0, 1, 8, 64, 255], n), kind=kind)
    tr["pid"] = rng.integers(0, draw(st.integers(1, 3)), n)
    return tr


@settings(deadline=None, max_examples=40)
@given(tr=traces(), spawn_after=st.integers(0, 3000), split=st.integers(0, 6000))
def test_random_traces_agree_on_one_and_two_threads(tr, spawn_after, split):
    one, two = pipeline(1), pipeline(2, spawn_after)
    for p in (one, two):
        p[0].run(tr[:split], p[2])
        p[0].run(tr[split:], p[2])
    assert_same(one, two)


@pytest.mark.parametrize("n, dtype", [(1, np.uint64), (3, np.uint64), (17, np.uint8), (64, np.uint8), (5, None)])
def test_state_arrays_start_on_and_own_their_host_lines(n, dtype):
    from memcore._hostmem import HOST_LINE, own_lines
    from memcore.tlb import ENTRY_DTYPE

    dtype = np.dtype(dtype or ENTRY_DTYPE)
    a = own_lines(n, dtype, 0)
    assert a.shape == (n,) and a.dtype == dtype
    assert a.tobytes() == bytes(a.nbytes)
    start = a.ctypes.data
    assert start % HOST_LINE == 0
    # The buffer behind it covers the whole of its last line.
    base = a.base
    while not isinstance(base, np.ndarray) or base.base is not None:
        base = base.base
    end_line = -(-(start + a.nbytes) // HOST_LINE) * HOST_LINE
    assert base.ctypes.data <= start and end_line <= base.ctypes.data + base.nbytes
    assert np.array_equal(pickle.loads(pickle.dumps(a)), a)


def test_per_access_arrays_of_the_engine_own_their_lines():
    h = pipeline(2)[1]
    arrays = [h.gstats]
    for name in h.level_names:
        c = h.level(name)
        arrays += [c.ctl, c.counters, c.tags, c.repl]
    for a in arrays:
        assert a.ctypes.data % 64 == 0


def test_memcore_threads_sets_the_default(monkeypatch):
    monkeypatch.setenv("MEMCORE_THREADS", "1")
    assert pipeline(None)[0].threads == 1
    monkeypatch.setenv("MEMCORE_THREADS", "2")
    assert pipeline(None)[0].threads == 2
    assert pipeline(1)[0].threads == 1                 # an explicit value wins
    monkeypatch.setenv("MEMCORE_THREADS", "4")
    with pytest.raises(ValueError, match="MEMCORE_THREADS: expected 1 or 2, got '4'"):
        pipeline(None)
