"""Trace files: formats, compression, detection, errors, writers, convert."""
import argparse
import gzip
import lzma
import pickle
import sys

import numpy as np
import pytest

import pyapi.trace as T
from memcore import traceparse as tp
from memcore.access import ACCESS_DTYPE, make
from pyapi.trace import (FORMATS, TraceFormatError, convert, detect_format, example_path,
                         open_trace, read_trace, register_cli, write_din, write_npy)
from reference import din as din_ref
from reference import lackey as lackey_ref
from reference import records as R

LACKEY_TEXT = (b"==42== Lackey, an example Valgrind tool\n"
               b"==42== \n"
               b"I  04222cac,3\n"
               b" L 7ff000ba0,8\n"
               b" S 7ff000b98,8\n"
               b" M 0421f6f0,4\n"
               b"==42== Exit code: 0\n")
LACKEY_RECORDS = make([0x04222CAC, 0x7FF000BA0, 0x7FF000B98, 0x0421F6F0],
                      size=[3, 8, 8, 4], kind=[0, 1, 2, 3])


@pytest.fixture(scope="module")
def example():
    with gzip.open(example_path(), "rb") as f:
        recs, _ = lackey_ref.parse_bytes(f.read())
    return R.to_array(recs)


def sample(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return make(rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True),
                size=rng.integers(1, 256, n), kind=rng.integers(0, 5, n),
                cpu=rng.integers(0, 2**16, n), pid=rng.integers(0, 2**32, n))


# ---------------------------------------------------------------- example

def test_example_is_a_real_lackey_trace(example):
    path = example_path()
    assert path.name == "example.lackey.gz" and path.is_file()
    assert path.stat().st_size < 1_500_000
    assert detect_format(path) == "lackey"
    with open_trace(path) as tr:
        got = np.concatenate(list(tr))
        assert tr.compression == "gzip" and tr.bytes_read == tr.total_bytes
    np.testing.assert_array_equal(got, example)
    assert 200_000 <= len(got) <= 1_000_000
    assert set(np.unique(got["kind"])) == {0, 1, 2, 3}


def test_chunks_respect_chunk_records(example):
    with open_trace(example_path(), chunk_records=100_000) as tr:
        chunks = list(tr)
    assert all(len(c) <= 100_000 and c.flags.c_contiguous for c in chunks)
    assert len(chunks) == -(-len(example) // 100_000)
    np.testing.assert_array_equal(np.concatenate(chunks), example)
    assert tr.records_read == len(example)


# ---------------------------------------------------------------- lackey

def test_lackey_records_and_banners(tmp_path):
    p = tmp_path / "t.lackey"
    p.write_bytes(LACKEY_TEXT)
    np.testing.assert_array_equal(read_trace(p), LACKEY_RECORDS)


def test_lackey_crlf_blank_lines_and_no_final_newline(tmp_path):
    p = tmp_path / "t.lackey"
    p.write_bytes(LACKEY_TEXT.replace(b"\n", b"\r\n\n")[:-3])
    np.testing.assert_array_equal(read_trace(p), LACKEY_RECORDS)


def test_lackey_64bit_addresses(tmp_path):
    p = tmp_path / "t.lackey"
    p.write_bytes(b" L ffffffffffffffff,1\n S 00000123456789abcdef,2\n")
    got = read_trace(p)
    assert got["addr"].tolist() == [2**64 - 1, 0x123456789ABCDEF]
    p.write_bytes(b" L 1ffffffffffffffff,1\n")          # 65 bits: bad, never truncated
    with pytest.raises(TraceFormatError, match="line 1"):
        read_trace(p)


def test_lackey_large_sizes_are_split_not_truncated(tmp_path):
    p = tmp_path / "t.lackey"
    p.write_bytes(b" S 1010,512\n L fffffffffffffff0,16\n")
    got = read_trace(p)
    assert got["size"].sum() == 512 + 16
    assert got["addr"][:5].tolist() == [0x1010, 0x1080, 0x1100, 0x1180, 0x1200]
    assert got["size"][:5].tolist() == [0x70, 128, 128, 128, 0x10]
    assert set(got["kind"][:5]) == {2}
    # no 128-byte block is touched by two pieces of one record
    assert len(set((got["addr"][:5] // 128).tolist())) == 5
    p.write_bytes(b" S ffffffffffffff00,512\n")         # would wrap past 2**64
    with pytest.raises(TraceFormatError, match="line 1"):
        read_trace(p)
    p.write_bytes(b" S 1000,4097\n")
    with pytest.raises(TraceFormatError):
        read_trace(p)


def test_bad_record_names_file_line_and_text(tmp_path):
    p = tmp_path / "bad.lackey"
    p.write_bytes(b"I  10,4\n\n L 20,zz\nI  30,4\n X 5,5\n")
    with pytest.raises(TraceFormatError) as info:
        read_trace(p)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.path, err.line, err.text) == (str(p), 3, " L 20,zz")
    assert str(p) in str(err) and "line 3" in str(err) and " L 20,zz" in str(err)
    again = pickle.loads(pickle.dumps(err))
    assert (again.path, again.line, again.text) == (err.path, err.line, err.text)
    with open_trace(p, skip_bad=True) as tr:
        got = np.concatenate(list(tr))
    assert got["addr"].tolist() == [0x10, 0x30]
    assert tr.bad_records == 2


def test_overlong_line(tmp_path, monkeypatch):
    monkeypatch.setattr(T, "MAX_LINE_BYTES", 100)
    monkeypatch.setattr(T, "BLOCK_BYTES", 64)
    p = tmp_path / "t.lackey"
    p.write_bytes(b"I  10,4\n" + b"x" * 1000 + b"\nI  20,4\n")
    with pytest.raises(TraceFormatError, match="line 2: line longer than 100 bytes"):
        read_trace(p)
    with open_trace(p, skip_bad=True) as tr:
        got = np.concatenate(list(tr))
    assert got["addr"].tolist() == [0x10, 0x20] and tr.bad_records == 1


# ---------------------------------------------------------------- din

def test_din_labels_sizes_and_comments(tmp_path):
    p = tmp_path / "t.din"
    p.write_bytes(b"2 0\n0 1000 8\n1 0x70f60888 2 a comment\n3 55\n4 0\n"
                  b"0 70F6088C this is a comment\n")
    with open_trace(p) as tr:
        got = np.concatenate(list(tr))
    assert got["kind"].tolist() == [0, 1, 2, 4, 1]
    assert got["addr"].tolist() == [0, 0x1000, 0x70F60888, 0, 0x70F6088C]
    assert got["size"].tolist() == [4, 8, 2, 4, 4]
    assert tr.escape_records == 1


def test_din_round_trip(tmp_path):
    recs = sample()
    p = tmp_path / "t.din"
    lines = write_din(p, recs)
    n_modify = int((recs["kind"] == 3).sum())
    assert lines == len(recs) + n_modify
    assert p.read_bytes() == din_ref.format_records(
        [(int(a), int(s), int(k)) for a, s, k in recs[["addr", "size", "kind"]]])
    got = read_trace(p)
    # a modify comes back as a load then a store of the same bytes
    expect = []
    for a, s, k in recs[["addr", "size", "kind"]]:
        expect += [(a, s, 1), (a, s, 2)] if k == 3 else [(a, s, k)]
    np.testing.assert_array_equal(got[["addr", "size", "kind"]],
                                  R.to_array(expect)[["addr", "size", "kind"]])


def test_din_writer_streams_chunks_and_compresses(tmp_path):
    recs = sample(5000)
    recs = recs[recs["kind"] != 3]
    p = tmp_path / "t.din.xz"
    write_din(p, iter([recs[:1234], recs[1234:]]))
    assert p.read_bytes()[:6] == b"\xfd7zXZ\x00"
    np.testing.assert_array_equal(read_trace(p)[["addr", "size", "kind"]],
                                  recs[["addr", "size", "kind"]])


# ---------------------------------------------------------------- csv

def test_csv_columns_kinds_and_numbers(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("\n Kind , addr,size,pid,comment,cpu\n"
                 "L,0x10,4,7,hello,1\n"
                 "store,32,8,0,,0\n"
                 "3 ,0xFFFFFFFFFFFFFFFF, 1,4294967295,x,65535\n"
                 "I,1,2,0,,0\n")
    got = read_trace(p)
    assert got["kind"].tolist() == [1, 2, 3, 0]
    assert got["addr"].tolist() == [16, 32, 2**64 - 1, 1]
    assert got["size"].tolist() == [4, 8, 1, 2]
    assert got["pid"].tolist() == [7, 0, 2**32 - 1, 0]
    assert got["cpu"].tolist() == [1, 0, 65535, 0]


def test_csv_bad_header_and_rows(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("address,size,kind\n1,2,L\n")
    with pytest.raises(TraceFormatError, match="line 1"):
        read_trace(p, format="csv")
    p.write_text("addr,kind\n1,L\n2,Q\n3,S,4\n")
    with pytest.raises(TraceFormatError) as info:
        read_trace(p)
    assert info.value.line == 3 and info.value.text == "2,Q"
    with open_trace(p, skip_bad=True) as tr:
        assert np.concatenate(list(tr))["addr"].tolist() == [1]
    assert tr.bad_records == 2


# ---------------------------------------------------------------- npy

def test_npy_round_trip_streams_and_memory_maps(tmp_path):
    recs = sample(2500)
    p = tmp_path / "t.npy"
    assert write_npy(p, (recs[i:i + 700] for i in range(0, len(recs), 700))) == len(recs)
    loaded = np.load(p, mmap_mode="r")
    assert isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, recs)
    assert loaded.dtype == ACCESS_DTYPE
    with open_trace(p, chunk_records=1000) as tr:
        sizes, progress = [], []
        for chunk in tr:
            sizes.append(len(chunk))
            progress.append(tr.bytes_read)
    assert sizes == [1000, 1000, 500]
    assert progress == sorted(progress) and progress[-1] == tr.total_bytes
    np.testing.assert_array_equal(read_trace(p), recs)


def test_npy_empty_and_one(tmp_path):
    for n in (0, 1):
        p = tmp_path / f"t{n}.npy"
        write_npy(p, sample(n))
        assert np.load(p).shape == (n,)
        np.testing.assert_array_equal(read_trace(p), sample(n))


def test_npy_any_field_order_and_extra_fields(tmp_path):
    dt = np.dtype([("kind", "i8"), ("junk", "f4"), ("size", "<u2"), ("pid", "i4"),
                   ("addr", ">u8")])
    x = np.zeros(4, dtype=dt)
    x["kind"] = [0, 1, 2, 3]
    x["size"] = [4, 300, 8, 255]
    x["addr"] = [5, 0x1001, 2**63 + 7, 9]
    x["pid"] = [1, 2, 3, 4]
    x["junk"] = 1.5
    p = tmp_path / "x.npy"
    np.save(p, x)
    got = read_trace(p)
    # the 300-byte load is split at 128-byte boundaries
    assert got["addr"].tolist() == [5, 0x1001, 0x1080, 0x1100, 2**63 + 7, 9]
    assert got["size"].tolist() == [4, 127, 128, 45, 8, 255]
    assert got["kind"].tolist() == [0, 1, 1, 1, 2, 3]
    assert got["pid"].tolist() == [1, 2, 2, 2, 3, 4]
    assert got["cpu"].tolist() == [0] * 6


def test_npy_bad_values_name_the_record(tmp_path):
    x = np.zeros(5, dtype=[("addr", "i8"), ("size", "i4"), ("kind", "u1")])
    x["size"] = 4
    x["kind"][3] = 9
    x["addr"][4] = -1
    p = tmp_path / "x.npy"
    np.save(p, x)
    with pytest.raises(TraceFormatError, match="record 4: kind") as info:
        read_trace(p)
    assert info.value.line == 4 and "kind=9" in info.value.text
    with open_trace(p, skip_bad=True) as tr:
        assert len(np.concatenate(list(tr))) == 3
    assert tr.bad_records == 2
    plain = sample(3)
    plain["kind"][1] = 7
    np.save(p, plain)
    with pytest.raises(TraceFormatError, match="record 2: kind 7"):
        read_trace(p)


@pytest.mark.parametrize("arr, match", [
    (np.zeros(3, dtype=np.uint64), "structured"),
    (np.zeros(3, dtype=[("addr", "u8"), ("size", "u1")]), "structured"),
    (np.zeros(3, dtype=[("addr", "f8"), ("size", "u1"), ("kind", "u1")]), "integer"),
    (np.zeros((2, 2), dtype=ACCESS_DTYPE), "one-dimensional"),
])
def test_npy_wrong_dtype(tmp_path, arr, match):
    p = tmp_path / "x.npy"
    np.save(p, arr)
    with pytest.raises(TraceFormatError, match=match):
        read_trace(p)


def test_writers_reject_wrong_records(tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        write_npy(tmp_path / "a.npy", np.zeros(3))
    bad = sample(3)
    bad["kind"][0] = 5
    with pytest.raises(ValueError, match="kind"):
        write_din(tmp_path / "a.din", bad)


# ---------------------------------------------------------------- compression

def _compress(data, kind):
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    import zstandard
    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize("comp", ["gzip", "xz", "zstd"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_compressed_formats_detected_from_content(tmp_path, comp, fmt):
    if comp == "zstd":
        pytest.importorskip("zstandard")
    recs = sample(300)
    recs = recs[(recs["kind"] != 3) & (recs["kind"] != 4)]
    plain = tmp_path / "plain"
    if fmt == "npy":
        write_npy(plain, recs)
    elif fmt == "din":
        write_din(plain, recs)
    elif fmt == "lackey":
        letters = "ILSM"
        plain.write_text("".join(f"{' ' if k else ''}{letters[k]} {a:x},{s}\n"
                                 for a, s, k in recs[["addr", "size", "kind"]]))
    else:
        plain.write_text("addr,size,kind,cpu,pid\n" + "".join(
            f"{a},{s},{k},{c},{p}\n" for a, s, k, c, p in recs))
    p = tmp_path / "trace.bin"          # the name tells nothing
    p.write_bytes(_compress(plain.read_bytes(), comp))
    assert detect_format(p) == fmt
    with open_trace(p) as tr:
        got = np.concatenate(list(tr))
    assert tr.compression == comp and tr.bytes_read == tr.total_bytes
    fields = ["addr", "size", "kind"] + (["cpu", "pid"] if fmt in ("npy", "csv") else [])
    np.testing.assert_array_equal(got[fields], recs[fields])


def test_zstd_missing_is_a_clear_error(tmp_path, monkeypatch):
    zstandard = pytest.importorskip("zstandard")
    p = tmp_path / "t.lackey.zst"
    p.write_bytes(zstandard.ZstdCompressor().compress(LACKEY_TEXT))
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(ImportError, match="zstandard"):
        read_trace(p, format="lackey")


def test_magic_beats_extension(tmp_path):
    p = tmp_path / "t.lackey"          # gzip data under a plain name
    p.write_bytes(gzip.compress(LACKEY_TEXT))
    np.testing.assert_array_equal(read_trace(p), LACKEY_RECORDS)
    q = tmp_path / "t.lackey.gz"       # plain data under a .gz name
    q.write_bytes(LACKEY_TEXT)
    np.testing.assert_array_equal(read_trace(q), LACKEY_RECORDS)


# ---------------------------------------------------------------- detection, empty files

@pytest.mark.parametrize("name, fmt", [("e.lackey", "lackey"), ("e.din", "din"),
                                       ("e.csv", "csv"), ("e.lackey.gz", "lackey")])
def test_empty_text_files(tmp_path, name, fmt):
    p = tmp_path / name
    p.write_bytes(b"")
    assert detect_format(p) == fmt
    got = read_trace(p)
    assert got.dtype == ACCESS_DTYPE and len(got) == 0


def test_undetectable_format(tmp_path):
    p = tmp_path / "mystery.txt"
    p.write_bytes(b"hello world\n")
    with pytest.raises(TraceFormatError, match="cannot tell the trace format"):
        detect_format(p)
    p.write_bytes(b"")
    with pytest.raises(TraceFormatError):
        open_trace(p)
    assert len(read_trace(p, format="din")) == 0


def test_detection_from_content(tmp_path):
    cases = {b"I  10,4\n": "lackey", b"==1== Lackey\n": "lackey", b"2 0\n0 1000\n": "din",
             b"0x10 4\n": None, b"addr,size,kind\n1,2,3\n": "csv"}
    for text, fmt in cases.items():
        p = tmp_path / "t.trace"
        p.write_bytes(text)
        if fmt is None:
            with pytest.raises(TraceFormatError):
                detect_format(p)
        else:
            assert detect_format(p) == fmt


def test_reader_misuse(tmp_path):
    p = tmp_path / "t.lackey"
    p.write_bytes(LACKEY_TEXT)
    with pytest.raises(ValueError, match="format"):
        open_trace(p, format="pin")
    with pytest.raises(ValueError, match="chunk_records"):
        open_trace(p, chunk_records=0)
    with pytest.raises(FileNotFoundError):
        open_trace(tmp_path / "missing.lackey")
    tr = open_trace(p)
    list(tr)
    with pytest.raises(RuntimeError, match="only once"):
        list(tr)


def test_reader_can_stop_early(tmp_path, monkeypatch):
    monkeypatch.setattr(T, "BLOCK_BYTES", 16)
    p = tmp_path / "t.lackey"
    p.write_bytes(LACKEY_TEXT * 50)
    with open_trace(p, chunk_records=40) as tr:
        first = next(iter(tr))
    assert len(first) == 40


# ---------------------------------------------------------------- kernel API

def test_kernel_rejects_bad_arguments():
    out = np.zeros(4, ACCESS_DTYPE)
    with pytest.raises(ValueError, match="fmt"):
        tp.parse(7, b"", out)
    with pytest.raises(ValueError, match="columns"):
        tp.parse(tp.CSV, b"1,2\n", out)
    with pytest.raises(ValueError, match="column code"):
        tp.parse(tp.CSV, b"1,2\n", out, columns=np.array([0, 9], np.uint8))
    with pytest.raises(ValueError, match="out"):
        tp.format_din(out, np.zeros(8, np.uint8))


def test_kernel_stops_when_out_is_full():
    out = np.zeros(2, ACCESS_DTYPE)
    text = b"I  1,1\nI  2,1\nI  3,1\n"
    consumed, n, lines, bad, *_ = tp.parse(tp.LACKEY, text, out, True)
    assert (consumed, n, lines, bad) == (14, 2, 2, -1)
    # a split record that does not fit is left for the next call
    out = np.zeros(3, ACCESS_DTYPE)
    consumed, n, *_ = tp.parse(tp.LACKEY, b"I  1,1\n L 0,512\n", out, True)
    assert (consumed, n) == (7, 1)


# ---------------------------------------------------------------- convert and CLI

def run_cli(argv):
    parser = argparse.ArgumentParser(prog="memcore")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_convert_lackey_to_npy_and_din(tmp_path, example):
    out = tmp_path / "ex.npy"
    counts = convert(example_path(), out)
    assert counts == {"from_format": "lackey", "to_format": "npy",
                      "records_read": len(example), "records_written": len(example),
                      "bad_records": 0, "escape_records": 0}
    np.testing.assert_array_equal(np.load(out), example)
    counts = convert(out, tmp_path / "ex.din.gz")
    assert counts["records_written"] == len(example) + int((example["kind"] == 3).sum())
    assert detect_format(tmp_path / "ex.din.gz") == "din"
    with pytest.raises(ValueError, match="to_format"):
        convert(out, tmp_path / "ex.csv")


def test_cli_convert(tmp_path, capsys):
    src = tmp_path / "t.trace"
    src.write_bytes(LACKEY_TEXT + b"garbage\n")
    assert run_cli(["convert", str(src), str(tmp_path / "o.npy")]) == 1
    assert "line 8" in capsys.readouterr().err
    assert run_cli(["convert", str(src), str(tmp_path / "o.bin"), "--to", "npy",
                    "--skip-bad", "--chunk", "2"]) == 0
    msg = capsys.readouterr().out
    assert "4 records read" in msg and "1 bad records skipped" in msg
    np.testing.assert_array_equal(np.load(tmp_path / "o.bin"), LACKEY_RECORDS)
    din_src = tmp_path / "d.txt"
    din_src.write_bytes(b"0 10\n")
    assert run_cli(["convert", str(din_src), str(tmp_path / "o2.npy"), "--from", "din"]) == 0
    assert np.load(tmp_path / "o2.npy")["kind"].tolist() == [1]


def test_npy_truncated_or_not_npy(tmp_path):
    recs = sample(100)
    p = tmp_path / "t.npy"
    write_npy(p, recs)
    q = tmp_path / "cut.npy.gz"
    q.write_bytes(gzip.compress(p.read_bytes()[:-40]))       # 2.5 records short
    with pytest.raises(TraceFormatError, match="record 98: file ends after 97 of 100 records"):
        read_trace(q)
    r = tmp_path / "text.npy"
    r.write_bytes(b"I  10,4\n")
    with pytest.raises(TraceFormatError, match="not a readable .npy file"):
        read_trace(r, format="npy")
    rz = tmp_path / "text.npy.gz"
    rz.write_bytes(gzip.compress(b"I  10,4\n"))
    with pytest.raises(TraceFormatError, match="not a readable .npy file"):
        read_trace(rz, format="npy")


def test_truncated_gzip_is_a_trace_error(tmp_path, example):
    p = tmp_path / "cut.lackey.gz"
    p.write_bytes(example_path().read_bytes()[:100_000])
    with pytest.raises(TraceFormatError, match="corrupt or truncated gzip data"):
        read_trace(p)


@pytest.mark.parametrize("fmt", ["lackey", "din", "npy"])
def test_memory_does_not_grow_with_trace_length(tmp_path, monkeypatch, fmt):
    import tracemalloc

    monkeypatch.setattr(T, "BLOCK_BYTES", 64 << 10)
    recs = make(np.arange(400_000, dtype=np.uint64) * 64, size=8, kind=1)
    p = tmp_path / f"big.{fmt}.gz"
    if fmt == "lackey":
        text = b"".join(b" L %x,8\n" % a for a in range(0, 400_000 * 64, 64))
        p.write_bytes(gzip.compress(text, 1))
    elif fmt == "din":
        write_din(p, recs)
    else:
        write_npy(p, recs)
    tracemalloc.start()
    try:
        n = 0
        with open_trace(p, chunk_records=10_000) as tr:
            for chunk in tr:
                n += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == len(recs)
    # the decompressed trace is 4-6 MB; the reader holds a few blocks and chunks
    assert peak < 1_500_000, peak


def test_npy_header_length_does_not_depend_on_count():
    lengths = {len(T._npy_header(n)) for n in (0, 1, 10**6, 2**63, 2**64 - 1)}
    assert len(lengths) == 1 and lengths.pop() % 64 == 0
