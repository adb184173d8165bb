"""The ``memcore replace`` command: page-replacement answers for a reference
string, the way operating-systems courses pose them.

Example::

    $ memcore replace 7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1 --frames 3 --policy opt fifo lru
    policy         frames  faults  hits
    opt                 3       9    11
    fifo                3      15     5
    lru                 3      12     8

(``--frames`` and ``--policy`` take several values: put the reference
string first, or after ``--``.)
"""
import sys

import numpy as np

from memcore.replace import POLICIES, simulate


def replacement_table(refs, frames, policies=POLICIES, **kw):
    """Fault counts of every policy for every frame count.

    Parameters
    ----------
    refs : array_like of int
        The reference string.
    frames : iterable of int
        Frame counts.
    policies : iterable of str, optional
        Policies (default all of :data:`memcore.replace.POLICIES`).
    **kw
        Passed to :func:`memcore.replace.simulate` (``writes``,
        ``clear_interval``, ``ref_on_load``).

    Returns
    -------
    list of dict
        One row per (policy, frames): ``policy``, ``frames``, ``faults``,
        ``hits`` and ``mask`` (a string, ``H`` for a hit, ``.`` for a fault).
    """
    rows = []
    for policy in policies:
        for f in frames:
            res = simulate(refs, f, policy, **kw)
            rows.append({"policy": res.policy, "frames": f, "faults": res.faults,
                         "hits": res.n_hits,
                         "mask": "".join("H" if h else "." for h in res.hits.tolist())})
    return rows


def register_cli(subparsers):
    """Add the ``memcore replace`` subcommand.

    ``memcore replace [--frames N ...] [--policy P ...] [--file F] [--mask]
    [REF ...]`` prints the faults of each policy on a reference string given
    on the command line or in a file (whitespace- or comma-separated page
    numbers).

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``ArgumentParser.add_subparsers``.
    """
    p = subparsers.add_parser("replace", help="page faults of OPT, FIFO, LRU, NRU, second "
                                              "chance, clock and two-list LRU on a reference string")
    p.add_argument("refs", nargs="*", type=int, metavar="REF", help="page numbers referenced")
    p.add_argument("--file", help="read the reference string from this file")
    p.add_argument("--frames", type=int, nargs="+", default=[3], metavar="N")
    p.add_argument("--policy", nargs="+", default=list(POLICIES), metavar="P",
                   help=f"policies (default: all of {', '.join(POLICIES)})")
    p.add_argument("--clear-interval", type=int, default=None,
                   help="nru: clear R bits after this many references (default: frames)")
    p.add_argument("--load-unreferenced", action="store_true",
                   help="load pages with R = 0 (default R = 1)")
    p.add_argument("--mask", action="store_true", help="show hits (H) and faults (.)")
    p.set_defaults(func=_cmd_replace)


def _cmd_replace(args):
    refs = list(args.refs)
    try:
        if args.file:
            with open(args.file) as f:
                refs += [int(tok) for tok in f.read().replace(",", " ").split()]
        if not refs:
            raise ValueError("refs: give page numbers or --file")
        rows = replacement_table(np.array(refs, dtype=np.int64), args.frames, args.policy,
                                 clear_interval=args.clear_interval,
                                 ref_on_load=not args.load_unreferenced)
    except (OSError, ValueError) as e:
        print(f"memcore replace: {e}", file=sys.stderr)
        return 2
    print(f"{'policy':<14} {'frames':>6} {'faults':>7} {'hits':>5}" + ("  mask" if args.mask else ""))
    for r in rows:
        line = f"{r['policy']:<14} {r['frames']:>6} {r['faults']:>7} {r['hits']:>5}"
        print(line + (f"  {r['mask']}" if args.mask else ""))
    return 0
