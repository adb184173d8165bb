"""The cache engine against the pure-Python reference, and its Python face.

Differential tests: random configurations (every policy, associativity from
direct-mapped to fully associative, write policies, inclusion, split I/D) and
random access sequences (straddling lines, every kind, addresses above
4 GiB) must give identical statistics and identical final contents (way by
way) in the engine and in ``tests/reference/cache.py``, in every compat mode.
"""
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from memcore.access import ACCESS_DTYPE, IFETCH, LOAD, STORE, MODIFY, FLUSH, make
from memcore.cache import Cache, POLICIES
from memcore.hierarchy import Hierarchy, COMPAT_MODES
from reference.cache import RefHierarchy

HIGH = (0, 1 << 32, 1 << 40, (1 << 64) - (1 << 12))


@st.composite
def level_geometry(draw, line_size, policy):
    sets = draw(st.sampled_from([1, 2, 4]))
    if policy == "plru":
        ways = draw(st.sampled_from([1, 2, 4, 8]))
    else:
        ways = draw(st.sampled_from([1, 2, 3, 4, 5, 8]))
    size = sets * ways * line_size
    if sets == 1 and draw(st.booleans()):
        ways = 0  # fully associative, spelled 0
    return size, ways


@st.composite
def level_spec(draw, name, line_size, nxt, inclusion, write_back=None, all_lru=False):
    # all_lru: LRU, write-back, write-allocate (the engine's specialised path).
    policy = "lru" if all_lru else draw(st.sampled_from(POLICIES))
    size, ways = draw(level_geometry(line_size, policy))
    wb = True if all_lru else (draw(st.booleans()) if write_back is None else write_back)
    wa = True if all_lru else draw(st.booleans())
    return dict(name=name, size=size, line_size=line_size, ways=ways, policy=policy,
                write_back=wb, write_allocate=wa,
                seed=draw(st.integers(0, 2**64 - 1)), next=nxt, inclusion=inclusion)


@st.composite
def hierarchy_config(draw, compat, all_lru=False):
    line_size = draw(st.sampled_from([4, 8, 16]))
    depth = draw(st.integers(1, 4 if all_lru else 3))
    split = draw(st.booleans())
    incl_choices = ["non-inclusive"]
    if compat in ("default", "dinero") and not all_lru:
        incl_choices += ["inclusive", "exclusive"]
    lower = []
    names = [f"L{i}" for i in range(2, depth + 1)]
    inclusions = [draw(st.sampled_from(incl_choices)) for _ in names]
    # An exclusive level and every level above it must be write-back.
    wb_forced = any(i == "exclusive" for i in inclusions)
    for i, nm in enumerate(names):
        nxt = names[i + 1] if i + 1 < len(names) else None
        force = True if wb_forced and "exclusive" in inclusions[i:] else None
        lower.append(draw(level_spec(nm, line_size, nxt, inclusions[i], force, all_lru)))
    top_next = names[0] if names else None
    force = True if wb_forced else None
    if split:
        top = [draw(level_spec("L1I", line_size, top_next, "non-inclusive", force, all_lru)),
               draw(level_spec("L1D", line_size, top_next, "non-inclusive", force, all_lru))]
        entries = ("L1D", draw(st.sampled_from(["L1I", None])))
    else:
        top = [draw(level_spec("L1", line_size, top_next, "non-inclusive", force, all_lru))]
        entries = ("L1", draw(st.sampled_from(["L1", None])))
    levels = draw(st.permutations(top + lower))  # any order of declaration
    return levels, entries, line_size


@st.composite
def records(draw, line_size, max_len=120, flush=True):
    n_lines = draw(st.integers(1, 40))
    hi = draw(st.sampled_from(HIGH))
    kinds = [IFETCH, LOAD, STORE, MODIFY] + ([FLUSH] if flush else [])
    weights = st.sampled_from(kinds[:4] * 8 + kinds[4:])
    out = []
    for _ in range(draw(st.integers(0, max_len))):
        line = draw(st.integers(0, n_lines - 1))
        addr = (hi + line * line_size + draw(st.integers(0, line_size - 1))) % 2**64
        size = draw(st.sampled_from([0, 1, 2, 4, 8, line_size, 2 * line_size + 1]))
        out.append((addr, min(size, 255), draw(weights)))
    return out


def to_array(recs):
    arr = np.zeros(len(recs), dtype=ACCESS_DTYPE)
    if recs:
        a, s, k = zip(*recs)
        arr["addr"] = np.array(a, dtype=np.uint64)
        arr["size"] = s
        arr["kind"] = k
    return arr


def assert_same(h, ref):
    assert h.stats() == ref.stats()
    for nm, L in ref.levels.items():
        c = h.level(nm)
        tags = [-1 if t == 2**64 - 1 else int(t) for t in c.tags]
        assert tags == L.tags(), nm
        assert list(c.dirty) == L.dirty_flags(), nm
        assert list(c.valid) == [int(t >= 0) for t in L.tags()], nm


@pytest.mark.parametrize("compat", COMPAT_MODES)
@settings(max_examples=40)
@given(data=st.data())
def test_engine_matches_reference(compat, data):
    check_against_reference(data, compat, all_lru=False)


def check_against_reference(data, compat, all_lru):
    levels, (d_entry, i_entry), line_size = data.draw(hierarchy_config(compat, all_lru))
    recs = data.draw(records(line_size))
    h = Hierarchy(levels, data_entry=d_entry, inst_entry=i_entry, compat=compat)
    ref = RefHierarchy(levels, data_entry=d_entry, inst_entry=i_entry, compat=compat)
    # Half the records in one batch, the rest one by one (served level checked).
    half = len(recs) // 2
    h.run(to_array(recs[:half]))
    ref.run(recs[:half])
    for addr, size, kind in recs[half:]:
        assert h.access(addr, size, kind) == ref.access(addr, size, kind)
    assert_same(h, ref)
    h.run(to_array(recs))  # and all of them again in one batch, warm
    ref.run(recs)
    assert_same(h, ref)
    h.finish()
    ref.finish()
    assert_same(h, ref)


@pytest.mark.parametrize("compat", ["default", "dinero"])
@settings(max_examples=60)
@given(data=st.data())
def test_all_lru_hierarchy_matches_reference(compat, data):
    # Every level LRU, write-back, write-allocate, non-inclusive: the engine
    # handles misses on its specialised path (deeper hierarchies than above,
    # so dirty victims cascade), which must count exactly as the reference.
    check_against_reference(data, compat, all_lru=True)


@settings(max_examples=40)
@given(data=st.data())
def test_single_cache_matches_reference(data):
    policy = data.draw(st.sampled_from(POLICIES))
    line_size = data.draw(st.sampled_from([2, 8, 64]))
    size, ways = data.draw(level_geometry(line_size, policy))
    wb, wa = data.draw(st.booleans()), data.draw(st.booleans())
    seed = data.draw(st.integers(0, 100))
    recs = data.draw(records(line_size, max_len=200))
    c = Cache(size, line_size, ways, policy, wb, wa, seed)
    ref = RefHierarchy([dict(name="cache", size=size, line_size=line_size, ways=ways,
                             policy=policy, write_back=wb, write_allocate=wa, seed=seed)],
                       data_entry="cache", inst_entry="cache")
    c.run(to_array(recs))
    ref.run(recs)
    c.finish()
    ref.finish()
    st_ = c.stats()
    assert st_.pop("memory_reads") == ref.memory["reads"]
    assert st_.pop("memory_writes") == ref.memory["writes"]
    assert st_ == ref.stats()["levels"]["cache"]
    assert c.lines() == sorted(((e[0] << (line_size.bit_length() - 1)), bool(e[1]))
                               for ways_ in ref.levels["cache"].sets for e in ways_ if e)


@pytest.mark.parametrize("line", [16, 64])
@pytest.mark.parametrize("ways", [2, 4, 8, 16, 32])
@pytest.mark.parametrize("policy", POLICIES)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_batch_loop_equals_single_accesses(policy, ways, line, data):
    # hier_run's C loops (SSE2 set search for 2/4/8/16 ways, misses of a
    # lone LRU level, loops for 64-byte lines) must leave exactly the state
    # and counts that hier_access leaves, replacement stamps included.
    sets = data.draw(st.sampled_from([1, 4, 16]))
    wb, wa = data.draw(st.booleans()), data.draw(st.booleans())
    recs = data.draw(records(line, max_len=250))
    batch, single = (Cache(sets * ways * line, line, ways, policy, wb, wa, seed=3) for _ in "ab")
    batch.run(to_array(recs[:len(recs) // 3]))
    batch.run(to_array(recs[len(recs) // 3:]))
    for addr, size, kind in recs:
        single.access(addr, size, kind)
    for name in ("tags", "repl", "dirty", "valid", "counters", "gstats"):
        assert np.array_equal(getattr(batch, name), getattr(single, name)), name
    # Clock and RNG state (not the id of the last record seen, a
    # bookkeeping word the batch loop does not keep for hits).
    assert list(batch.ctl[:2]) == list(single.ctl[:2])


# ---------------------------------------------------------------- semantics

def two_levels(**kw):
    return Hierarchy([dict(name="L1", size=256, line_size=64, ways=2, next="L2"),
                      dict(name="L2", size=1024, line_size=64, ways=4)],
                     data_entry="L1", inst_entry="L1", **kw)


def test_straddling_access_touches_every_line():
    c = Cache(1024, 64, 2)
    assert c.access(60, 8) is False      # lines 0 and 1
    s = c.stats()
    assert (s["records"], s["accesses"], s["misses"], s["fills"]) == (1, 2, 2, 2)
    assert c.access(0, 1) and c.access(64, 1)


def test_modify_is_load_then_store():
    c = Cache(1024, 64, 2)
    c.access(0x100, 4, MODIFY)
    s = c.stats()
    assert (s["loads"], s["load_misses"], s["stores"], s["store_hits"]) == (1, 1, 1, 1)
    assert c.lines() == [(0x100, True)]


def test_addresses_above_4gib_are_distinct_lines():
    c = Cache(1024, 64, 0)
    c.access(0x40)
    assert not c.access(0x1_0000_0040)   # pycachesim would alias these two
    assert c.lines() == [(0x40, False), (0x1_0000_0040, False)]
    assert not c.access((1 << 64) - 1, 8)  # no wrap-around past the top line
    assert c.lines()[-1] == ((1 << 64) - 64, False)


def test_dirty_victim_goes_to_next_level_after_fetch():
    h = two_levels()
    h.access(0x000, 1, STORE)
    h.access(0x080, 1, LOAD)
    h.access(0x100, 1, LOAD)              # same L1 set (2 sets): evicts dirty 0x000
    s = h.stats()["levels"]
    assert s["L1"]["dirty_evictions"] == 1 and s["L1"]["writebacks"] == 1
    assert s["L2"]["store_hits"] == 1      # the line was still in L2
    assert h.level("L2").lines()[0] == (0x000, True)
    assert h.stats()["memory"] == {"reads": 3, "writes": 0}


def test_flush_record_writes_back_and_invalidates():
    h = two_levels()
    h.access(0x40, 1, STORE)
    h.run(make([0], kind=FLUSH))
    s = h.stats()
    assert s["flushes"] == 1 and s["memory"]["writes"] == 1
    assert h.level("L1").lines() == [] and h.level("L2").lines() == []


def test_dinero_flushes_at_end_default_does_not():
    for compat, writes, dirty in (("default", 0, 1), ("dinero", 1, 0)):
        h = two_levels(compat=compat)
        h.access(0x40, 1, STORE)
        s = h.finish()
        assert s["memory"]["writes"] == writes
        assert s["levels"]["L1"]["dirty_at_end"] == dirty


def test_skipped_instructions_are_counted():
    h = Hierarchy([dict(name="L1D", size=256, line_size=64, ways=2)], inst_entry=None)
    h.run(make([0, 64, 128], kind=[IFETCH, LOAD, IFETCH]))
    s = h.stats()
    assert (s["records"], s["instructions"], s["skipped_instructions"]) == (3, 2, 2)
    assert s["levels"]["L1D"]["records"] == 1


def test_inclusive_eviction_back_invalidates():
    h = Hierarchy([dict(name="L1", size=256, line_size=64, ways=4, next="L2"),
                   dict(name="L2", size=128, line_size=64, ways=2, inclusion="inclusive")],
                  data_entry="L1", inst_entry=None)
    for a in (0, 64, 128):
        h.access(a)
    assert h.level("L1").lines() == [(64, False), (128, False)]
    assert h.stats()["levels"]["L1"]["invalidations"] == 1


def test_exclusive_level_holds_victims_only():
    h = Hierarchy([dict(name="L1", size=128, line_size=64, ways=2, next="L2"),
                   dict(name="L2", size=256, line_size=64, ways=4, inclusion="exclusive")],
                  data_entry="L1", inst_entry=None)
    for a in (0, 64):
        h.access(a)
    assert h.level("L2").lines() == []          # fills bypass the exclusive level
    h.access(128)                                # evicts line 0 into L2
    assert h.level("L2").lines() == [(0, False)]
    assert h.access(0) == "L2"                   # moves back up
    assert (0, False) not in h.level("L2").lines()


def test_pycachesim_mode_counts_per_record_loads_per_line_hits():
    h = two_levels(compat="pycachesim")
    h.access(60, 8, LOAD)
    s = h.stats()["levels"]["L1"]
    assert (s["loads"], s["misses"]) == (1, 2)


def test_cachegrind_mode_one_miss_per_reference():
    h = two_levels(compat="cachegrind")
    h.access(60, 8, LOAD)
    s = h.stats()["levels"]
    assert (s["L1"]["accesses"], s["L1"]["misses"], s["L2"]["misses"]) == (1, 1, 1)
    assert h.access(0x1000, 4, MODIFY) == "memory"
    assert h.stats()["levels"]["L1"]["stores"] == 0


def test_random_policy_is_reproducible():
    rng = np.random.default_rng(0)
    tr = make(rng.integers(0, 1 << 16, 5000) * 8)
    runs = []
    for _ in range(2):
        c = Cache(2048, 64, 4, "random", seed=7)
        c.run(tr)
        runs.append((c.stats()["misses"], c.tags.copy()))
    assert runs[0][0] == runs[1][0] and np.array_equal(runs[0][1], runs[1][1])
    c = Cache(2048, 64, 4, "random", seed=8)
    c.run(tr)
    assert not np.array_equal(c.tags, runs[0][1])


def test_state_views_are_zero_copy_and_pickle_roundtrips():
    c = Cache(1024, 64, 4, "srrip")
    c.run(make(np.arange(0, 4096, 8), kind=STORE))
    t = c.tags
    c.access(0x9000)
    assert t is c.tags and 0x9000 >> 6 in t   # the engine wrote into this array
    c2 = pickle.loads(pickle.dumps(c))
    assert c2.stats() == c.stats() and c2.lines() == c.lines()
    h = two_levels()
    h.run(make(np.arange(0, 8192, 16), kind=MODIFY))
    h2 = pickle.loads(pickle.dumps(h))
    assert h2.stats() == h.stats()
    tr = make(np.arange(0, 8192, 24), kind=LOAD)
    h.run(tr)
    h2.run(tr)
    assert h2.stats() == h.stats()


def test_valid_bits_follow_the_tags_and_a_state_that_disagrees_is_refused():
    c = Cache(1024, 64, 4)
    c.run(make(np.arange(0, 640, 64), kind=STORE))
    assert list(c.valid) == [int(t != 2**64 - 1) for t in c.tags]
    assert c.valid.sum() == 10
    fn, (cfg, tags, repl, dirty, valid, *rest) = c.__reduce__()
    assert fn(cfg, tags, repl, dirty, valid, *rest).lines() == c.lines()
    bad = valid.copy()
    bad[np.flatnonzero(valid)[0]] = 0
    with pytest.raises(ValueError, match="valid bits disagree with the tags"):
        fn(cfg, tags, repl, dirty, bad, *rest)
    with pytest.raises(ValueError, match="does not fit"):
        fn(cfg, tags, repl, dirty, valid[:-1], *rest)
    c.access(0, kind=FLUSH)  # writes back and invalidates every line
    assert c.valid.sum() == 0 and c.lines() == []


def test_reset_stats_keeps_contents():
    h = two_levels()
    h.access(0)
    h.reset_stats()
    assert h.access(0) == "L1"
    assert h.stats()["levels"]["L1"]["records"] == 1


def test_run_accepts_reordered_structured_array():
    arr = np.zeros(3, dtype=[("kind", "u1"), ("size", "u2"), ("addr", "<u8"), ("x", "f4")])
    arr["addr"] = [0, 64, 0]
    arr["kind"] = LOAD
    arr["size"] = 4
    c = Cache(1024, 64, 2)
    c.run(arr)
    assert c.stats()["hits"] == 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(size=1024, line_size=48, ways=2), "line_size: must be a power of two >= 2, got 48"),
    (dict(size=1000, line_size=64, ways=2), "size: must be a positive multiple"),
    (dict(size=1024, line_size=64, ways=3), "ways: must divide the number of lines (16), got 3"),
    (dict(size=64 * 24, line_size=64, ways=2), "12 sets must be a power of two"),
    (dict(size=64 * 12, line_size=64, ways=3, policy="plru"), "ways: plru needs"),
    (dict(size=1024, line_size=64, ways=2, policy="lfu"), "policy: must be one of"),
    (dict(size=1024, line_size=64, ways=-1), "ways: must be >= 0"),
    (dict(size=1024, line_size=64, ways=2, seed=-1), "seed:"),
])
def test_bad_level_config_names_the_field(kwargs, message):
    with pytest.raises(ValueError) as e:
        Cache(**kwargs)
    assert message in str(e.value)


@pytest.mark.parametrize("levels, kw, message", [
    ([dict(name="L1", size=256, line_size=64, ways=2, next="L9")], {}, "next: level 'L1' names unknown"),
    ([dict(name="A", size=256, line_size=64, ways=2, next="B"),
      dict(name="B", size=256, line_size=64, ways=2, next="A")], {"data_entry": "A"}, "cycle"),
    ([dict(name="L1", size=256, line_size=64, ways=2)], {"data_entry": "X"}, "data_entry: unknown"),
    ([dict(name="L1D", size=256, line_size=64, ways=2)], {"inst_entry": "L1I"}, "inst_entry: unknown"),
    ([dict(name="L1D", size=256, line_size=64, ways=2, next="L2"),
      dict(name="L2", size=256, line_size=32, ways=2)], {"inst_entry": None}, "line_size: every level"),
    ([dict(name="L1D", size=256, line_size=64, ways=2, inclusion="both")], {"inst_entry": None},
     "inclusion: must be one of"),
    ([dict(name="L1D", size=256, line_size=64, ways=2)], {"inst_entry": None, "compat": "gem5"},
     "compat: must be one of"),
    ([dict(name="L1D", size=256, line_size=64)], {"inst_entry": None}, "levels[0].ways: missing"),
])
def test_bad_hierarchy_names_the_field(levels, kw, message):
    with pytest.raises(ValueError) as e:
        Hierarchy(levels, **kw)
    assert message in str(e.value)


def test_bad_trace_kind_runs_nothing():
    c = Cache(1024, 64, 2)
    tr = make([0, 64, 128])
    tr["kind"][2] = 9
    with pytest.raises(ValueError, match="record 2 has unknown kind 9"):
        c.run(tr)
    assert c.stats()["records"] == 0 and c.lines() == []


@pytest.mark.parametrize("pos", [0, 3, 4, 9, 17, 18])
def test_bad_kind_found_anywhere(pos):
    # The kind check reads four records at a time, then the rest one by one.
    c = Cache(1024, 64, 2)
    tr = make([64 * i for i in range(19)])
    tr["kind"][pos] = 5 + pos
    with pytest.raises(ValueError, match=f"record {pos} has unknown kind {5 + pos}"):
        c.run(tr)
    assert c.stats()["records"] == 0 and c.lines() == []


def test_levels_as_objects_and_top_down_names():
    from types import SimpleNamespace as NS
    levels = [NS(name="L3", size=4096, line_size=64, ways=4, next=None),
              NS(name="L1D", size=256, line_size=64, ways=2, next="L2"),
              NS(name="L2", size=1024, line_size=64, ways=4, next="L3", policy="srrip"),
              NS(name="L1I", size=256, line_size=64, ways=2, next="L2")]
    h = Hierarchy(levels)
    assert h.names == ("L1D", "L1I", "L2", "L3")
    assert h.level_names == ("L3", "L1D", "L2", "L1I")
    assert h.level("L2").policy == "srrip"
    assert h.access(0x40, 4, IFETCH) == "memory"
    assert h.access(0x40, 4, LOAD) == "L2"
    s = h.stats()
    assert s["levels"]["L1I"]["ifetch_misses"] == 1 and s["instructions"] == 1
