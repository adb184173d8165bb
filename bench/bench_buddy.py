"""asv benchmarks of memcore.buddy (one zone's buddy allocator).

Timings of batched alloc+free rounds, with exact counts beside them
(``track_*``): the free-block counts after a seeded workload are a reliable
regression signal on a shared machine where timings are noisy.
"""
import numpy as np

from memcore.buddy import BuddyAllocator, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE


def mixed_orders(n, seed=0):
    """Seeded orders 0..10 with P(order k) proportional to 2**-k."""
    rng = np.random.default_rng(seed)
    p = 0.5 ** np.arange(11)
    return rng.choice(11, size=n, p=p / p.sum()).astype(np.int64)


class Order0Pairs:
    """Order-0 alloc_batch then free_batch of the same pages."""

    params = [[1 << 16, 1 << 20], [1 << 20, 1 << 22]]
    param_names = ["batch", "zone_pages"]

    def setup(self, batch, zone_pages):
        if batch > zone_pages:
            raise NotImplementedError
        self.b = BuddyAllocator(zone_pages)
        self.orders = np.zeros(batch, dtype=np.int64)

    def time_alloc_free(self, batch, zone_pages):
        pfns = self.b.alloc_batch(self.orders)
        self.b.free_batch(pfns, 0)

    def track_free_blocks_after(self, batch, zone_pages):
        pfns = self.b.alloc_batch(self.orders)
        self.b.free_batch(pfns[::2], 0)
        return int(self.b.free_counts().sum())


class MixedOrders:
    """Mixed-order alloc_batch, then free_batch in a seeded random order."""

    params = [[1 << 14, 1 << 17], [MIGRATE_MOVABLE, MIGRATE_UNMOVABLE]]
    param_names = ["batch", "migratetype"]

    def setup(self, batch, migratetype):
        self.b = BuddyAllocator(1 << 22)
        self.orders = mixed_orders(batch)
        self.perm = np.random.default_rng(1).permutation(batch)

    def time_alloc_free(self, batch, migratetype):
        pfns = self.b.alloc_batch(self.orders, migratetype)
        ok = pfns[self.perm] >= 0
        self.b.free_batch(pfns[self.perm][ok], self.orders[self.perm][ok])

    def track_failed_allocations(self, batch, migratetype):
        return int((self.b.alloc_batch(self.orders, migratetype) < 0).sum())


class Compaction:
    """Full compaction of a checkerboard zone (every other page free)."""

    params = [[1 << 14, 1 << 18]]
    param_names = ["zone_pages"]
    # compaction changes the zone: one call per sample, a fresh zone each time
    number = 1
    repeat = 5
    warmup_time = 0

    def setup(self, zone_pages):
        self.b = BuddyAllocator(zone_pages)
        pfns = self.b.alloc_batch(np.zeros(zone_pages, dtype=np.int64))
        self.b.free_batch(pfns[1::2], 0)

    def time_compact(self, zone_pages):
        self.b.compact()

    def track_moved(self, zone_pages):
        return int(self.b.compact().shape[0])
