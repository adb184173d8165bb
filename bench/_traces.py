"""Trace loading shared by the cache benchmarks (not an asv suite)."""
import os

import numpy as np

from memcore.access import ACCESS_DTYPE

KINDS = {"I": 0, "L": 1, "S": 2, "M": 3}


def read_lackey(path, limit=None):
    """Read a lackey ``--trace-mem=yes`` text file into an ACCESS_DTYPE array.

    Uses :mod:`pyapi.trace` when it is available, else a pandas-based parser.
    """
    try:
        from pyapi import trace as ptrace
        arr = ptrace.read(path, format="lackey")
        return arr[:limit] if limit else arr
    except (ImportError, AttributeError, TypeError):
        pass
    import pandas as pd
    df = pd.read_csv(path, sep=",", header=None, names=["head", "size"], nrows=limit,
                     comment="=", dtype={"head": str, "size": np.int64}, engine="c")
    head = df["head"].str.strip()
    kind = head.str[0].map(KINDS).to_numpy(np.uint8)
    addr = np.fromiter((int(x[1:].strip(), 16) for x in head), dtype=np.uint64, count=len(head))
    out = np.zeros(len(df), dtype=ACCESS_DTYPE)
    out["addr"] = addr
    out["size"] = np.minimum(df["size"].to_numpy(), 255)
    out["kind"] = kind
    return out


def load(path, limit=None):
    """Load a trace: ``.npy`` directly, anything else as lackey text.

    A lackey file is converted once and cached next to it as ``PATH.npy``.
    """
    if path.endswith(".npy"):
        return np.load(path, mmap_mode=None)[:limit]
    cached = path + ".npy"
    if os.path.exists(cached) and os.path.getmtime(cached) >= os.path.getmtime(path):
        return np.load(cached)[:limit]
    arr = read_lackey(path)
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
