"""asv benchmarks for memcore.replace (offline simulation and online Replacer)."""
import numpy as np

from memcore.replace import Replacer, simulate


def working_set_refs(n, seed=0, pages=65536, ws=512, phase=100_000):
    """Reference string with locality: phases of `phase` references, each
    drawn Zipf-like from a window of `ws` pages placed at random."""
    rng = np.random.default_rng(seed)
    nphase = -(-n // phase)
    base = rng.integers(0, pages - ws, nphase).repeat(phase)[:n]
    return (base + rng.zipf(1.5, n) % ws).astype(np.int64)


class Simulate:
    params = (["opt", "fifo", "lru", "nru", "second_chance", "clock", "lru2q"], [64, 1024])
    param_names = ["policy", "frames"]

    def setup(self, policy, frames):
        self.refs = working_set_refs(1_000_000)

    def time_simulate(self, policy, frames):
        simulate(self.refs, frames, policy)

    def track_faults(self, policy, frames):
        return simulate(self.refs, frames, policy).faults


class Online:
    params = (["fifo", "lru", "clock", "lru2q"],)
    param_names = ["policy"]

    def setup(self, policy):
        self.refs = working_set_refs(20_000).tolist()

    def _drive(self, policy):
        r = Replacer(256, policy)
        faults = 0
        for p in self.refs:
            if p in r:
                r.touch(p)
            else:
                faults += 1
                if len(r) == 256:
                    r.remove(r.victim())
                r.insert(p)
        return faults

    def time_online(self, policy):
        self._drive(policy)

    def track_faults(self, policy):
        return self._drive(policy)
