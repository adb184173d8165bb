"""memcore.partition: placement policies, coalescing, errors, fragmentation,
and a state machine against the reference list model."""
import numpy as np
import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from memcore.partition import FITS, PartitionAllocator
from reference.partition import RefPartition


def _layout(fit):
    # holes of 100 @0, 50 @150, 200 @250, 30 @500 (allocated blocks between)
    p = PartitionAllocator(1000, fit=fit)
    offs = p.alloc_batch([100, 50, 50, 50, 200, 50, 30, 470])
    assert offs.tolist() == [0, 100, 150, 200, 250, 450, 500, 530]
    p.free_batch(offs[[0, 2, 4, 6]])
    assert p.holes().tolist() == [(0, 100), (150, 50), (250, 200), (500, 30)]
    return p


@pytest.mark.parametrize("fit,want", [("first", 0), ("best", 150), ("worst", 250)])
def test_placement(fit, want):
    p = _layout(fit)
    assert p.alloc(40) == want


def test_next_fit_roves_and_wraps():
    p = _layout("next")
    assert p.rover == 1000                # end of the last allocation
    assert p.alloc(40) == 0               # nothing fits above 950: wrap to the bottom
    assert p.rover == 40
    assert p.alloc(40) == 40              # the rest of that hole, not the first fit
    assert p.alloc(40) == 150
    assert p.alloc(100) == 250
    assert p.alloc(60) == 350             # the rover's hole, before wrapping
    assert p.alloc(30) == 410             # still in the rover's hole


def test_coalescing_and_errors():
    p = PartitionAllocator(100)
    a, b, c = p.alloc(10), p.alloc(20), p.alloc(30)
    p.free(a)
    p.free(c)                             # merges with the tail hole
    assert p.holes().tolist() == [(0, 10), (30, 70)]
    p.free(b)                             # joins both neighbours
    assert p.holes().tolist() == [(0, 100)] and p.nr_holes == 1
    before = p.blocks().tolist()
    for bad in (b, 5, -1, 100, 10**20):
        with pytest.raises(ValueError, match="allocated block"):
            p.free(bad)
    x = p.alloc_batch([10, 10])
    with pytest.raises(ValueError, match=r"offsets\[2\]"):
        p.free_batch([x[0], x[1], x[0]])
    assert p.blocks()["free"].tolist() == [False, False, True]
    with pytest.raises(ValueError):
        p.alloc(0)
    with pytest.raises(ValueError, match="fit"):
        PartitionAllocator(10, fit="good")
    with pytest.raises(ValueError, match="size"):
        PartitionAllocator(0)
    assert before == [(0, 100, True)]


def test_no_fit_and_fragmentation():
    p = _layout("first")
    assert p.alloc(201) is None
    assert p.alloc_batch([201, 30]).tolist() == [-1, 0]
    f = p.fragmentation()
    assert f["free_bytes"] == 70 + 50 + 200 + 30 and f["holes"] == 4
    assert f["largest_hole"] == 200 and f["smallest_hole"] == 30
    assert f["external_fragmentation"] == pytest.approx(1 - 200 / 350)
    q = PartitionAllocator(64)
    assert q.fragmentation()["external_fragmentation"] == 0.0
    q.alloc(64)
    assert q.fragmentation()["free_bytes"] == 0 and q.fragmentation()["external_fragmentation"] == 0.0


def test_many_blocks_grow_tables():
    p = PartitionAllocator(1 << 20, fit="best")
    offs = p.alloc_batch(np.full(5000, 7))
    assert offs.tolist() == list(range(0, 35000, 7))
    p.free_batch(offs[::2])
    assert p.nr_holes == 2501
    p.free_batch(offs[1::2])
    assert p.holes().tolist() == [(0, 1 << 20)]


class PartitionMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.eng = None
        self.live = []

    @precondition(lambda self: self.eng is None)
    @rule(size=st.integers(1, 300), fit=st.sampled_from(FITS))
    def start(self, size, fit):
        self.eng = PartitionAllocator(size, fit)
        self.ref = RefPartition(size, fit)

    @precondition(lambda self: self.eng is not None)
    @rule(sizes=st.lists(st.integers(1, 60), min_size=1, max_size=6), batch=st.booleans())
    def alloc(self, sizes, batch):
        want = [self.ref.alloc(n) for n in sizes]
        if batch:
            got = [None if o < 0 else o for o in self.eng.alloc_batch(sizes).tolist()]
        else:
            got = [self.eng.alloc(n) for n in sizes]
        assert got == want
        self.live += [o for o in got if o is not None]

    @precondition(lambda self: self.eng is not None)
    @rule(data=st.data(), batch=st.booleans())
    def free(self, data, batch):
        if not self.live:
            return
        idx = data.draw(st.lists(st.integers(0, len(self.live) - 1), min_size=1,
                                 max_size=4, unique=True))
        offs = [self.live[i] for i in idx]
        if batch:
            self.eng.free_batch(offs)
        else:
            for o in offs:
                self.eng.free(o)
        for o in offs:
            self.ref.free(o)
        for i in sorted(idx, reverse=True):
            del self.live[i]

    @precondition(lambda self: self.eng is not None)
    @rule(off=st.integers(-2, 310))
    def bad_free(self, off):
        if off in self.live:
            return
        before = self.eng.blocks().tolist()
        with pytest.raises(ValueError):
            self.eng.free(off)
        with pytest.raises(ValueError):
            self.eng.free_batch(self.live[:2] + [off])
        assert self.eng.blocks().tolist() == before

    @invariant()
    def agree(self):
        if self.eng is None:
            return
        blocks = [tuple(b) for b in self.eng.blocks().tolist()]
        assert blocks == [tuple(b) for b in self.ref.blocks]
        # the blocks tile [0, size) exactly; no two holes touch
        assert blocks[0][0] == 0 and sum(b[1] for b in blocks) == self.eng.size
        assert all(a[0] + a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
        assert not any(a[2] and b[2] for a, b in zip(blocks, blocks[1:]))
        assert sorted(self.live) == [b[0] for b in blocks if not b[2]]
        assert self.eng.free_bytes == sum(b[1] for b in blocks if b[2])
        assert self.eng.nr_holes == len(self.ref.holes())
        assert self.eng.holes().tolist() == self.ref.holes()     # the hole chain
        assert self.eng.rover == self.ref.rover


TestPartitionMachine = PartitionMachine.TestCase
TestPartitionMachine.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)


def test_docstring_examples():
    import doctest

    import memcore.partition

    res = doctest.testmod(memcore.partition)
    assert res.attempted > 0 and res.failed == 0


def test_pickle_checkpoint_resumes_identically():
    import pickle

    p = PartitionAllocator(5000, fit="next")
    offs = p.alloc_batch(np.arange(1, 60))
    p.free_batch(offs[::2])
    q = pickle.loads(pickle.dumps(p))
    assert q.blocks().tolist() == p.blocks().tolist() and q.rover == p.rover
    sizes = np.arange(5, 300, 7)
    assert np.array_equal(p.alloc_batch(sizes), q.alloc_batch(sizes))
    p.free_batch(offs[1::2])
    q.free_batch(offs[1::2])
    assert q.blocks().tolist() == p.blocks().tolist()
    assert set(q.state()) >= {"blk_off", "hkey"}
