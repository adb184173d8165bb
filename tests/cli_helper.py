"""Run one module's ``memcore`` subcommands in-process, as ``pyapi.cli`` would."""
import argparse


def run_cli(register_cli, argv, capsys):
    """Parse `argv` with the subcommands `register_cli` adds and run it.

    Returns the exit status and pytest's captured ``(out, err)``.
    """
    parser = argparse.ArgumentParser(prog="memcore")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    status = args.func(args)
    return status, capsys.readouterr()
