"""Replay results: the per-level table, dicts, JSON and pandas frames.

The engine counts; this module derives.  A :class:`Report` holds the raw
statistics of :meth:`memcore.hierarchy.Hierarchy.stats` together with the
machine and compat mode that produced them and a note of the trace.  Miss
rates and MPKI are computed here, on demand, and never stored as counts.

The JSON form (:meth:`Report.to_dict`, :meth:`Report.to_json`) follows a
stable schema, :data:`SCHEMA_VERSION`, described in the user guide and in the
JSON Schema file returned by :func:`schema_path`.
"""
import json
import math
import pathlib

__all__ = ["Report", "SCHEMA_VERSION", "LEVEL_COUNTERS", "TLB_COUNTERS", "WALK_COUNTERS", "schema_path"]

#: Version of the JSON layout written by :meth:`Report.to_dict`.  It changes
#: only when a key is removed or its meaning changes; new keys may be added.
SCHEMA_VERSION = 1

#: Per-level counters, in the order reports list them.
LEVEL_COUNTERS = (
    "records",
    "accesses",
    "loads",
    "stores",
    "hits",
    "misses",
    "load_hits",
    "load_misses",
    "store_hits",
    "store_misses",
    "ifetches",
    "ifetch_hits",
    "ifetch_misses",
    "fills",
    "evictions",
    "clean_evictions",
    "dirty_evictions",
    "writebacks",
    "invalidations",
    "dirty_at_end",
)

#: Machine-wide counters copied from the engine's statistics.
TOTAL_COUNTERS = ("records", "instructions", "skipped_instructions", "flushes")

#: Counters of each TLB level in a virtual replay (``tlbs`` in the JSON).
TLB_COUNTERS = ("accesses", "hits", "misses", "fills", "evictions", "invalidations", "fractures")

#: Page-walk counters of a virtual replay (``walks`` in the JSON).
WALK_COUNTERS = ("count", "walk_cache_hits", "memory_references", "cache_hits", "cache_misses", "dirty_walks")

# Columns of the printed table: (header, function of (report, level name)).
_TABLE = (
    ("records", lambda r, n: _count(r.levels[n]["records"])),
    ("accesses", lambda r, n: _count(r.levels[n]["accesses"])),
    ("hits", lambda r, n: _count(r.levels[n]["hits"])),
    ("misses", lambda r, n: _count(r.levels[n]["misses"])),
    ("miss rate", lambda r, n: _percent(r.miss_rate(n))),
    ("MPKI", lambda r, n: _fixed(r.mpki(n))),
    ("evictions", lambda r, n: _count(r.levels[n]["evictions"])),
    ("writebacks", lambda r, n: _count(r.levels[n]["writebacks"])),
)


def _count(value):
    return f"{value:,}"


def _percent(value):
    return "-" if math.isnan(value) else f"{100.0 * value:.2f}%"


def _fixed(value):
    return "-" if math.isnan(value) else f"{value:.3f}"


def schema_path():
    """Return the path of the JSON Schema describing :meth:`Report.to_dict`.

    Returns
    -------
    pathlib.Path
        ``pyapi/data/report.schema.json`` inside the installed package.
    """
    return pathlib.Path(__file__).parent / "data" / "report.schema.json"


class Report:
    """The outcome of one replay.

    Parameters
    ----------
    stats : dict
        Statistics as returned by :meth:`memcore.hierarchy.Hierarchy.stats`:
        ``levels`` (name -> counters), ``memory`` (``reads``, ``writes``),
        ``records``, ``instructions``, ``skipped_instructions``, ``flushes``
        and ``compat``.
    config : MachineConfig, optional
        The machine that produced them; its level order is the report's.
    trace : dict, optional
        What was replayed: ``path`` (None for an in-memory array),
        ``format``, ``records`` (records read) and ``bad_records`` (records
        skipped as malformed).

    Attributes
    ----------
    stats : dict
        The raw statistics, as given.
    config : MachineConfig or None
    trace : dict
    """

    def __init__(self, stats, config=None, trace=None):
        self.stats = stats
        self.config = config
        self.trace = {"path": None, "format": None, "records": stats.get("records", 0), "bad_records": 0}
        if trace:
            self.trace.update(trace)

    # -- counts and derived rates -------------------------------------------

    @property
    def compat(self):
        """str: The compat mode the counts follow."""
        return self.stats.get("compat", "default")

    @property
    def level_names(self):
        """list of str: Level names, in the machine's order."""
        names = list(self.stats["levels"])
        if self.config is not None:
            order = [level.name for level in self.config.caches]
            names.sort(key=lambda n: order.index(n) if n in order else len(order))
        return names

    @property
    def levels(self):
        """dict: Counters of each level, keyed by name."""
        return self.stats["levels"]

    @property
    def memory(self):
        """dict: Main-memory traffic, ``reads`` and ``writes`` (in lines)."""
        return self.stats["memory"]

    @property
    def virtual(self):
        """bool: Whether the trace was replayed as virtual addresses (the machine has TLBs)."""
        return "tlbs" in self.stats

    @property
    def tlbs(self):
        """dict: Counters of each TLB level (``accesses``, ``hits``, ``misses``...); empty for a physical replay."""
        return self.stats.get("tlbs", {})

    @property
    def walks(self):
        """dict: Page-walk counters (``count``, ``walk_cache_hits``, ``memory_references``...); empty for a physical replay."""
        return self.stats.get("walks", {})

    @property
    def instructions(self):
        """int: Instruction-fetch records in the trace (0 when it had none)."""
        return self.stats.get("instructions", 0)

    def miss_rate(self, level):
        """Return misses per access of a level.

        Parameters
        ----------
        level : str
            Level name.

        Returns
        -------
        float
            ``misses / (hits + misses)``: misses per line access in every
            compat mode but ``pycachesim``, where hits and misses count loads
            only (as pycachesim does), so it is the load miss rate.  NaN when
            the level saw no access.
        """
        c = self.levels[level]
        looked_up = c["hits"] + c["misses"]
        return c["misses"] / looked_up if looked_up else math.nan

    def mpki(self, level):
        """Return misses per thousand instructions of a level.

        Parameters
        ----------
        level : str
            Level name.

        Returns
        -------
        float
            ``1000 * misses / instructions``; NaN when the trace carried no
            instruction fetches (the instruction count is unknown).
        """
        n = self.instructions
        return 1000.0 * self.levels[level]["misses"] / n if n else math.nan

    # -- conversions ----------------------------------------------------------

    def to_dict(self):
        """Return the report in its stable JSON layout.

        Returns
        -------
        dict
            ``schema_version``, ``memcore_version``, ``compat``, ``config``
            (the machine as :meth:`MachineConfig.to_dict` gives it, or None),
            ``trace`` (``path``, ``format``, ``records``, ``bad_records``),
            ``records``, ``instructions``, ``skipped_instructions``,
            ``flushes``, ``levels`` (name -> counters, every name of
            :data:`LEVEL_COUNTERS`) and ``memory`` (``reads``, ``writes``).
            Counts only: rates are left to the reader.
        """
        import pyapi

        levels = {}
        for name in self.level_names:
            raw = self.levels[name]
            counters = {key: int(raw[key]) for key in LEVEL_COUNTERS}
            counters.update({key: int(v) for key, v in raw.items() if key not in counters})
            levels[name] = counters
        trace = dict(self.trace)
        if trace.get("path") is not None:
            trace["path"] = str(trace["path"])
        out = {
            "schema_version": SCHEMA_VERSION,
            "memcore_version": pyapi.__version__,
            "compat": self.compat,
            "config": None if self.config is None else self.config.to_dict(),
            "trace": trace,
        }
        out.update({key: int(self.stats.get(key, 0)) for key in TOTAL_COUNTERS})
        out["levels"] = levels
        out["memory"] = {"reads": int(self.memory["reads"]), "writes": int(self.memory["writes"])}
        if self.virtual:
            out["translations"] = int(self.stats["translations"])
            out["tlbs"] = {name: {key: int(c[key]) for key in TLB_COUNTERS}
                           for name, c in self.stats["tlbs"].items()}
            w = self.stats["walks"]
            out["walks"] = {key: int(w[key]) for key in WALK_COUNTERS}
            out["walks"]["served"] = {name: int(v) for name, v in w.get("served", {}).items()}
            out["walks"]["caches"] = {name: {key: int(c[key]) for key in ("accesses", "hits", "misses")}
                                      for name, c in w.get("caches", {}).items()}
            out["page_faults"] = int(self.stats["page_faults"])
        return out

    @classmethod
    def from_dict(cls, data):
        """Rebuild a report from :meth:`to_dict` output (e.g. a saved JSON file).

        Parameters
        ----------
        data : dict

        Returns
        -------
        Report

        Raises
        ------
        ValueError
            If the layout's ``schema_version`` is not one this version reads.
        """
        from pyapi.config import MachineConfig

        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"schema_version: this memcore reads version {SCHEMA_VERSION}, got {version!r}")
        stats = {key: data[key] for key in TOTAL_COUNTERS}
        stats.update(levels=data["levels"], memory=data["memory"], compat=data["compat"])
        for key in ("translations", "tlbs", "walks", "page_faults"):
            if key in data:
                stats[key] = data[key]
        config = None if data.get("config") is None else MachineConfig.from_dict(data["config"])
        return cls(stats, config=config, trace=data.get("trace"))

    def to_json(self, path=None, indent=2):
        """Return the report as JSON text, and write it to `path` if given.

        Parameters
        ----------
        path : str or os.PathLike, optional
            File to write (overwritten).
        indent : int, optional
            Indentation (default 2).

        Returns
        -------
        str
            The JSON document (see :meth:`to_dict`).
        """
        text = json.dumps(self.to_dict(), indent=indent) + "\n"
        if path is not None:
            pathlib.Path(path).write_text(text)
        return text

    def to_frame(self):
        """Return the per-level counters as a pandas DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per level (index ``level``, machine order), one column per
            counter, plus the derived ``miss_rate`` and ``mpki`` (NaN when
            undefined).

        Raises
        ------
        ImportError
            If pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "Report.to_frame needs pandas: pip install pandas (or use Report.to_dict)"
            ) from None
        names = self.level_names
        levels = self.to_dict()["levels"]
        rows = [levels[n] for n in names]
        frame = pd.DataFrame(rows, index=pd.Index(names, name="level"))
        frame["miss_rate"] = [self.miss_rate(n) for n in names]
        frame["mpki"] = [self.mpki(n) for n in names]
        return frame

    # -- text -------------------------------------------------------------------

    def table(self):
        """Return the per-level table as text (what ``print(report)`` shows).

        Returns
        -------
        str
            One row per level: records, line accesses, hits, misses, miss
            rate, MPKI (only when the trace carried instruction fetches),
            evictions and write-backs; then memory reads and writes.
        """
        columns = [c for c in _TABLE if c[0] != "MPKI" or self.instructions]
        names = self.level_names
        cells = [[name] + [fn(self, name) for _, fn in columns] for name in names]
        header = ["level"] + [title for title, _ in columns]
        widths = [max(len(row[i]) for row in [header] + cells) for i in range(len(header))]

        def line(row):
            first = row[0].ljust(widths[0])
            return "  ".join([first] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])])

        out = [line(header)] + [line(row) for row in cells]
        out.append(f"memory: {_count(self.memory['reads'])} reads, {_count(self.memory['writes'])} writes (lines)")
        if self.virtual:
            out.append("")
            out.append(self._translation_table())
        return "\n".join(out)

    def _translation_table(self):
        header = ["TLB", "accesses", "hits", "misses", "miss rate", "evictions"]
        cells = []
        for name, c in self.tlbs.items():
            looked_up = c["hits"] + c["misses"]
            rate = c["misses"] / looked_up if looked_up else math.nan
            cells.append([name, _count(c["accesses"]), _count(c["hits"]), _count(c["misses"]), _percent(rate),
                          _count(c["evictions"])])
        widths = [max(len(row[i]) for row in [header] + cells) for i in range(len(header))]
        out = ["  ".join([row[0].ljust(widths[0])] + [cell.rjust(wd) for cell, wd in zip(row[1:], widths[1:])])
               for row in [header] + cells]
        w = self.walks
        refs = f"{_count(w['memory_references'])} memory references"
        if w["cache_hits"] or w["cache_misses"]:
            refs += f" ({_count(w['cache_hits'])} served by caches, {_count(w['cache_misses'])} by memory)"
        out.append(f"page walks: {_count(w['count'])} ({_count(w['walk_cache_hits'])} started from a walk cache), "
                   f"{refs}")
        out.append(f"page faults: {_count(self.stats['page_faults'])} (pages mapped on first touch)")
        return "\n".join(out)

    def header(self):
        """Return the lines that introduce the table: trace, machine, counts.

        Returns
        -------
        str
        """
        t = self.trace
        source = str(t["path"]) if t.get("path") is not None else "in-memory trace"
        fmt = f" ({t['format']})" if t.get("format") else ""
        bad = f", {t['bad_records']:,} bad records skipped" if t.get("bad_records") else ""
        lines = [f"trace: {source}{fmt}, {t['records']:,} records{bad}"]
        machine = self.config.name if self.config is not None and self.config.name else "custom machine"
        lines.append(f"machine: {machine}, compat: {self.compat}")
        instr = f"instructions: {self.instructions:,}"
        skipped = self.stats.get("skipped_instructions", 0)
        if skipped:
            instr += f" ({skipped:,} skipped: no instruction cache)"
        elif not self.instructions:
            instr += " (no instruction fetches in the trace: MPKI unknown)"
        if self.stats.get("flushes"):
            instr += f"; flushes: {self.stats['flushes']:,}"
        lines.append(instr)
        return "\n".join(lines)

    def __str__(self):
        return self.header() + "\n\n" + self.table()

    def __repr__(self):
        machine = self.config.name if self.config is not None else None
        return (
            f"<Report machine={machine!r} compat={self.compat!r} records={self.stats.get('records', 0)} "
            f"levels={self.level_names}>"
        )
