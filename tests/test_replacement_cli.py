"""The ``memcore replace`` subcommand (pyapi.replacement)."""
import argparse

from pyapi.replacement import register_cli, replacement_table

CLASSIC = "7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1".split()


def _run(argv, capsys):
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["replace"] + argv)
    rc = args.func(args)
    return rc, capsys.readouterr()


def test_textbook_table(capsys):
    rc, out = _run(["--frames", "3", "--policy", "opt", "fifo", "lru", "--mask"] + CLASSIC, capsys)
    assert rc == 0
    lines = out.out.splitlines()
    assert lines[0].split() == ["policy", "frames", "faults", "hits", "mask"]
    assert [l.split()[:3] for l in lines[1:]] == [["opt", "3", "9"], ["fifo", "3", "15"],
                                                  ["lru", "3", "12"]]
    assert lines[3].split()[4] == "....H.H....HH.H.H.HH"     # lru, as tests/reference has it


def test_belady_from_file(tmp_path, capsys):
    f = tmp_path / "refs.txt"
    f.write_text("1,2,3,4,1,2,5,1,2,3,4,5\n")
    rc, out = _run(["--file", str(f), "--frames", "3", "4", "--policy", "fifo"], capsys)
    assert rc == 0
    assert [l.split()[2] for l in out.out.splitlines()[1:]] == ["9", "10"]


def test_errors(capsys):
    rc, out = _run(["--frames", "3"], capsys)
    assert rc == 2 and "refs" in out.err
    rc, out = _run(["1", "2", "--policy", "mru"], capsys)
    assert rc == 2 and "policy" in out.err
    rc, out = _run(["--file", "/nonexistent/refs"], capsys)
    assert rc == 2


def test_table_rows():
    rows = replacement_table([1, 2, 1], [1, 2], ["lru"])
    assert [(r["frames"], r["faults"], r["mask"]) for r in rows] == [(1, 3, "..."), (2, 2, "..H")]
