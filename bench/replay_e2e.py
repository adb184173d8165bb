"""Records per second of ``memcore replay`` end to end, from a ``.npy`` file on disk.

Target (issue 2): >= 60 M records/s end to end for a 3-level data hierarchy
(L1D 32 KiB 8-way, L2 256 KiB 4-way, L3 8 MiB 16-way, LRU, write-back,
write-allocate).  Prints, for the same trace:

* end to end: ``pyapi.replay`` on the ``.npy`` path (chunked reading,
  validation, engine, report), the file warm in the page cache;
* from memory: ``pyapi.replay`` on the array already in memory;
* engine only: one ``Hierarchy.run`` over the whole array.

Usage::

    PYTHONPATH=src python3 bench/replay_e2e.py [--records N] [--trace FILE] [--chunk N] [--repeat R]

``--trace`` replays a real trace (any format memcore reads; a text trace is
converted once and cached as ``TRACE.npy``); its instruction fetches are
dropped first, since the machine is a data hierarchy.
"""
import argparse
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from _traces import load, synthetic  # noqa: E402
from bench_replay import DATA_3LEVEL  # noqa: E402

from pyapi.replay import build_hierarchy, replay  # noqa: E402

TARGET = 60e6


def best_of(repeat, fn):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=25_000_000, help="synthetic trace length (default 25M)")
    parser.add_argument("--trace", help="replay this real trace instead (instruction fetches dropped)")
    parser.add_argument("--chunk", type=int, default=1_000_000, help="records per chunk (default 1M)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    args = parser.parse_args(argv)

    if args.trace:
        trace = load(args.trace)
        trace = trace[trace["kind"] != 0]
        source = f"{args.trace} (data records only)"
    else:
        trace = synthetic(args.records)
        source = "synthetic (bench/_traces.py)"
    n = len(trace)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.npy")
        np.save(path, trace)
        replay(path, DATA_3LEVEL, chunk_records=args.chunk, progress=False)  # warm the page cache
        t_file, report = best_of(
            args.repeat, lambda: replay(path, DATA_3LEVEL, chunk_records=args.chunk, progress=False)
        )
    t_mem, report_mem = best_of(
        args.repeat, lambda: replay(trace, DATA_3LEVEL, chunk_records=args.chunk, progress=False)
    )

    def engine_only():
        h = build_hierarchy(DATA_3LEVEL)
        h.run(trace)
        h.finish()
        return h.stats()

    t_engine, stats = best_of(args.repeat, engine_only)
    assert report.stats == report_mem.stats == stats, "end-to-end counts differ from the engine's"

    print(f"trace: {source}, {n:,} records; machine: {DATA_3LEVEL.name}; chunk {args.chunk:,}; best of {args.repeat}")
    for name in report.level_names:
        print(f"  {name}: miss rate {100 * report.miss_rate(name):.2f}%")
    for label, t in (("end to end (.npy file)", t_file), ("from memory (array)", t_mem), ("engine only", t_engine)):
        print(f"{label:<24} {t:8.3f} s  {n / t / 1e6:8.1f} M records/s")
    print(f"end to end vs target 60 M/s: {n / t_file / TARGET:.2f}x")
    print(f"end to end / engine only: {t_engine / t_file:.2f}")


if __name__ == "__main__":
    main()
