"""Reports: the per-level table, derived rates, the JSON schema, frames."""
import json
import math
import sys

import pytest

from pyapi import config as cfg
from pyapi.report import LEVEL_COUNTERS, SCHEMA_VERSION, Report, schema_path

# Keys the issue fixes for every level of the JSON output.
ISSUE_LEVEL_KEYS = (
    "records", "accesses", "hits", "misses", "load_misses", "store_misses", "fills",
    "evictions", "dirty_evictions", "writebacks", "dirty_at_end",
)


def _level(records, accesses, loads, load_hits, store_hits, evictions=0, dirty=0, wb=0, end=0):
    stores = accesses - loads
    return {
        "records": records, "accesses": accesses, "loads": loads, "stores": stores,
        "hits": load_hits + store_hits, "misses": accesses - load_hits - store_hits,
        "load_hits": load_hits, "load_misses": loads - load_hits,
        "store_hits": store_hits, "store_misses": stores - store_hits,
        "ifetches": 0, "ifetch_hits": 0, "ifetch_misses": 0,
        "fills": accesses - load_hits - store_hits, "evictions": evictions,
        "clean_evictions": evictions - dirty, "dirty_evictions": dirty,
        "writebacks": wb, "invalidations": 0, "dirty_at_end": end,
    }


def _stats(instructions=2000, skipped=0):
    # Listed out of machine order on purpose: the report follows the machine.
    return {
        "levels": {
            "L2": _level(60, 60, 50, 30, 5, evictions=4, dirty=2, wb=2, end=3),
            "L1D": _level(1000, 1200, 800, 760, 380, evictions=20, dirty=6, wb=6, end=4),
            "L1I": dict(_level(2000, 2000, 2000, 1980, 0, evictions=12), ifetches=2000, ifetch_hits=1980, ifetch_misses=20),
        },
        "memory": {"reads": 25, "writes": 2},
        "records": 3000,
        "instructions": instructions,
        "skipped_instructions": skipped,
        "flushes": 0,
        "compat": "default",
    }


@pytest.fixture
def report():
    trace = {"path": "/data/ls.lackey.gz", "format": "lackey", "records": 3000, "bad_records": 0}
    return Report(_stats(), config=cfg.preset("teaching"), trace=trace)


def test_rates_are_derived_from_counts(report):
    assert report.miss_rate("L1D") == pytest.approx(60 / 1200)
    assert report.miss_rate("L1I") == pytest.approx(20 / 2000)
    assert report.mpki("L2") == pytest.approx(1000 * 25 / 2000)
    assert report.level_names == ["L1I", "L1D", "L2"]


def test_pycachesim_miss_rate_follows_its_load_only_hits_and_misses():
    stats = _stats()
    stats["compat"] = "pycachesim"
    stats["levels"]["L1D"].update(hits=760, misses=40)  # loads only, as pycachesim counts
    assert Report(stats).miss_rate("L1D") == pytest.approx(40 / 800)


def test_rates_are_nan_when_undefined():
    stats = _stats(instructions=0)
    stats["levels"]["L2"] = _level(0, 0, 0, 0, 0)
    r = Report(stats, config=cfg.preset("teaching"))
    assert math.isnan(r.miss_rate("L2")) and math.isnan(r.mpki("L1D"))


def test_table_lists_levels_in_machine_order_with_derived_columns(report):
    text = str(report)
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("level"))
    assert lines[header].split() == [
        "level", "records", "accesses", "hits", "misses", "miss", "rate", "MPKI", "evictions", "writebacks",
    ]
    rows = [line.split() for line in lines[header + 1 : header + 4]]
    assert [r[0] for r in rows] == ["L1I", "L1D", "L2"]
    assert rows[1] == ["L1D", "1,000", "1,200", "1,140", "60", "5.00%", "30.000", "20", "6"]
    assert rows[2] == ["L2", "60", "60", "35", "25", "41.67%", "12.500", "4", "2"]
    assert lines[header + 4] == "memory: 25 reads, 2 writes (lines)"
    assert "trace: /data/ls.lackey.gz (lackey), 3,000 records" in text
    assert "machine: teaching, compat: default" in text
    assert "instructions: 2,000" in text


def test_table_drops_mpki_without_instruction_counts():
    r = Report(_stats(instructions=0), config=cfg.preset("teaching"))
    text = str(r)
    assert "MPKI" not in r.table()
    assert "no instruction fetches in the trace: MPKI unknown" in text


def test_header_notes_skipped_instructions_and_bad_records():
    r = Report(_stats(skipped=2000), trace={"records": 3004, "bad_records": 4})
    text = r.header()
    assert "2,000 skipped: no instruction cache" in text
    assert "3,004 records, 4 bad records skipped" in text
    assert "in-memory trace" in text and "custom machine" in text


def test_dict_has_the_documented_stable_keys(report):
    d = report.to_dict()
    assert d["schema_version"] == SCHEMA_VERSION == 1
    assert d["compat"] == "default"
    assert d["config"] == cfg.preset("teaching").to_dict()
    assert d["trace"] == {"path": "/data/ls.lackey.gz", "format": "lackey", "records": 3000, "bad_records": 0}
    assert (d["records"], d["instructions"], d["skipped_instructions"], d["flushes"]) == (3000, 2000, 0, 0)
    assert list(d["levels"]) == ["L1I", "L1D", "L2"]
    for counters in d["levels"].values():
        assert set(ISSUE_LEVEL_KEYS) <= set(counters)
        assert list(counters) == list(LEVEL_COUNTERS)
    assert d["levels"]["L1D"]["store_misses"] == 20
    assert d["memory"] == {"reads": 25, "writes": 2}
    # Counts only: no derived rate is stored.
    assert not any("rate" in k or "mpki" in k for c in d["levels"].values() for k in c)


def test_json_writes_the_dict_and_reads_back(report, tmp_path):
    out = tmp_path / "r.json"
    text = report.to_json(out)
    assert json.loads(out.read_text()) == json.loads(text) == report.to_dict()
    again = Report.from_dict(json.loads(text))
    assert again.to_dict() == report.to_dict()
    assert str(again) == str(report)


def test_from_dict_refuses_other_schema_versions(report):
    d = report.to_dict()
    d["schema_version"] = 99
    with pytest.raises(ValueError, match="schema_version: .*got 99"):
        Report.from_dict(d)


def test_schema_file_documents_every_key_the_report_writes(report):
    schema = json.loads(schema_path().read_text())
    d = report.to_dict()
    assert set(schema["required"]) == set(d)
    level_schema = schema["properties"]["levels"]["additionalProperties"]
    assert set(ISSUE_LEVEL_KEYS) <= set(level_schema["required"])
    assert set(level_schema["required"]) == set(LEVEL_COUNTERS)
    assert all(level_schema["properties"][k].get("description") for k in LEVEL_COUNTERS)
    assert set(schema["properties"]["memory"]["required"]) == {"reads", "writes"}
    assert set(schema["properties"]["trace"]["required"]) == set(d["trace"])


def test_report_validates_against_the_json_schema(report):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(schema_path().read_text())
    jsonschema.validate(json.loads(report.to_json()), schema)
    broken = report.to_dict()
    del broken["levels"]["L1D"]["dirty_at_end"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_frame_has_counts_and_derived_rates(report):
    pd = pytest.importorskip("pandas")
    frame = report.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == ["L1I", "L1D", "L2"] and frame.index.name == "level"
    assert frame.loc["L1D", "misses"] == 60
    assert frame.loc["L1D", "miss_rate"] == pytest.approx(0.05)
    assert frame.loc["L2", "mpki"] == pytest.approx(12.5)
    assert set(LEVEL_COUNTERS) <= set(frame.columns)


def test_frame_without_pandas_says_how_to_get_it(report, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        report.to_frame()
