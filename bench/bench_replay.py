"""asv: end-to-end replay of a ``.npy`` trace on disk through a 3-level data hierarchy.

The machine is the one of the issue's speed targets: L1D 32 KiB 8-way,
L2 256 KiB 4-way, L3 8 MiB 16-way, 64-byte lines, LRU, write-back,
write-allocate.  The trace is the cache benchmarks' synthetic one, shaped
like a program's data stream (``bench/_traces.py``); ``bench/replay_e2e.py``
runs the same replay on a larger trace, or on a real one, and prints
records/s.
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from _traces import synthetic  # noqa: E402

from pyapi.config import MachineConfig  # noqa: E402
from pyapi.replay import replay  # noqa: E402

#: The issue's 3-level data hierarchy (no instruction cache).
DATA_3LEVEL = MachineConfig.from_toml_string(
    """
name = "data-3level"
[cache.L1D]
size = "32KiB"
ways = 8
next = "L2"
[cache.L2]
size = "256KiB"
ways = 4
next = "L3"
[cache.L3]
size = "8MiB"
ways = 16
"""
)


class ReplayNpyEndToEnd:
    """Read a ``.npy`` file in chunks and replay it: the whole ``memcore replay`` path."""

    params = ([1 << 16, 1_000_000],)
    param_names = ["chunk_records"]
    timeout = 300
    n_records = 4_000_000

    def setup(self, chunk_records):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "trace.npy")
        np.save(self.path, synthetic(self.n_records))

    def teardown(self, chunk_records):
        self.tmp.cleanup()

    def _replay(self, chunk_records):
        return replay(self.path, DATA_3LEVEL, chunk_records=chunk_records, progress=False)

    def time_replay_npy(self, chunk_records):
        self._replay(chunk_records)

    def peakmem_replay_npy(self, chunk_records):
        self._replay(chunk_records)

    def track_l1d_misses(self, chunk_records):
        return self._replay(chunk_records).levels["L1D"]["misses"]

    def track_l3_misses(self, chunk_records):
        return self._replay(chunk_records).levels["L3"]["misses"]

    def track_memory_writes(self, chunk_records):
        return self._replay(chunk_records).memory["writes"]
