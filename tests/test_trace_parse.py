"""Differential tests: the compiled trace parsers agree with the plain-Python
references in tests/reference on random valid and invalid text, cut into
random blocks and chunks."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import pyapi.trace as T
from memcore import traceparse as tp
from memcore.access import ACCESS_DTYPE
from reference import csvtrace, din, lackey, records as R

WS = st.sampled_from(["", " ", "\t", "  "])
WS1 = st.sampled_from([" ", "\t", "  ", " \t"])
ADDR = st.one_of(st.integers(0, 2**32), st.integers(0, 2**64 - 1),
                 st.integers(2**64 - 600, 2**64 + 5))
SIZE = st.one_of(st.integers(1, 16), st.integers(0, 5000))
JUNK = st.text(alphabet="ILSM0123456789abcdefxX,= \t\r-_#é", max_size=20)


def hexdigits(draw, value):
    text = f"{value:x}"
    if draw(st.booleans()):
        text = text.upper()
    return "0" * draw(st.integers(0, 3)) + text


@st.composite
def lackey_line(draw):
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return f"=={draw(st.integers(1, 99999))}== {draw(JUNK)}"
    if choice == 1:
        return draw(WS)
    if choice == 2:
        return draw(JUNK)
    kind = draw(st.sampled_from("ILSM"))
    return (draw(WS) + kind + draw(WS1) + hexdigits(draw, draw(ADDR)) + ","
            + str(draw(SIZE)) + draw(WS))


@st.composite
def din_line(draw):
    choice = draw(st.integers(0, 8))
    if choice == 0:
        return draw(WS)
    if choice == 1:
        return draw(st.text(alphabet="0123456789abcdefxX \t-é", max_size=16))
    label = str(draw(st.integers(0, 6)))
    prefix = draw(st.sampled_from(["", "", "0x", "0X"]))
    line = draw(WS) + label + draw(WS1) + prefix + hexdigits(draw, draw(ADDR))
    tail = draw(st.integers(0, 3))
    if tail == 1:
        line += draw(WS1) + str(draw(SIZE))
    elif tail == 2:
        line += draw(WS1) + str(draw(SIZE)) + draw(WS1) + draw(JUNK)
    elif tail == 3:
        line += draw(WS1) + draw(JUNK)
    return line + draw(WS)


CSV_KINDS = ["0", "1", "2", "3", "4", "5", "I", "l", "S", "m", "F", "load", "STORE",
             "Modify", "ifetch", "instr", "read", "write", "flush", "x", ""]


@st.composite
def csv_text(draw):
    names = draw(st.permutations(["addr", "size", "kind", "cpu", "pid", "note"]))
    names = [n for n in names if n in ("addr", "kind") or draw(st.booleans())]
    header = ",".join(draw(WS) + n.upper() if draw(st.booleans()) else n for n in names)
    lines = [header]
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["", " ", "1,2", draw(JUNK)])))
            continue
        fields = []
        for n in names:
            if n == "addr":
                a = draw(ADDR)
                fields.append(hex(a) if draw(st.booleans()) else str(a))
            elif n == "size":
                fields.append(str(draw(SIZE)))
            elif n == "kind":
                fields.append(draw(st.sampled_from(CSV_KINDS)))
            elif n == "cpu":
                fields.append(str(draw(st.integers(0, 70000))))
            elif n == "pid":
                fields.append(str(draw(st.integers(0, 2**32))))
            else:
                fields.append(draw(st.sampled_from(["", "x y", "7"])))
        lines.append(",".join(draw(WS) + f + draw(WS) for f in fields))
    return lines


def join(draw, lines):
    eols = [draw(st.sampled_from(["\n", "\r\n"])) for _ in lines]
    text = "".join(ln + e for ln, e in zip(lines, eols))
    if lines and draw(st.booleans()):
        text = text[: -len(eols[-1])]   # no final newline
    return text.encode("latin1")


def read_with_blocks(path, fmt, block, chunk, skip_bad):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(T, "BLOCK_BYTES", block)
        with T.open_trace(path, format=fmt, chunk_records=chunk, skip_bad=skip_bad) as tr:
            chunks = list(tr)
    for c in chunks:
        assert c.dtype == ACCESS_DTYPE and c.flags.c_contiguous
        assert 0 < len(c) <= tr.chunk_records
    arr = np.concatenate(chunks) if chunks else np.empty(0, ACCESS_DTYPE)
    return arr, tr


def check_against_reference(tmp_path, data, fmt, reference, block, chunk):
    """Compare the reader with `reference(data, skip_bad)` -> (records, n_bad)."""
    path = tmp_path / f"t.{fmt}"
    path.write_bytes(data)
    expected, n_bad = reference(data, True)
    got, tr = read_with_blocks(path, fmt, block, chunk, skip_bad=True)
    np.testing.assert_array_equal(got, R.to_array(expected))
    assert tr.bad_records == n_bad
    assert tr.records_read == len(expected)
    try:
        reference(data, False)
    except ValueError as exc:
        lineno, text = exc.args
        with pytest.raises(T.TraceFormatError) as info:
            read_with_blocks(path, fmt, block, chunk, skip_bad=False)
        assert info.value.line == lineno
        assert info.value.text == text.decode("utf-8", "replace")
        assert str(path) in str(info.value) and f"line {lineno}" in str(info.value)
    else:
        got2, _ = read_with_blocks(path, fmt, block, chunk, skip_bad=False)
        np.testing.assert_array_equal(got2, got)


BLOCKS = st.integers(1, 200)
CHUNKS = st.integers(1, 50)


@given(data=st.data(), block=BLOCKS, chunk=CHUNKS)
def test_lackey_matches_reference(tmp_path_factory, data, block, chunk):
    lines = data.draw(st.lists(lackey_line(), max_size=30))
    text = join(data.draw, lines)
    check_against_reference(tmp_path_factory.mktemp("l"), text, "lackey",
                            lackey.parse_bytes, block, chunk)


@given(data=st.data(), block=BLOCKS, chunk=CHUNKS)
def test_din_matches_reference(tmp_path_factory, data, block, chunk):
    lines = data.draw(st.lists(din_line(), max_size=30))
    text = join(data.draw, lines)

    def ref(d, skip_bad):
        recs, n_bad, _ = din.parse_bytes(d, skip_bad)
        return recs, n_bad

    check_against_reference(tmp_path_factory.mktemp("d"), text, "din",
                            ref, block, chunk)
    path = tmp_path_factory.mktemp("d2") / "t.din"
    path.write_bytes(text)
    with T.open_trace(path, format="din", skip_bad=True) as tr:
        list(tr)
    assert tr.escape_records == din.parse_bytes(text, True)[2]


@given(data=st.data(), block=BLOCKS, chunk=CHUNKS)
def test_csv_matches_reference(tmp_path_factory, data, block, chunk):
    text = join(data.draw, data.draw(csv_text()))
    check_against_reference(tmp_path_factory.mktemp("c"), text, "csv",
                            csvtrace.parse_bytes, block, chunk)


@given(data=st.data())
def test_kernel_block_splits(data):
    """Driving the kernel by hand over random block boundaries gives the
    same records as one call over the whole text."""
    lines = data.draw(st.lists(lackey_line(), max_size=40))
    text = join(data.draw, lines)
    whole = np.zeros(20000, ACCESS_DTYPE)
    r = tp.parse(tp.LACKEY, text, whole, True, True)
    assert r[0] == len(text)
    expected = whole[: r[1]]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    got, carry, start = [], b"", 0
    for cut in cuts + [len(text)]:
        buf = carry + text[start:cut]
        start = cut
        final = cut == len(text)
        out = np.zeros(20000, ACCESS_DTYPE)
        consumed, n, *_ = tp.parse(tp.LACKEY, buf, out, final, True)
        got.append(out[:n])
        carry = buf[consumed:]
        assert b"\n" not in carry          # only an incomplete line is left
    assert carry == b""
    np.testing.assert_array_equal(np.concatenate(got), expected)


INT_TYPES = ["u1", "<u2", ">u2", "<u4", "<u8", ">u8", "<i2", "<i4", "<i8", ">i8"]


@st.composite
def npy_array(draw):
    names = draw(st.permutations(["addr", "size", "kind", "cpu", "pid", "extra"]))
    names = [n for n in names if n in ("addr", "size", "kind") or draw(st.booleans())]
    dtype = np.dtype([(n, draw(st.sampled_from(INT_TYPES))) for n in names])
    n = draw(st.integers(0, 25))
    arr = np.zeros(n, dtype=dtype)
    for name in names:
        info = np.iinfo(dtype[name])
        pools = {"addr": [0, 2**64 - 300, 2**63, 123456], "size": [0, 1, 255, 256, 4096, 4097, -1],
                 "kind": [0, 1, 2, 3, 4, 5, -1], "cpu": [0, 65535, 65536, -1],
                 "pid": [0, 2**32 - 1, 2**32, -1], "extra": [7]}[name]
        values = draw(st.lists(st.one_of(st.sampled_from(pools),
                                         st.integers(0, 5000), st.integers(-5, 2**64 - 1)),
                               min_size=n, max_size=n))
        arr[name] = [min(max(v, int(info.min)), int(info.max)) for v in values]
    return arr


def npy_reference(arr):
    """(records, n_bad, first bad index) for a structured array, by the
    documented rules."""
    records, n_bad, first_bad = [], 0, None
    names = arr.dtype.names
    for i, rec in enumerate(arr.tolist(), 1):
        row = dict(zip(names, rec))
        addr, size, kind = row["addr"], row["size"], row["kind"]
        cpu, pid = row.get("cpu", 0), row.get("pid", 0)
        if (addr < 0 or not 0 <= size <= R.MAX_SIZE or not 0 <= kind <= 4
                or not 0 <= cpu <= 0xFFFF or not 0 <= pid <= 0xFFFFFFFF
                or R.pieces(addr, size) is None):
            n_bad += 1
            first_bad = first_bad or i
            continue
        records += [(a, s, kind, cpu, pid) for a, s in R.pieces(addr, size)]
    return records, n_bad, first_bad


def test_npy_splits_big_records_at_the_top_of_the_address_space(tmp_path):
    # The last 128-byte block ends at 2**64, which a uint64 cannot hold: the
    # last piece must still be what is left of the record, not a whole block.
    top = 2**64
    arr = np.zeros(2, dtype=[("addr", "<u8"), ("size", "<u2"), ("kind", "u1")])
    arr["addr"] = [top - 300, top - 256]
    arr["size"] = 256
    path = tmp_path / "top.npy"
    np.save(path, arr)
    got = T.read_trace(path)
    assert [(int(a), int(s)) for a, s in zip(got["addr"], got["size"])] == [
        (top - 300, 44), (top - 256, 128), (top - 128, 84), (top - 256, 128), (top - 128, 128)]


@given(arr=npy_array(), chunk=st.integers(1, 40), compressed=st.booleans())
def test_npy_matches_reference(tmp_path_factory, arr, chunk, compressed):
    path = tmp_path_factory.mktemp("n") / "t.npy"
    np.save(path, arr)
    if compressed:
        import gzip
        data = path.read_bytes()
        path = path.with_suffix(".npy.gz")
        path.write_bytes(gzip.compress(data))
    expected, n_bad, first_bad = npy_reference(arr)
    with T.open_trace(path, chunk_records=chunk, skip_bad=True) as tr:
        chunks = list(tr)
    got = np.concatenate(chunks) if chunks else np.empty(0, ACCESS_DTYPE)
    assert all(c.dtype == ACCESS_DTYPE and 0 < len(c) <= tr.chunk_records for c in chunks)
    np.testing.assert_array_equal(got, R.to_array(expected))
    assert tr.bad_records == n_bad
    if n_bad:
        with pytest.raises(T.TraceFormatError, match=f"record {first_bad}:") as info:
            T.read_trace(path, chunk_records=chunk)
        assert info.value.line == first_bad


class GuardedBuffer:
    """Bytes placed at the very end of a readable page that is followed by an
    inaccessible page: a parser that reads one byte too far crashes."""

    PAGE = 4096

    def __init__(self):
        import ctypes
        import mmap

        self.map = mmap.mmap(-1, 3 * self.PAGE)
        libc = ctypes.CDLL(None, use_errno=True)
        base = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        rc = libc.mprotect(ctypes.c_void_p(base + 2 * self.PAGE), self.PAGE, 0)  # PROT_NONE
        if rc != 0:
            pytest.skip("mprotect unavailable")

    def view(self, data):
        assert len(data) <= 2 * self.PAGE
        end = 2 * self.PAGE
        self.map[end - len(data):end] = data
        return memoryview(self.map)[end - len(data):end]


@pytest.fixture(scope="module")
def guarded():
    return GuardedBuffer()


@given(data=st.data())
def test_parser_never_reads_past_its_buffer(guarded, data):
    fmt = data.draw(st.sampled_from(["lackey", "din", "csv"]))
    if fmt == "csv":
        lines = data.draw(csv_text())[1:]
    else:
        lines = data.draw(st.lists(lackey_line() if fmt == "lackey" else din_line(), max_size=12))
    text = join(data.draw, lines)[: 2 * GuardedBuffer.PAGE]
    cut = data.draw(st.integers(0, len(text)))
    columns = np.array([tp.CSV_COLUMNS["addr"], tp.CSV_COLUMNS["kind"]], np.uint8)
    out = np.zeros(data.draw(st.integers(0, 50)), ACCESS_DTYPE)
    for final in (False, True):
        view = guarded.view(text[:cut])
        consumed, n, *_ = tp.parse(T._TEXT_CODES[fmt], view, out, final, True, columns)
        assert 0 <= consumed <= cut and 0 <= n <= len(out)
