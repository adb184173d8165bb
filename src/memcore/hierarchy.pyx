"""A hierarchy of cache levels run by one nogil loop per batch.

Levels (each a :class:`memcore.cache.Cache`) are linked by their ``next``
field; data records enter at ``data_entry`` and instruction fetches at
``inst_entry``.  Dirty victims and write-through stores flow down to the next
level and finally to memory.  ``compat`` selects whose rules are used:

``"default"``
    hardware-like, as Dinero IV's library without its end-of-trace flush;
``"pycachesim"``
    as pycachesim 0.3.1 counts;
``"cachegrind"``
    as valgrind's cachegrind simulates I1/D1/LL;
``"dinero"``
    the default plus Dinero's end-of-trace flush in :meth:`Hierarchy.finish`.

Every rule is spelled out in the user guide, *Cache semantics*.
"""
import numpy as np

from memcore._hostmem import own_lines

from memcore._typedefs cimport intp_t, uint8_t, uint32_t, uint64_t, count_t
from memcore.access cimport access_t, N_KINDS
from memcore.cache cimport (Cache, hier_t, level_t, hier_access, hier_flush, hier_prepare, run_trace,
                            level_count_dirty, MAX_LEVELS, INC_NON, INC_INCLUSIVE,
                            INC_EXCLUSIVE, COMPAT_DINERO, COMPAT_PYCACHESIM,
                            COMPAT_CACHEGRIND, N_GSTATS, G_RECORDS, G_INSTRUCTIONS,
                            G_SKIPPED, G_FLUSHES, G_MEM_READS, G_MEM_WRITES,
                            S_DIRTY_AT_END, CTL_LAST_REC)

from memcore.access import LOAD
from memcore.cache import (check_level_config, as_trace, level_stats, _check_access)

#: Counting/semantic modes accepted by :class:`Hierarchy`.
COMPAT_MODES = ("default", "pycachesim", "cachegrind", "dinero")

#: Inclusion policies: a level's relation to the levels above it.
INCLUSIONS = ("non-inclusive", "inclusive", "exclusive")

_FIELDS = ("name", "size", "line_size", "ways", "policy", "write_back",
           "write_allocate", "seed", "next", "inclusion")
_DEFAULTS = dict(policy="lru", write_back=True, write_allocate=True, seed=0,
                 next=None, inclusion="non-inclusive")
_REQUIRED = ("name", "size", "line_size", "ways")


def _level_dict(spec, i):
    out = {}
    for f in _FIELDS:
        if isinstance(spec, dict):
            present = f in spec
            v = spec.get(f)
        else:
            present = hasattr(spec, f)
            v = getattr(spec, f, None)
        if not present:
            if f in _REQUIRED:
                raise ValueError(f"levels[{i}].{f}: missing")
            v = _DEFAULTS[f]
        out[f] = v
    if isinstance(spec, dict):
        unknown = set(spec) - set(_FIELDS)
        if unknown:
            raise ValueError(f"levels[{i}]: unknown field(s) {', '.join(sorted(unknown))}")
    return out


cdef class Hierarchy:
    """Cache levels linked top-down, ending in main memory.

    Parameters
    ----------
    levels : sequence of dict or objects
        One entry per level with ``name``, ``size``, ``line_size``, ``ways``
        and optionally ``policy`` ("lru"), ``write_back`` (True),
        ``write_allocate`` (True), ``seed`` (0), ``next`` (name of the level
        below; None = memory) and ``inclusion`` ("non-inclusive",
        "inclusive" or "exclusive": this level's relation to the levels
        above it).  All levels share one line size.
    data_entry : str
        Level that loads, stores and modifies enter.
    inst_entry : str or None
        Level that instruction fetches enter; None counts them in
        ``skipped_instructions`` and skips them.
    compat : str
        One of :data:`COMPAT_MODES`.

    Raises
    ------
    ValueError
        Naming the field and the value for an unknown level name, a cycle, a
        ``next`` that does not exist, mixed line sizes, and any invalid level
        configuration.

    Examples
    --------
    >>> from memcore.hierarchy import Hierarchy
    >>> h = Hierarchy([dict(name="L1", size=1024, line_size=64, ways=2, next="L2"),
    ...                dict(name="L2", size=8192, line_size=64, ways=4)],
    ...               data_entry="L1", inst_entry="L1")
    >>> h.access(0x1000), h.access(0x1000)
    ('memory', 'L1')
    """

    def __init__(self, levels, data_entry="L1D", inst_entry="L1I", compat="default"):
        cdef int i, j, k, n
        if not isinstance(compat, str) or compat not in COMPAT_MODES:
            raise ValueError(f"compat: must be one of {', '.join(COMPAT_MODES)}, got {compat!r}")
        specs = [_level_dict(s, i) for i, s in enumerate(levels)]
        n = len(specs)
        if n == 0:
            raise ValueError("levels: at least one level is needed")
        if n > MAX_LEVELS:
            raise ValueError(f"levels: at most {MAX_LEVELS} levels, got {n}")
        names = [s["name"] for s in specs]
        for i, nm in enumerate(names):
            if not isinstance(nm, str) or not nm or nm == "memory":
                raise ValueError(f"levels[{i}].name: must be a non-empty string other than "
                                 f"'memory', got {nm!r}")
        if len(set(names)) != n:
            dup = sorted({x for x in names if names.count(x) > 1})
            raise ValueError(f"name: duplicate level name(s) {', '.join(dup)}")
        index = {nm: i for i, nm in enumerate(names)}
        nxt = []
        for s in specs:
            if s["next"] is None or s["next"] == "memory":
                nxt.append(n)
            elif s["next"] in index:
                if s["next"] == s["name"]:
                    raise ValueError(f"next: level {s['name']!r} cannot be its own next level")
                nxt.append(index[s["next"]])
            else:
                raise ValueError(f"next: level {s['name']!r} names unknown level {s['next']!r}")
        # Cycle check: following next from any level must reach memory.
        for i in range(n):
            seen, j = set(), i
            while j != n:
                if j in seen:
                    raise ValueError(f"next: the levels form a cycle through {names[i]!r}")
                seen.add(j)
                j = nxt[j]
        if data_entry not in index:
            raise ValueError(f"data_entry: unknown level {data_entry!r} "
                             f"(levels: {', '.join(names)})")
        if inst_entry is not None and inst_entry not in index:
            raise ValueError(f"inst_entry: unknown level {inst_entry!r} "
                             f"(levels: {', '.join(names)}; None skips instructions)")
        cfgs = []
        for s in specs:
            cfg = check_level_config(s["size"], s["line_size"], s["ways"], s["policy"],
                                     s["write_back"], s["write_allocate"], s["seed"], s["name"])
            inc = s["inclusion"]
            if inc not in INCLUSIONS:
                raise ValueError(f"inclusion: must be one of {', '.join(INCLUSIONS)}, "
                                 f"got {inc!r} (cache {s['name']!r})")
            cfg["inclusion"] = inc
            cfg["next"] = None if nxt[len(cfgs)] == n else names[nxt[len(cfgs)]]
            cfgs.append(cfg)
        line_sizes = {c["line_size"] for c in cfgs}
        if len(line_sizes) > 1:
            raise ValueError(f"line_size: every level must have the same line size, got "
                             + ", ".join(f"{c['name']}={c['line_size']}" for c in cfgs))
        ups = [[u for u in range(n) if u != i and self._reaches(nxt, u, i, n)] for i in range(n)]
        for i, c in enumerate(cfgs):
            if c["inclusion"] != "non-inclusive" and compat in ("pycachesim", "cachegrind"):
                raise ValueError(f"inclusion: compat={compat!r} supports only non-inclusive "
                                 f"levels, got {c['inclusion']!r} (cache {c['name']!r})")
            if c["inclusion"] == "exclusive":
                bad = [cfgs[u]["name"] for u in ups[i] + [i] if not cfgs[u]["write_back"]]
                if bad:
                    raise ValueError(f"write_back: an exclusive level and the levels above it "
                                     f"must be write-back; {', '.join(bad)} is write-through "
                                     f"(cache {c['name']!r})")
        self._configs = cfgs
        self._levels = {}
        for c in cfgs:
            self._levels[c["name"]] = Cache(c["size"], c["line_size"], c["ways"], c["policy"],
                                            c["write_back"], c["write_allocate"], c["seed"],
                                            c["name"])
        order = sorted(range(n), key=lambda i: (len(ups[i]), i))
        self.names = tuple(names[i] for i in order)
        self.level_names = tuple(names)
        self.compat = compat
        self.data_entry = data_entry
        self.inst_entry = inst_entry
        self.gstats = own_lines(N_GSTATS, np.uint64)      # written on every access (memcore._hostmem)
        cdef uint64_t[::1] gst = self.gstats
        cdef Cache c_obj
        for i in range(n):
            c_obj = self._levels[names[i]]
            self.h.lv[i] = &c_obj.lv
            self.h.next[i] = nxt[i]
            self.h.incl[i] = INCLUSIONS.index(cfgs[i]["inclusion"])
            self.h.n_up[i] = len(ups[i])
            for k, j in enumerate(ups[i]):
                self.h.up[i][k] = j
            self.h.order[i] = order[i]
        self.h.n_levels = n
        self.h.data_entry = index[data_entry]
        self.h.inst_entry = -1 if inst_entry is None else index[inst_entry]
        self.h.compat = COMPAT_MODES.index(compat)
        self.h.line_bits = cfgs[0]["line_size"].bit_length() - 1
        self.h.gst = &gst[0]
        self.h.cur = 0
        hier_prepare(&self.h)

    @staticmethod
    def _reaches(nxt, u, i, n):
        j = nxt[u]
        while j != n:
            if j == i:
                return True
            j = nxt[j]
        return False

    def config(self):
        """Return the constructor arguments as plain data.

        Returns
        -------
        dict
            ``levels`` (list of dicts), ``data_entry``, ``inst_entry``,
            ``compat``.
        """
        levels = []
        for c in self._configs:
            d = {k: c[k] for k in _FIELDS}
            levels.append(d)
        return dict(levels=levels, data_entry=self.data_entry,
                    inst_entry=self.inst_entry, compat=self.compat)

    def __reduce__(self):
        state = [self.gstats] + [self._levels[nm].__reduce__()[1][1:] for nm in self.level_names]
        return (_restore_hierarchy, (self.config(), state))

    def level(self, name):
        """Return the :class:`~memcore.cache.Cache` of level `name`.

        Its arrays and counters are the hierarchy's own (shared, not copied).
        Calling its own ``access``/``run`` treats it as a lone cache with
        memory below it.
        """
        try:
            return self._levels[name]
        except KeyError:
            raise ValueError(f"name: unknown level {name!r} (levels: {', '.join(self.names)})") from None

    def access(self, addr, size=1, kind=LOAD):
        """Make one access; return the name of the level that served it.

        Parameters
        ----------
        addr : int
            Byte address (64-bit).
        size : int
            Bytes accessed; split at line boundaries.
        kind : int
            Access kind (0 ifetch, 1 load, 2 store, 3 modify, 4 flush).

        Returns
        -------
        str or None
            The deepest level any piece was found in (``"memory"`` if a piece
            went to memory); None for a flush or a skipped instruction.
        """
        a, s, k = _check_access(addr, size, kind)
        cdef int served = hier_access(&self.h, a, s, k)
        if served < 0:
            return None
        if served >= self.h.n_levels:
            return "memory"
        return self.level_names[served]

    def run(self, trace):
        """Run a batch of records through every level (one nogil loop).

        Parameters
        ----------
        trace : numpy.ndarray
            :data:`~memcore.access.ACCESS_DTYPE` records (or any structured
            array with ``addr``, ``size``, ``kind``).

        Raises
        ------
        ValueError
            If a record has an unknown kind (nothing is run then).
        """
        run_trace(&self.h, trace)

    def flush(self, invalidate=False):
        """Write every dirty line back now, level by level top-down.

        Parameters
        ----------
        invalidate : bool
            Also invalidate every line (what a flush record does).
        """
        hier_flush(&self.h, bool(invalidate))

    def finish(self):
        """End of trace: set ``dirty_at_end`` of every level; return :meth:`stats`.

        With ``compat="dinero"`` every dirty line is first written back,
        level by level (Dinero IV's end-of-trace flush), so ``dirty_at_end``
        is 0 and the write-backs are counted.
        """
        cdef int i
        if self.h.compat == COMPAT_DINERO:
            hier_flush(&self.h, 0)
        for i in range(self.h.n_levels):
            self.h.lv[i].st[S_DIRTY_AT_END] = level_count_dirty(self.h.lv[i])
        return self.stats()

    def stats(self):
        """Return every counter as plain data.

        Returns
        -------
        dict
            ``levels`` (name -> counters, top-down), ``memory`` (``reads``,
            ``writes``), ``records``, ``instructions``,
            ``skipped_instructions``, ``flushes`` and ``compat``.
        """
        mode = COMPAT_MODES.index(self.compat)
        g = self.gstats
        return {
            "levels": {nm: level_stats(self._levels[nm].counters, mode) for nm in self.names},
            "memory": {"reads": int(g[G_MEM_READS]), "writes": int(g[G_MEM_WRITES])},
            "records": int(g[G_RECORDS]),
            "instructions": int(g[G_INSTRUCTIONS]),
            "skipped_instructions": int(g[G_SKIPPED]),
            "flushes": int(g[G_FLUSHES]),
            "compat": self.compat,
        }

    def reset_stats(self):
        """Zero every counter; contents and replacement state are kept."""
        self.gstats[:] = 0
        for c in self._levels.values():
            c.counters[:] = 0
            c.ctl[CTL_LAST_REC] = 0

    def __repr__(self):
        return (f"Hierarchy({', '.join(self.names)}; data_entry={self.data_entry!r}, "
                f"inst_entry={self.inst_entry!r}, compat={self.compat!r})")


def _restore_hierarchy(cfg, state):
    h = Hierarchy(cfg["levels"], cfg["data_entry"], cfg["inst_entry"], cfg["compat"])
    h.gstats[:] = state[0]
    for nm, st in zip(h.level_names, state[1:]):
        h.level(nm)._load_state(*st)
    return h
