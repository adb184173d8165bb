"""Machine configuration: dataclasses, named presets and TOML machine files.

A machine is described by one :class:`CacheConfig` per cache level, gathered
in a :class:`MachineConfig`.  Configurations come from three places:

* a named preset (:data:`PRESETS`, :func:`preset`): ``teaching``, ``x86-64``
  (the default) and ``host`` (read off this machine's ``/sys``);
* a TOML machine file, one ``[cache.NAME]`` table per level
  (:meth:`MachineConfig.from_toml`);
* a plain dict of the same shape (:meth:`MachineConfig.from_dict`).

:func:`load_config` accepts any of them.  Every bad value raises
``ValueError`` naming the field and the value, prefixed by the file name when
the configuration came from a file, e.g.
``machine.toml: cache.L2.ways: must be a non-negative integer (0 = fully
associative), got -4``.

Entry rules: instruction fetches enter the hierarchy at ``L1I`` and data
accesses at ``L1D``, or both at a unified ``L1``.  A machine without an
instruction cache counts instruction records and skips them.
"""
import dataclasses
import os
import pathlib
import re
import sys

from memcore.cache import check_level_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "CacheConfig",
    "MachineConfig",
    "TLBConfig",
    "MMUConfig",
    "PRESETS",
    "DEFAULT_PRESET",
    "POLICIES",
    "INCLUSIONS",
    "parse_size",
    "format_size",
    "preset",
    "preset_names",
    "host_config",
    "load_config",
]

#: Replacement policies a cache level accepts.
POLICIES = ("lru", "fifo", "random", "plru", "mru", "srrip")
#: Inclusion policies of a level with respect to the levels above it.
INCLUSIONS = ("non-inclusive", "inclusive", "exclusive")
#: The preset used when no configuration is given.
DEFAULT_PRESET = "x86-64"

# Level names with a fixed role in the entry rules.
UNIFIED_L1 = "L1"
INST_L1 = "L1I"
DATA_L1 = "L1D"

# Binary multiples.  Cache sizes are always powers of two times small
# integers, so "K", "KB" and "KiB" all mean 1024 (as CPU data sheets use them).
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
    "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
    "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
}
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def parse_size(value, field="size"):
    """Return a byte count from an integer or a size string.

    Parameters
    ----------
    value : int or str
        A positive integer number of bytes, or a string: a number (integer or
        decimal) then an optional unit, spaces allowed between them.  Units,
        case-insensitive: ``B`` (bytes); ``K``, ``KB``, ``KiB`` (1024 bytes);
        ``M``, ``MB``, ``MiB`` (1024**2); ``G``, ``GB``, ``GiB`` (1024**3).
        Examples: ``"64B"``, ``"32KiB"``, ``"1 MiB"``, ``"8M"``, ``"1.5MiB"``.
    field : str
        The field name used in error messages.

    Returns
    -------
    int
        The size in bytes, at least 1.

    Raises
    ------
    ValueError
        If the value is not a positive whole number of bytes, naming `field`.
    """
    if _is_int(value):
        nbytes = value
    elif isinstance(value, str):
        m = _SIZE_RE.match(value)
        unit = m.group(2).lower() if m else None
        if m is None or unit not in _UNITS:
            raise ValueError(
                f"{field}: not a size, got {value!r} (use bytes or a number with "
                "a unit B, K/KB/KiB, M/MB/MiB, G/GB/GiB, e.g. '32KiB')"
            )
        number = m.group(1)
        if "." in number:
            whole, frac = number.split(".")
            # Exact arithmetic: 1.5MiB is 1572864 bytes, 1.3B is an error.
            scaled = (int(whole + frac) * _UNITS[unit], 10 ** len(frac))
            if scaled[0] % scaled[1]:
                raise ValueError(f"{field}: not a whole number of bytes, got {value!r}")
            nbytes = scaled[0] // scaled[1]
        else:
            nbytes = int(number) * _UNITS[unit]
    else:
        raise ValueError(f"{field}: must be a byte count or a size string such as '32KiB', got {value!r}")
    if nbytes <= 0:
        raise ValueError(f"{field}: must be positive, got {value!r}")
    return nbytes


def format_size(nbytes):
    """Return the shortest exact size string for a byte count.

    Parameters
    ----------
    nbytes : int
        A positive number of bytes.

    Returns
    -------
    str
        ``"32KiB"``, ``"1MiB"``, ``"48B"``...: the largest binary unit that
        divides `nbytes` exactly; :func:`parse_size` reads it back unchanged.
    """
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes % scale == 0:
            return f"{nbytes // scale}{unit}"
    return f"{nbytes}B"


@dataclasses.dataclass(frozen=True)
class CacheConfig:
    """One cache level.

    Parameters
    ----------
    name : str
        Level name (``L1I``, ``L1D``, ``L1``, ``L2``, ``L3``, ...): letters,
        digits, ``_`` and ``-``.
    size : int or str
        Capacity in bytes, or a size string (see :func:`parse_size`).
    line_size : int or str
        Line (block) size in bytes, a power of two (default 64).
    ways : int
        Associativity: 1 is direct-mapped, 0 fully associative (the string
        ``"full"`` is accepted too).  ``size / (line_size * ways)``, the
        number of sets, must be a whole power of two; ``plru`` needs a
        power-of-two ``ways``.
    policy : str
        Replacement policy, one of :data:`POLICIES` (default ``"lru"``).
    write_back : bool
        Write-back (True, default) or write-through (False).
    write_allocate : bool
        Allocate a line on a store miss (True, default) or send the store on
        to the next level (False).
    next : str or None
        Name of the level below; None (default) means main memory.
    inclusion : str
        One of :data:`INCLUSIONS` (default ``"non-inclusive"``): how this
        level's contents relate to the levels above it.
    seed : int
        Seed of the ``random`` policy's generator (default 0).

    Raises
    ------
    ValueError
        On any bad field, naming it as ``cache.NAME.FIELD`` with the value.
    """

    name: str
    size: int
    line_size: int = 64
    ways: int = 8
    policy: str = "lru"
    write_back: bool = True
    write_allocate: bool = True
    next: str = None
    inclusion: str = "non-inclusive"
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.name, str) or not re.match(r"^[A-Za-z0-9_-]+$", self.name):
            raise ValueError(f"cache: level name must use letters, digits, '_' or '-', got {self.name!r}")
        if self.name == "memory":
            raise ValueError("cache.memory: 'memory' names main memory, not a cache level")
        where = f"cache.{self.name}"
        set_ = object.__setattr__  # frozen dataclass: normalise once, here
        set_(self, "size", parse_size(self.size, f"{where}.size"))
        line = parse_size(self.line_size, f"{where}.line_size")
        if line & (line - 1):
            raise ValueError(f"{where}.line_size: must be a power of two, got {self.line_size!r}")
        set_(self, "line_size", line)
        ways = 0 if self.ways == "full" else self.ways
        if not _is_int(ways) or ways < 0:
            raise ValueError(
                f"{where}.ways: must be a non-negative integer (0 = fully associative), got {self.ways!r}"
            )
        set_(self, "ways", ways)
        if self.size % line:
            raise ValueError(
                f"{where}.size: must be a multiple of line_size ({line}), got {self.size}"
            )
        lines = self.size // line
        if ways and lines % ways:
            raise ValueError(
                f"{where}.ways: {lines} lines of {line} bytes cannot be split into {ways}-way sets"
            )
        if ways > lines:
            raise ValueError(f"{where}.ways: more ways than lines ({lines}), got {ways}")
        policy = self.policy.lower() if isinstance(self.policy, str) else self.policy
        if policy not in POLICIES:
            raise ValueError(f"{where}.policy: must be one of {', '.join(POLICIES)}; got {self.policy!r}")
        set_(self, "policy", policy)
        for flag in ("write_back", "write_allocate"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{where}.{flag}: must be true or false, got {getattr(self, flag)!r}")
        if self.next is not None and not isinstance(self.next, str):
            raise ValueError(f"{where}.next: must be a level name (omit it for memory), got {self.next!r}")
        if self.next in ("", "memory"):
            set_(self, "next", None)
        if self.next == self.name:
            raise ValueError(f"{where}.next: a level cannot feed itself, got {self.next!r}")
        if self.inclusion not in INCLUSIONS:
            raise ValueError(
                f"{where}.inclusion: must be one of {', '.join(INCLUSIONS)}; got {self.inclusion!r}"
            )
        if not _is_int(self.seed) or not 0 <= self.seed < 2**64:
            raise ValueError(f"{where}.seed: must be an integer in 0..2**64-1, got {self.seed!r}")
        # The engine's own rules (power-of-two set counts, plru geometry,
        # limits), reported under this level's field names.
        try:
            check_level_config(self.size, line, ways, policy, self.write_back, self.write_allocate,
                               self.seed, self.name)
        except ValueError as exc:
            raise ValueError(f"{where}.{exc}") from None

    @property
    def sets(self):
        """int: Number of sets (1 when fully associative)."""
        return 1 if self.ways == 0 else self.size // (self.line_size * self.ways)

    @property
    def lines(self):
        """int: Number of lines the level holds."""
        return self.size // self.line_size

    def describe(self):
        """Return a one-line human summary, e.g. ``32KiB 8-way 64B lines lru``.

        Returns
        -------
        str
        """
        assoc = "fully-assoc" if self.ways == 0 else ("direct-mapped" if self.ways == 1 else f"{self.ways}-way")
        writes = ("write-back" if self.write_back else "write-through") + (
            "" if self.write_allocate else " no-write-allocate"
        )
        return (
            f"{format_size(self.size)} {assoc} {self.line_size}B lines {self.policy} {writes}"
            f" -> {self.next or 'memory'}"
        )

    def to_dict(self):
        """Return the level as a plain dict (without ``name``), sizes in bytes.

        Returns
        -------
        dict
            Keys ``size``, ``line_size``, ``ways``, ``policy``, ``write_back``,
            ``write_allocate``, ``next`` (absent for memory), ``inclusion``,
            ``seed``: the body of the level's ``[cache.NAME]`` table.
        """
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "name"}
        if out["next"] is None:
            del out["next"]
        return out

    def engine_dict(self):
        """Return the level as the dict :class:`memcore.hierarchy.Hierarchy` takes.

        Returns
        -------
        dict
            Every field including ``name``; ``next`` is None for memory.
        """
        return dataclasses.asdict(self)


# Keys a [cache.NAME] table may hold: the CacheConfig fields except the name.
_CACHE_KEYS = tuple(f.name for f in dataclasses.fields(CacheConfig) if f.name != "name")


def _parse_named_tables(value, where, what, keys, required, hint, make):
    """Read ``[WHERE.NAME]`` tables into ``make(name=NAME, **table)`` objects, in order."""
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{where}: must hold one [{where}.NAME] table per {what}, got {value!r}")
    out = []
    for name, body in value.items():
        if not isinstance(body, dict):
            raise ValueError(f"{where}.{name}: must be a table of {what} settings, got {body!r}")
        unknown = sorted(set(body) - set(keys))
        if unknown:
            raise ValueError(f"{where}.{name}.{unknown[0]}: unknown setting (known: {', '.join(keys)})")
        if required not in body:
            raise ValueError(f"{where}.{name}.{required}: missing ({hint})")
        out.append(make(name=name, **body))
    return tuple(out)


def _parse_cache_section(value, where):
    return {"caches": _parse_named_tables(value, where, "level", _CACHE_KEYS, "size",
                                          "the level's capacity, e.g. '32KiB'", CacheConfig)}


#: Names of the page-table organisations ``[mmu] paging`` accepts.
PAGINGS = ("x86_64-4level", "x86_64-5level", "i386-2level", "i386-pae", "inverted")
#: Physical-frame sources for pages mapped on first touch (``[mmu] frames``).
FRAME_SOURCES = ("sequential", "random")
#: Page-walk caches each paging organisation has, with their default sizes.
#: Intel does not publish them; these are the sizes commonly assumed for
#: Skylake-class cores (see the translation guide).
DEFAULT_WALK_CACHES = {
    "x86_64-4level": {"PML4E": 2, "PDPTE": 4, "PDE": 32},
    "x86_64-5level": {"PML5E": 2, "PML4E": 2, "PDPTE": 4, "PDE": 32},
    "i386-2level": {"PDE": 32},
    "i386-pae": {"PDPTE": 4, "PDE": 32},
    "inverted": {},
}
# Level names with a fixed role in the TLB entry rules.
DATA_TLB = "DTLB"
INST_TLB = "ITLB"
UNIFIED_TLB = "TLB"


def _nested(value, leaf=None, container=list):
    """`value` with its (nested) lists and tuples rebuilt as `container`, and `leaf` applied to the rest."""
    if isinstance(value, (list, tuple)):
        return container(_nested(v, leaf, container) for v in value)
    return value if leaf is None else leaf(value)


def _plain(value):
    """Lists for tuples, recursively (TOML and JSON friendly)."""
    return _nested(value)


@dataclasses.dataclass(frozen=True)
class TLBConfig:
    """One TLB level (a ``[tlb.NAME]`` table).

    Parameters
    ----------
    name : str
        Level name.  Data translations enter at ``DTLB`` and instruction
        fetches at ``ITLB``, or both at a unified ``TLB``.
    entries : int or list of int
        Entries; a list gives one *array* per item (real L1 dTLBs have one
        array per page size).
    ways : int or list of int
        Associativity of each array; 0 (default) means fully associative.
    page_sizes : list
        Page sizes the level holds, in bytes or size strings (``"4KiB"``,
        ``"2MiB"``, ``"1GiB"``); with several arrays, one item per array, each
        a size or a list of sizes that array holds.  Default ``[4096]``.
    policy : str
        ``"lru"`` (default), ``"fifo"``, ``"random"`` or ``"plru"``.
    next : str or None
        The level a miss looks up next; None (default): the page walker.
    seed : int
        Seed of the ``random`` policy (default 0).

    Raises
    ------
    ValueError
        On any bad field, naming it as ``tlb.NAME.FIELD`` with the value.
    """

    name: str
    entries: object
    ways: object = 0
    page_sizes: object = (4096,)
    policy: str = "lru"
    next: str = None
    seed: int = 0

    def __post_init__(self):
        from memcore.tlb import POLICIES as TLB_POLICIES, normalize_geometry

        if not isinstance(self.name, str) or not re.match(r"^[A-Za-z0-9_-]+$", self.name):
            raise ValueError(f"tlb: level name must use letters, digits, '_' or '-', got {self.name!r}")
        where = f"tlb.{self.name}"

        page_sizes = _nested(self.page_sizes, lambda v: parse_size(v, f"{where}.page_sizes"))
        try:
            geometry = normalize_geometry(_plain(self.entries), _plain(self.ways), page_sizes)
        except ValueError as exc:
            raise ValueError(f"{where}.{exc}") from None
        if self.policy not in TLB_POLICIES:
            raise ValueError(f"{where}.policy: must be one of {', '.join(TLB_POLICIES)}, got {self.policy!r}")
        if self.policy == "plru":
            for e, w, _ in geometry:
                if w & (w - 1):
                    raise ValueError(f"{where}.ways: policy 'plru' needs a power-of-two number of ways, got {w}")
        if self.next is not None and not isinstance(self.next, str):
            raise ValueError(f"{where}.next: must be a TLB name (omit it for the page walker), got {self.next!r}")
        if not _is_int(self.seed) or not 0 <= self.seed < 1 << 64:
            raise ValueError(f"{where}.seed: must be an integer in 0..2**64-1, got {self.seed!r}")
        # Keep the shape as written, with sizes in bytes.
        object.__setattr__(self, "entries", _freeze(self.entries))
        object.__setattr__(self, "ways", _freeze(self.ways))
        object.__setattr__(self, "page_sizes", _freeze(page_sizes))

    @property
    def geometry(self):
        """tuple: ``(entries, ways, page_sizes)`` per array (see :func:`memcore.tlb.normalize_geometry`)."""
        from memcore.tlb import normalize_geometry

        return normalize_geometry(_plain(self.entries), _plain(self.ways), _plain(self.page_sizes))

    def describe(self):
        """Return a one-line human description (``64 4-way 4KiB, 32 4-way 2MiB, lru -> STLB``)."""
        parts = ", ".join(f"{e} {'fully assoc.' if w == e and e > 1 else str(w) + '-way'} "
                          + "/".join(format_size(s) for s in sizes) for e, w, sizes in self.geometry)
        return f"{parts}, {self.policy} -> {self.next or 'page walker'}"

    def to_dict(self):
        """Return the ``[tlb.NAME]`` table as a dict (page sizes in bytes)."""
        out = {"entries": _plain(self.entries), "ways": _plain(self.ways),
               "page_sizes": _plain(self.page_sizes), "policy": self.policy}
        if self.next is not None:
            out["next"] = self.next
        if self.seed:
            out["seed"] = self.seed
        return out

    def build(self):
        """Return an empty :class:`memcore.tlb.TLB` of this shape."""
        from memcore.tlb import TLB

        return TLB(_plain(self.entries), _plain(self.ways), _plain(self.page_sizes), policy=self.policy,
                   seed=self.seed)


def _freeze(value):
    return _nested(value, container=tuple)


@dataclasses.dataclass(frozen=True)
class MMUConfig:
    """The ``[mmu]`` table: page tables, walk caches and first-touch mapping.

    Parameters
    ----------
    paging : str
        Page-table organisation, one of :data:`PAGINGS` (default
        ``"x86_64-4level"``).
    pml5e_cache, pml4e_cache, pdpte_cache, pde_cache : int or None
        Entries of each page-walk cache (fully associative, LRU); 0 means
        none, None (default) the paging's default from
        :data:`DEFAULT_WALK_CACHES`.  A cache the paging has no level for
        must be left out or 0.
    walk_through_caches : bool
        Page-walk memory references go through the data caches (default
        True); False counts them without caching them.
    pcid : bool
        TLB entries are tagged with the address space (default True); False
        flushes the non-global translations at every address-space switch.
    frames : str
        Where pages mapped on first touch get their frames:
        ``"sequential"`` (default: the next free frame, from 1 MiB up) or
        ``"random"`` (uniformly among the free frames of `memory`, seeded).
    seed : int
        Seed of the ``random`` frame source (default 0).
    memory : int or str
        Physical memory the frames come from (default ``"4GiB"``).

    Raises
    ------
    ValueError
        On any bad field, naming it as ``mmu.FIELD`` with the value.
    """

    paging: str = "x86_64-4level"
    pml5e_cache: int = None
    pml4e_cache: int = None
    pdpte_cache: int = None
    pde_cache: int = None
    walk_through_caches: bool = True
    pcid: bool = True
    frames: str = "sequential"
    seed: int = 0
    memory: int = 4 << 30

    def __post_init__(self):
        if self.paging not in PAGINGS:
            raise ValueError(f"mmu.paging: must be one of {', '.join(PAGINGS)}, got {self.paging!r}")
        allowed = DEFAULT_WALK_CACHES[self.paging]
        for name in ("PML5E", "PML4E", "PDPTE", "PDE"):
            key = f"{name.lower()}_cache"
            value = getattr(self, key)
            if value is None:
                continue
            if not _is_int(value) or value < 0 or value > 4096:
                raise ValueError(f"mmu.{key}: must be an integer number of entries in 0..4096, got {value!r}")
            if value and name not in allowed:
                raise ValueError(f"mmu.{key}: {self.paging} paging has no {name} level to cache "
                                 f"(its walk caches: {', '.join(allowed) or 'none'})")
        for key in ("walk_through_caches", "pcid"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"mmu.{key}: must be true or false, got {getattr(self, key)!r}")
        if self.frames not in FRAME_SOURCES:
            raise ValueError(f"mmu.frames: must be one of {', '.join(FRAME_SOURCES)}, got {self.frames!r}")
        if not _is_int(self.seed) or not 0 <= self.seed < 1 << 64:
            raise ValueError(f"mmu.seed: must be an integer in 0..2**64-1, got {self.seed!r}")
        memory = parse_size(self.memory, "mmu.memory")
        if memory < (2 << 20) or memory % 4096:
            raise ValueError(f"mmu.memory: must be a multiple of 4 KiB, at least 2 MiB, got {self.memory!r}")
        object.__setattr__(self, "memory", memory)

    @property
    def walk_caches(self):
        """dict: Entries of each walk cache the MMU has, by name (``PDE``...), zeros left out."""
        out = {}
        for name, default in DEFAULT_WALK_CACHES[self.paging].items():
            value = getattr(self, f"{name.lower()}_cache")
            value = default if value is None else value
            if value:
                out[name] = value
        return out

    def describe(self):
        """Return a one-line human description."""
        caches = ", ".join(f"{n} {e}" for n, e in self.walk_caches.items()) or "no walk caches"
        return (f"{self.paging}, walk caches: {caches}; walks {'through' if self.walk_through_caches else 'beside'} "
                f"the data caches; {'PCID' if self.pcid else 'no PCID'}; first-touch frames {self.frames}")

    def to_dict(self):
        """Return the ``[mmu]`` table as a dict (every key written out)."""
        out = {"paging": self.paging}
        out.update({f"{n.lower()}_cache": getattr(self, f"{n.lower()}_cache")
                    for n in ("PML5E", "PML4E", "PDPTE", "PDE") if getattr(self, f"{n.lower()}_cache") is not None})
        out.update(walk_through_caches=self.walk_through_caches, pcid=self.pcid, frames=self.frames,
                   seed=self.seed, memory=self.memory)
        return out


_TLB_KEYS = tuple(f.name for f in dataclasses.fields(TLBConfig) if f.name != "name")
_MMU_KEYS = tuple(f.name for f in dataclasses.fields(MMUConfig))


def _parse_tlb_section(value, where):
    return {"tlbs": _parse_named_tables(value, where, "TLB level", _TLB_KEYS, "entries",
                                        "the number of entries, or one per array", TLBConfig)}


def _parse_mmu_section(value, where):
    if not isinstance(value, dict):
        raise ValueError(f"{where}: must be a table of settings, got {value!r}")
    unknown = sorted(set(value) - set(_MMU_KEYS))
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown setting (known: {', '.join(_MMU_KEYS)})")
    return {"mmu": MMUConfig(**value)}


def _check_tlbs(tlbs, mmu):
    """The TLB entry rules (see the translation guide); raises ValueError."""
    if not tlbs:
        if mmu is not None:
            raise ValueError("mmu: an [mmu] table needs TLB levels ([tlb.DTLB] and [tlb.ITLB], or [tlb.TLB])")
        return
    by_name = _index_levels(tlbs, "tlb", TLBConfig, "TLB", "TLBs", "the page walker")
    if UNIFIED_TLB in by_name and (DATA_TLB in by_name or INST_TLB in by_name):
        raise ValueError("tlb.TLB: a machine has either a unified TLB or split ITLB/DTLB, not both")
    if UNIFIED_TLB not in by_name:
        for have, need in ((DATA_TLB, INST_TLB), (INST_TLB, DATA_TLB)):
            if have in by_name and need not in by_name:
                raise ValueError(f"tlb.{need}: missing; a machine with [tlb.{have}] also needs [tlb.{need}] "
                                 "(or one unified [tlb.TLB])")
        if DATA_TLB not in by_name:
            raise ValueError(f"tlb: translations enter at DTLB and ITLB, or a unified TLB; "
                             f"no such level among {', '.join(by_name)}")
    entries = (UNIFIED_TLB,) if UNIFIED_TLB in by_name else (DATA_TLB, INST_TLB)
    _check_chains("tlb", by_name, entries, "TLB levels", "translation")


def _index_levels(levels, table, cls, noun, plural, below):
    """Levels by name: unique names, every ``next`` naming one of them."""
    by_name = {}
    for level in levels:
        if not isinstance(level, cls):
            raise ValueError(f"{table}: levels must be {cls.__name__} objects, got {level!r}")
        if level.name in by_name:
            raise ValueError(f"{table}.{level.name}: defined twice")
        by_name[level.name] = level
    for level in levels:
        if level.next is not None and level.next not in by_name:
            raise ValueError(
                f"{table}.{level.name}.next: no {noun} named {level.next!r} "
                f"({plural}: {', '.join(by_name)}; omit next for {below})"
            )
    return by_name


def _check_chains(table, by_name, entries, levels_word, traffic):
    """Following ``next`` from each entry level: no cycle, and every level reached."""
    reached = set()
    for entry in entries:
        seen = []
        node = entry
        while node is not None:
            if node in seen:
                raise ValueError(f"{table}.{node}.next: {levels_word} form a cycle ({' -> '.join(seen + [node])})")
            seen.append(node)
            node = by_name[node].next
        reached.update(seen)
    unreached = [name for name in by_name if name not in reached]
    if unreached:
        raise ValueError(
            f"{table}.{unreached[0]}: no {traffic} reaches this level "
            f"(nothing above has next = {unreached[0]!r})"
        )


# Top-level tables of a machine file and the function that reads each into
# MachineConfig keyword arguments.  The TLB and MMU tables of later issues
# plug in here.
_SECTIONS = {"cache": _parse_cache_section, "tlb": _parse_tlb_section, "mmu": _parse_mmu_section}
# Top-level scalar keys describing the machine itself.
_META_KEYS = ("name", "description")


@dataclasses.dataclass(frozen=True)
class MachineConfig:
    """A machine: its cache levels and how accesses enter them.

    Parameters
    ----------
    caches : sequence of CacheConfig
        The levels, in the order they are listed (reports follow it).  Names
        must be unique; every ``next`` must name a level of the machine; the
        levels must form chains ending in memory; all levels share one line
        size.
    name : str
        Short name (a preset's name, or the file's stem).
    description : str
        One line saying what the machine is.
    tlbs : sequence of TLBConfig, optional
        TLB levels (``[tlb.NAME]`` tables).  With them the machine replays
        traces of virtual addresses (see the translation guide); without
        them (default) traces are physical.  Data translations enter at
        ``DTLB`` and instruction fetches at ``ITLB``, or both at ``TLB``;
        every level must be reached from those.
    mmu : MMUConfig, optional
        The ``[mmu]`` table; only with `tlbs`, which default it to
        ``MMUConfig()``.

    Raises
    ------
    ValueError
        If the levels do not form a valid hierarchy (see the entry rules in
        the module docstring), naming the offending level.
    """

    caches: tuple
    name: str = ""
    description: str = ""
    tlbs: tuple = ()
    mmu: MMUConfig = None

    def __post_init__(self):
        caches = tuple(self.caches)
        object.__setattr__(self, "caches", caches)
        object.__setattr__(self, "tlbs", tuple(self.tlbs))
        if self.mmu is not None and not isinstance(self.mmu, MMUConfig):
            raise ValueError(f"mmu: must be an MMUConfig, got {self.mmu!r}")
        _check_tlbs(self.tlbs, self.mmu)
        if self.tlbs and self.mmu is None:
            object.__setattr__(self, "mmu", MMUConfig())
        for key in _META_KEYS:
            if not isinstance(getattr(self, key), str):
                raise ValueError(f"{key}: must be a string, got {getattr(self, key)!r}")
        if not caches:
            raise ValueError("cache: a machine needs at least one cache level ([cache.L1D] or [cache.L1])")
        by_name = _index_levels(caches, "cache", CacheConfig, "level", "levels", "memory")
        # Entry rules.
        if UNIFIED_L1 in by_name and (DATA_L1 in by_name or INST_L1 in by_name):
            raise ValueError(
                "cache.L1: a machine has either a unified L1 or split L1I/L1D, not both"
            )
        if UNIFIED_L1 not in by_name and DATA_L1 not in by_name:
            raise ValueError(
                f"cache: data accesses enter at L1D (or a unified L1); no such level among {', '.join(by_name)}"
            )
        # Chains: follow next from each entry; no cycles, every level reached.
        _check_chains("cache", by_name, (self.data_entry, self.inst_entry), "levels", "access")
        first = caches[0]
        for level in caches[1:]:
            if level.line_size != first.line_size:
                raise ValueError(
                    f"cache.{level.name}.line_size: every level must share one line size "
                    f"({first.name} has {first.line_size}), got {level.line_size}"
                )

    @property
    def levels(self):
        """dict: The levels keyed by name, in listed order."""
        return {level.name: level for level in self.caches}

    @property
    def data_entry(self):
        """str: Level where loads, stores and modifies enter (``L1D`` or ``L1``)."""
        return DATA_L1 if DATA_L1 in self.levels else UNIFIED_L1

    @property
    def inst_entry(self):
        """str or None: Level where instruction fetches enter (``L1I``, ``L1``, or None)."""
        names = self.levels
        if INST_L1 in names:
            return INST_L1
        return UNIFIED_L1 if UNIFIED_L1 in names else None

    # -- conversions -------------------------------------------------------

    @classmethod
    def from_dict(cls, data, source=None):
        """Build a machine from a dict shaped like a TOML machine file.

        Parameters
        ----------
        data : dict
            ``{"cache": {NAME: {size: ..., ...}, ...}}``, optionally with
            ``name`` and ``description`` strings.
        source : str, optional
            Where the dict came from (a file name), prefixed to error
            messages.

        Returns
        -------
        MachineConfig

        Raises
        ------
        ValueError
            On an unknown top-level key or table, or any bad value.
        """
        try:
            if not isinstance(data, dict):
                raise ValueError(f"machine: must be a table of tables, got {data!r}")
            kwargs = {}
            for key, value in data.items():
                if key in _META_KEYS:
                    kwargs[key] = value
                elif key in _SECTIONS:
                    kwargs.update(_SECTIONS[key](value, key))
                else:
                    raise ValueError(
                        f"{key}: unknown top-level table or key (this version of memcore reads "
                        f"{', '.join('[' + s + ']' if s == 'mmu' else '[' + s + '.NAME]' for s in _SECTIONS)} and "
                        f"{', '.join(_META_KEYS)})"
                    )
            if "caches" not in kwargs:
                raise ValueError("cache: missing; describe each level in a [cache.NAME] table")
            return cls(**kwargs)
        except ValueError as exc:
            if source is None:
                raise
            raise ValueError(f"{source}: {exc}") from None

    def to_dict(self):
        """Return the machine as a plain dict; :meth:`from_dict` reads it back.

        Returns
        -------
        dict
            ``{"name": ..., "description": ..., "cache": {NAME: {...}}}``,
            sizes in bytes.
        """
        out = {key: getattr(self, key) for key in _META_KEYS if getattr(self, key)}
        out["cache"] = {level.name: level.to_dict() for level in self.caches}
        if self.tlbs:
            out["tlb"] = {level.name: level.to_dict() for level in self.tlbs}
            out["mmu"] = self.mmu.to_dict()
        return out

    @classmethod
    def from_toml(cls, path):
        """Read a TOML machine file.

        Parameters
        ----------
        path : str or os.PathLike
            The file.  The machine's ``name`` defaults to the file's stem.

        Returns
        -------
        MachineConfig

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ValueError
            On a TOML syntax error or a bad value, prefixed with the file name.
        """
        path = pathlib.Path(path)
        with open(path, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not a UTF-8 text file ({exc})") from None
        return cls.from_toml_string(text, source=str(path), default_name=path.stem)

    @classmethod
    def from_toml_string(cls, text, source="<string>", default_name=""):
        """Parse a machine from TOML text.

        Parameters
        ----------
        text : str
            The TOML document.
        source : str
            Name used in error messages.
        default_name : str
            The machine's name when the document has no ``name`` key.

        Returns
        -------
        MachineConfig

        Raises
        ------
        ValueError
            On a TOML syntax error or a bad value.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{source}: TOML syntax error: {exc}") from None
        if default_name and "name" not in data:
            data["name"] = default_name
        return cls.from_dict(data, source=source)

    def to_toml(self):
        """Return the machine as a TOML document.

        Sizes are written as exact size strings (``"32KiB"``), every setting
        is written out, and :meth:`from_toml_string` reads it back equal.

        Returns
        -------
        str
        """
        lines = []
        for key in _META_KEYS:
            if getattr(self, key):
                lines.append(f"{key} = {_toml_value(getattr(self, key))}")
        for level in self.caches:
            if lines:
                lines.append("")
            lines.append(f"[cache.{level.name}]")
            body = level.to_dict()
            body["size"] = format_size(body["size"])
            for key, value in body.items():
                lines.append(f"{key} = {_toml_value(value)}")
        for level in self.tlbs:
            lines.append("")
            lines.append(f"[tlb.{level.name}]")
            body = level.to_dict()
            body["page_sizes"] = _sizes_to_text(body["page_sizes"])
            for key, value in body.items():
                lines.append(f"{key} = {_toml_value(value)}")
        if self.tlbs:
            lines.append("")
            lines.append("[mmu]")
            body = self.mmu.to_dict()
            body["memory"] = format_size(body["memory"])
            for key, value in body.items():
                lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    def summary(self):
        """Return a multi-line human description of the levels.

        Returns
        -------
        str
        """
        width = max(len(level.name) for level in self.caches)
        head = self.name + (f": {self.description}" if self.description else "")
        width = max([width] + [len(level.name) for level in self.tlbs])
        rows = [f"  {level.name:<{width}}  {level.describe()}" for level in self.caches]
        rows += [f"  {level.name:<{width}}  {level.describe()}" for level in self.tlbs]
        if self.tlbs:
            rows.append(f"  {'MMU':<{width}}  {self.mmu.describe()}")
        return "\n".join([head] + rows)


def _sizes_to_text(value):
    return _nested(value, format_size)


def _toml_value(value):
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_int(value):
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        escaped = "".join(c if " " <= c != "\x7f" else f"\\u{ord(c):04x}" for c in escaped)
        return f'"{escaped}"'
    raise TypeError(f"cannot write {value!r} to TOML")


# -- presets -----------------------------------------------------------------

def _teaching():
    # Small enough to work by hand: 16-byte lines, 64 sets in L1I, 32 in L1D.
    line = 16
    return MachineConfig(
        name="teaching",
        description="small machine for working examples by hand: 1 KiB L1s, 8 KiB L2, 16-byte lines",
        caches=(
            CacheConfig("L1I", "1KiB", line_size=line, ways=1, next="L2"),
            CacheConfig("L1D", "1KiB", line_size=line, ways=2, next="L2"),
            CacheConfig("L2", "8KiB", line_size=line, ways=4),
        ),
    )


def _x86_64():
    # L1I/L1D 32 KiB 8-way: Intel Skylake through Cascade Lake and AMD Zen 2-4.
    # L2 1 MiB 16-way: Intel Skylake-SP / Cascade Lake server cores.
    # L3 32 MiB 16-way, shared: one AMD Zen 3 / Zen 4 CCD.
    return MachineConfig(
        name="x86-64",
        description="modern x86-64 core: 32 KiB 8-way L1I/L1D, 1 MiB 16-way L2, 32 MiB 16-way shared L3, 64-byte lines",
        caches=(
            CacheConfig("L1I", "32KiB", ways=8, next="L2"),
            CacheConfig("L1D", "32KiB", ways=8, next="L2"),
            CacheConfig("L2", "1MiB", ways=16, next="L3"),
            CacheConfig("L3", "32MiB", ways=16),
        ),
    )


def _skylake():
    # TLBs: Intel 64 and IA-32 Architectures Optimization Reference Manual
    # (248966), table 2-15, Skylake client (the server core's are the same);
    # the 2 MiB iTLB entries are left out (fetches from large pages fracture
    # into the 4 KiB array).  Walk caches: the default sizes of DEFAULT_WALK_CACHES.
    caches = _x86_64().caches
    return MachineConfig(
        name="skylake",
        description="x86-64 preset caches with Skylake's TLBs (64+32+4-entry L1 dTLB, 128-entry L1 iTLB, "
        "1536+16-entry STLB) and PML4E/PDPTE/PDE walk caches; replays virtual addresses",
        caches=caches,
        tlbs=(
            TLBConfig("DTLB", entries=(64, 32, 4), ways=(4, 4, 4), page_sizes=("4KiB", "2MiB", "1GiB"), next="STLB"),
            TLBConfig("ITLB", entries=128, ways=8, page_sizes=("4KiB",), next="STLB"),
            TLBConfig("STLB", entries=(1536, 16), ways=(12, 4), page_sizes=(("4KiB", "2MiB"), "1GiB")),
        ),
        mmu=MMUConfig(),
    )


#: Default location of the host's cache description (Linux sysfs).
SYSFS_CACHE_DIR = "/sys/devices/system/cpu/cpu0/cache"


def host_config(sysfs_dir=SYSFS_CACHE_DIR):
    """Read the machine's caches off Linux sysfs.

    Each ``index*`` directory under `sysfs_dir` describes one cache seen by
    CPU 0: ``level``, ``type`` (Data, Instruction, Unified), ``size``
    (``32K``), ``ways_of_associativity`` and ``coherency_line_size``.  Level 1
    Data/Instruction caches become ``L1D``/``L1I`` (a unified level 1 becomes
    ``L1``), higher levels ``L2``, ``L3``...; each level feeds the next, the
    last feeds memory.  Policies are LRU, write-back, write-allocate,
    non-inclusive (sysfs does not say).

    Parameters
    ----------
    sysfs_dir : str or os.PathLike
        Directory holding the ``index*`` subdirectories.

    Returns
    -------
    MachineConfig
        Named ``host``.

    Raises
    ------
    ValueError
        If the directory is missing or describes no usable data cache.
    """
    root = pathlib.Path(sysfs_dir)
    entries = sorted(root.glob("index*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 0)
    if not entries:
        raise ValueError(f"host: no cache description under {root} (not Linux, or sysfs not mounted)")
    found = {}
    for entry in entries:
        def read(name, entry=entry):
            return (entry / name).read_text().strip()

        try:
            level, kind = int(read("level")), read("type")
            size = parse_size(read("size"), f"{entry}/size")
            ways = int(read("ways_of_associativity"))
            line = int(read("coherency_line_size"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"host: cannot read {entry}: {exc}") from None
        if kind not in ("Data", "Instruction", "Unified"):
            continue
        name = f"L{level}"
        if level == 1:
            name += {"Data": "D", "Instruction": "I", "Unified": ""}[kind]
        if name in found:
            continue
        # sysfs reports 0 ways for some fully associative caches.
        found[name] = dict(level=level, size=size, ways=max(ways, 0), line_size=line)
    by_level = sorted({v["level"] for v in found.values()})
    caches = []
    for name, spec in found.items():
        below = [lv for lv in by_level if lv > spec["level"]]
        caches.append(
            CacheConfig(
                name,
                spec["size"],
                line_size=spec["line_size"],
                ways=spec["ways"],
                next=f"L{below[0]}" if below else None,
            )
        )
    caches.sort(key=lambda c: (found[c.name]["level"], c.name != "L1I"))
    desc = ", ".join(f"{c.name} {format_size(c.size)} {c.ways}-way" for c in caches)
    return MachineConfig(caches=caches, name="host", description=f"this machine's caches (sysfs): {desc}")


#: Named presets: name -> function returning the :class:`MachineConfig`.
PRESETS = {"teaching": _teaching, "x86-64": _x86_64, "skylake": _skylake, "host": host_config}


def preset_names():
    """Return the names of the built-in presets.

    Returns
    -------
    list of str
    """
    return list(PRESETS)


def preset(name):
    """Return a named preset.

    Parameters
    ----------
    name : str
        One of :func:`preset_names` (``teaching``, ``x86-64``, ``host``).

    Returns
    -------
    MachineConfig

    Raises
    ------
    ValueError
        If there is no such preset.
    """
    if name not in PRESETS:
        raise ValueError(f"config: unknown preset {name!r} (presets: {', '.join(PRESETS)})")
    return PRESETS[name]()


def load_config(config=None):
    """Return a machine from a preset name, a TOML file, a dict or a machine.

    Parameters
    ----------
    config : str, os.PathLike, dict, MachineConfig or None
        A preset name (see :func:`preset_names`), a path to a ``.toml``
        machine file, a dict (see :meth:`MachineConfig.from_dict`), or a
        :class:`MachineConfig` (returned as is).  None means the default
        preset, :data:`DEFAULT_PRESET`.

    Returns
    -------
    MachineConfig

    Raises
    ------
    FileNotFoundError
        If `config` looks like a file name but there is no such file.
    ValueError
        If `config` is neither a preset nor a file, or holds a bad value.
    """
    if config is None:
        return preset(DEFAULT_PRESET)
    if isinstance(config, MachineConfig):
        return config
    if isinstance(config, dict):
        return MachineConfig.from_dict(config)
    if isinstance(config, (str, os.PathLike)):
        text = os.fspath(config)
        if isinstance(config, str) and text in PRESETS:
            return preset(text)
        path = pathlib.Path(text)
        if path.is_file() or path.suffix.lower() == ".toml" or os.sep in text:
            return MachineConfig.from_toml(path)
        raise ValueError(
            f"config: {text!r} is neither a preset ({', '.join(PRESETS)}) nor a machine file"
        )
    raise ValueError(f"config: expected a preset name, a .toml path, a dict or a MachineConfig, got {config!r}")


# -- command line --------------------------------------------------------------

def register_cli(subparsers):
    """Add the ``presets`` and ``config show`` subcommands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``memcore`` command's subparsers.
    """
    p = subparsers.add_parser("presets", help="list the built-in machine presets")
    p.set_defaults(func=_cmd_presets)
    p = subparsers.add_parser(
        "config",
        help="print a machine configuration as TOML",
        description="Print a preset or a machine file as a complete TOML machine file, "
        "a starting point for writing your own.",
    )
    sub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="print a preset or machine file as TOML")
    show.add_argument("machine", nargs="?", default=DEFAULT_PRESET, help=f"preset name or .toml file (default {DEFAULT_PRESET})")
    show.set_defaults(func=_cmd_config_show)


def _cmd_presets(args):
    for name in PRESETS:
        try:
            machine = preset(name)
        except ValueError as exc:
            print(f"{name}: unavailable ({exc})")
            continue
        print(machine.summary())
        print()
    print(f"default: {DEFAULT_PRESET}")
    return 0


def _cmd_config_show(args):
    try:
        machine = load_config(args.machine)
    except (OSError, ValueError) as exc:
        print(f"memcore config: error: {_oneline(exc)}", file=sys.stderr)
        return 1
    sys.stdout.write(machine.to_toml())
    return 0


def _oneline(exc):
    """Return an exception as one line: ``FileNotFoundError`` with its file name."""
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"no such file: {exc.filename}"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return " ".join(str(exc).split())
