"""Benchmarks of the full translation pipeline (memcore.mmu).

A Skylake-like core: L1 dTLB / iTLB over a unified STLB, PML4E/PDPTE/PDE
walk caches, 4-level page tables, the walker's reads and the physical
accesses going through 32 KiB L1I/L1D, a 1 MiB L2 and a 32 MiB L3.  Pages are
mapped on first touch (sequential frames) during an untimed first pass, so
the timed pass measures translation and caching, not page-table building.

Traces: the lackey trace shipped with memcore (a merge sort: 760 thousand
records over 167 pages, so almost every translation hits the L1 TLBs), a
synthetic hit-dominated trace (a loop over a 64 KiB array plus its code,
10 million records) and random 8-byte loads over 4 MiB (almost every access
misses the L1 dTLB, whose 64 entries reach 256 KiB, and hits the STLB), 64
MiB and 1 GiB (most translations miss both TLB levels and walk).

``python bench/bench_mmu.py`` prints accesses per second for each: the
pipeline on one host thread (per second of CPU time), on two threads
(``MMU(threads=2)``: the caches fed from a second thread; per second of wall
clock, and of the CPU time of both threads), the same trace through the
cache hierarchy alone (virtual addresses used as physical ones) and through
the TLBs and walker alone.
"""
import time

import numpy as np

from memcore import access
from memcore.hierarchy import Hierarchy
from memcore.mmu import MMU
from memcore.pagetable import PageTable, SequentialFrames
from memcore.tlb import TLB

K4, M2, G1 = 4096, 2 << 20, 1 << 30
USER_RW = 0x6

CACHES = [
    dict(name="L1I", size=32 << 10, line_size=64, ways=8, next="L2"),
    dict(name="L1D", size=32 << 10, line_size=64, ways=8, next="L2"),
    dict(name="L2", size=1 << 20, line_size=64, ways=16, next="L3"),
    dict(name="L3", size=32 << 20, line_size=64, ways=16),
]


def hierarchy():
    return Hierarchy(CACHES, data_entry="L1D", inst_entry="L1I")


def skylake_mmu(h, threads=1):
    """The pipeline (run on `threads` host threads) and its first-touch handler."""
    tlbs = [("DTLB", TLB([64, 32, 4], [4, 4, 0], [K4, M2, G1]), "STLB"),
            ("ITLB", TLB(128, 8, [K4]), "STLB"),
            ("STLB", TLB([1536, 16], [12, 4], [[K4, M2], G1]), None)]
    mmu = MMU(tlbs, "DTLB", "ITLB", walk_caches={"PML4E": 2, "PDPTE": 4, "PDE": 32}, hierarchy=h,
              threads=threads)
    frames = SequentialFrames(0x100)

    def on_event(ev):
        if ev.kind == "new_space":
            mmu.attach(ev.asid, PageTable("x86_64-4level", frames))
        else:
            mmu.spaces[ev.asid].map(ev.vaddr & ~(K4 - 1), frames.alloc(0) << 12, K4, USER_RW)

    return mmu, on_event


def lackey_trace():
    from pyapi.trace import example_path, open_trace

    with open_trace(example_path()) as reader:
        return np.concatenate(list(reader))


def loop_trace(n=10_000_000):
    # A loop summing a 64 KiB array: per iteration 4 instruction fetches
    # from one page of code and one 8-byte load walking the array.
    i = np.arange(n, dtype=np.uint64)
    code = 0x40_1000 + (i % 4) * 4
    data = 0x7F00_0000_0000 + ((i // 5) * 8) % (64 << 10)
    is_load = (i % 5) == 4
    return access.make(np.where(is_load, data, code), size=np.where(is_load, 8, 4),
                       kind=np.where(is_load, access.LOAD, access.IFETCH))


def random_trace(n=2_000_000, span=G1, seed=0):
    rng = np.random.default_rng(seed)
    return access.make(0x10_0000_0000 + rng.integers(0, span // 8, n, dtype=np.uint64) * 8, size=8,
                       kind=access.LOAD)


TRACES = {
    "lackey": lackey_trace,
    "loop": loop_trace,
    "random-4MiB": lambda: random_trace(span=4 << 20),
    "random-64MiB": lambda: random_trace(span=64 << 20),
    "random-1GiB": random_trace,
}


def warm_pipeline(trace, caches=True, threads=1):
    """Return ``(mmu, hierarchy, on_event)`` after one untimed pass over `trace`.

    Without `caches` the MMU has no hierarchy: it translates only.
    """
    h = hierarchy() if caches else None
    mmu, on_event = skylake_mmu(h, threads)
    mmu.run(trace, on_event)
    mmu.reset_stats()
    if h is not None:
        h.reset_stats()
    return mmu, h, on_event


class Pipeline:
    # asv times the wall clock: with 2 threads it is the time a user waits.
    params = (list(TRACES), [1, 2])
    param_names = ["trace", "threads"]
    timeout = 300

    def setup(self, name, threads):
        self.trace = TRACES[name]()
        self.mmu, self.h, self.on_event = warm_pipeline(self.trace, threads=threads)

    def time_run(self, name, threads):
        self.mmu.run(self.trace, self.on_event)

    def track_walks(self, name, threads):
        self.mmu.reset_stats()
        self.mmu.run(self.trace, self.on_event)
        return self.mmu.stats()["walks"]["count"]

    def track_dtlb_misses(self, name, threads):
        self.mmu.reset_stats()
        self.mmu.run(self.trace, self.on_event)
        return self.mmu.stats()["tlbs"]["DTLB"]["misses"]

    track_walks.unit = "walks"
    track_dtlb_misses.unit = "misses"


def _best(fn, repeat=3, clock=time.process_time):
    # Best of `repeat` by `clock`: by default the CPU time of this process,
    # since on a shared machine the wall clock also counts the time other
    # jobs hold the core.
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def main():
    """Print the pipeline's speed on each trace, the caches' alone and the translation's alone."""
    print("accesses per second (best of 3 passes after a warm-up pass); per second of CPU time unless said")
    for name, make in TRACES.items():
        trace = make()
        n = len(trace)
        mmu, h, on_event = warm_pipeline(trace)
        t_pipe = _best(lambda: mmu.run(trace, on_event))
        s = mmu.stats()
        two, _, two_event = warm_pipeline(trace, threads=2)
        t_wall = _best(lambda: two.run(trace, two_event), clock=time.perf_counter)
        t_cpu2 = _best(lambda: two.run(trace, two_event))
        bare, _, bare_event = warm_pipeline(trace, caches=False)
        t_tlb = _best(lambda: bare.run(trace, bare_event))
        alone = hierarchy()
        alone.run(trace)
        t_alone = _best(lambda: alone.run(trace))
        print(f"{name:13s} {n:>10,d} records: pipeline {n / t_pipe / 1e6:6.1f} M/s | 2 threads "
              f"{n / t_wall / 1e6:6.1f} M/s of wall clock ({n / t_cpu2 / 1e6:5.1f} of CPU) | caches alone "
              f"{n / t_alone / 1e6:6.1f} M/s | translation alone {n / t_tlb / 1e6:6.1f} M/s | "
              f"dTLB hits {s['tlbs']['DTLB']['hits'] / max(1, s['tlbs']['DTLB']['accesses']):.3f}, "
              f"walks/record {s['walks']['count'] / (3 * n):.3f}")


if __name__ == "__main__":
    main()
