"""Machine configuration: sizes, presets, TOML machine files and their errors."""
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyapi import config as cfg
from pyapi.config import CacheConfig, MachineConfig, format_size, load_config, parse_size

from cli_helper import run_cli

# The complete example machine file shown in docs/guide/replay.rst.
EXAMPLE_TOML = (pathlib.Path(__file__).parents[1] / "docs" / "guide" / "machine-example.toml").read_text()


# -- sizes -----------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, nbytes",
    [
        (64, 64),
        ("64", 64),
        ("64B", 64),
        ("32KiB", 32768),
        ("32kib", 32768),
        ("32K", 32768),
        ("32KB", 32768),
        ("1 MiB", 1 << 20),
        ("8M", 8 << 20),
        ("1.5MiB", 3 << 19),
        ("2GiB", 2 << 30),
    ],
)
def test_parse_size_accepts_bytes_and_binary_units(text, nbytes):
    assert parse_size(text) == nbytes


@pytest.mark.parametrize("value", [0, -64, "0KiB", "abc", "12 parsecs", "1.3B", "", True, 3.5, None, "K"])
def test_parse_size_rejects_naming_field_and_value(value):
    with pytest.raises(ValueError, match=r"^cache\.L9\.size: .*" + ("" if value == "" else "")) as err:
        parse_size(value, "cache.L9.size")
    assert repr(value) in str(err.value)


@given(st.integers(1, 1 << 45))
def test_format_size_reads_back_exactly(nbytes):
    text = format_size(nbytes)
    assert parse_size(text) == nbytes
    assert len(text) <= len(f"{nbytes}B")


def test_format_size_prefers_the_largest_exact_unit():
    assert [format_size(n) for n in (32768, 1 << 20, 48 * 1024, 96, 3 << 29)] == [
        "32KiB", "1MiB", "48KiB", "96B", "1536MiB",
    ]


# -- one level -------------------------------------------------------------------

def test_cache_config_normalises_and_derives_geometry():
    c = CacheConfig("L1D", "32KiB", line_size="64B", ways=8, policy="LRU")
    assert (c.size, c.line_size, c.ways, c.policy) == (32768, 64, 8, "lru")
    assert (c.sets, c.lines) == (64, 512)
    assert CacheConfig("L1D", "1KiB", ways="full").ways == 0
    assert CacheConfig("L1D", "1KiB", ways=0).sets == 1
    assert CacheConfig("L1D", "1KiB", next="memory").next is None
    assert c == CacheConfig("L1D", 32768)


# -- presets ---------------------------------------------------------------------

def test_default_preset_is_x86_64_with_the_issue_geometry():
    m = load_config()
    assert m == cfg.preset("x86-64") and cfg.DEFAULT_PRESET == "x86-64"
    lv = m.levels
    assert list(lv) == ["L1I", "L1D", "L2", "L3"]
    assert (lv["L1D"].size, lv["L1D"].ways) == (32 << 10, 8)
    assert (lv["L1I"].size, lv["L1I"].ways) == (32 << 10, 8)
    assert (lv["L2"].size, lv["L2"].ways) == (1 << 20, 16)
    assert (lv["L3"].size, lv["L3"].ways, lv["L3"].next) == (32 << 20, 16, None)
    assert {c.line_size for c in m.caches} == {64}
    assert (lv["L1I"].next, lv["L1D"].next, lv["L2"].next) == ("L2", "L2", "L3")


def test_teaching_preset_is_small_enough_to_work_by_hand():
    lv = cfg.preset("teaching").levels
    assert {c.line_size for c in lv.values()} == {16}
    assert (lv["L1I"].size, lv["L1I"].ways, lv["L1I"].sets) == (1024, 1, 64)
    assert (lv["L1D"].size, lv["L1D"].ways, lv["L1D"].sets) == (1024, 2, 32)
    assert (lv["L2"].size, lv["L2"].sets) == (8192, 128)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown preset 'pdp-11'.*teaching, x86-64"):
        cfg.preset("pdp-11")


SYSFS = pathlib.Path(cfg.SYSFS_CACHE_DIR)


@pytest.mark.skipif(not SYSFS.is_dir(), reason="no Linux sysfs cache description")
def test_host_preset_matches_sysfs_on_this_machine():
    m = cfg.preset("host")
    expected = {}
    for index in SYSFS.glob("index*"):
        f = {n: (index / n).read_text().strip() for n in ("level", "type", "size", "ways_of_associativity")}
        if f["type"] not in ("Data", "Instruction", "Unified"):
            continue
        name = "L" + f["level"] + ({"Data": "D", "Instruction": "I", "Unified": ""}[f["type"]] if f["level"] == "1" else "")
        assert f["size"].endswith("K")
        expected[name] = (int(f["size"][:-1]) * 1024, int(f["ways_of_associativity"]))
    assert {c.name: (c.size, c.ways) for c in m.caches} == expected
    assert m.data_entry in ("L1D", "L1")


def _fake_sysfs(root, entries):
    for i, (level, kind, size, ways, line) in enumerate(entries):
        d = root / f"index{i}"
        d.mkdir(parents=True)
        for name, value in (("level", level), ("type", kind), ("size", size),
                            ("ways_of_associativity", ways), ("coherency_line_size", line)):
            (d / name).write_text(f"{value}\n")


def test_host_config_reads_a_unified_l1_and_chains_levels(tmp_path):
    _fake_sysfs(tmp_path, [(1, "Unified", "16K", 4, 32), (2, "Unified", "256K", 8, 32)])
    m = cfg.host_config(tmp_path)
    assert [(c.name, c.size, c.ways, c.line_size, c.next) for c in m.caches] == [
        ("L1", 16384, 4, 32, "L2"), ("L2", 262144, 8, 32, None),
    ]
    assert m.inst_entry == "L1" and m.data_entry == "L1"


def test_host_config_without_sysfs_says_so(tmp_path):
    with pytest.raises(ValueError, match="no cache description"):
        cfg.host_config(tmp_path / "absent")


# -- TOML files ----------------------------------------------------------------------

def test_example_machine_file_parses_fully(tmp_path):
    path = tmp_path / "laptop.toml"
    path.write_text(EXAMPLE_TOML)
    m = load_config(str(path))
    assert m.name == "laptop" and m.description.startswith("split")
    lv = m.levels
    assert list(lv) == ["L1I", "L1D", "L2", "L3"]
    assert lv["L1D"] == CacheConfig("L1D", 32768, 64, 8, "plru", True, True, "L2")
    assert lv["L2"].inclusion == "inclusive" and lv["L2"].next == "L3"
    assert (lv["L3"].size, lv["L3"].policy, lv["L3"].seed, lv["L3"].next) == (8 << 20, "random", 7, None)
    assert (m.data_entry, m.inst_entry) == ("L1D", "L1I")


def test_file_name_defaults_the_machine_name(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text('[cache.L1]\nsize = "4KiB"\nways = 4\n')
    m = MachineConfig.from_toml(path)
    assert m.name == "tiny" and (m.data_entry, m.inst_entry) == ("L1", "L1")


def test_data_only_machine_has_no_instruction_entry():
    m = MachineConfig.from_toml_string('[cache.L1D]\nsize = "4KiB"\nways = 4\n')
    assert (m.data_entry, m.inst_entry) == ("L1D", None)


@pytest.mark.parametrize("name", cfg.preset_names())
def test_presets_round_trip_through_toml_and_dict(name):
    m = cfg.preset(name)
    assert MachineConfig.from_toml_string(m.to_toml()) == m
    assert MachineConfig.from_dict(m.to_dict()) == m


def test_to_toml_writes_every_setting_of_every_level():
    text = cfg.preset("teaching").to_toml()
    assert text.count("[cache.") == 3
    for key in ("size", "line_size", "ways", "policy", "write_back", "write_allocate", "inclusion", "seed"):
        assert text.count(f"\n{key} = ") == 3
    assert text.count('\nnext = "L2"') == 2


_levels = st.fixed_dictionaries(
    {
        "ways": st.sampled_from([0, 1, 2, 4, 8]),
        "sets": st.sampled_from([1, 2, 16, 64]),
        "policy": st.sampled_from(cfg.POLICIES),
        "write_back": st.booleans(),
        "write_allocate": st.booleans(),
        "inclusion": st.sampled_from(cfg.INCLUSIONS),
        "seed": st.integers(0, 2**64 - 1),
    }
)


@given(st.lists(_levels, min_size=1, max_size=4), st.booleans(), st.text(max_size=20),
       st.sampled_from([16, 32, 64, 128]))
def test_random_machines_round_trip(levels, split, description, line_size):
    names = (["L1D"] if not split else ["L1I", "L1D"]) + [f"L{i + 2}" for i in range(len(levels) - 1)]
    specs = ([levels[0]] if split else []) + levels
    caches = []
    for i, (name, s) in enumerate(zip(names, specs)):
        below = names[i + 1] if i + 1 < len(names) else None
        if name == "L1I":
            below = names[2] if len(names) > 2 else None
        s = dict(s)
        size = s.pop("sets") * line_size * max(s["ways"], 1)
        caches.append(CacheConfig(name, size, line_size=line_size, next=below, **s))
    m = MachineConfig(caches, name="random", description=description)
    assert MachineConfig.from_toml_string(m.to_toml()) == m
    assert MachineConfig.from_dict(m.to_dict()) == m


BASE = '[cache.L1D]\nsize = "1KiB"\nways = 2\nline_size = 16\n'


@pytest.mark.parametrize(
    "text, message",
    [
        ('[cache.L1D]\nsize = "1KiB"\nways = -4\n', "cache.L1D.ways: must be a non-negative integer.*got -4"),
        ('[cache.L1D]\nsize = "1KiB"\nways = 2.5\n', "cache.L1D.ways: .*got 2.5"),
        ('[cache.L1D]\nsize = "lots"\n', "cache.L1D.size: not a size, got 'lots'"),
        ('[cache.L1D]\nsize = -1024\n', "cache.L1D.size: must be positive, got -1024"),
        ('[cache.L1D]\nsize = "1KiB"\nline_size = 48\n', "cache.L1D.line_size: must be a power of two, got 48"),
        ('[cache.L1D]\nsize = 1000\nline_size = 64\n', "cache.L1D.size: must be a multiple of line_size .64., got 1000"),
        ('[cache.L1D]\nsize = 1024\nline_size = 64\nways = 3\n', "cache.L1D.ways: 16 lines .* 3-way"),
        ('[cache.L1D]\nsize = 128\nline_size = 64\nways = 4\n', "cache.L1D.ways: 2 lines of 64 bytes cannot be split into 4-way"),
        ('[cache.L1D]\nsize = "3KiB"\nline_size = 64\nways = 2\n', r"cache.L1D.size: .*24 sets must be a power of two"),
        ('[cache.L1D]\nsize = "3KiB"\nline_size = 64\nways = 3\npolicy = "plru"\n', "cache.L1D.ways: plru needs a power-of-two"),
        (BASE.replace("ways = 2", 'ways = 2\nnext = "L2"') + '[cache.L2]\nsize = "4KiB"\nline_size = 32\n',
         r"cache.L2.line_size: every level must share one line size \(L1D has 16\), got 32"),
        (BASE + 'policy = "lfu"\n', "cache.L1D.policy: must be one of lru, fifo.*got 'lfu'"),
        (BASE + 'write_back = "yes"\n', "cache.L1D.write_back: must be true or false, got 'yes'"),
        (BASE + 'write_allocate = 1\n', "cache.L1D.write_allocate: must be true or false, got 1"),
        (BASE + 'inclusion = "sometimes"\n', "cache.L1D.inclusion: must be one of .*got 'sometimes'"),
        (BASE + 'seed = -1\n', "cache.L1D.seed: .*got -1"),
        (BASE + 'next = "L9"\n', "cache.L1D.next: no level named 'L9'"),
        (BASE + 'next = 2\n', "cache.L1D.next: must be a level name.*got 2"),
        (BASE + 'next = "L1D"\n', "cache.L1D.next: a level cannot feed itself"),
        (BASE + 'assoc = 4\n', "cache.L1D.assoc: unknown setting"),
        ('[cache.L1D]\nways = 4\n', "cache.L1D.size: missing"),
        (BASE + '[numa.node0]\ncpus = 4\n', r"numa: unknown top-level table"),
        ('cores = 4\n' + BASE, r"cores: unknown top-level table or key"),
        ('name = "x"\n', "cache: missing"),
        ('cache = 3\n', "cache: must hold one"),
        ('[cache.L2]\nsize = "1KiB"\n', "data accesses enter at L1D"),
        (BASE + '[cache.L1]\nsize = "1KiB"\n', "cache.L1: a machine has either a unified L1 or split L1I/L1D"),
        (BASE.replace("ways = 2", 'ways = 2\nnext = "L2"') + '[cache.L2]\nsize = "4KiB"\nnext = "L1D"\n',
         r"cache.L1D.next: levels form a cycle \(L1D -> L2 -> L1D\)"),
        (BASE + '[cache.L3]\nsize = "4KiB"\n', "cache.L3: no access reaches this level"),
        ('[cache.memory]\nsize = "4KiB"\n', "cache.memory: 'memory' names main memory"),
        ('[cache."L 1"]\nsize = "4KiB"\n', "level name must use letters"),
        ('[cache.L1D\nsize = 3\n', "TOML syntax error"),
        ('name = 3\n' + BASE, "name: must be a string, got 3"),
    ],
)
def test_bad_machine_files_name_file_field_and_value(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: ")


def test_missing_machine_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_config(str(tmp_path / "nope.toml"))


def test_load_config_accepts_every_form():
    m = cfg.preset("teaching")
    assert load_config(m) is m
    assert load_config("teaching") == m
    assert load_config(m.to_dict()) == m
    with pytest.raises(ValueError, match="neither a preset"):
        load_config("pdp-11")
    with pytest.raises(ValueError, match="expected a preset name"):
        load_config(42)


# -- command line ----------------------------------------------------------------

def test_cli_presets_lists_every_preset(capsys):
    status, out = run_cli(cfg.register_cli, ["presets"], capsys)
    assert status == 0
    for name in ("teaching", "x86-64"):
        assert f"\n{name}: " in "\n" + out.out
    assert "default: x86-64" in out.out


def test_cli_config_show_prints_a_loadable_file(capsys):
    status, out = run_cli(cfg.register_cli, ["config", "show", "teaching"], capsys)
    assert status == 0
    assert MachineConfig.from_toml_string(out.out) == cfg.preset("teaching")


def test_cli_config_show_bad_name_is_one_line_error(capsys):
    status, out = run_cli(cfg.register_cli, ["config", "show", "pdp-11"], capsys)
    assert status == 1 and out.out == ""
    assert out.err.count("\n") == 1 and out.err.startswith("memcore config: error: ")
