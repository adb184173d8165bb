"""memcore.slab: SLUB geometry, addresses, errors, slabinfo, and a state
machine against the reference cache."""
import os
import re

import numpy as np
import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from memcore.slab import (KMALLOC_SIZES, SLABINFO_HEADER, Kmalloc, SlabCache,
                          calculate_order, get_order, kmalloc_index, slabinfo)
from reference.slab import RefPageSource, RefSlabCache

# /proc/slabinfo of a 2-CPU x86-64 host running Linux 6.18 (SLUB):
# name -> (objsize, objperslab, pagesperslab)
HOST_KMALLOC = {
    "kmalloc-8k": (8192, 4, 8), "kmalloc-4k": (4096, 8, 8), "kmalloc-2k": (2048, 16, 8),
    "kmalloc-1k": (1024, 16, 4), "kmalloc-512": (512, 16, 2), "kmalloc-256": (256, 16, 1),
    "kmalloc-192": (192, 21, 1), "kmalloc-128": (128, 32, 1), "kmalloc-96": (96, 42, 1),
    "kmalloc-64": (64, 64, 1), "kmalloc-32": (32, 128, 1), "kmalloc-16": (16, 256, 1),
    "kmalloc-8": (8, 512, 1),
}
# other caches on that host: object size -> (objperslab, pagesperslab)
HOST_OTHER = {624: (13, 2), 320: (12, 1), 416: (19, 2), 312: (13, 1)}


def test_kmalloc_geometry_matches_linux():
    km = Kmalloc(RefPageSource(16), nr_cpus=2)
    got = {c.name: (c.size, c.objects, 1 << c.order) for c in km.caches.values()}
    assert got == HOST_KMALLOC
    for size, (objs, pages) in HOST_OTHER.items():
        assert ((4096 << calculate_order(size, nr_cpus=2)) // size,
                1 << calculate_order(size, nr_cpus=2)) == (objs, pages)


def test_size_rounding_and_alignment():
    src = RefPageSource(16)
    assert SlabCache("a", 1, page_source=src).size == 8
    assert SlabCache("a", 13, page_source=src).size == 16
    c = SlabCache("a", 20, page_source=src, hwcache_align=True)
    assert (c.align, c.size) == (32, 32)        # cache line halved while it fits
    c = SlabCache("a", 100, align=64, page_source=src)
    assert (c.align, c.size, c.offset) == (64, 128, 48)
    # waste rule: 8 objects of 1000 bytes want 8000 bytes: order 1, 192 left over
    c = SlabCache("a", 1000, page_source=src)
    assert (c.order, c.objects) == (1, 8)
    assert get_order(4097) == 1 and get_order(4096) == 0


def test_addresses_fill_slab_in_order_and_reuse_lifo():
    src = RefPageSource(64, base_pfn=0x40)
    c = SlabCache("obj", 96, page_source=src)
    addrs = [c.alloc() for _ in range(3)]
    assert addrs == [0x40000, 0x40060, 0x400C0]
    c.free(addrs[1])
    c.free(addrs[0])
    assert c.freelist(0x40)[:3] == [0x40000, 0x40060, 0x40120]
    assert c.alloc() == addrs[0] and c.alloc() == addrs[1]


def test_colouring_cycles_over_leftover():
    src = RefPageSource(64)
    c = SlabCache("col", 1000, page_source=src, colouring=True)
    assert (c.objects, c.colour_off, c.colour) == (8, 64, 3)   # 192 bytes left over
    firsts = []
    for _ in range(5):
        a = c.alloc_batch(8)
        firsts.append(int(a[0]) % 8192)
    assert firsts == [0, 64, 128, 0, 64]
    assert [int(x) for x in c.slabs()["colour"]] == [64, 0, 64, 128, 0]


def test_errors_leave_cache_unchanged():
    src = RefPageSource(64)
    c = SlabCache("e", 64, page_source=src, colouring=True)
    a = c.alloc_batch(70)
    c.free(a[5])
    before = (c.slabs().tolist(), c.slabinfo_row(), src.calls[:])
    bad = [int(a[5]), int(a[6]) + 8, int(a[6]) + 1, 999 * 4096, -1, 1 << 70]
    msgs = ["double free", "object boundary", "object boundary", "not in any slab",
            "not in any slab", "not in any slab"]
    for addr, msg in zip(bad, msgs):
        with pytest.raises(ValueError, match=msg):
            c.free(addr)
    with pytest.raises(ValueError, match=r"addrs\[2\].*double free"):
        c.free_batch([a[7], a[8], a[7]])
    with pytest.raises(ValueError, match=r"addrs\[1\]"):
        c.free_batch(np.array([int(a[9]), -5]))
    assert (c.slabs().tolist(), c.slabinfo_row(), src.calls) == before
    for bad_args in [dict(object_size=0), dict(object_size=8, align=3),
                     dict(object_size=8, nr_cpus=0)]:
        with pytest.raises(ValueError):
            SlabCache("bad", page_source=src, **bad_args)
    with pytest.raises(ValueError, match="page_source"):
        SlabCache("bad", 8)
    with pytest.raises(ValueError, match="cpu"):
        c.alloc(cpu=1)


def test_page_source_exhaustion():
    src = RefPageSource(2)
    c = SlabCache("x", 2048, page_source=src, max_order=0)
    assert (c.order, c.objects) == (0, 2)
    got = c.alloc_batch(7)
    assert len(got) == 4
    assert [call for call in src.calls if call[1] is None] == [("alloc", None, 0)]
    assert c.alloc() is None
    c.free_batch(got)
    assert c.alloc() is not None


def test_empty_slabs_go_back_beyond_min_partial_and_on_shrink():
    src = RefPageSource(256)
    c = SlabCache("s", 512, page_source=src)          # order 0, 8 objects, min_partial 5
    assert (c.objects, c.min_partial) == (8, 5)
    a = c.alloc_batch(8 * 20)
    assert src.pages_used() == 20
    c.free_batch(a)
    # 19 full slabs emptied in turn: the first four stay (partial list < 5),
    # later ones are freed; the cpu slab stays
    assert c.nr_partial == 4 and c.nr_slabs == 5 and src.pages_used() == 5
    assert c.shrink() == 5
    assert c.nr_slabs == 0 and src.pages_used() == 0


def test_shrink_orders_partial_fullest_first():
    src = RefPageSource(64)
    c = SlabCache("s", 512, page_source=src)
    a = c.alloc_batch(8 * 4).reshape(4, 8)
    c.free_batch(a[0, :3])     # slab 0: 5 live
    c.free_batch(a[1, :1])     # slab 1: 7 live
    c.free_batch(a[2, :6])     # slab 2: 2 live
    assert c.slabs()["inuse"].tolist() == [8, 5, 7, 2]   # cpu, then partial in order
    assert c.shrink() == 0
    s = c.slabs()
    assert s["state"].tolist() == ["partial"] * 3 + ["full"]
    assert s["inuse"].tolist() == [7, 5, 2, 8]


def test_slabinfo_format():
    src = RefPageSource(64)
    c = SlabCache("kmalloc-96", 96, page_source=src, nr_cpus=2)
    c.alloc_batch(100)
    row = c.slabinfo_row()
    assert row == ("kmalloc-96           126    126     96   42    1 : tunables    0    0    0"
                   " : slabdata      3      3      0")
    text = slabinfo([c])
    assert text.startswith("slabinfo - version: 2.1\n# name            <active_objs> <num_objs>")
    assert text == SLABINFO_HEADER + row + "\n"
    # SLUB counts only the free objects of partial slabs as inactive: the 7
    # free objects of the cpu slab count as active, the one freed in the
    # (formerly full, now partial) first slab does not.  Long names push
    # the columns right, as %-17s does.
    c2 = SlabCache("a_rather_long_cache_name", 4096, page_source=src)
    x = c2.alloc_batch(9)
    c2.free(x[0])
    assert re.fullmatch(r"a_rather_long_cache_name +15 +16 +4096 +8 +8 : tunables +0 +0 +0"
                        r" : slabdata +2 +2 +0", c2.slabinfo_row())
    assert c2.slabinfo_row().startswith("a_rather_long_cache_name     15     16   4096")


def test_host_slabinfo_header_matches():
    try:
        with open("/proc/slabinfo") as f:
            head = f.readline() + f.readline()
    except OSError:
        pytest.skip("/proc/slabinfo is not readable here")
    if not head.startswith("slabinfo - version: 2.1\n"):
        pytest.skip("host slabinfo is not version 2.1")
    assert head == SLABINFO_HEADER


def test_kmalloc_classes_and_large():
    src = RefPageSource(512)
    km = Kmalloc(src)
    assert [kmalloc_index(s) for s in (1, 8, 9, 64, 65, 96, 97, 128, 129, 192, 193, 8192)] == \
        [8, 8, 16, 64, 96, 96, 128, 128, 192, 192, 256, 8192]
    assert tuple(sorted(km.caches)) == KMALLOC_SIZES
    small = km.kmalloc(100)
    assert km.cache_for(100).owns(small)
    big = km.kmalloc(3 * 4096 + 1)           # 4 pages, straight from the page source
    assert big % (4 * 4096) == 0 and big in km.large and km.large[big] == 2
    used = src.pages_used()
    km.kfree(big)
    assert src.pages_used() == used - 4
    km.kfree(small)
    with pytest.raises(ValueError, match="kmalloc"):
        km.kfree(big)
    with pytest.raises(ValueError, match="double free"):
        km.kfree(small)
    with pytest.raises(ValueError):
        km.kmalloc(0)
    assert km.slabinfo().splitlines()[2].startswith("kmalloc-8k ")


def test_batch_equals_single():
    s1, s2 = RefPageSource(128), RefPageSource(128)
    a, b = SlabCache("a", 200, page_source=s1), SlabCache("b", 200, page_source=s2)
    x = a.alloc_batch(333)
    y = np.array([b.alloc() for _ in range(333)], dtype=np.uint64)
    assert np.array_equal(x, y)
    order = np.random.default_rng(1).permutation(333)
    a.free_batch(x[order[:200]])
    for i in order[:200]:
        b.free(y[i])
    assert a.slabs().tolist() == b.slabs().tolist() and s1.calls == s2.calls
    assert np.array_equal(a.alloc_batch(150), np.array([b.alloc() for _ in range(150)]))


class SlabMachine(RuleBasedStateMachine):
    """Random allocs/frees/shrinks against the reference; invariants each step."""

    def __init__(self):
        super().__init__()
        self.eng = None
        self.live = []

    @precondition(lambda self: self.eng is None)
    @rule(size=st.sampled_from([8, 24, 96, 200, 700, 1000, 3000]), colouring=st.booleans(),
          hw=st.booleans(), cpus=st.integers(1, 3), pages=st.integers(4, 40))
    def start(self, size, colouring, hw, cpus, pages):
        self.src_e, self.src_r = RefPageSource(pages, 0x100), RefPageSource(pages, 0x100)
        kw = dict(hwcache_align=hw, colouring=colouring, nr_cpus=cpus)
        self.eng = SlabCache("m", size, page_source=self.src_e, **kw)
        self.ref = RefSlabCache("m", size, page_source=self.src_r, **kw)
        self.cpus = cpus

    @precondition(lambda self: self.eng is not None)
    @rule(n=st.integers(1, 40), cpu=st.integers(0, 2), batch=st.booleans())
    def alloc(self, n, cpu, batch):
        cpu %= self.cpus
        want = []
        for _ in range(n):
            w = self.ref.alloc(cpu)
            if w is not None:
                want.append(w)
            elif batch:
                break           # a batch stops when the page source runs dry
        if batch:
            got = self.eng.alloc_batch(n, cpu).tolist()
        else:
            got = [self.eng.alloc(cpu) for _ in range(n)]
            got = [g for g in got if g is not None]
        assert got == want
        self.live += got

    @precondition(lambda self: self.eng is not None)
    @rule(data=st.data(), batch=st.booleans())
    def free(self, data, batch):
        if not self.live:
            return
        k = data.draw(st.integers(1, len(self.live)))
        idx = data.draw(st.lists(st.integers(0, len(self.live) - 1), min_size=1, max_size=k,
                                 unique=True))
        addrs = [self.live[i] for i in idx]
        if batch:
            self.eng.free_batch(np.array(addrs, dtype=np.uint64))
        else:
            for a in addrs:
                self.eng.free(a)
        for a in addrs:
            self.ref.free(a)
        for i in sorted(idx, reverse=True):
            del self.live[i]

    @precondition(lambda self: self.eng is not None)
    @rule(data=st.data(), delta=st.integers(-64, 64))
    def bad_free(self, data, delta):
        cands = [0x99 << 12]
        if self.live:
            cands.append(data.draw(st.sampled_from(self.live)) + delta)
        addr = data.draw(st.sampled_from(cands))
        err = self.ref.check(addr)
        if err is None:
            return
        before = (self.eng.slabs().tolist(), self.eng.slabinfo_row())
        with pytest.raises(ValueError):
            self.eng.free(addr)
        good = self.live[:2]
        with pytest.raises(ValueError):
            self.eng.free_batch(np.array(good + [addr], dtype=np.uint64))
        assert (self.eng.slabs().tolist(), self.eng.slabinfo_row()) == before

    @precondition(lambda self: self.eng is not None)
    @rule()
    def shrink(self):
        assert self.eng.shrink() == self.ref.shrink()

    @invariant()
    def agree(self):
        if self.eng is None:
            return
        e, r = self.eng, self.ref
        slabs = e.slabs()
        want = [(s["pfn"], s["colour"], s["inuse"]) for s in r.all_slabs()]
        assert [(int(p), int(c), int(i)) for p, c, i in
                zip(slabs["pfn"], slabs["colour"], slabs["inuse"])] == want
        assert e.slabinfo_row() == r.slabinfo_row()
        assert e.nr_partial == len(r.partial) and e.nr_full == len(r.full)
        assert sorted(self.live) == r.live()
        assert e.inuse_objects == len(self.live)
        assert self.src_e.calls == self.src_r.calls
        assert self.src_e.pages_used() == e.nr_slabs << e.order
        # objects lie inside their slabs, never overlap; freelists match
        span = 4096 << e.order
        for s in r.all_slabs():
            start = s["pfn"] * 4096
            assert s["colour"] + e.objects * e.size <= span
            assert e.freelist(s["pfn"]) == [start + s["colour"] + i * e.size for i in s["free"]]
        live = sorted(self.live)
        assert all(b - a >= e.size for a, b in zip(live, live[1:]))


TestSlabMachine = SlabMachine.TestCase
TestSlabMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


def test_docstring_examples():
    import doctest

    import memcore.slab

    res = doctest.testmod(memcore.slab)
    assert res.attempted > 0 and res.failed == 0


def test_pickle_checkpoint_resumes_identically():
    import pickle

    src = RefPageSource(64)
    c = SlabCache("p", 300, page_source=src, colouring=True, nr_cpus=2)
    a = c.alloc_batch(100)
    c.free_batch(a[::3])
    c2 = pickle.loads(pickle.dumps(c))
    assert c2.slabinfo_row() == c.slabinfo_row() and c2.slabs().tolist() == c.slabs().tolist()
    assert c2.state()["slab"].dtype == c.state()["slab"].dtype
    for cache in (c, c2):
        cache.free_batch(a[1::3])
        cache.alloc_batch(77, cpu=1)
    assert np.array_equal(c.alloc_batch(50), c2.alloc_batch(50))
    assert c2.slabs().tolist() == c.slabs().tolist()
    assert c2.page_source.calls == src.calls


def _present_cpus():
    try:
        with open("/sys/devices/system/cpu/present") as f:
            spec = f.read().strip()
    except OSError:
        return os.cpu_count() or 1
    n = 0
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


def test_orders_match_every_cache_of_this_host():
    # SLUB picks a cache's order from its slot size alone, so every row of
    # the host's /proc/slabinfo is a test case: <objsize> -> <objperslab>,
    # <pagesperslab>.  Needs the Linux 6.7+ calculate_order and no boot-time
    # overrides of the order parameters.
    try:
        with open("/proc/slabinfo") as f:
            rows = f.read().splitlines()
        with open("/proc/cmdline") as f:
            cmdline = f.read()
    except OSError:
        pytest.skip("/proc/slabinfo is not readable here")
    release = tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2])
    if not rows or rows[0] != "slabinfo - version: 2.1" or release < (6, 7):
        pytest.skip("needs a Linux 6.7+ SLUB slabinfo")
    if re.search(r"sl[au]b_(min_objects|max_order|min_order)", cmdline):
        pytest.skip("slab order parameters overridden on the kernel command line")
    cpus = _present_cpus()
    mismatched = []
    for row in rows[2:]:
        f = row.split()
        size, objs, pages = int(f[3]), int(f[4]), int(f[5])
        order = calculate_order(size, nr_cpus=cpus)
        if ((4096 << order) // size, 1 << order) != (objs, pages):
            mismatched.append(row)
    assert len(rows) > 10 and not mismatched
