"""pyapi.iopaths: copies, DMA transfers and mode switches of each data path."""
import argparse
import random

import pytest

from pyapi.iopaths import (COLUMNS, PATHS, compare_paths, format_table, register_cli, run_path,
                           to_frame)

TEXTBOOK = {  # path: (mode switches, CPU copies, DMA copies) for one buffer's worth
    "read+write": (4, 2, 2),
    "mmap+write": (4, 1, 2),
    "sendfile": (2, 1, 2),
    "sendfile+sg-dma": (2, 0, 2),
    "splice": (4, 0, 2),       # two splice calls: file -> pipe -> socket
}


def test_one_buffer_gives_the_textbook_counts():
    rows = {r["path"]: r for r in compare_paths(65536)}
    assert list(rows) == list(PATHS)
    for path, (sw, cpu, dma) in TEXTBOOK.items():
        r = rows[path]
        assert (r["mode_switches"], r["cpu_copies"], r["dma_copies"]) == (sw, cpu, dma), path
        assert r["dma_disk_bytes"] == 65536
        assert r["cpu_bytes"] == cpu * 65536
        assert r["dma_bytes"] == 2 * 65536


def test_page_cache_hit_removes_the_disk_dma():
    for r in compare_paths(65536, cached=True):
        assert r["dma_disk_bytes"] == 0 and r["dma_copies"] == 1, r["path"]


def test_partly_cached_file_reads_only_the_missing_pages():
    data = random.Random(1).randbytes(10 * 4096)
    r = run_path("sendfile", data, cached_pages=[0, 1, 2, 5])
    assert r["dma_disk_bytes"] == 6 * 4096
    with pytest.raises(ValueError, match="cached_pages"):
        run_path("sendfile", data, cached_pages=[10])


def test_counts_scale_with_calls():
    rows = {r["path"]: r for r in compare_paths(300_000, bufsize=32768, unmap=True)}
    assert rows["read+write"]["mode_switches"] == 4 * 10          # ceil(300000 / 32768)
    assert rows["read+write"]["cpu_bytes"] == 2 * 300_000
    assert rows["splice"]["mode_switches"] == 4 * 5               # a pipeful (64 KiB) per pair
    assert rows["mmap+write"]["mode_switches"] == 6               # with munmap
    assert rows["mmap+write"]["page_faults"] == 74                # one per page touched
    assert rows["sendfile"]["mode_switches"] == 2
    assert rows["sendfile"]["dma_disk_bytes"] == 74 * 4096        # whole pages from disk


def test_table_dict_and_frame():
    rows = compare_paths(8192)
    assert set(rows[0]) == set(COLUMNS)
    text = format_table(rows)
    assert text.splitlines()[0].startswith("path") and "sendfile+sg-dma" in text
    assert to_frame(rows).loc["splice", "cpu_copies"] == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="path"):
        run_path("zero-copy", b"x")
    with pytest.raises(ValueError, match="bufsize"):
        run_path("read+write", b"x", bufsize=0)
    with pytest.raises(ValueError, match="nbytes"):
        compare_paths(0)


def test_cli(capsys):
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    args = parser.parse_args(["io-paths", "--size", "4096", "--cached"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "read+write" in out and "1 read, 1 write" in out
