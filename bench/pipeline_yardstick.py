"""memcore's translation pipeline against a minimal C pipeline, as a ratio.

Usage::

    PYTHONPATH=src python3 bench/pipeline_yardstick.py [--records N] [--rounds R] [TRACE ...]

TRACE is any of ``random-4MiB``, ``random-64MiB``, ``random-1GiB`` (default:
all three): ``N`` (2,000,000) random 8-byte loads over that span, made by
:func:`bench_mmu.random_trace`.  Each goes through the pipeline of
``bench/bench_mmu.py`` (Skylake-like TLBs and walk caches, 4-level page
tables, the walker's reads and the loads through L1D, L2 and L3; on one host
thread, as the C runs) and through
``bench/minimal_pipeline.c`` -- the straightforward C for the same work,
compiled with ``gcc -O2`` -- on the same records: an untimed pass that maps
pages on first touch, then three timed passes on the warm state, each timed
in process CPU time (best of three; the machine is shared, and a ratio
measured in one run moves much less than either speed).

With ``--rounds R`` both run R times, alternately, and each speed is the
best of all its passes (the ratio of every round is printed too).

Prints, per trace, the records per second of each, memcore's speed as a
fraction of the C's, and whether the counts of the first timed pass agree
(TLB misses, walks, walk-cache hits, walk references and the level that
served them, cache misses, frames used); when they do not, both sets.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

# numpy's OpenBLAS threads can spin on the second core after numpy starts,
# the core the C child process needs; nothing here uses BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_mmu import random_trace, warm_pipeline  # noqa: E402

SPANS = {"random-4MiB": 4 << 20, "random-64MiB": 64 << 20, "random-1GiB": 1 << 30}
PASSES = 3


def memcore_counts(mmu, h):
    """The counts minimal_pipeline prints, read off memcore's statistics."""
    s = mmu.stats()
    levels = h.stats()["levels"]
    served = s["walks"]["served"]
    frames = next(iter(mmu.spaces.values())).frame_source
    return {
        "dtlb_accesses": s["tlbs"]["DTLB"]["accesses"],
        "dtlb_misses": s["tlbs"]["DTLB"]["misses"],
        "stlb_misses": s["tlbs"]["STLB"]["misses"],
        "walks": s["walks"]["count"],
        "walk_cache_hits": s["walks"]["walk_cache_hits"],
        "walk_refs": s["walks"]["memory_references"],
        "walk_refs_l1d": served["L1D"],
        "walk_refs_l2": served["L2"],
        "walk_refs_l3": served["L3"],
        "walk_refs_memory": served["memory"],
        "l1d_misses": levels["L1D"]["misses"],
        "l2_misses": levels["L2"]["misses"],
        "l3_misses": levels["L3"]["misses"],
        "frames": frames.next_pfn - 0x100,
    }


def run_memcore(trace):
    """Return ``(best CPU seconds per pass, counts of the first timed pass)``."""
    mmu, h, on_event = warm_pipeline(trace)
    best, counts = float("inf"), None
    for k in range(PASSES):
        mmu.reset_stats()
        h.reset_stats()
        t0 = time.process_time()
        events = mmu.run(trace, on_event)
        best = min(best, time.process_time() - t0)
        if events:
            raise RuntimeError(f"memcore: {events} events in a timed pass (pages should all be mapped)")
        if k == 0:
            counts = memcore_counts(mmu, h)
    return best, counts


def compile_c(workdir):
    """Path of the compiled minimal pipeline, or None without gcc."""
    gcc = shutil.which("gcc")
    if not gcc:
        return None
    exe = os.path.join(workdir, "minimal_pipeline")
    subprocess.run([gcc, "-O2", "-o", exe, os.path.join(HERE, "minimal_pipeline.c")], check=True)
    return exe


def run_c(exe, npy_path):
    """Return ``(best CPU seconds per pass, counts of the first timed pass)``."""
    out = subprocess.run([exe, npy_path], check=True, capture_output=True, text=True).stdout
    fields = dict(item.split("=", 1) for item in out.split())
    best = float(fields.pop("cpu"))
    fields.pop("cpu_passes")
    fields.pop("records")
    return best, {k: int(v) for k, v in fields.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("traces", nargs="*", metavar="TRACE", help=f"any of {', '.join(SPANS)} (default: all)")
    ap.add_argument("--records", type=int, default=2_000_000, help="records per trace (2,000,000)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of (memcore, C) per trace, interleaved; speeds are the best of all (1)")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.records < 1:
        ap.error("--rounds and --records must be at least 1")
    names = args.traces or list(SPANS)
    for name in names:
        if name not in SPANS:
            ap.error(f"TRACE: expected one of {', '.join(SPANS)}, got {name!r}")
    with tempfile.TemporaryDirectory(prefix="yardstick-") as work:
        exe = compile_c(work)
        if exe is None:
            print("gcc not found: the minimal C pipeline cannot be built, nothing to compare against")
            return 1
        print(f"records per second of CPU time, best of {PASSES} passes after a first-touch pass; "
              "ratio = memcore / minimal C")
        print(f"{'trace':14s} {'memcore':>10s} {'minimal C':>10s} {'ratio':>7s}  counts")
        disagree = 0
        for name in names:
            trace = random_trace(n=args.records, span=SPANS[name])
            path = os.path.join(work, f"{name}.npy")
            np.save(path, trace)
            rounds = []
            for _ in range(args.rounds):
                t_mc, c_mc = run_memcore(trace)
                t_c, c_c = run_c(exe, path)
                rounds.append((t_mc, t_c))
            t_mc = max(min(r[0] for r in rounds), 1e-9)     # a tiny trace may take no measurable time
            t_c = max(min(r[1] for r in rounds), 1e-9)
            n = len(trace)
            same = c_mc == c_c
            disagree += not same
            per_round = " ".join(f"{max(c, 1e-9) / max(m, 1e-9):.3f}" for m, c in rounds) if args.rounds > 1 else ""
            print(f"{name:14s} {n / t_mc / 1e6:6.2f} M/s {n / t_c / 1e6:6.2f} M/s {t_c / t_mc:7.3f}  "
                  f"{'agree' if same else 'DIFFER'}" + (f"  (ratio per round: {per_round})" if per_round else ""))
            if not same:
                for key in c_c:
                    mark = "" if c_mc.get(key) == c_c[key] else "   <--"
                    print(f"{'':16s}{key:18s} memcore {c_mc.get(key, '-'):>12} C {c_c[key]:>12}{mark}")
            os.remove(path)
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
