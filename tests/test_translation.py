"""Virtual-address replay: [tlb.*]/[mmu] configuration, first-touch mapping, reports."""
import json

import numpy as np
import pytest

from memcore import access
from pyapi.config import MachineConfig, MMUConfig, TLBConfig, preset
from pyapi.replay import replay
from pyapi.report import Report, schema_path
from pyapi.trace import example_path
from pyapi.translation import LimitedFrames, RandomFrames, VirtualMemory, build_mmu

MACHINE = """
name = "small"

[cache.L1I]
size = "4KiB"
ways = 4
next = "L2"

[cache.L1D]
size = "4KiB"
ways = 4
next = "L2"

[cache.L2]
size = "64KiB"
ways = 8

[tlb.DTLB]
entries = [16, 4]
ways = [4, 0]
page_sizes = ["4KiB", "2MiB"]
next = "STLB"

[tlb.ITLB]
entries = 8
ways = 4
page_sizes = [4096]
policy = "plru"
next = "STLB"

[tlb.STLB]
entries = 64
ways = 8
page_sizes = [["4KiB", "2MiB"]]

[mmu]
paging = "x86_64-4level"
pde_cache = 8
pml4e_cache = 0
"""


def small(extra=""):
    return MachineConfig.from_toml_string(MACHINE + extra)


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

def test_tlb_tables_parse_and_round_trip():
    m = small()
    assert [t.name for t in m.tlbs] == ["DTLB", "ITLB", "STLB"]
    assert m.tlbs[0].geometry == ((16, 4, (4096,)), (4, 4, (2 << 20,)))
    assert m.tlbs[2].geometry == ((64, 8, (4096, 2 << 20)),)
    assert m.mmu.walk_caches == {"PDPTE": 4, "PDE": 8}
    assert MachineConfig.from_toml_string(m.to_toml()) == m
    assert MachineConfig.from_dict(m.to_dict()) == m
    assert "DTLB" in m.summary() and "walk caches: PDPTE 4, PDE 8" in m.summary()


def test_machine_without_tlbs_stays_physical():
    m = preset("x86-64")
    assert m.tlbs == () and m.mmu is None
    assert "tlb" not in m.to_dict()


@pytest.mark.parametrize("extra, message", [
    ("[tlb.L2TLB]\nentries = 8\n", "tlb.L2TLB: no translation reaches this level"),
    ("[tlb.TLB]\nentries = 8\n", "tlb.TLB: a machine has either a unified TLB"),
])
def test_tlb_entry_rules(extra, message):
    with pytest.raises(ValueError, match=message):
        small(extra)


@pytest.mark.parametrize("table, message", [
    ('[tlb.DTLB]\nentries = 64\nways = 3\n', r"tlb\.DTLB\.ways: .* not a multiple of ways=3"),
    ('[tlb.DTLB]\nentries = 64\npage_sizes = ["3KiB"]\n', r"tlb\.DTLB\.page_sizes"),
    ('[tlb.DTLB]\nentries = 64\npolicy = "mru"\n', r"tlb\.DTLB\.policy"),
    ('[tlb.DTLB]\nentries = 64\ncolour = 1\n', r"tlb\.DTLB\.colour: unknown setting"),
    ('[tlb.DTLB]\nways = 4\n', r"tlb\.DTLB\.entries: missing"),
    ('[tlb.DTLB]\nentries = 64\nnext = "L2TLB"\n', r"tlb\.DTLB\.next: no TLB named 'L2TLB'"),
    ('[tlb.DTLB]\nentries = 64\n', r"tlb\.ITLB: missing"),
    ('[tlb.TLB]\nentries = 64\n[mmu]\npaging = "i386-2level"\npml4e_cache = 2\n',
     r"mmu\.pml4e_cache: i386-2level paging has no PML4E level"),
    ('[tlb.TLB]\nentries = 64\n[mmu]\npaging = "sparc"\n', r"mmu\.paging"),
    ('[tlb.TLB]\nentries = 64\n[mmu]\nframes = "lifo"\n', r"mmu\.frames"),
    ('[mmu]\npaging = "x86_64-4level"\n', r"mmu: an \[mmu\] table needs TLB levels"),
])
def test_bad_tables_name_the_field(table, message):
    text = '[cache.L1D]\nsize = "4KiB"\nways = 4\n' + table
    with pytest.raises(ValueError, match=message):
        MachineConfig.from_toml_string(text)


def test_skylake_preset_has_the_documented_figures():
    m = preset("skylake")
    shapes = {t.name: t.geometry for t in m.tlbs}
    assert shapes["DTLB"] == ((64, 4, (4096,)), (32, 4, (2 << 20,)), (4, 4, (1 << 30,)))
    assert shapes["ITLB"] == ((128, 8, (4096,)),)
    assert shapes["STLB"] == ((1536, 12, (4096, 2 << 20)), (16, 4, (1 << 30,)))
    assert m.mmu.walk_caches == {"PML4E": 2, "PDPTE": 4, "PDE": 32}


# ---------------------------------------------------------------------------
# Frame sources
# ---------------------------------------------------------------------------

def test_frame_sources():
    seq = LimitedFrames(0x103)
    assert [seq.alloc(0) for _ in range(3)] == [0x100, 0x101, 0x102]
    with pytest.raises(MemoryError, match="mmu.memory"):
        seq.alloc(0)
    a, b = RandomFrames(1 << 16, seed=5), RandomFrames(1 << 16, seed=5)
    drawn = [a.alloc(0) for _ in range(1000)]
    assert drawn == [b.alloc(0) for _ in range(1000)]
    assert len(set(drawn)) == 1000 and min(drawn) >= 0x100 and max(drawn) < 1 << 16
    block = a.alloc(4)
    assert block % 16 == 0 and not set(range(block, block + 16)) & set(drawn)


# ---------------------------------------------------------------------------
# Replay
# ---------------------------------------------------------------------------

def test_virtual_replay_counts_translations_walks_and_first_touches():
    tr = access.make([0x7000_0000, 0x7000_0008, 0x7000_1FFC, 0x40_1000, 0x7000_0000],
                     size=8, kind=[access.LOAD, access.STORE, access.LOAD, access.IFETCH, access.MODIFY])
    r = replay(tr, small())
    d = r.to_dict()
    # Pages 0x7000_0000, 0x7000_1000 and 0x7000_2000 (record 2 straddles
    # them), 0x40_1000.
    assert d["page_faults"] == 4
    assert d["records"] == 5
    # Each fault restarts its record: record 0 faults once (1 + 1), record 2
    # on each of its pages (1 + 2 + 2), record 3 once (1 + 1); the store of
    # record 1 translates once; the modify for its load and its store.
    assert d["translations"] == (1 + 1) + 1 + (1 + 2 + 2) + (1 + 1) + 2
    assert d["tlbs"]["ITLB"]["accesses"] == 2 and d["tlbs"]["ITLB"]["misses"] == 2
    assert d["walks"]["count"] >= 3 + 3
    assert d["walks"]["memory_references"] == d["walks"]["cache_hits"] + d["walks"]["cache_misses"]
    assert set(d["walks"]["served"]) == {"L1I", "L1D", "L2", "memory"}
    assert d["levels"]["L1D"]["records"] >= 4
    assert Report.from_dict(json.loads(r.to_json())).to_dict() == d
    text = str(r)
    assert "DTLB" in text and "page faults: 4" in text


def test_virtual_replay_matches_the_mmu_engine_run_directly():
    from pyapi.replay import build_hierarchy
    from pyapi.trace import open_trace

    machine = preset("skylake")
    with open_trace(example_path()) as reader:
        trace = np.concatenate(list(reader))
    report = replay(trace, machine, chunk_records=100_000)
    vm = VirtualMemory(machine, build_hierarchy(machine))
    vm.run(trace)
    s = vm.stats()
    d = report.to_dict()
    last = trace["addr"] + np.maximum(trace["size"], 1).astype(np.uint64) - np.uint64(1)
    pages = np.unique(np.concatenate([trace["addr"] >> np.uint64(12), last >> np.uint64(12)]))
    assert d["page_faults"] == s["page_faults"] == len(pages)
    assert {n: c["misses"] for n, c in d["tlbs"].items()} == {n: c["misses"] for n, c in s["tlbs"].items()}
    assert d["walks"]["count"] == s["walks"]["count"]
    assert d["tlbs"]["ITLB"]["accesses"] >= 603_567


def test_random_frames_change_placement_not_translation_counts():
    tr = access.make(0x1000_0000 + np.arange(0, 1 << 20, 512, dtype=np.uint64), size=8)
    seq = replay(tr, small()).to_dict()
    rnd = replay(tr, small('frames = "random"\nseed = 3\n')).to_dict()
    assert seq["tlbs"] == rnd["tlbs"] and seq["page_faults"] == rnd["page_faults"] == 256
    assert seq["walks"]["count"] == rnd["walks"]["count"]


def test_non_canonical_address_names_the_record():
    tr = access.make([0x1000, 0x8000_0000_0000], size=8)
    with pytest.raises(ValueError, match="trace record 1: #GP .* not a canonical address"):
        replay(tr, small())


def test_physical_replay_is_unchanged():
    tr = access.make(np.arange(0, 1 << 16, 64, dtype=np.uint64), size=8)
    d = replay(tr, "x86-64").to_dict()
    assert not {"tlbs", "walks", "page_faults", "translations"} & set(d)


def test_schema_describes_the_translation_keys():
    schema = json.loads(schema_path().read_text())
    for key in ("tlbs", "walks", "page_faults", "translations"):
        assert key in schema["properties"]
    jsonschema = pytest.importorskip("jsonschema")
    tr = access.make([0x1000, 0x2000], size=8)
    jsonschema.validate(replay(tr, small()).to_dict(), schema)


def test_cli_replays_a_virtual_trace_and_writes_the_translation_keys(tmp_path, capsys):
    from pyapi.replay import register_cli
    from tests.cli_helper import run_cli

    out = tmp_path / "report.json"
    status, (stdout, _) = run_cli(register_cli, ["replay", str(example_path()), "--config", "skylake",
                                                 "--json", str(out)], capsys)
    assert status == 0
    assert "STLB" in stdout and "page faults: 167" in stdout
    d = json.loads(out.read_text())
    assert d["page_faults"] == 167 and set(d["tlbs"]) == {"DTLB", "ITLB", "STLB"}
    assert d["config"]["tlb"]["STLB"]["entries"] == [1536, 16]


@pytest.mark.parametrize("paging, refs", [("x86_64-4level", 4), ("x86_64-5level", 5), ("i386-2level", 2),
                                          ("i386-pae", 3), ("inverted", None)])
def test_every_paging_replays_with_first_touch(paging, refs):
    machine = MachineConfig.from_toml_string(MACHINE.replace(
        'paging = "x86_64-4level"\npde_cache = 8\npml4e_cache = 0', f'paging = "{paging}"\nmemory = "64MiB"'))
    addrs = 0x0804_8000 + np.arange(0, 64 << 10, 256, dtype=np.uint64)
    d = replay(access.make(addrs, size=4, kind=access.LOAD), machine).to_dict()
    assert d["page_faults"] == 16
    assert d["tlbs"]["DTLB"]["accesses"] == 256 + 16         # every page's first access restarts once
    if refs is not None:
        # On an empty table the faulting walk reads the root entry (not
        # present); after the mapping the walk reads one entry per level.
        first = replay(access.make(addrs[:1], size=4), machine).to_dict()["walks"]
        assert first["memory_references"] == 1 + refs


def test_replay_on_two_threads_reports_what_one_thread_reports(capsys):
    from pyapi.replay import register_cli
    from tests.cli_helper import run_cli

    # Random loads and stores over 8 MiB: long enough chunks for the second
    # thread to start, many walks and first touches after it has.
    rng = np.random.default_rng(5)
    tr = access.make(0x7000_0000 + rng.integers(0, 1 << 20, 60_000, dtype=np.uint64) * 8, size=8,
                     kind=rng.choice([access.LOAD, access.STORE], 60_000))
    one = replay(tr, "skylake", threads=1, chunk_records=30_000).to_dict()
    two = replay(tr, "skylake", threads=2, chunk_records=30_000).to_dict()
    assert one == two
    assert one["page_faults"] > 1000 and one["walks"]["count"] > 10_000
    for bad in (0, 3, True, "2"):
        with pytest.raises(ValueError, match="threads"):
            replay(tr[:10], "skylake", threads=bad)
    status, (stdout, _) = run_cli(register_cli, ["replay", "--example", "--config", "skylake", "--threads", "1",
                                                 "--no-progress"], capsys)
    assert status == 0 and "page faults: 167" in stdout
    with pytest.raises(SystemExit):
        run_cli(register_cli, ["replay", "--example", "--threads", "3"], capsys)
    assert "--threads: invalid choice" in capsys.readouterr().err
