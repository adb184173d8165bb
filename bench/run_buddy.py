"""Measure memcore.buddy against the issue's targets and the Python reference.

Run from the repository root::

    PYTHONPATH=src:. python3 bench/run_buddy.py

Prints order-0 alloc+free pairs per second (target >= 20 million/s batched),
mixed-order pairs per second (target >= 5 million/s) and the same workloads
through the pure-Python reference (tests/reference/buddy.py) for the ratio.
Each figure is the best of a few repeats, measured in this one run, as CPU
time of this process (``time.process_time``) and as wall time
(``time.perf_counter``): on a loaded shared machine the wall time of a long
batch includes the time other processes held the CPU, the CPU time does not.
"""
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_buddy import mixed_orders  # noqa: E402
from memcore.buddy import BuddyAllocator  # noqa: E402
from tests.reference.buddy import RefBuddy  # noqa: E402


def best(fn, repeat=5, clock=time.process_time):
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def kernel_rate(zone_pages, orders, perm=None, repeat=5):
    b = BuddyAllocator(zone_pages)

    def run():
        pfns = b.alloc_batch(orders)
        if perm is None:
            b.free_batch(pfns, orders)
        else:
            p = pfns[perm]
            b.free_batch(p, orders[perm])

    run()  # warm up, and check that every allocation succeeded
    assert (b.alloc_batch(orders) >= 0).all()
    b.free_batch(b.allocated_blocks()[0], b.allocated_blocks()[1])
    return len(orders) / best(run, repeat), len(orders) / best(run, repeat, time.perf_counter)


def reference_rate(zone_pages, orders, perm=None):
    r = RefBuddy(zone_pages)

    def run():
        pfns = [r.alloc(int(o)) for o in orders]
        idx = range(len(orders)) if perm is None else perm
        for i in idx:
            r.free_block(pfns[i], int(orders[i]))

    return len(orders) / best(run, 1)


def main():
    zone = 1 << 22                                   # 16 GiB of 4 KiB pages
    n0 = 1 << 20
    order0 = np.zeros(n0, dtype=np.int64)
    r0, w0 = kernel_rate(zone, order0)
    mixed = mixed_orders(1 << 17)
    perm = np.random.default_rng(1).permutation(mixed.shape[0])
    rm, wm = kernel_rate(zone, mixed, perm)
    # the reference is slow: smaller batches, same shapes
    ref0 = reference_rate(1 << 16, np.zeros(1 << 13, dtype=np.int64))
    mixed_s = mixed_orders(1 << 11)
    refm = reference_rate(1 << 16, mixed_s, np.random.default_rng(1).permutation(mixed_s.shape[0]))
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"order-0 alloc+free pairs, batched : {r0 / 1e6:8.2f} M/s CPU, {w0 / 1e6:8.2f} M/s wall "
          f"(target 20)  reference {ref0 / 1e6:.4f} M/s  ratio {r0 / ref0:,.0f}x")
    print(f"mixed-order pairs (orders 0..10)  : {rm / 1e6:8.2f} M/s CPU, {wm / 1e6:8.2f} M/s wall "
          f"(target 5)   reference {refm / 1e6:.4f} M/s  ratio {rm / refm:,.0f}x")


if __name__ == "__main__":
    main()
