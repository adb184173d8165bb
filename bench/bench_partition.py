"""asv benchmarks for memcore.partition: the four fits under random churn."""
import numpy as np

from memcore.partition import PartitionAllocator


class Churn:
    params = (["first", "best", "worst", "next"], [100, 2000])
    param_names = ["fit", "live_blocks"]

    def setup(self, fit, live):
        rng = np.random.default_rng(0)
        self.sizes = rng.integers(1, 4096, 4 * live)
        self.order = rng.permutation(live)

    def _run(self, fit, live):
        p = PartitionAllocator(live * 4096, fit)
        offs = p.alloc_batch(self.sizes[:live])
        p.free_batch(offs[self.order[: live // 2]][offs[self.order[: live // 2]] >= 0])
        return p, p.alloc_batch(self.sizes[live: 2 * live])

    def time_churn(self, fit, live):
        self._run(fit, live)

    def track_failed_allocs(self, fit, live):
        return int((self._run(fit, live)[1] < 0).sum())

    def track_holes(self, fit, live):
        return self._run(fit, live)[0].nr_holes
