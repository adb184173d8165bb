"""Measure memcore.slab / memcore.replace / memcore.partition against the
issue's speed targets and print the figures quoted in the docs.

    PYTHONPATH=src python3 bench/physmem_targets.py [--quick]

Each figure is the best of several runs, given both in wall-clock time and in
process CPU time (the machine is shared: CPU time is the steadier figure).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from bench_replace import working_set_refs  # noqa: E402
from bench_slab import BumpPages  # noqa: E402

from memcore.partition import PartitionAllocator  # noqa: E402
from memcore.replace import simulate  # noqa: E402
from memcore.slab import SlabCache  # noqa: E402


def best(fn, repeat):
    wall = cpu = float("inf")
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def report(label, n, wall, cpu, target=None, unit="M/s"):
    w, c = n / wall / 1e6, n / cpu / 1e6
    tail = f"   target {target} -> {c / target:.2f}x (cpu)" if target else ""
    print(f"{label:<48} {w:7.1f} wall {c:7.1f} cpu {unit}{tail}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeat = 2 if args.quick else 5
    n = 2_000_000 if args.quick else 10_000_000

    print(f"replace: working-set reference string, {n} references")
    refs = working_set_refs(n)
    for frames in (256, 1024):
        for pol in ("lru", "clock", "fifo", "second_chance", "lru2q", "nru", "opt"):
            res = simulate(refs, frames, pol)
            wall, cpu = best(lambda: simulate(refs, frames, pol), repeat)
            target = 50 if pol in ("lru", "clock") else None
            report(f"  {pol:<13} frames={frames:<5} hit={1 - res.faults / n:.3f}", n, wall, cpu,
                   target, "M refs/s")

    print("slab: batched alloc+free pairs")
    for size in (64, 192, 1024):
        for batch, rounds in ((1000, 1000), (100_000, 10), (1_000_000, 1)):
            c = SlabCache("bench", size, page_source=BumpPages())
            c.free_batch(c.alloc_batch(batch))

            def pairs():
                for _ in range(rounds):
                    c.free_batch(c.alloc_batch(batch))
            wall, cpu = best(pairs, repeat)
            report(f"  size={size:<5} batch={batch:<8}", batch * rounds, wall, cpu, 30,
                   "M pairs/s")
        try:
            from memcore.buddy import BuddyAllocator
        except ImportError:
            BuddyAllocator = None
        if BuddyAllocator is not None:
            c = SlabCache("bench", size, page_source=BuddyAllocator(1 << 20))
            c.free_batch(c.alloc_batch(1000))

            def buddy_pairs():
                for _ in range(1000):
                    c.free_batch(c.alloc_batch(1000))
            wall, cpu = best(buddy_pairs, repeat)
            report(f"  size={size:<5} batch=1000 over BuddyAllocator", 1_000_000, wall, cpu, 30,
                   "M pairs/s")
        c = SlabCache("churn", size, page_source=BumpPages())
        live = c.alloc_batch(1_000_000)
        rng = np.random.default_rng(0)
        picks = [rng.choice(live.shape[0], 100_000, replace=False) for _ in range(repeat)]
        it = iter(picks)

        def churn():
            idx = next(it)
            c.free_batch(live[idx])
            live[idx] = c.alloc_batch(idx.shape[0])
        wall, cpu = best(churn, repeat)
        report(f"  size={size:<5} churn 100k of 1M live", 100_000, wall, cpu, 30, "M pairs/s")

    print("partition: alloc+free pairs under churn (a quarter of the blocks per batch)")
    for fit in ("first", "best", "worst", "next"):
        for live in (100, 1000, 10000):
            rng = np.random.default_rng(0)
            sizes = rng.integers(1, 4096, live)
            p = PartitionAllocator(live * 8192, fit)
            offs = p.alloc_batch(sizes)
            rounds = [(rng.choice(live, live // 4, replace=False),
                       rng.integers(1, 4096, live // 4)) for _ in range(repeat)]
            it = iter(rounds)

            def churn():
                idx, new = next(it)
                old = offs[idx]
                p.free_batch(old[old >= 0])
                offs[idx] = p.alloc_batch(new)
            wall, cpu = best(churn, repeat)
            report(f"  {fit:<6} live={live:<6} holes={p.nr_holes:<5}", live // 4, wall, cpu,
                   None, "M pairs/s")


if __name__ == "__main__":
    main()
