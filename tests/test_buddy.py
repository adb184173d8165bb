"""Tests of memcore.buddy: hand-worked pfn sequences, errors, fallbacks,
watermarks, compaction, fragmentation indices, and a differential state
machine against the pure-Python reference (tests/reference/buddy.py)."""
import pickle

import numpy as np
import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from memcore import buddy as B
from memcore.buddy import (BuddyAllocator, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE,
                           MIGRATE_UNMOVABLE)
from reference.buddy import RefBuddy


# --- hand-worked sequences ----------------------------------------------------

def test_expand_gives_lowest_pfn_and_upper_halves_to_lower_orders():
    b = BuddyAllocator(1024)
    assert list(b.free_counts()) == [0] * 10 + [1]
    assert b.alloc(0) == 0
    # the split of the order-10 block left one upper half at each order 0..9
    for k in range(10):
        assert b.free_list(k) == [1 << k]
    assert list(b.free_counts()) == [1] * 10 + [0]
    assert [b.alloc(0) for _ in range(3)] == [1, 2, 3]


def test_boot_cuts_usable_runs_into_maximal_aligned_blocks():
    # pfns 1..1027 with pfn 5 reserved: run [1,5) and run [6,1028)
    b = BuddyAllocator(1027, base_pfn=1, reserved=[(5, 6)])
    pfns, orders, _ = b.free_blocks()
    assert list(zip(pfns, orders)) == [(1, 0), (2, 1), (4, 0), (6, 1), (8, 3), (16, 4), (32, 5),
                                       (64, 6), (128, 7), (256, 8), (512, 9), (1024, 2)]
    assert b.free_list(0) == [1, 4]          # freed in ascending order, to the tail
    assert b.managed_pages == 1026 and b.free_pages == 1026 and b.reserved_pages() == 1
    # the reserved page is never handed out
    got = b.alloc_batch(np.zeros(1026, dtype=np.int64))
    assert 5 not in set(got.tolist()) and (got >= 0).all() and b.alloc(0) is None


def test_freed_block_goes_to_tail_when_its_parent_buddy_is_free():
    b = BuddyAllocator(32)
    assert [b.alloc(0) for _ in range(8)] == list(range(8))
    assert b.alloc(2) == 8 and b.alloc(2) == 12
    b.free(0, 0)                 # buddy 1 allocated; parent 0's order-1 buddy 2 allocated: head
    b.free(1, 0)                 # merges to (0, order 1); parent's order-2 buddy 4 allocated: head
    assert b.free_list(1) == [0]
    b.free(5, 0)                 # buddy 4 allocated, parent 4's order-1 buddy 6 allocated: head
    b.free(2, 0)                 # buddy 3 allocated, parent 2's order-1 buddy 0 IS free: tail
    assert b.free_list(0) == [5, 2]
    assert b.alloc(0) == 5       # a LIFO allocator would have given 2
    assert b.alloc(0) == 2
    b.free(12, 2)                # buddy 8 allocated; parent 8's order-3 buddy 0 not free: head
    b.free(8, 2)                 # merges to (8, order 3); parent 0's order-4 buddy 16 free: tail
    assert b.free_list(3) == [8] and b.free_list(4) == [16]


def test_free_coalesces_back_to_one_block():
    b = BuddyAllocator(2048)
    out = np.full(6, 7, dtype=np.int64)
    pfns = b.alloc_batch(np.array([0, 3, 1, 10, 2, 0], dtype=np.uint8), out=out)
    assert pfns is out and list(pfns) == [0, 8, 2, 1024, 4, 1]
    with pytest.raises(ValueError, match="out must be"):
        b.alloc_batch([0, 0], out=np.empty(3, dtype=np.int64))
    b.free_batch(pfns, [0, 3, 1, 10, 2, 0])
    assert list(b.free_counts()) == [0] * 10 + [2]
    assert b.free_pages == 2048


def test_fallback_steals_largest_block_and_claims_pageblocks():
    b = BuddyAllocator(2048)                     # 4 pageblocks, all MOVABLE
    assert list(b.pageblock_migratetype) == [1, 1, 1, 1]
    # unmovable: no unmovable block; the largest movable block (order 10 at 0)
    # is stolen whole: both its pageblocks become UNMOVABLE
    assert b.alloc(0, MIGRATE_UNMOVABLE) == 0
    assert list(b.pageblock_migratetype) == [0, 0, 1, 1]
    assert b.alloc(0, MIGRATE_MOVABLE) == 1024
    # reclaimable: largest fallback block is order 9; unmovable is tried
    # before movable (fallbacks[RECLAIMABLE]) -> the order-9 block at 512
    assert b.alloc(0, MIGRATE_RECLAIMABLE) == 512
    assert list(b.pageblock_migratetype) == [0, 2, 1, 1]
    assert b.stats()["fallback"] == 2
    # freed pages go to the list of their pageblock's type
    b.free(512, 0)
    assert b.free_list(9, MIGRATE_RECLAIMABLE) == [512]
    assert b.free_counts_by_type()[MIGRATE_RECLAIMABLE, 9] == 1


def test_movable_fallback_takes_smallest_block_when_it_cannot_claim():
    b = BuddyAllocator(1024)
    assert b.alloc(0, MIGRATE_UNMOVABLE) == 0    # order-10 block: both pageblocks claimed
    assert list(b.pageblock_migratetype) == [0, 0]
    # a movable request may steal an order >= 9 block whole: the order-9 half
    assert b.alloc(0, MIGRATE_MOVABLE) == 512
    assert list(b.pageblock_migratetype) == [0, 1]

    c = BuddyAllocator(16)                       # a zone smaller than a pageblock
    assert c.alloc(0, MIGRATE_UNMOVABLE) == 0
    # move_freepages_block refuses a pageblock the zone does not span: only
    # the block itself changed lists, the pageblock stays MOVABLE
    assert list(c.pageblock_migratetype) == [1]
    assert c.free_list(3, MIGRATE_UNMOVABLE) == [8]
    # movable cannot claim from order < 4: it takes the SMALLEST unmovable
    # block (order 0 at pfn 1), not the largest (order 3 at pfn 8)
    assert c.alloc(0, MIGRATE_MOVABLE) == 1


def test_nofragment_fallback_takes_only_whole_pageblocks():
    b = BuddyAllocator(1024)
    assert b.alloc(0, MIGRATE_MOVABLE) == 0      # order-10 block split: orders 0..9 movable
    # an unmovable order-0 request under ALLOC_NOFRAGMENT may steal only the
    # order-9 block (claiming its pageblock), not the small movable blocks
    assert b.alloc_fast(0, MIGRATE_UNMOVABLE, nofragment=True) == 512
    assert list(b.pageblock_migratetype) == [1, 0]
    c = BuddyAllocator(512)
    assert c.alloc(0) == 0
    assert c.alloc_fast(0, MIGRATE_UNMOVABLE, nofragment=True) is None
    # without the flag it steals from the largest movable block (order 8 at
    # 256), which moves every free block of the pageblock to the unmovable
    # lists and claims it (511 free pages >= 256); then the smallest
    # unmovable block is taken: pfn 1
    assert c.alloc_fast(0, MIGRATE_UNMOVABLE) == 1
    assert list(c.pageblock_migratetype) == [0]


# --- errors -------------------------------------------------------------------

@pytest.mark.parametrize("pfn,order,match", [
    (3, 0, "double free|not an allocated"),
    (0, 1, "another order"),
    (1, 1, "not aligned"),
    (5000, 0, "outside the zone"),
    (-1, 0, "outside the zone"),
    (0, 11, "order outside"),
])
def test_bad_free_raises_and_leaves_state_unchanged(pfn, order, match):
    b = BuddyAllocator(4096)
    assert b.alloc(0) == 0 and b.alloc(0) == 1
    b.free(1, 0)
    before = b.state()
    with pytest.raises(ValueError, match=match):
        b.free(pfn, order)
    after = b.state()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_free_of_block_running_past_zone_end():
    b = BuddyAllocator(10)
    assert b.alloc(1) == 8
    with pytest.raises(ValueError, match="past the end"):
        b.free(8, 3)


def test_free_batch_reports_index_and_keeps_prefix():
    b = BuddyAllocator(64)
    pfns = b.alloc_batch(np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match=r"item 2: .*pfn=1.*items 0..1 were freed"):
        b.free_batch([pfns[0], pfns[1], pfns[1], pfns[2]], 0)
    ref = BuddyAllocator(64)
    rp = ref.alloc_batch(np.zeros(4, dtype=np.int64))
    ref.free(rp[0], 0)
    ref.free(rp[1], 0)
    np.testing.assert_array_equal(b.pages, ref.pages)
    with pytest.raises(ValueError, match="orders\\[1\\]"):
        b.alloc_batch([0, 11])
    with pytest.raises(TypeError, match="integers"):
        b.alloc_batch([0.5])
    with pytest.raises(TypeError, match="integers"):
        b.free_batch([2], [0.0])
    with pytest.raises(ValueError, match="shape"):
        b.free_batch([2, 3], [0, 0, 0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_pages"):
        BuddyAllocator(-1)
    with pytest.raises(ValueError, match="migratetype"):
        BuddyAllocator(8).alloc(0, 7)
    with pytest.raises(ValueError, match="order"):
        BuddyAllocator(8).alloc(11)
    with pytest.raises(ValueError, match="watermarks"):
        BuddyAllocator(8, watermarks=(5, 2, 1))
    with pytest.raises(ValueError, match="reserved mask"):
        BuddyAllocator(8, reserved=np.zeros(3, dtype=bool))


def test_alloc_returns_none_when_no_block_of_that_order():
    b = BuddyAllocator(24)                       # blocks: 0 (order 4), 16 (order 3)
    assert b.alloc(5) is None
    assert b.alloc(4) == 0
    assert b.alloc(4) is None
    assert b.alloc(3) == 16
    assert b.alloc(0) is None


# --- watermarks and the slow path ------------------------------------------------

def test_watermarks_from_min_free_kbytes_match_linux_formula():
    # the host-like DMA zone figures: min_free_kbytes 67584 shared over
    # 1137206 low pages; DMA has 3840 managed pages -> 57/71/85/99
    wm = B.setup_per_zone_wmarks([3840, 772918, 360448, 0], [True, True, True, False], 67584)
    assert wm[0] == (57, 71, 85, 99)
    assert wm[1] == (11483, 14353, 17223, 20093)
    assert wm[2] == (5355, 6693, 8031, 9369)
    assert wm[3] == (32, 32, 32, 32)             # movable zone: min clamped to 32
    assert B.calculate_min_free_kbytes(4 * 1024 * 1024) == 8192   # 4 GiB low memory
    assert B.calculate_min_free_kbytes(1000) == 128
    assert B.calculate_min_free_kbytes(10 ** 12) == 262144
    # 1 GiB: min_free_kbytes = sqrt(1048576 * 16) = 4096 KiB -> min 1024 pages;
    # gap = max(1024 >> 2, 262144 * 10 // 10000) = max(256, 262) = 262
    b = BuddyAllocator(262144, min_free_kbytes="auto")
    assert b.watermarks == {"min": 1024, "low": 1286, "high": 1548, "promo": 1810}


def test_fast_path_respects_low_watermark_slow_path_calls_policy():
    calls = []

    def kswapd(a, order):
        calls.append(("kswapd", order))

    b = BuddyAllocator(16, watermarks=(4, 8, 12), wake_kswapd=kswapd, compaction=False)
    got = [b.alloc(0) for _ in range(13)]
    # 8 allocations pass the low mark (free pages 16..9 are > 8 before each),
    # 4 more at the min mark through the slow path (8..5 > 4), then none
    assert got[:12] == list(range(12)) and got[12] is None
    assert calls == [("kswapd", 0)] * 5
    freed = []

    def reclaim(a, order):
        a.free(freed_pfn[0], 0)
        freed.append(freed_pfn[0])
        return 1

    freed_pfn = [0]
    b.direct_reclaim = reclaim
    assert b.alloc(0) == 0 and freed == [0]


def test_oom_callback_only_for_non_costly_orders():
    seen = []
    b = BuddyAllocator(8, out_of_memory=lambda a, o: seen.append(o) or False)
    assert b.alloc(3) == 0
    assert b.alloc(0) is None and b.alloc(4) is None
    assert seen == [0]


# --- compaction -------------------------------------------------------------------

def _checkerboard(n=2048):
    b = BuddyAllocator(n)
    pfns = b.alloc_batch(np.zeros(n, dtype=np.int64))
    b.free_batch(pfns[1::2], 0)          # every other page free: no order >= 1
    return b


def test_compaction_moves_movable_pages_and_returns_pairs():
    b = _checkerboard()
    assert list(b.free_counts()) == [1024] + [0] * 10
    moved = b.compact()
    # the migrate scanner takes the lowest pages, the free scanner hands out
    # the top pageblock's free pages in ascending order
    assert moved.shape == (512, 3)
    assert list(moved[0]) == [0, 1537, 0] and list(moved[1]) == [2, 1539, 0]
    allocated = set(b.allocated_blocks()[0].tolist())
    assert allocated == set(range(1024, 2048))
    assert list(b.free_counts()) == [0] * 10 + [1]
    assert b.stats()["compact_migrated"] == 512
    # direct compaction for order 3 stops at the first pageblock boundary
    c = _checkerboard()
    moved = c.compact(3)
    assert moved.shape == (256, 3) and c.alloc(3) == 0


def test_compaction_leaves_unmovable_pages():
    b = BuddyAllocator(1024)
    u = b.alloc(0, MIGRATE_UNMOVABLE)
    assert u == 0
    m = b.alloc_batch(np.zeros(10, dtype=np.int64), MIGRATE_MOVABLE)
    moved = b.compact()
    assert u not in moved[:, 0]
    assert set(moved[:, 0].tolist()) <= set(m.tolist())   # only movable pages move


# --- fragmentation indices ------------------------------------------------------

def test_fragmentation_indices_hand_worked():
    b = _checkerboard()                 # 1024 free order-0 blocks
    fi = b.fragmentation_index()
    assert fi[0] == -1000
    # order 1: 1000 - (1000 + 1024*1000 // 2) // 1024 = 1000 - 513000 // 1024 = 500
    assert fi[1] == 500
    # order 10: 1000 - (1000 + 1000) / 1024 = 999
    assert fi[10] == 999
    ui = b.unusable_index()
    assert ui[0] == 0 and all(v == 1000 for v in ui[1:])
    assert B.fragmentation_index([0] * 11, 3) == 0
    assert B.unusable_free_index([0] * 11, 3) == 1000


# --- pickling -----------------------------------------------------------------

def test_pickle_round_trip_continues_identically():
    b = BuddyAllocator(3000, base_pfn=17, reserved=[(100, 140)])
    b.alloc_batch([0, 3, 2, 5, 0, 1])
    c = pickle.loads(pickle.dumps(b))
    for k, v in b.state().items():
        np.testing.assert_array_equal(v, c.state()[k])
    assert list(b.alloc_batch([0, 4, 1])) == list(c.alloc_batch([0, 4, 1]))
    d = BuddyAllocator.from_state(3000, 17, b.state())
    assert d.free_pages == b.free_pages
    bad = b.state()
    bad["pages"]["next"][5] = 5000
    with pytest.raises(ValueError, match="links outside"):
        BuddyAllocator.from_state(3000, 17, bad)
    bad = b.state()
    bad["list_head"][0] = 3000
    with pytest.raises(ValueError, match="heads"):
        BuddyAllocator.from_state(3000, 17, bad)


# --- differential state machine ---------------------------------------------------

class BuddyMachine(RuleBasedStateMachine):
    @initialize(n=st.integers(1, 2600), base=st.integers(0, 1100),
                holes=st.lists(st.tuples(st.integers(0, 3700), st.integers(0, 40)), max_size=3),
                wm=st.sampled_from([(0, 0, 0), (2, 5, 9), (20, 40, 60)]))
    def setup(self, n, base, holes, wm):
        ranges = [(s, s + ln) for s, ln in holes]
        self.b = BuddyAllocator(n, base, reserved=ranges, watermarks=wm, compaction=False)
        self.r = RefBuddy(n, base, ranges)
        self.wm = wm
        self.live = []

    def _check_alloc(self, got, order, mt, mark):
        exp = self.r.alloc(order, mt, mark)
        assert got == exp, (got, exp, order, mt)
        if got is not None:
            self.live.append((got, order))

    @rule(order=st.integers(0, 10), mt=st.integers(0, 2), wmark=st.sampled_from(["min", "low", None]),
          nofrag=st.booleans())
    def alloc_fast(self, order, mt, wmark, nofrag):
        got = self.b.alloc_fast(order, mt, wmark, nofragment=nofrag)
        mark = {"min": self.wm[0], "low": self.wm[1], None: -(1 << 62)}[wmark]
        exp = self.r.alloc(order, mt, mark, nofragment=nofrag)
        assert got == exp, (got, exp, order, mt, nofrag)
        if got is not None:
            self.live.append((got, order))

    @rule(order=st.integers(0, 4), mt=st.integers(0, 2))
    def alloc_slow(self, order, mt):
        got = self.b.alloc(order, mt)
        exp = self.r.alloc(order, mt, self.wm[1])
        if exp is None:
            exp = self.r.alloc(order, mt, self.wm[0])
        assert got == exp
        if got is not None:
            self.live.append((got, order))

    @rule(orders=st.lists(st.integers(0, 6), max_size=20), mt=st.integers(0, 2))
    def alloc_batch(self, orders, mt):
        got = self.b.alloc_batch(np.array(orders, dtype=np.int64), mt)
        for g, o in zip(got.tolist(), orders):
            self._check_alloc(None if g < 0 else g, o, mt, self.wm[1])

    @rule(i=st.integers(0, 10 ** 6))
    def free(self, i):
        if not self.live:
            return
        pfn, order = self.live.pop(i % len(self.live))
        self.b.free(pfn, order)
        self.r.free_block(pfn, order)

    @rule(i=st.integers(0, 10 ** 6), k=st.integers(0, 8))
    def free_batch(self, i, k):
        if not self.live:
            return
        start = i % len(self.live)
        chunk = self.live[start:start + k]
        del self.live[start:start + k]
        self.b.free_batch([p for p, _ in chunk], [o for _, o in chunk])
        for p, o in chunk:
            self.r.free_block(p, o)

    @rule(off=st.integers(-4, 2700), order=st.integers(-1, 11))
    def bad_or_random_free(self, off, order):
        pfn = self.b.base_pfn + off
        before = self.b.state()
        try:
            self.r.free_block(pfn, order)
        except ValueError:
            with pytest.raises(ValueError):
                self.b.free(pfn, order)
            for k, v in before.items():
                np.testing.assert_array_equal(v, self.b.state()[k])
        else:
            self.b.free(pfn, order)
            self.live.remove((pfn, order))

    @rule(order=st.sampled_from([-1, 1, 3, 9]), mt=st.integers(0, 2))
    def compact(self, order, mt):
        got = [tuple(r) for r in self.b.compact(order, mt).tolist()]
        exp = self.r.compact(order, mt)
        assert got == exp
        moved = {old: (new, k) for old, new, k in got}
        self.live = [(moved[p][0], o) if p in moved else (p, o) for p, o in self.live]

    @invariant()
    def agrees_with_reference(self):
        b, r = self.b, self.r
        assert list(b.free_counts()) == r.counts()
        assert b.free_counts_by_type().tolist() == r.counts_by_type()
        for o in range(11):
            for t in range(3):
                assert b.free_list(o, t) == r.lists[(o, t)]
        blocks = sorted(r.block_mt)
        assert b.pageblock_migratetype.tolist() == [r.block_mt[k] for k in blocks]
        assert b.free_pages == r.free_pages()

    @invariant()
    def every_page_accounted_once(self):
        b = self.b
        cover = np.zeros(b.n_pages, dtype=np.int64)
        for pfns, orders in (b.free_blocks()[:2], b.allocated_blocks()[:2]):
            for p, o in zip(pfns.tolist(), orders.tolist()):
                assert p % (1 << o) == 0
                cover[p - b.base_pfn:p - b.base_pfn + (1 << o)] += 1
        reserved = (b.pages["flags"] & B.PG_RESERVED) != 0
        cover[reserved] += 1
        assert (cover == 1).all()               # no overlap, nothing lost
        fp, fo, _ = b.free_blocks()
        ap, ao, _ = b.allocated_blocks()
        assert int((1 << fo).sum()) + int((1 << ao).sum()) + int(reserved.sum()) == b.n_pages
        assert b.free_pages == int((1 << fo).sum())
        assert sorted(zip(ap.tolist(), ao.tolist())) == sorted(self.live)

    @invariant()
    def buddies_never_both_free(self):
        fp, fo, _ = self.b.free_blocks()
        free = set(zip(fp.tolist(), fo.tolist()))
        for p, o in free:
            if o < 10:
                assert (p ^ (1 << o), o) not in free


TestBuddyMachine = BuddyMachine.TestCase
TestBuddyMachine.settings = settings(TestBuddyMachine.settings, stateful_step_count=40)
