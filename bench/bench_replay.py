"""asv: end-to-end replay of a ``.npy`` trace on disk through a 3-level data hierarchy.

The machine is the one of the issue's speed targets: L1D 32 KiB 8-way,
L2 256 KiB 4-way, L3 8 MiB 16-way, 64-byte lines, LRU, write-back,
write-allocate.  The trace is synthetic but shaped like a program's data
stream (see :func:`synthetic_trace`); ``bench/replay_e2e.py`` runs the same
replay on a larger trace, or on a real one, and prints records/s.
"""
import os
import tempfile

import numpy as np

from memcore.access import ACCESS_DTYPE
from pyapi.config import MachineConfig
from pyapi.replay import replay

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


def synthetic_trace(n, seed=0):
    """Return `n` data accesses with a program-like mix of locality.

    85 % go to a hot 16 KiB region (a stack and hot locals), 13 % walk
    sequentially through a 64 MiB array in 8-byte steps, 2 % fall anywhere
    in a 256 MiB heap.  Kinds: 65 % loads, 25 % stores, 10 % modifies; sizes
    mostly 8 bytes, some 1, 2, 4 and 16 (which may straddle lines).

    Parameters
    ----------
    n : int
        Number of records.
    seed : int
        Generator seed.

    Returns
    -------
    numpy.ndarray
        ``ACCESS_DTYPE`` records.
    """
    rng = np.random.default_rng(seed)
    out = np.zeros(n, dtype=ACCESS_DTYPE)
    region = rng.choice(3, size=n, p=[0.85, 0.13, 0.02])
    hot = 0x7FFF_F000_0000 + rng.integers(0, 16 << 10, size=n, dtype=np.uint64)
    # The stream advances 8 bytes each time it is the one accessed.
    steps = np.cumsum(region == 1, dtype=np.uint64)
    stream = 0x5555_0000_0000 + (steps * np.uint64(8)) % np.uint64(64 << 20)
    heap = 0x1_0000_0000 + rng.integers(0, 256 << 20, size=n, dtype=np.uint64)
    out["addr"] = np.choose(region, [hot, stream, heap]) & ~np.uint64(7)
    out["size"] = rng.choice(np.array([8, 4, 2, 1, 16], dtype=np.uint8), size=n, p=[0.7, 0.12, 0.05, 0.08, 0.05])
    out["kind"] = rng.choice(np.array([1, 2, 3], dtype=np.uint8), size=n, p=[0.65, 0.25, 0.10])
    return out


class ReplayNpyEndToEnd:
    """Read a ``.npy`` file in chunks and replay it: the whole ``memcore replay`` path."""

    params = ([1 << 16, 1_000_000],)
    param_names = ["chunk_records"]
    timeout = 300
    n_records = 4_000_000

    def setup(self, chunk_records):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "trace.npy")
        np.save(self.path, synthetic_trace(self.n_records))

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
