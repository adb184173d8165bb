"""asv benchmarks of memcore.tlb: lookups per second and exact hit counts.

Each case fills a TLB level with the pages of an address stream and then
looks the whole stream up with :meth:`memcore.tlb.TLB.lookup_batch` (one
nogil loop; lookups do not fill, so the contents stay those of the fill).  The
working set sits on the interesting boundaries: random addresses over as many
pages as the level's 4 KiB array has entries (every lookup hits) and over four
times as many (about one in four hits, and each miss searches every array of
the level); and 8-byte steps through the fitting pages (each page is looked
up 512 times in a row, which the level's remembered last hit answers).
"""
import numpy as np

from memcore.tlb import TLB

N = 1_000_000
PAGE = 4096

SHAPES = {
    # Skylake's L1 dTLB and STLB (see docs/guide/translation.rst).
    "l1-dtlb": ([64, 32, 4], [4, 4, 0], [4096, 2 << 20, 1 << 30]),
    "stlb": ([1536, 16], [12, 4], [[4096, 2 << 20], 1 << 30]),
}


def filled_tlb(level, policy, working_set, n=N):
    """Return ``(tlb, stream)``: a level filled with the stream's first pages."""
    entries, ways, sizes = SHAPES[level]
    pages = entries[0] * (4 if working_set == "4x" else 1)
    if working_set == "sequential":
        stream = (np.arange(n, dtype=np.uint64) * np.uint64(8)) % np.uint64(pages * PAGE)
    else:
        rng = np.random.default_rng(0)
        stream = rng.integers(0, pages, n, dtype=np.uint64) * PAGE + rng.integers(0, PAGE, n, dtype=np.uint64)
    tlb = TLB(entries, ways, sizes, policy=policy, seed=1)
    for vpn in range(pages):
        tlb.insert(vpn * PAGE, pfn=vpn + 0x100)
    return tlb, stream


class TLBLookup:
    params = (list(SHAPES), ["lru", "fifo", "random", "plru"], ["fits", "4x", "sequential"])
    param_names = ["level", "policy", "working_set"]

    def setup(self, level, policy, working_set):
        if level == "stlb" and policy == "plru":
            raise NotImplementedError("tree-PLRU needs a power-of-two number of ways, the STLB has 12")
        self.tlb, self.stream = filled_tlb(level, policy, working_set)

    def time_lookup_batch(self, level, policy, working_set):
        self.tlb.lookup_batch(self.stream)

    def track_hits(self, level, policy, working_set):
        self.tlb.reset_stats()
        self.tlb.lookup_batch(self.stream)
        return self.tlb.stats()["hits"]

    def track_misses(self, level, policy, working_set):
        self.tlb.reset_stats()
        self.tlb.lookup_batch(self.stream)
        return self.tlb.stats()["misses"]

    track_hits.unit = "lookups"
    track_misses.unit = "lookups"


def main():
    """Print lookups per second for each case (``python bench/bench_tlb.py``)."""
    print("lookups per second of CPU time (best of 3)")
    for level in SHAPES:
        for policy in TLBLookup.params[1]:
            if level == "stlb" and policy == "plru":
                continue
            for ws in TLBLookup.params[2]:
                tlb, stream = filled_tlb(level, policy, ws)
                best = min(_timed(tlb, stream) for _ in range(3))
                s = tlb.stats()
                print(f"{level:8s} {policy:7s} {ws:10s} {N / best / 1e6:7.1f} M lookups/s"
                      f"  hit ratio {s['hits'] / s['accesses']:.3f}")


def _timed(tlb, stream):
    # CPU time of this process: on a shared machine the wall clock also counts
    # the time other jobs hold the core.
    import time

    t0 = time.process_time()
    tlb.lookup_batch(stream)
    return time.process_time() - t0


if __name__ == "__main__":
    main()
