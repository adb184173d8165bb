"""Trace loading shared by the cache benchmarks (not an asv suite)."""
import os

import numpy as np

from memcore.access import ACCESS_DTYPE
from pyapi.trace import read_trace


def load(path, limit=None):
    """Load a trace: ``.npy`` directly, anything else with :mod:`pyapi.trace`.

    A text trace is converted once and cached next to it as ``PATH.npy``.
    """
    if path.endswith(".npy"):
        return np.load(path)[:limit]
    cached = path + ".npy"
    if os.path.exists(cached) and os.path.getmtime(cached) >= os.path.getmtime(path):
        return np.load(cached)[:limit]
    arr = read_trace(path)
    np.save(cached, arr)
    return arr[:limit]


def synthetic(n=2_000_000, seed=0, data_only=True):
    """A reproducible trace with program-like locality.

    Mostly a stack/heap working set of a few hundred lines with sequential
    runs, some streaming over a large array and rare random far accesses.
    """
    rng = np.random.default_rng(seed)
    out = np.zeros(n, dtype=ACCESS_DTYPE)
    region = rng.choice(3, size=n, p=[0.85, 0.12, 0.03])
    hot = 0x7FF000000 + (rng.integers(0, 512, n) * 8)
    stream = 0x10000000 + (np.cumsum(region == 1) * 8)
    far = rng.integers(0, 1 << 30, n) * 8
    out["addr"] = np.where(region == 0, hot, np.where(region == 1, stream, far))
    out["size"] = rng.choice([1, 2, 4, 8], size=n, p=[0.1, 0.1, 0.4, 0.4])
    out["kind"] = rng.choice([1, 2, 3], size=n, p=[0.65, 0.3, 0.05])
    if not data_only:
        ins = np.zeros(n, dtype=ACCESS_DTYPE)
        ins["addr"] = 0x400000 + (np.cumsum(rng.integers(1, 8, n)) % 65536)
        ins["size"] = rng.integers(1, 8, n)
        ins["kind"] = 0
        out = np.stack([ins, out], axis=1).reshape(-1)
    return out
