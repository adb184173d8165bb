"""asv benchmarks for memcore.slab: batched alloc+free pairs, churn, kmalloc."""
import numpy as np

from memcore.slab import Kmalloc, SlabCache


class BumpPages:
    """Page source for benchmarks: reuses freed blocks, else takes fresh ones."""

    def __init__(self):
        self.next = 0
        self.freed = {}

    def alloc(self, order):
        lst = self.freed.get(order)
        if lst:
            return lst.pop()
        pfn = (self.next + (1 << order) - 1) & ~((1 << order) - 1)
        self.next = pfn + (1 << order)
        return pfn

    def free(self, pfn, order):
        self.freed.setdefault(order, []).append(pfn)


class Pairs:
    """alloc_batch(n) then free_batch of the same objects."""

    params = ([64, 192, 1024], [1000, 100_000])
    param_names = ["object_size", "batch"]

    def setup(self, size, batch):
        self.pages = BumpPages()
        self.cache = SlabCache("bench", size, page_source=self.pages)
        self.cache.free_batch(self.cache.alloc_batch(batch))

    def time_pairs(self, size, batch):
        c = self.cache
        for _ in range(max(1, 100_000 // batch)):
            c.free_batch(c.alloc_batch(batch))

    def track_slabs_after(self, size, batch):
        c = self.cache
        c.free_batch(c.alloc_batch(batch))
        return c.nr_slabs


class Churn:
    """Free a random tenth of a live population and allocate it again."""

    params = ([64, 512],)
    param_names = ["object_size"]

    def setup(self, size):
        self.cache = SlabCache("churn", size, page_source=BumpPages())
        self.live = self.cache.alloc_batch(200_000)
        rng = np.random.default_rng(0)
        self.picks = [rng.choice(200_000, 20_000, replace=False) for _ in range(5)]

    def time_churn(self, size):
        for idx in self.picks:
            self.cache.free_batch(self.live[idx])
            self.live[idx] = self.cache.alloc_batch(idx.shape[0])

    def track_partial_slabs(self, size):
        self.time_churn(size)
        return self.cache.nr_partial


class KmallocMix:
    def setup(self):
        rng = np.random.default_rng(1)
        self.sizes = rng.integers(1, 9000, 5000).tolist()

    def time_kmalloc_kfree(self):
        km = Kmalloc(BumpPages())
        addrs = [km.kmalloc(s) for s in self.sizes]
        for a in addrs:
            km.kfree(a)

    def track_kmalloc_96_slabs(self):
        km = Kmalloc(BumpPages())
        for s in self.sizes:
            km.kmalloc(s)
        return km.caches[96].nr_slabs
