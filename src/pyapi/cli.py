"""The ``memcore`` command line.

Each subcommand lives in the module that implements it: a module listed in
``COMMAND_MODULES`` provides ``register_cli(subparsers)``, which adds its
parser(s) and sets ``func`` to a callable taking the parsed arguments and
returning the exit status.
"""
import argparse
import importlib
import sys

#: Modules that contribute subcommands, in the order they are listed in --help.
COMMAND_MODULES = ("pyapi.replay", "pyapi.trace", "pyapi.config", "pyapi.physmem", "pyapi.replacement", "pyapi.iopaths")


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
    for name in COMMAND_MODULES:
        importlib.import_module(name).register_cli(sub)
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
