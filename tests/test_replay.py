"""Replay: streaming a trace through a configured machine, and ``memcore replay``."""
import gzip
import json
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memcore import access
from memcore.access import ACCESS_DTYPE
from memcore.hierarchy import COMPAT_MODES, Hierarchy
from pyapi import config as cfg
from pyapi import trace as trace_mod
from pyapi.replay import register_cli, replay
from pyapi.report import LEVEL_COUNTERS, schema_path
from pyapi.trace import TraceFormatError, example_path, read_trace

from cli_helper import run_cli

UNIFIED = cfg.MachineConfig.from_toml_string(
    '[cache.L1]\nsize = "2KiB"\nways = 2\nline_size = 32\nnext = "L2"\n'
    '[cache.L2]\nsize = "16KiB"\nways = 4\nline_size = 32\n',
    default_name="unified",
)
DATA_ONLY = cfg.MachineConfig.from_toml_string(
    '[cache.L1D]\nsize = "1KiB"\nways = 4\nline_size = 16\nnext = "L2"\n'
    '[cache.L2]\nsize = "4KiB"\nways = 8\nline_size = 16\nwrite_back = false\nwrite_allocate = false\n',
    default_name="data-only",
)
MACHINES = {"teaching": cfg.preset("teaching"), "x86-64": cfg.preset("x86-64"), "unified": UNIFIED, "data-only": DATA_ONLY}


def random_trace(n, seed=0, kinds=(0, 1, 2, 3), span=1 << 16):
    """Accesses with locality, straddling lines now and then, above 4 GiB too."""
    rng = np.random.default_rng(seed)
    base = rng.choice(np.array([0x1000, 0x7FFF_0000, 0x1_2345_0000], dtype=np.uint64), size=n)
    addr = base + rng.integers(0, span, size=n, dtype=np.uint64)
    size = rng.choice(np.array([1, 2, 4, 8, 16, 32]), size=n)
    kind = rng.choice(np.array(kinds), size=n)
    return access.make(addr, size=size, kind=kind)


def direct_stats(machine, trace, compat="default"):
    """Counts from the engine run on the whole array at once."""
    h = Hierarchy(
        [c.engine_dict() for c in machine.caches],
        data_entry=machine.data_entry,
        inst_entry=machine.inst_entry,
        compat=compat,
    )
    h.run(trace)
    h.finish()
    return h.stats()


def write_lackey(path, trace):
    letters = "ILSM"
    with gzip.open(path, "wt") if str(path).endswith(".gz") else open(path, "w") as f:
        f.write("==1234== Lackey, an example Valgrind tool\n")
        for a, s, k in zip(trace["addr"].tolist(), trace["size"].tolist(), trace["kind"].tolist()):
            f.write(f"I  {a:08x},{s}\n" if k == 0 else f" {letters[k]} {a:08x},{s}\n")


# -- agreement with the engine -------------------------------------------------------

@pytest.mark.parametrize("compat", COMPAT_MODES)
@pytest.mark.parametrize("name", list(MACHINES))
def test_chunked_replay_equals_engine_on_whole_array(name, compat):
    trace = random_trace(20_000, seed=len(name))
    report = replay(trace, MACHINES[name], compat=compat, chunk_records=997)
    assert report.stats == direct_stats(MACHINES[name], trace, compat)
    assert report.compat == compat and report.trace["records"] == 20_000


@settings(max_examples=25)
@given(chunk=st.integers(1, 700), seed=st.integers(0, 3), compat=st.sampled_from(COMPAT_MODES))
def test_chunk_size_never_changes_the_counts(chunk, seed, compat):
    trace = random_trace(1500, seed=seed, span=1 << 12)
    whole = replay(trace, "teaching", compat=compat, chunk_records=len(trace))
    assert replay(trace, "teaching", compat=compat, chunk_records=chunk).stats == whole.stats


def test_iterable_of_chunks_equals_the_array():
    trace = random_trace(5000, seed=3)
    parts = [trace[:10], trace[10:2000], trace[2000:2000], trace[2000:]]
    assert replay(iter(parts), "teaching").stats == replay(trace, "teaching").stats


def test_any_structured_array_with_addr_size_kind_is_accepted():
    trace = random_trace(3000, seed=4)
    other = np.zeros(len(trace), dtype=[("kind", "i4"), ("flag", "u1"), ("addr", "<u8"), ("size", "u2")])
    for field in ("addr", "size", "kind"):
        other[field] = trace[field]
    assert replay(other, "teaching").stats == replay(trace, "teaching").stats
    assert replay(trace[::2], "teaching").stats == replay(np.array(trace[::2]), "teaching").stats


def test_limit_replays_a_prefix():
    trace = random_trace(5000, seed=5)
    got = replay(trace, "teaching", chunk_records=700, limit=1234)
    assert got.stats == replay(trace[:1234], "teaching").stats
    assert got.trace["records"] == 1234
    assert replay(trace, "teaching", limit=0).stats["records"] == 0


def test_machine_without_instruction_cache_counts_and_skips_fetches():
    trace = random_trace(4000, seed=6)
    n_ifetch = int((trace["kind"] == access.IFETCH).sum())
    report = replay(trace, DATA_ONLY)
    assert report.stats["instructions"] == n_ifetch
    assert report.stats["skipped_instructions"] == n_ifetch
    assert report.stats == replay(trace[trace["kind"] != access.IFETCH], DATA_ONLY).stats | {
        "instructions": n_ifetch, "skipped_instructions": n_ifetch, "records": len(trace),
    }


def test_config_as_file_dict_and_object_give_the_same_counts(tmp_path):
    trace = random_trace(3000, seed=7)
    path = tmp_path / "m.toml"
    path.write_text(UNIFIED.to_toml())
    a = replay(trace, UNIFIED).stats
    assert replay(trace, str(path)).stats == a
    assert replay(trace, UNIFIED.to_dict()).stats == a


# -- trace files ------------------------------------------------------------------

def test_npy_and_lackey_files_replay_like_the_array(tmp_path):
    trace = random_trace(30_000, seed=8)
    npy, lackey = tmp_path / "t.npy", tmp_path / "t.lackey.gz"
    np.save(npy, trace)
    write_lackey(lackey, trace)
    expected = replay(trace, "teaching").stats
    for path, fmt in ((npy, "npy"), (lackey, "lackey")):
        report = replay(str(path), "teaching", chunk_records=4096)
        assert report.stats == expected
        assert report.trace == {"path": str(path), "format": fmt, "records": 30_000, "bad_records": 0}


def test_bad_records_raise_or_are_counted_with_skip_bad(tmp_path):
    path = tmp_path / "bad.lackey"
    path.write_text("I  0400d7d4,8\n L 1ffefffd78,8\n L zzzz,8\n S 1ffefffd70,8\n")
    with pytest.raises(TraceFormatError, match="3"):
        replay(str(path), "teaching")
    report = replay(str(path), "teaching", skip_bad=True)
    assert report.trace["bad_records"] == 1 and report.trace["records"] == 3
    assert "1 bad records skipped" in str(report)


def _peak_bytes(path, chunk):
    tracemalloc.start()
    try:
        replay(str(path), "teaching", chunk_records=chunk, progress=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


WRITERS = {"npy": np.save, "din": trace_mod.write_din, "lackey": write_lackey}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_peak_memory_does_not_grow_with_trace_length(tmp_path, fmt, monkeypatch):
    # Small read-ahead blocks so that these small files already span many
    # blocks; the reader's memory is a few blocks plus a chunk, whatever
    # the file's length.
    monkeypatch.setattr(trace_mod, "BLOCK_BYTES", 256 << 10)
    chunk = 20_000
    peaks = []
    for n in (200_000, 600_000):
        path = tmp_path / f"t{n}.{fmt}"
        WRITERS[fmt](path, random_trace(n, seed=9))
        peaks.append(_peak_bytes(path, chunk))
    # Three times the trace costs (almost) no more memory, and far less
    # than holding it.
    assert peaks[1] < peaks[0] * 1.2 + (256 << 10)
    assert peaks[1] < 600_000 * ACCESS_DTYPE.itemsize / 2


# -- progress bar --------------------------------------------------------------------

def test_progress_bar_only_when_asked_or_on_a_terminal(capsys):
    trace = random_trace(3000, seed=10)
    replay(trace, "teaching", chunk_records=1000, progress=True)
    assert "replay" in capsys.readouterr().err
    for progress in (None, False):  # stderr is not a terminal under pytest
        replay(trace, "teaching", chunk_records=1000, progress=progress)
        assert capsys.readouterr().err == ""


# -- argument errors ----------------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        ({"compat": "gem5"}, ValueError, "compat: must be one of default, pycachesim, cachegrind, dinero; got 'gem5'"),
        ({"chunk_records": 0}, ValueError, "chunk_records: must be an integer >= 1, got 0"),
        ({"limit": -1}, ValueError, "limit: must be an integer >= 0, got -1"),
        ({"format": "din"}, ValueError, "format: only meaningful for trace files"),
        ({"config": "pdp-11"}, ValueError, "neither a preset"),
    ],
)
def test_bad_arguments_are_named(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        replay(random_trace(10), **kwargs)


def test_bad_trace_objects_are_named():
    with pytest.raises(TypeError, match="trace: expected a file path"):
        replay(42)
    with pytest.raises(ValueError, match="trace: .*missing size, kind"):
        replay(np.zeros(3, dtype=[("addr", "<u8")]))
    with pytest.raises(ValueError, match="trace: must be one-dimensional"):
        replay(random_trace(4).reshape(2, 2))
    with pytest.raises(TypeError, match="trace chunk 1: expected a numpy array"):
        replay([random_trace(3), [1, 2]])
    with pytest.raises(FileNotFoundError):
        replay("/nonexistent/trace.lackey")


# -- the bundled example and the command line -------------------------------------------

def _example_counts():
    kinds = read_trace(example_path())["kind"]
    return len(kinds), int((kinds == access.IFETCH).sum())


def test_example_replays_on_the_default_machine():
    report = replay(example_path())
    n, n_ifetch = _example_counts()
    assert report.config == cfg.preset("x86-64")
    assert report.trace["records"] == report.stats["records"] == n
    assert report.instructions == n_ifetch > 0
    assert report.levels["L1I"]["records"] == n_ifetch
    assert report.levels["L1D"]["records"] == n - n_ifetch
    for c in report.levels.values():
        assert c["hits"] + c["misses"] == c["accesses"]
        # Every counter the engine gives is one the report documents.
        assert set(c) == set(LEVEL_COUNTERS)
    assert report.levels["L1D"]["misses"] > 0


@pytest.mark.parametrize("compat", COMPAT_MODES)
def test_real_reports_validate_against_the_json_schema(compat):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(schema_path().read_text())
    report = replay(example_path(), "teaching", compat=compat, limit=50_000)
    jsonschema.validate(json.loads(report.to_json()), schema)


def test_cli_example_prints_the_table(capsys):
    status, out = run_cli(register_cli, ["replay", "--example"], capsys)
    assert status == 0
    assert str(replay(example_path())) + "\n" == out.out
    lines = out.out.splitlines()
    assert any(line.split()[:1] == ["L3"] for line in lines) and lines[-1].startswith("memory: ")


def test_cli_writes_json_with_config_and_compat(tmp_path, capsys):
    out_path = tmp_path / "r.json"
    status, _ = run_cli(register_cli, ["replay", "--example", "--compat", "dinero", "--config", "teaching", "--json", str(out_path)], capsys)
    assert status == 0
    data = json.loads(out_path.read_text())
    assert data == replay(example_path(), "teaching", compat="dinero").to_dict()
    assert data["compat"] == "dinero" and data["config"] == cfg.preset("teaching").to_dict()
    assert set(data["levels"]) == {"L1I", "L1D", "L2"}
    assert all(set(LEVEL_COUNTERS) <= set(c) for c in data["levels"].values())
    status, out = run_cli(register_cli, ["replay", "--example", "--json", "-", "--limit", "100"], capsys)
    assert status == 0 and json.loads(out.out)["trace"]["records"] == 100


def test_cli_reads_a_machine_file_and_trace_options(tmp_path, capsys):
    machine = tmp_path / "m.toml"
    machine.write_text(UNIFIED.to_toml())
    trace = random_trace(5000, seed=11)
    npy = tmp_path / "t.npy"
    np.save(npy, trace)
    status, out = run_cli(register_cli, ["replay", str(npy), "-c", str(machine), "--chunk", "1000", "--limit", "4000", "--format", "npy"], capsys)
    assert status == 0
    assert out.out == str(replay(str(npy), UNIFIED, limit=4000)) + "\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["replay", "/nonexistent/t.lackey"], "no such"),
        (["replay", "--example", "--config", "BAD_TOML"], "cache.L1D.ways: must be a non-negative integer"),
        (["replay", "BAD_TRACE"], "line 2"),
        (["replay"], "give a TRACE file"),
        (["replay", "x.npy", "--example"], "either TRACE or --example"),
    ],
)
def test_cli_errors_are_one_line_without_traceback(tmp_path, capsys, argv, message):
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text('[cache.L1D]\nsize = "1KiB"\nways = -4\n')
    bad_trace = tmp_path / "bad.lackey"
    bad_trace.write_text("I  0400d7d4,8\n Q 0400d7d4,8\n")
    argv = [str(bad_toml) if a == "BAD_TOML" else str(bad_trace) if a == "BAD_TRACE" else a for a in argv]
    status, out = run_cli(register_cli, argv, capsys)
    assert status != 0 and out.out == ""
    assert out.err.count("\n") == 1 and out.err.startswith("memcore replay: error: ")
    assert message in out.err


def test_cli_skip_bad_reports_the_count(tmp_path, capsys):
    bad_trace = tmp_path / "bad.lackey"
    bad_trace.write_text("I  0400d7d4,8\n Q 0400d7d4,8\n L 0400d7d4,8\n")
    status, out = run_cli(register_cli, ["replay", str(bad_trace), "--skip-bad", "-c", "teaching"], capsys)
    assert status == 0 and "2 records, 1 bad records skipped" in out.out


def test_cli_refuses_unknown_compat(capsys):
    with pytest.raises(SystemExit) as exc:
        run_cli(register_cli, ["replay", "--example", "--compat", "gem5"], capsys)
    assert exc.value.code == 2


def test_python_m_pyapi_replay_example():
    from pyapi import cli

    if "pyapi.replay" not in cli.COMMAND_MODULES:
        pytest.skip("pyapi.replay not registered in pyapi.cli.COMMAND_MODULES yet")
    out = subprocess.run(
        [sys.executable, "-m", "pyapi", "replay", "--example"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == str(replay(example_path())) + "\n"
    assert out.stderr == ""  # no progress bar when not on a terminal
