"""Replay memory traces through a configured machine.

:func:`replay` streams a trace (a file in any format :mod:`pyapi.trace`
reads, a numpy array of :data:`memcore.access.ACCESS_DTYPE`, or any iterable
of such arrays) chunk by chunk through a :class:`memcore.hierarchy.Hierarchy`
built from a machine configuration (:mod:`pyapi.config`), and returns a
:class:`pyapi.report.Report`.  Only one chunk is held at a time, so a trace
larger than memory replays in memory bounded by the chunk size and the
machine's state.

The ``memcore replay`` command is the same function on the command line.
"""
import os
import sys

import numpy as np

from memcore.cache import as_trace
from memcore.hierarchy import COMPAT_MODES, Hierarchy
from pyapi.config import DEFAULT_PRESET, load_config, _oneline
from pyapi.report import Report
from pyapi.trace import TraceFormatError, example_path, open_trace

__all__ = ["replay", "build_hierarchy", "COMPAT_MODES", "DEFAULT_CHUNK_RECORDS"]

#: Records per chunk when reading a trace (16 MiB of records).
DEFAULT_CHUNK_RECORDS = 1_000_000


def build_hierarchy(config=None, compat="default"):
    """Build the cache engine for a machine.

    Parameters
    ----------
    config : str, os.PathLike, dict or MachineConfig, optional
        Anything :func:`pyapi.config.load_config` accepts (default: the
        ``x86-64`` preset).
    compat : str
        Counting rules, one of :data:`COMPAT_MODES`.

    Returns
    -------
    memcore.hierarchy.Hierarchy
        Empty, with data entering at ``L1D`` (or ``L1``) and instruction
        fetches at ``L1I`` (or ``L1``, or skipped when there is neither).

    Raises
    ------
    ValueError
        On a bad configuration or compat mode.
    """
    machine = load_config(config)
    if compat not in COMPAT_MODES:
        raise ValueError(f"compat: must be one of {', '.join(COMPAT_MODES)}; got {compat!r}")
    levels = [level.engine_dict() for level in machine.caches]
    try:
        return Hierarchy(levels, data_entry=machine.data_entry, inst_entry=machine.inst_entry, compat=compat)
    except ValueError as exc:
        raise ValueError(f"machine {machine.name or '(unnamed)'}: {exc}") from None


def _checked_array(chunk, where):
    """Check that `chunk` is a 1-D array of access records; the engine converts other dtypes."""
    if not isinstance(chunk, np.ndarray):
        raise TypeError(f"{where}: expected a numpy array of access records, got {type(chunk).__name__}")
    if chunk.ndim != 1:
        raise ValueError(f"{where}: must be one-dimensional, got shape {chunk.shape}")
    try:
        as_trace(chunk[:0])  # field check only; each chunk is converted as it runs
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return chunk


class _Source:
    """One trace, whatever its form, read chunk by chunk."""

    def __init__(self, trace, format, chunk_records, skip_bad):
        self.reader = None
        self.info = {"path": None, "format": None, "records": 0, "bad_records": 0}
        self.total = None  # progress-bar total (bytes for files, records for arrays)
        self.unit = "rec"
        if isinstance(trace, (str, os.PathLike)):
            self.reader = open_trace(trace, format=format, chunk_records=chunk_records, skip_bad=skip_bad)
            self.info.update(path=os.fspath(trace), format=self.reader.format)
            if self.reader.total_bytes:
                self.total, self.unit = self.reader.total_bytes, "B"
            self._chunks = iter(self.reader)
        elif isinstance(trace, np.ndarray):
            if format is not None:
                raise ValueError(f"format: only meaningful for trace files, got {format!r} with an array")
            array = _checked_array(trace, "trace")
            self.info["format"] = "array"
            self.total = len(array)
            self._chunks = (array[i : i + chunk_records] for i in range(0, len(array), chunk_records))
        else:
            try:
                chunks = iter(trace)
            except TypeError:
                raise TypeError(
                    "trace: expected a file path, an ACCESS_DTYPE array or an iterable of arrays, "
                    f"got {type(trace).__name__}"
                ) from None
            if format is not None:
                raise ValueError(f"format: only meaningful for trace files, got {format!r} with chunks")
            self.info["format"] = "chunks"
            self._chunks = (_checked_array(c, f"trace chunk {i}") for i, c in enumerate(chunks))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.reader is not None:
            self.reader.close()
        return False

    def __iter__(self):
        return self._chunks

    def advance(self, bar, records):
        """Move the progress bar past the chunk just replayed."""
        if self.unit == "B":
            bar.update(self.reader.bytes_read - bar.n)
        else:
            bar.update(records)

    def finish(self, records):
        self.info["records"] = records
        if self.reader is not None:
            self.info["bad_records"] = int(self.reader.bad_records)
        return self.info


def _progress_bar(source, progress):
    from tqdm.auto import tqdm

    # progress=None: tqdm's disable=None shows the bar only on a terminal.
    disable = None if progress is None else not progress
    return tqdm(
        total=source.total,
        unit=source.unit,
        unit_scale=True,
        unit_divisor=1024 if source.unit == "B" else 1000,
        desc="replay",
        disable=disable,
        dynamic_ncols=True,
    )


def _check_count(name, value, minimum):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def replay(
    trace,
    config=None,
    *,
    compat="default",
    format=None,
    chunk_records=DEFAULT_CHUNK_RECORDS,
    skip_bad=False,
    progress=None,
    limit=None,
    threads=None,
):
    """Replay a trace through a machine and return its statistics.

    Parameters
    ----------
    trace : str, os.PathLike, numpy.ndarray or iterable of numpy.ndarray
        A trace file (lackey, Dinero ``din``, ``.npy``, CSV; plain or
        compressed), an array of :data:`memcore.access.ACCESS_DTYPE` records
        (or any structured array with ``addr``, ``size``, ``kind`` fields),
        or an iterable of such arrays, replayed in order.
    config : str, os.PathLike, dict or MachineConfig, optional
        The machine: a preset name, a ``.toml`` machine file, a dict or a
        :class:`pyapi.config.MachineConfig` (default: the ``x86-64``
        preset).
    compat : str, optional
        Counting rules, one of :data:`COMPAT_MODES` (``default``,
        ``pycachesim``, ``cachegrind``, ``dinero``).
    format : str, optional
        Trace file format; detected from the file when None.
    chunk_records : int, optional
        Records read and replayed per chunk (default 1,000,000: 16 MB).
        Memory use is bounded by this, not by the trace length.
    skip_bad : bool, optional
        Count and skip malformed records instead of raising.
    progress : bool or None, optional
        Show a tqdm progress bar, advanced once per chunk: None (default)
        shows it only when stderr is a terminal.
    limit : int, optional
        Replay at most this many records.
    threads : int, optional
        Host threads for a virtual trace (a machine with TLBs): 1, or 2 to
        send the physical accesses to the caches from a second thread while
        the first translates (:class:`memcore.mmu.MMU`).  None (default):
        the environment variable ``MEMCORE_THREADS`` if set, else 2 where
        this process may use two or more CPUs.  Use 1 when other processes
        already fill the cores.  The report is the same either way; a
        physical trace always replays on one thread.

    Returns
    -------
    Report
        Per-level counts, the machine, the compat mode and a note of the
        trace (path, format, records replayed, bad records skipped).  When
        the machine has TLB levels the trace's addresses are virtual: each
        page is mapped on first touch (:mod:`pyapi.translation`) and the
        report adds the TLB, page-walk and page-fault counts.

    Raises
    ------
    FileNotFoundError
        If the trace file does not exist.
    pyapi.trace.TraceFormatError
        On a malformed record (unless `skip_bad`).
    ValueError
        On a bad configuration, compat mode or argument.
    TypeError
        If `trace` is not a file, an array or an iterable of arrays.
    """
    chunk_records = _check_count("chunk_records", chunk_records, 1)
    if limit is not None:
        limit = _check_count("limit", limit, 0)
    if threads is not None and (isinstance(threads, bool) or threads not in (1, 2)):
        raise ValueError(f"threads: expected 1 or 2 (or None for the default), got {threads!r}")
    machine = load_config(config)
    hierarchy = build_hierarchy(machine, compat)
    vm = None
    if machine.tlbs:
        # A machine with TLBs replays virtual addresses (pyapi.translation).
        from pyapi.translation import VirtualMemory

        vm = VirtualMemory(machine, hierarchy, threads)
    records = 0
    with _Source(trace, format, chunk_records, skip_bad) as source:
        bar = _progress_bar(source, progress)
        try:
            chunks = iter(source)
            while limit is None or records < limit:
                chunk = next(chunks, None)
                if chunk is None:
                    break
                if limit is not None:
                    chunk = chunk[: limit - records]
                if vm is None:
                    hierarchy.run(chunk)
                else:
                    try:
                        vm.run(chunk)
                    except ValueError as exc:
                        if source.info["path"] is None:
                            raise
                        raise ValueError(f"{source.info['path']}: {exc}") from None
                records += len(chunk)
                source.advance(bar, len(chunk))
        finally:
            bar.close()
        info = source.finish(records)
    stats = hierarchy.finish()
    if vm is not None:
        vm.merge_into(stats)
    return Report(stats, config=machine, trace=info)


# -- command line --------------------------------------------------------------

def _count_arg(minimum):
    def parse(text):
        import argparse

        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def register_cli(subparsers):
    """Add the ``replay`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``memcore`` command's subparsers.
    """
    p = subparsers.add_parser(
        "replay",
        help="replay a memory trace through a machine and print per-level statistics",
        description="Replay a memory trace (lackey, din, .npy, CSV; plain, .gz, .xz or .zst) "
        "through a machine's caches and print per-level statistics.",
    )
    p.add_argument("trace", nargs="?", metavar="TRACE", help="trace file (format detected unless --format)")
    p.add_argument(
        "--example",
        action="store_true",
        help="replay the small real lackey trace bundled with memcore on the default machine",
    )
    p.add_argument(
        "--config",
        "-c",
        metavar="PRESET|FILE",
        default=None,
        help=f"machine: a preset (see 'memcore presets'; default {DEFAULT_PRESET}) or a TOML machine file",
    )
    p.add_argument("--format", "-f", default=None, help="trace format (default: detected from the file)")
    p.add_argument("--compat", choices=COMPAT_MODES, default="default", help="counting rules (default: default)")
    p.add_argument("--json", metavar="OUT", help="also write the report as JSON to OUT ('-' for stdout instead of the table)")
    p.add_argument("--skip-bad", action="store_true", help="count and skip malformed records instead of stopping")
    p.add_argument(
        "--chunk",
        type=_count_arg(1),
        default=DEFAULT_CHUNK_RECORDS,
        metavar="N",
        help=f"records per chunk (default {DEFAULT_CHUNK_RECORDS:,})",
    )
    p.add_argument("--limit", type=_count_arg(0), default=None, metavar="N", help="replay at most N records")
    p.add_argument("--no-progress", action="store_true", help="never show the progress bar")
    p.add_argument(
        "--threads",
        type=int,
        choices=(1, 2),
        default=None,
        help="host threads for a virtual trace: 2 feeds the caches from a second thread "
        "(default: $MEMCORE_THREADS, else 2 where two CPUs are usable); the report is the same",
    )
    p.set_defaults(func=_cmd_replay)


def _cmd_replay(args):
    def fail(message, status=1):
        print(f"memcore replay: error: {message}", file=sys.stderr)
        return status

    if args.example and args.trace:
        return fail("give either TRACE or --example, not both", 2)
    if not args.example and not args.trace:
        return fail("give a TRACE file to replay, or --example", 2)
    trace = example_path() if args.example else args.trace
    try:
        report = replay(
            trace,
            args.config,
            compat=args.compat,
            format=args.format,
            chunk_records=args.chunk,
            skip_bad=args.skip_bad,
            progress=False if args.no_progress else None,
            limit=args.limit,
            threads=args.threads,
        )
        if args.json == "-":
            sys.stdout.write(report.to_json())
            return 0
        if args.json:
            report.to_json(args.json)
    except (OSError, ValueError, TypeError, TraceFormatError) as exc:
        return fail(_oneline(exc))
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    print(report)
    return 0
