"""The ``memcore`` command line.

Subcommands are registered by the modules that implement them; each one
adds a parser in :func:`build_parser`.
"""
import argparse
import sys


def build_parser():
    """Return the ``memcore`` argument parser.

    Returns
    -------
    argparse.ArgumentParser
    """
    import pyapi

    parser = argparse.ArgumentParser(
        prog="memcore",
        description="memcore: replay memory traces through a modelled machine.",
    )
    parser.add_argument("--version", action="version", version=f"memcore {pyapi.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("show-versions", help="print memcore's build and dependency versions")
    p.set_defaults(func=_cmd_show_versions)
    return parser


def _cmd_show_versions(args):
    from pyapi import show_versions

    show_versions()
    return 0


def main(argv=None):
    """Run the ``memcore`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Process exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    return args.func(args)
