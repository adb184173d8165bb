"""Print the readylist speed figures (and optionally draw the docs plot).

    PYTHONPATH=src python3 bench/readylist_figures.py [--plot docs/_static/readylist_wait_cost.png]

Times are the best of several repeats of ``time.perf_counter`` around a loop
of calls, on whatever machine runs it; ratios are within one run.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_readylist import make_epoll, make_poll, make_select  # noqa: E402

from memcore.readylist import EPOLLIN, FD_SETSIZE, EventPoll  # noqa: E402


def best_time(fn, min_total=0.05, repeats=5):
    """Best seconds per call of fn over `repeats` loops of ~`min_total` s."""
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t
        if dt >= min_total:
            break
        n *= 4
    best = dt / n
    for _ in range(repeats - 1):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def wait_costs(sizes=(16, 100, 1000, 10_000, 100_000, 1_000_000), select_sizes=(16, 100, 300, 1023)):
    out = {"epoll": {}, "poll": {}, "select": {}}
    of, oe = np.empty(64, np.int32), np.empty(64, np.uint32)
    for n in sizes:
        ep = make_epoll(n)
        assert ep.wait_into(of, oe) == 10
        out["epoll"][n] = best_time(lambda: ep.wait_into(of, oe))
        ps = make_poll(n)
        assert ps.poll_into() == 10
        out["poll"][n] = best_time(ps.poll_into)
    for n in select_sizes:
        ss = make_select(n)
        assert ss.select_into() == 10
        out["select"][n] = best_time(ss.select_into)
    return out


def throughput(n=1_000_000):
    ep = EventPoll()
    ep.ctl_add_batch(np.arange(n), EPOLLIN)
    ep.ready_batch(np.arange(n), EPOLLIN)
    of, oe = np.empty(n, np.int32), np.empty(n, np.uint32)
    assert ep.wait_into(of, oe) == n
    t = best_time(lambda: ep.wait_into(of, oe), min_total=0.2)
    return n / t


def plot(costs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=100)
    for mech, style in (("epoll", "o-"), ("poll", "s-"), ("select", "^-")):
        xs = sorted(costs[mech])
        ax.loglog(xs, [costs[mech][x] * 1e6 for x in xs], style, label=mech)
    ax.axvline(FD_SETSIZE, color="grey", lw=0.8, ls=":")
    ax.text(FD_SETSIZE * 1.1, ax.get_ylim()[0] * 1.5, "FD_SETSIZE", fontsize=8, color="grey")
    ax.set_xlabel("descriptors watched (10 ready)")
    ax.set_ylabel("µs per wait")
    ax.set_title("Cost of one wait: memcore.readylist")
    ax.legend()
    ax.grid(True, which="both", lw=0.3)
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", help="write the wait-cost plot to this PNG file")
    args = ap.parse_args(argv)
    costs = wait_costs()
    print("one wait, 10 ready descriptors (microseconds)")
    print(f"{'watched':>10} {'epoll':>10} {'poll':>10} {'select':>10}")
    for n in sorted(set(costs["epoll"]) | set(costs["select"])):
        cells = [f"{costs[m][n] * 1e6:10.3f}" if n in costs[m] else f"{'-':>10}"
                 for m in ("epoll", "poll", "select")]
        print(f"{n:>10} " + " ".join(cells))
    e, p = costs["epoll"], costs["poll"]
    print(f"epoll 1e6/1e2 watched: {e[1_000_000] / e[100]:.2f}x; "
          f"poll 1e6/1e2: {p[1_000_000] / p[100]:.0f}x; "
          f"poll/epoll at 1e6: {p[1_000_000] / e[1_000_000]:.0f}x; "
          f"select 1023/100: {costs['select'][1023] / costs['select'][100]:.1f}x; "
          f"poll/epoll at 1e4: {p[10_000] / e[10_000]:.0f}x")
    rate = throughput()
    print(f"batched wait: {rate / 1e6:.1f} million ready events per second "
          f"(target >= 20; {rate / 20e6:.1f}x)")
    if args.plot:
        plot(costs, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
