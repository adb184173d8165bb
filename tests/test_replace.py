"""memcore.replace against textbook answers and the reference policies."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from memcore.replace import POLICIES, Replacer, simulate
from reference.replace import RefReplacer, ref_simulate

CLASSIC = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]
BELADY = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("policy,faults", [("opt", 9), ("fifo", 15), ("lru", 12)])
def test_classic_string_three_frames(policy, faults):
    res = simulate(CLASSIC, 3, policy)
    assert res.faults == faults
    assert res.hits.dtype == bool and res.hits.shape == (20,)
    assert res.n_hits == 20 - faults


def test_belady_anomaly_fifo():
    assert simulate(BELADY, 3, "fifo").faults == 9
    assert simulate(BELADY, 4, "fifo").faults == 10
    # LRU is a stack algorithm: more frames never hurt
    assert simulate(BELADY, 3, "lru").faults >= simulate(BELADY, 4, "lru").faults


def test_clock_by_hand():
    # 1,2,3 fill frames 0..2 (R=1), hand back at 0; 2 hits (R stays 1);
    # 4 sweeps, clears 1,2,3, evicts 1 from frame 0 (hand -> 1);
    # 1 finds frame 1 (page 2) with R=0, evicts it (hand -> 2);
    # 3 is still resident: hit.
    refs = [1, 2, 3, 2, 4, 1, 3]
    for policy in ("clock", "second_chance"):
        res = simulate(refs, 3, policy)
        assert res.hits.tolist() == [False, False, False, True, False, False, True]
        # loaded with R=0: 4 evicts 1 at once, 1 then passes page 2 (R=1)
        # and evicts 3, so the last 3 misses
        res = simulate(refs, 3, policy, ref_on_load=False)
        assert res.hits.tolist() == [False, False, False, True, False, False, False]


def test_nru_by_hand():
    # 2 frames, no periodic clear.  1 (written) and 2 fill, both R=1;
    # 3: classes 1 -> 3 (R,M), 2 -> 2 (R): evict 2.
    refs, writes = [1, 2, 3, 2], [True, False, False, False]
    res = simulate(refs, 2, "nru", writes=writes, clear_interval=0)
    assert res.hits.tolist() == [False, False, False, False]
    r = Replacer(2, "nru", clear_interval=0)
    r.insert(1, write=True)
    r.insert(2)
    assert r.victim() == 2
    r.clear_referenced()          # now classes: 1 -> 1 (M), 2 -> 0
    assert r.victim() == 2
    r.touch(2)
    assert r.victim() == 1


def test_lru2q_promotion_and_demotion():
    r = Replacer(4, "lru2q")
    for p in (1, 2, 3):
        r.insert(p)
    r.touch(1)                    # second reference: promoted to active
    assert r.list_pages("active").tolist() == [1]
    assert r.list_pages("inactive").tolist() == [2, 3]
    assert r.victim() == 2
    r.touch(2)
    r.touch(3)                    # both active now, inactive list empty
    assert r.list_pages("inactive").tolist() == []
    # victim() rebalances: oldest active pages are deactivated first
    assert r.victim() == 1
    assert r.list_pages("inactive").tolist() == [1, 2]
    assert r.list_pages("active").tolist() == [3]


def test_opt_never_worse_than_others():
    rng = np.random.default_rng(5)
    refs = rng.integers(0, 20, 2000)
    opt = simulate(refs, 6, "opt").faults
    for p in POLICIES:
        assert simulate(refs, 6, p).faults >= opt


def test_arbitrary_page_numbers_and_empty():
    refs = np.array([10**15, -3, 10**15, 7, -3], dtype=np.int64)
    assert simulate(refs, 2, "lru").hits.tolist() == [False, False, True, False, False]
    assert simulate([], 3, "clock").faults == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="policy"):
        simulate([1], 2, "random")
    with pytest.raises(ValueError, match="frames"):
        simulate([1], 0, "lru")
    with pytest.raises(ValueError, match="writes"):
        simulate([1, 2], 2, "nru", writes=[True])
    with pytest.raises(ValueError, match="opt"):
        Replacer(3, "opt")
    r = Replacer(1, "fifo")
    r.insert(5)
    with pytest.raises(ValueError, match="already resident"):
        r.insert(5)
    with pytest.raises(MemoryError):
        r.insert(6)
    with pytest.raises(KeyError):
        r.touch(6)
    with pytest.raises(KeyError):
        r.remove(6)
    assert r.frame_pages.tolist() == [5]


refs_st = st.lists(st.integers(0, 9), max_size=200)


@pytest.mark.parametrize("policy", POLICIES + ("active_inactive",))
@given(refs=refs_st, frames=st.integers(1, 6), load=st.booleans(),
       interval=st.integers(0, 7), data=st.data())
@settings(max_examples=40)
def test_engine_matches_reference(policy, refs, frames, load, interval, data):
    writes = data.draw(st.lists(st.booleans(), min_size=len(refs), max_size=len(refs)))
    res = simulate(refs, frames, policy, writes=writes, clear_interval=interval,
                   ref_on_load=load)
    want = ref_simulate(refs, frames, policy, writes=writes, clear_interval=interval,
                        ref_on_load=load)
    assert res.hits.tolist() == want
    assert res.faults == want.count(False)


@pytest.mark.parametrize("policy", [p for p in POLICIES if p != "opt"])
@given(refs=refs_st, frames=st.integers(1, 5))
@settings(max_examples=30)
def test_online_replacer_reproduces_simulate(policy, refs, frames):
    r = Replacer(frames, policy)
    hits = []
    for p in refs:
        if p in r:
            hits.append(True)
            r.touch(p)
        else:
            hits.append(False)
            if len(r) == frames:
                r.remove(r.victim())
            r.insert(p)
    assert hits == simulate(refs, frames, policy).hits.tolist()


class ReplacerMachine(RuleBasedStateMachine):
    """Random insert/touch/remove/victim against the reference, any order."""

    def __init__(self):
        super().__init__()
        self.eng = None

    @precondition(lambda self: self.eng is None)
    @rule(frames=st.integers(1, 5), policy=st.sampled_from([p for p in POLICIES if p != "opt"]),
          interval=st.integers(0, 4), load=st.booleans())
    def start(self, frames, policy, interval, load):
        self.eng = Replacer(frames, policy, clear_interval=interval, ref_on_load=load)
        self.ref = RefReplacer(frames, policy, clear_interval=interval, ref_on_load=load)

    @precondition(lambda self: self.eng is not None)
    @rule(page=st.integers(0, 8), write=st.booleans())
    def insert_or_touch(self, page, write):
        if page in self.eng:
            self.eng.touch(page, write)
            self.ref.touch(page, write)
        elif self.ref.free:
            assert self.eng.insert(page, write) == self.ref.insert(page, write)
        else:
            with pytest.raises(MemoryError):
                self.eng.insert(page, write)

    @precondition(lambda self: self.eng is not None)
    @rule(page=st.integers(0, 8))
    def remove(self, page):
        if page in self.eng:
            self.eng.remove(page)
            self.ref.remove(page)
        else:
            with pytest.raises(KeyError):
                self.eng.remove(page)

    @precondition(lambda self: self.eng is not None)
    @rule()
    def victim(self):
        assert self.eng.victim() == self.ref.victim()

    @invariant()
    def same_state(self):
        if self.eng is None:
            return
        pages = [None if p < 0 else p for p in self.eng.frame_pages.tolist()]
        assert pages == self.ref.page
        assert self.eng.referenced.tolist() == self.ref.rbit
        assert self.eng.modified.tolist() == self.ref.mbit
        assert len(self.eng) == self.ref.n - len(self.ref.free)
        if self.ref.policy in ("fifo", "lru", "second_chance", "lru2q"):
            assert self.eng.list_pages("inactive").tolist() == [self.ref.page[f] for f in self.ref.inactive]
            assert self.eng.list_pages("active").tolist() == [self.ref.page[f] for f in self.ref.active]


TestReplacerMachine = ReplacerMachine.TestCase
TestReplacerMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


def test_docstring_examples():
    import doctest

    import memcore.replace

    res = doctest.testmod(memcore.replace)
    assert res.attempted > 0 and res.failed == 0


@pytest.mark.parametrize("policy", ["fifo", "lru", "nru", "second_chance", "clock", "lru2q"])
def test_pickle_checkpoint_resumes_identically(policy):
    import pickle

    rng = np.random.default_rng(3)
    refs = rng.integers(0, 12, 400).tolist()

    def drive(r, refs):
        out = []
        for p in refs:
            if p in r:
                r.touch(p)
            else:
                if len(r) == r.frames:
                    out.append(r.victim())
                    r.remove(out[-1])
                r.insert(p)
        return out

    r = Replacer(5, policy)
    drive(r, refs[:200])
    r2 = pickle.loads(pickle.dumps(r))
    assert drive(r, refs[200:]) == drive(r2, refs[200:])
    assert r.frame_pages.tolist() == r2.frame_pages.tolist()
