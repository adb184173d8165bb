"""Measure how fast pyapi.trace reads real traces (records per second).

Target (issue 2): the lackey text reader >= 20 M records/s, din similar, so
that parsing is never the bottleneck of a replay.

Make a real lackey trace of ~30 M records first (not committed: ~420 MB)::

    gcc -O1 -o /tmp/sortdemo src/pyapi/data/sortdemo.c
    valgrind --tool=lackey --trace-mem=yes --log-file=/tmp/bench.lackey /tmp/sortdemo 70000
    gzip -1 -k /tmp/bench.lackey

then run::

    PYTHONPATH=src python3 bench/trace_speed.py /tmp/bench.lackey [--repeat 3]

The script also converts the trace to din (plain and gzip) and to .npy next to
it (once) and reads those.  For each file it prints the best of `--repeat`
runs: wall-clock records/s, and records per CPU-second of this process (the
second figure is robust to other jobs sharing the machine; it counts the
read-ahead thread's decompression too).  The first line is the compiled
kernel alone over the text already in memory.
"""
import argparse
import os
import time

import numpy as np

from memcore import traceparse as tp
from memcore.access import ACCESS_DTYPE
from pyapi.trace import convert, open_trace


def kernel_only(path, code):
    """Records/s of memcore.traceparse.parse over text already in memory."""
    with open(path, "rb") as f:
        data = f.read()
    view = memoryview(data)
    out = np.empty(1_000_000, dtype=ACCESS_DTYPE)
    out[:] = 0
    wall, cpu = time.perf_counter(), time.process_time()
    pos = n = 0
    while pos < len(data):
        consumed, k, *_ = tp.parse(code, view[pos:], out, True)
        pos += consumed
        n += k
    return n, time.perf_counter() - wall, time.process_time() - cpu


def read_all(path):
    wall, cpu = time.perf_counter(), time.process_time()
    with open_trace(path) as tr:
        n = 0
        for chunk in tr:
            n += len(chunk)
    return n, time.perf_counter() - wall, time.process_time() - cpu


def best(fn, repeat):
    runs = [fn() for _ in range(repeat)]
    n = runs[0][0]
    return n, min(r[1] for r in runs), min(r[2] for r in runs)


def report(label, n, wall, cpu, size):
    print(f"{label:<34} {n:>11,d} records  {n / wall / 1e6:7.1f} M/s wall  "
          f"{n / cpu / 1e6:7.1f} M/s cpu  ({size / 1e6:,.0f} MB file)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("lackey", help="a plain lackey trace")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    base = args.lackey
    files = {"lackey": base, "lackey.gz": base + ".gz", "din": base + ".din",
             "din.gz": base + ".din.gz", "npy": base + ".npy"}
    for key in ("din", "din.gz", "npy"):
        if not os.path.exists(files[key]):
            convert(base, files[key])
    if not os.path.exists(files["lackey.gz"]):
        del files["lackey.gz"]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for label, path, code in (("kernel only: lackey", base, tp.LACKEY),
                              ("kernel only: din", files["din"], tp.DIN)):
        n, wall, cpu = best(lambda: kernel_only(path, code), args.repeat)
        report(label, n, wall, cpu, os.path.getsize(path))
    for label, path in files.items():
        n, wall, cpu = best(lambda: read_all(path), args.repeat)
        report(f"open_trace: {label}", n, wall, cpu, os.path.getsize(path))


if __name__ == "__main__":
    main()
