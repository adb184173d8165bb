"""Replay one trace through memcore and pycachesim; check counts, print speeds.

Usage::

    PYTHONPATH=src python3 bench/compare_pycachesim.py [TRACE] [--levels 1|3]
        [--limit N] [--synthetic N]

TRACE is a ``.npy`` access array or a valgrind lackey text file (converted
once and cached as ``TRACE.npy``); without it a synthetic trace is generated.
Only data records are replayed (pycachesim has no instruction side), with
addresses folded to 32 bits because pycachesim keeps only 32 address bits.

The figures in the user guide came from a real trace of ~25 M data records,
made with (not committed; ~2 GB of text)::

    head -c 600000 $(command -v python3) > /tmp/gzin
    valgrind --tool=lackey --trace-mem=yes --log-file=/tmp/gz_lackey.txt \\
        gzip -c /tmp/gzin > /dev/null      # stopped after ~2.4 GB of output
    grep '^ [LSM]' /tmp/gz_lackey.txt | head -n 25000000 > /tmp/gz_data.txt
    PYTHONPATH=src python3 bench/compare_pycachesim.py /tmp/gz_data.txt --levels 3

pycachesim is driven the way its users drive it from a numpy trace: one
``load``/``store`` call per record (a modify is a load then a store).  Both
wall-clock and process CPU time are printed: on a busy shared machine the CPU
figure is the one to compare.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from _traces import load, synthetic  # noqa: E402

from memcore.access import IFETCH, LOAD, STORE  # noqa: E402
from memcore.hierarchy import Hierarchy  # noqa: E402

LEVELS = [
    dict(name="L1", size=32 * 1024, line_size=64, ways=8, policy="lru", next="L2"),
    dict(name="L2", size=256 * 1024, line_size=64, ways=4, policy="lru", next="L3"),
    dict(name="L3", size=8 * 1024 * 1024, line_size=64, ways=16, policy="lru", next=None),
]


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def run_pycachesim(levels, trace):
    import cachesim
    cfg = {}
    for lv in levels:
        cfg[lv["name"]] = dict(sets=lv["size"] // 64 // lv["ways"], ways=lv["ways"], cl_size=64,
                               replacement_policy="LRU", write_back=True, write_allocate=True)
        if lv["next"]:
            cfg[lv["name"]].update(load_from=lv["next"], store_to=lv["next"])
    sim, caches, mem = cachesim.CacheSimulator.from_dict(cfg)
    load_, store_ = sim.first_level.backend.load, sim.first_level.backend.store

    def go():
        for addr, size, kind in zip(trace["addr"].tolist(), trace["size"].tolist(),
                                    trace["kind"].tolist()):
            size = size or 1
            if kind != STORE:
                load_(addr, length=size)
            if kind != LOAD:
                store_(addr, length=size)
    return go, caches, mem


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace", nargs="?")
    ap.add_argument("--levels", type=int, choices=(1, 3), default=1)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--synthetic", type=int, default=2_000_000)
    args = ap.parse_args(argv)
    trace = load(args.trace, args.limit) if args.trace else synthetic(args.synthetic)
    trace = trace[trace["kind"] != IFETCH].copy()
    trace["addr"] &= np.uint64(0xFFFFFFFF)
    n = len(trace)
    levels = [dict(lv) for lv in LEVELS[:args.levels]]
    levels[-1]["next"] = None
    print(f"{n} data records, {args.levels} level(s): "
          + ", ".join(f"{lv['name']} {lv['size'] // 1024} KiB {lv['ways']}-way" for lv in levels))

    h = Hierarchy(levels, data_entry="L1", inst_entry=None, compat="pycachesim")
    _, mw, mc = timed(lambda: h.run(trace))
    hd = Hierarchy(levels, data_entry="L1", inst_entry=None, compat="default")
    _, dw, dc = timed(lambda: hd.run(trace))
    go, caches, mem = run_pycachesim(levels, trace)
    _, pw, pc = timed(go)

    ours = h.stats()
    for lv in levels:
        a, b = ours["levels"][lv["name"]], caches[lv["name"]].stats()
        mine = (a["loads"], a["stores"], a["hits"], a["misses"], a["writebacks"])
        theirs = (b["LOAD_count"], b["STORE_count"], b["HIT_count"], b["MISS_count"],
                  b["EVICT_count"])
        print(f"  {lv['name']}: LOAD/STORE/HIT/MISS/EVICT memcore {mine} pycachesim {theirs}")
        assert mine == theirs, lv["name"]
    m = mem.stats()
    assert (ours["memory"]["reads"], ours["memory"]["writes"]) == (m["LOAD_count"], m["STORE_count"])
    print("  counts agree")
    print(f"memcore compat=pycachesim: {n / mw / 1e6:8.1f} M rec/s wall, {n / mc / 1e6:8.1f} cpu")
    print(f"memcore compat=default:    {n / dw / 1e6:8.1f} M rec/s wall, {n / dc / 1e6:8.1f} cpu")
    print(f"pycachesim 0.3.1:          {n / pw / 1e6:8.1f} M rec/s wall, {n / pc / 1e6:8.1f} cpu")
    print(f"speed ratio memcore(pycachesim mode) / pycachesim: {pw / mw:.1f}x wall, {pc / mc:.1f}x cpu")


if __name__ == "__main__":
    main()
