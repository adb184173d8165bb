"""asv benchmarks of the cache engine: one level per policy, and hierarchies.

Timings (``time_*``) are beside exact counts (``track_*``): on a shared
machine the counts are the reliable regression signal.  The trace is the
reproducible synthetic one of ``bench/_traces.py`` (program-like locality).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _traces import synthetic  # noqa: E402

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
