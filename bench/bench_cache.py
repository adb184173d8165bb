"""asv benchmarks of the cache engine: one level per policy, and hierarchies.

Timings (``time_*``) are beside exact counts (``track_*``): on a shared
machine the counts are the reliable regression signal.  The trace is the
reproducible synthetic one of ``bench/_traces.py`` (program-like locality).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from _traces import synthetic  # noqa: E402

from memcore.access import LOAD, make  # noqa: E402
from memcore.cache import Cache, POLICIES  # noqa: E402
from memcore.hierarchy import Hierarchy  # noqa: E402

N = 1_000_000
GEOMETRIES = {"32KiB-8way": (32768, 8), "32KiB-direct": (32768, 1),
              "256KiB-16way": (262144, 16), "4KiB-full": (4096, 0)}

THREE_LEVELS = [
    dict(name="L1D", size=32 * 1024, line_size=64, ways=8, next="L2"),
    dict(name="L2", size=256 * 1024, line_size=64, ways=4, next="L3"),
    dict(name="L3", size=8 * 1024 * 1024, line_size=64, ways=16),
]


class OneLevel:
    """One 64-byte-line level, write-back write-allocate, per policy and geometry."""

    params = (list(POLICIES), list(GEOMETRIES))
    param_names = ["policy", "geometry"]

    def setup(self, policy, geometry):
        self.trace = synthetic(N, seed=1)
        size, ways = GEOMETRIES[geometry]
        self.make = lambda: Cache(size, 64, ways, policy, seed=1)
        self.done = self.make()
        self.done.run(self.trace)

    def time_run(self, policy, geometry):
        self.make().run(self.trace)

    def track_hits(self, policy, geometry):
        return self.done.stats()["hits"]

    def track_misses(self, policy, geometry):
        return self.done.stats()["misses"]


class ThreeLevels:
    """L1D 32 KiB 8-way, L2 256 KiB 4-way, L3 8 MiB 16-way, LRU, in each compat mode."""

    params = (["default", "pycachesim", "cachegrind", "dinero"],)
    param_names = ["compat"]

    def setup(self, compat):
        self.trace = synthetic(N, seed=2)
        self.make = lambda: Hierarchy(THREE_LEVELS, data_entry="L1D", inst_entry=None,
                                      compat=compat)
        self.done = self.make()
        self.done.run(self.trace)
        self.stats = self.done.finish()["levels"]

    def time_run(self, compat):
        self.make().run(self.trace)

    def track_l1_misses(self, compat):
        return self.stats["L1D"]["misses"]

    def track_l2_misses(self, compat):
        return self.stats["L2"]["misses"]

    def track_l3_misses(self, compat):
        return self.stats["L3"]["misses"]

    def track_l1_hits(self, compat):
        return self.stats["L1D"]["hits"]


class SplitL1:
    """Split L1I/L1D over a unified L2: instruction and data records interleaved."""

    def setup(self):
        self.trace = synthetic(N // 2, seed=3, data_only=False)
        levels = [dict(name="L1I", size=32768, line_size=64, ways=8, next="L2"),
                  dict(name="L1D", size=32768, line_size=64, ways=8, next="L2"),
                  dict(name="L2", size=1 << 20, line_size=64, ways=16)]
        self.make = lambda: Hierarchy(levels)
        self.done = self.make()
        self.done.run(self.trace)

    def time_run(self):
        self.make().run(self.trace)

    def track_l1i_misses(self):
        return self.done.stats()["levels"]["L1I"]["misses"]

    def track_l1d_misses(self):
        return self.done.stats()["levels"]["L1D"]["misses"]


class RandomMisses:
    """Random 8-byte loads over a span through the x86-64 preset's data caches.

    L1D 32 KiB 8-way, L2 1 MiB 16-way, L3 32 MiB 16-way, all LRU: nearly
    every record misses L1D and L2 (and L3 beyond 32 MiB), so this times the
    miss path, its fills and the host memory the sets live in.
    """

    params = (["4MiB", "64MiB", "1GiB"],)
    param_names = ["span"]
    SPANS = {"4MiB": 4 << 20, "64MiB": 64 << 20, "1GiB": 1 << 30}
    LEVELS = [dict(name="L1D", size=32 << 10, line_size=64, ways=8, next="L2"),
              dict(name="L2", size=1 << 20, line_size=64, ways=16, next="L3"),
              dict(name="L3", size=32 << 20, line_size=64, ways=16)]

    def setup(self, span):
        rng = np.random.default_rng(0)
        n = 1_000_000
        self.trace = make(0x10_0000_0000 + rng.integers(0, self.SPANS[span] // 8, n,
                                                         dtype=np.uint64) * 8, size=8, kind=LOAD)
        self.h = Hierarchy(self.LEVELS, data_entry="L1D", inst_entry=None)
        self.h.run(self.trace)  # warm: the timed runs see a full L3
        self.h.reset_stats()
        self.h.run(self.trace)
        self.stats = self.h.stats()["levels"]

    def time_run(self, span):
        self.h.run(self.trace)

    def track_l2_misses(self, span):
        return self.stats["L2"]["misses"]

    def track_l3_misses(self, span):
        return self.stats["L3"]["misses"]
