"""asv benchmarks: trace reading rate per format (pyapi.trace, memcore.traceparse).

Data: the bundled real lackey trace (760 127 records of a merge sort),
converted in `setup` to each format.  `time_*` are timings; `track_*` are
exact record counts, the reliable regression signal on a shared machine.
"""
import gzip
import os
import shutil
import tempfile

import numpy as np

from memcore import traceparse as tp
from memcore.access import ACCESS_DTYPE
from pyapi.trace import example_path, open_trace, read_trace, write_din, write_npy

_KIND_LETTERS = np.array(list("ILSMF"))


def _write_csv(path, recs):
    kinds = _KIND_LETTERS[recs["kind"]]
    with open(path, "w") as f:
        f.write("addr,size,kind\n")
        for a, s, k in zip(recs["addr"].tolist(), recs["size"].tolist(), kinds.tolist()):
            f.write(f"{a:#x},{s},{k}\n")


def _make(directory, fmt, compressed):
    """Write the example trace in `fmt` under `directory`; return the path."""
    recs = read_trace(example_path())
    plain = os.path.join(directory, "trace." + fmt)
    if fmt == "lackey":
        with gzip.open(example_path(), "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
    elif fmt == "din":
        write_din(plain, recs)
    elif fmt == "npy":
        write_npy(plain, recs)
    else:
        _write_csv(plain, recs)
    if not compressed:
        return plain
    with open(plain, "rb") as src, gzip.open(plain + ".gz", "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst)
    return plain + ".gz"


class ReadTrace:
    """open_trace end to end: file -> chunks of ACCESS_DTYPE records."""

    params = (["lackey", "din", "csv", "npy"], [False, True])
    param_names = ["format", "gzip"]
    timeout = 300

    def setup(self, fmt, compressed):
        self.dir = tempfile.mkdtemp(prefix="memcore-bench-")
        self.path = _make(self.dir, fmt, compressed)

    def teardown(self, fmt, compressed):
        shutil.rmtree(self.dir, ignore_errors=True)

    def _read(self):
        n = 0
        with open_trace(self.path) as tr:
            for chunk in tr:
                n += len(chunk)
        return n

    def time_read(self, fmt, compressed):
        self._read()

    def track_records(self, fmt, compressed):
        return self._read()

    def peakmem_read(self, fmt, compressed):
        self._read()


class ParseKernel:
    """memcore.traceparse.parse alone, over text already in memory."""

    params = ["lackey", "din", "csv"]
    param_names = ["format"]
    timeout = 300

    def setup(self, fmt):
        self.dir = tempfile.mkdtemp(prefix="memcore-bench-")
        path = _make(self.dir, fmt, False)
        with open(path, "rb") as f:
            self.text = f.read()
        self.code = {"lackey": tp.LACKEY, "din": tp.DIN, "csv": tp.CSV}[fmt]
        self.columns = None
        if fmt == "csv":
            header_end = self.text.index(b"\n") + 1
            self.text = self.text[header_end:]
            self.columns = np.array([tp.CSV_COLUMNS[c] for c in ("addr", "size", "kind")],
                                    dtype=np.uint8)
        self.out = np.zeros(1_000_000, dtype=ACCESS_DTYPE)

    def teardown(self, fmt):
        shutil.rmtree(self.dir, ignore_errors=True)

    def _parse(self):
        view = memoryview(self.text)
        pos = n = 0
        while pos < len(self.text):
            consumed, k, *_ = tp.parse(self.code, view[pos:], self.out, True, False, self.columns)
            pos += consumed
            n += k
        return n

    def time_parse(self, fmt):
        self._parse()

    def track_records(self, fmt):
        return self._parse()
