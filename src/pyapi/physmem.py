"""A machine's physical memory as Linux sees it: NUMA nodes, zones, GFP flags.

The firmware's memory map (e820 entries) gives the usable ranges; NUMA
affinity ranges split them into nodes; each node is cut into zones at fixed
physical boundaries (x86-64: DMA below 16 MiB, DMA32 below 4 GiB, Normal
above, plus the empty Movable and Device zones; 32-bit x86: DMA, Normal below
896 MiB, HighMem above, Movable).  Each zone owns a
:class:`memcore.buddy.BuddyAllocator` over the pfns it spans; holes, firmware
ranges and memory the kernel reserved at boot are marked reserved in it and
never handed out.

Allocation follows ``__alloc_pages``: the GFP flags choose the highest usable
zone (``gfp_zone``) and the migrate type (``gfp_migratetype``); the zonelist
of the preferred node (local node first, then the others by distance; within
a node the highest zone first) is tried at the low watermark plus the zone's
``lowmem_reserve`` (fast path); when that fails the slow path runs the
caller's policies (:func:`memcore.buddy.alloc_slowpath`).

The ``/proc`` views (:meth:`PhysicalMemory.buddyinfo`,
:meth:`PhysicalMemory.pagetypeinfo`, :meth:`PhysicalMemory.zoneinfo`) print
in the kernel's exact format (``mm/vmstat.c``).
"""
import bisect
import re
from dataclasses import dataclass

import numpy as np

from memcore import buddy as _buddy
from memcore.buddy import BuddyAllocator

__all__ = [
    "PAGE_SHIFT", "PAGE_SIZE", "E820Entry", "parse_e820", "PhysicalMemory", "Zone", "Node",
    "gfp_zone", "gfp_migratetype", "parse_buddyinfo", "parse_pagetypeinfo", "parse_zoneinfo",
    "ZONE_NAMES_64", "ZONE_NAMES_32", "read_firmware_memmap", "MEMMAP_TYPES", "register_cli",
]

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
#: Pages per memory section (x86-64 ``SECTION_SIZE_BITS`` = 27: 128 MiB).
PAGES_PER_SECTION = 1 << (27 - PAGE_SHIFT)

# --- GFP flags (include/linux/gfp_types.h, Linux 6.8 bit values) ------------

__GFP_DMA = 0x01
__GFP_HIGHMEM = 0x02
__GFP_DMA32 = 0x04
__GFP_MOVABLE = 0x08
__GFP_RECLAIMABLE = 0x10
__GFP_HIGH = 0x20
__GFP_IO = 0x40
__GFP_FS = 0x80
__GFP_ZERO = 0x100
__GFP_DIRECT_RECLAIM = 0x400
__GFP_KSWAPD_RECLAIM = 0x800
__GFP_WRITE = 0x1000
__GFP_NOWARN = 0x2000
__GFP_RETRY_MAYFAIL = 0x4000
__GFP_NOFAIL = 0x8000
__GFP_NORETRY = 0x10000
__GFP_MEMALLOC = 0x20000
__GFP_COMP = 0x40000
__GFP_NOMEMALLOC = 0x80000
__GFP_HARDWALL = 0x100000
__GFP_THISNODE = 0x200000
__GFP_ACCOUNT = 0x400000

__GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM
GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM
GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS
GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT
GFP_NOWAIT = __GFP_KSWAPD_RECLAIM
GFP_NOIO = __GFP_RECLAIM
GFP_NOFS = __GFP_RECLAIM | __GFP_IO
GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL
GFP_DMA = __GFP_DMA
GFP_DMA32 = __GFP_DMA32
GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM
GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE
GFP_TRANSHUGE_LIGHT = ((GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN)
                       & ~__GFP_RECLAIM)
GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM

__all__ += [n for n in list(globals()) if n.startswith(("GFP_", "__GFP_"))]

# Aliases for use inside classes (where __GFP_* names would be mangled).
_F_THISNODE = __GFP_THISNODE
_F_HIGH = __GFP_HIGH
_F_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM
_F_KSWAPD_RECLAIM = __GFP_KSWAPD_RECLAIM
_F_NORETRY = __GFP_NORETRY

GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE
GFP_MOVABLE_SHIFT = 3

# --- zones ------------------------------------------------------------------

#: Zone names of an x86-64 kernel, by zone index (``enum zone_type``).
ZONE_NAMES_64 = ("DMA", "DMA32", "Normal", "Movable", "Device")
#: Zone names of a 32-bit x86 kernel with HIGHMEM.
ZONE_NAMES_32 = ("DMA", "Normal", "HighMem", "Movable")
#: ``sysctl_lowmem_reserve_ratio`` per zone name (0: no reserve).
LOWMEM_RESERVE_RATIO = {"DMA": 256, "DMA32": 256, "Normal": 32, "HighMem": 0,
                        "Movable": 0, "Device": 0}
#: Migrate type rows of ``/proc/pagetypeinfo`` (x86-64 without CMA).
PAGETYPE_NAMES = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate")

_MAX_DMA_PFN = (16 << 20) >> PAGE_SHIFT
_MAX_DMA32_PFN = (4 << 30) >> PAGE_SHIFT
_MAX_LOWMEM_PFN_32 = (896 << 20) >> PAGE_SHIFT


def _zone_limits(arch):
    # (name, lowest pfn, highest pfn + 1) of each zone that holds memory by address
    if arch == "x86_64":
        return [("DMA", 0, _MAX_DMA_PFN), ("DMA32", _MAX_DMA_PFN, _MAX_DMA32_PFN),
                ("Normal", _MAX_DMA32_PFN, 1 << 52)]
    if arch == "i386":
        return [("DMA", 0, _MAX_DMA_PFN), ("Normal", _MAX_DMA_PFN, _MAX_LOWMEM_PFN_32),
                ("HighMem", _MAX_LOWMEM_PFN_32, 1 << 52)]
    raise ValueError(f"arch must be 'x86_64' or 'i386', got {arch!r}")


def gfp_zone(gfp, arch="x86_64"):
    """The highest zone index an allocation may use (``gfp_zone``).

    Parameters
    ----------
    gfp : int
        GFP flags.
    arch : {"x86_64", "i386"}
        Zone layout.

    Returns
    -------
    int
        Zone index into :data:`ZONE_NAMES_64` or :data:`ZONE_NAMES_32`.

    Raises
    ------
    ValueError
        For an invalid combination of zone modifiers (``GFP_ZONE_BAD``).
    """
    names = ZONE_NAMES_64 if arch == "x86_64" else ZONE_NAMES_32
    bits = gfp & GFP_ZONEMASK
    highmem = "HighMem" if "HighMem" in names else "Normal"
    dma32 = "DMA32" if "DMA32" in names else "Normal"
    table = {
        0: "Normal",
        __GFP_DMA: "DMA",
        __GFP_HIGHMEM: highmem,
        __GFP_DMA32: dma32,
        __GFP_MOVABLE: "Normal",
        __GFP_MOVABLE | __GFP_DMA: "DMA",
        __GFP_MOVABLE | __GFP_HIGHMEM: "Movable",
        __GFP_MOVABLE | __GFP_DMA32: dma32,
    }
    if bits not in table:
        raise ValueError(f"gfp {gfp:#x}: invalid zone modifier combination {bits:#x}")
    return names.index(table[bits])


def gfp_migratetype(gfp):
    """The migrate type of an allocation (``gfp_migratetype``).

    Parameters
    ----------
    gfp : int
        GFP flags.

    Returns
    -------
    int
        ``MIGRATE_UNMOVABLE`` (0), ``MIGRATE_MOVABLE`` (1, ``__GFP_MOVABLE``)
        or ``MIGRATE_RECLAIMABLE`` (2, ``__GFP_RECLAIMABLE``).
    """
    bits = gfp & (__GFP_MOVABLE | __GFP_RECLAIMABLE)
    if bits == (__GFP_MOVABLE | __GFP_RECLAIMABLE):
        raise ValueError(f"gfp {gfp:#x}: __GFP_MOVABLE and __GFP_RECLAIMABLE together")
    return bits >> GFP_MOVABLE_SHIFT


# --- the firmware memory map ---------------------------------------------------

#: e820 type names as the kernel prints them.
E820_TYPES = ("usable", "reserved", "ACPI data", "ACPI NVS", "unusable")


@dataclass(frozen=True)
class E820Entry:
    """One firmware memory-map range.

    Parameters
    ----------
    start : int
        First byte address.
    end : int
        Last byte address (inclusive, as the kernel prints it).
    type : str
        One of :data:`E820_TYPES`.
    """

    start: int
    end: int
    type: str

    def __post_init__(self):
        if self.type not in E820_TYPES:
            raise ValueError(f"e820 entry type must be one of {E820_TYPES}, got {self.type!r}")
        if not 0 <= self.start <= self.end:
            raise ValueError(f"e820 entry [{self.start:#x}-{self.end:#x}]: start must be <= end")

    def __str__(self):
        return f"BIOS-e820: [mem {self.start:#018x}-{self.end:#018x}] {self.type}"


_E820_RE = re.compile(r"e820: \[mem (0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)\] (.+?)\s*$")


def parse_e820(text):
    """Read an e820 map from the kernel's boot log lines.

    Parameters
    ----------
    text : str
        Lines such as ``BIOS-e820: [mem 0x0000000000100000-0x00000000bfffffff] usable``
        (``dmesg`` output; other lines are ignored).

    Returns
    -------
    list of E820Entry
    """
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if "BIOS-e820:" not in line:
            continue
        m = _E820_RE.search(line)
        if not m:
            raise ValueError(f"e820 line {n}: cannot parse {line!r}")
        out.append(E820Entry(int(m.group(1), 16), int(m.group(2), 16), m.group(3)))
    return out


#: Type names of ``/sys/firmware/memmap/*/type`` and the e820 type each means.
MEMMAP_TYPES = {"System RAM": "usable", "Reserved": "reserved", "ACPI Tables": "ACPI data",
                "ACPI Non-volatile Storage": "ACPI NVS", "Unusable memory": "unusable"}


def read_firmware_memmap(path="/sys/firmware/memmap"):
    """Read the firmware memory map the running kernel exports.

    Parameters
    ----------
    path : str, optional
        The ``/sys/firmware/memmap`` directory (one subdirectory per entry
        with ``start``, ``end`` and ``type``).

    Returns
    -------
    list of E820Entry
        Sorted by address.  Types other than those of :data:`MEMMAP_TYPES`
        (persistent or soft-reserved memory) are read as ``"reserved"``.
    """
    import os
    out = []
    try:
        names = os.listdir(path)
    except OSError as exc:
        raise ValueError(f"cannot read the firmware memory map at {path}: {exc}") from None
    for name in names:
        d = os.path.join(path, name)
        try:
            with open(os.path.join(d, "start")) as f:
                start = int(f.read(), 16)
            with open(os.path.join(d, "end")) as f:
                end = int(f.read(), 16)
            with open(os.path.join(d, "type")) as f:
                typ = f.read().strip()
        except (OSError, ValueError) as exc:
            raise ValueError(f"firmware memory map entry {d}: {exc}") from None
        out.append(E820Entry(start, end, MEMMAP_TYPES.get(typ, "reserved")))
    return sorted(out, key=lambda e: e.start)


def _read_host_nodes(root="/sys/devices/system"):
    # NUMA nodes as (start, end) byte spans of their memory blocks, and the
    # distance matrix; None when the machine has a single node.
    import glob
    import os
    nodes = sorted(glob.glob(os.path.join(root, "node", "node[0-9]*")),
                   key=lambda p: int(p.rsplit("node", 1)[1]))
    if len(nodes) < 2:
        return None, None
    with open(os.path.join(root, "memory", "block_size_bytes")) as f:
        block = int(f.read(), 16)
    spans, distance = [], []
    for nd in nodes:
        blocks = [int(p.rsplit("memory", 1)[1]) for p in glob.glob(os.path.join(nd, "memory[0-9]*"))]
        spans.append((min(blocks) * block, (max(blocks) + 1) * block) if blocks else (0, 0))
        with open(os.path.join(nd, "distance")) as f:
            distance.append([int(v) for v in f.read().split()])
    return spans, distance


def _subtract(ranges, cut):
    # pfn ranges minus pfn ranges, all half-open
    out = []
    for s, e in ranges:
        pieces = [(s, e)]
        for cs, ce in cut:
            nxt = []
            for a, b in pieces:
                if ce <= a or cs >= b:
                    nxt.append((a, b))
                    continue
                if a < cs:
                    nxt.append((a, cs))
                if ce < b:
                    nxt.append((ce, b))
            pieces = nxt
        out.extend(pieces)
    return sorted(out)


# --- nodes and zones ---------------------------------------------------------------

class Zone:
    """One zone of one node.

    Attributes
    ----------
    node : int
        Node id.
    index : int
        Zone index (``enum zone_type``).
    name : str
        ``"DMA"``, ``"DMA32"``, ``"Normal"``, ``"HighMem"``, ``"Movable"``,
        ``"Device"``.
    start_pfn : int
        ``zone_start_pfn``.
    spanned : int
        Pages from the first to the last pfn, holes included.
    present : int
        Pages of usable memory (``present_pages``).
    managed : int
        Present pages not reserved at boot (``managed_pages``): the ones the
        buddy allocator manages.
    buddy : memcore.buddy.BuddyAllocator
        The zone's allocator over ``[start_pfn, start_pfn + spanned)``.
    lowmem_reserve : list of int
        ``lowmem_reserve[j]``: pages kept back from allocations whose
        highest zone is j (``protection`` in ``/proc/zoneinfo``).
    """

    def __init__(self, node, index, name, start_pfn, spanned, present, buddy):
        self.node = node
        self.index = index
        self.name = name
        self.start_pfn = start_pfn
        self.spanned = spanned
        self.present = present
        self.buddy = buddy
        self.lowmem_reserve = []

    @property
    def managed(self):
        """Managed pages (int)."""
        return self.buddy.managed_pages

    @property
    def end_pfn(self):
        """One past the last spanned pfn (int)."""
        return self.start_pfn + self.spanned

    @property
    def populated(self):
        """True when the zone has present pages (``populated_zone``)."""
        return self.present > 0

    def __repr__(self):
        return (f"Zone(node={self.node}, name={self.name!r}, start_pfn={self.start_pfn}, "
                f"spanned={self.spanned}, present={self.present}, managed={self.managed})")


class Node:
    """A NUMA node (``pg_data_t``): its zones, in zone-index order.

    Attributes
    ----------
    id : int
    zones : list of Zone
    start_pfn, end_pfn : int
        First and one past the last pfn of the node's memory (0, 0 when
        memoryless).
    """

    def __init__(self, node_id, zones, start_pfn, end_pfn):
        self.id = node_id
        self.zones = zones
        self.start_pfn = start_pfn
        self.end_pfn = end_pfn

    @property
    def has_memory(self):
        """True if any zone has present pages (``N_MEMORY``)."""
        return any(z.populated for z in self.zones)

    def __repr__(self):
        return f"Node({self.id}, pfns [{self.start_pfn}, {self.end_pfn}), {len(self.zones)} zones)"


class PhysicalMemory:
    """A machine's physical memory: nodes, zones, buddy allocators.

    Parameters
    ----------
    e820 : sequence of E820Entry or (start, end_inclusive, type) tuples
        The firmware memory map.
    nodes : sequence of (start, end) byte ranges, optional
        Each NUMA node's physical range (end exclusive; SRAT memory
        affinity).  Default: one node holding everything.
    distance : array_like, optional
        Node distance matrix (SLIT); default 10 on the diagonal, 20 elsewhere.
    arch : {"x86_64", "i386"}, optional
        Zone layout (default ``"x86_64"``).
    kernel_reserved : sequence of (start, end) byte ranges, optional
        Memory the kernel reserves at boot (``memblock_reserve``: kernel
        image, initrd, ...).  Default: the first 1 MiB, which x86 always
        reserves.
    trim_bios : bool, optional
        Apply x86's boot-time fix-ups of the e820 map (page 0 becomes
        reserved, 640 KiB .. 1 MiB is removed from usable memory).  Default
        True.
    min_free_kbytes : int, optional
        ``vm.min_free_kbytes``; default Linux's ``calculate_min_free_kbytes``
        of the low memory.
    watermark_scale_factor : int, optional
        ``vm.watermark_scale_factor`` (default 10).
    wake_kswapd, direct_reclaim, out_of_memory : callable, optional
        Slow-path policies: ``wake_kswapd(physmem, zone, order)``,
        ``direct_reclaim(physmem, order, gfp)`` → pages reclaimed,
        ``out_of_memory(physmem, order, gfp)`` → True if memory was freed.
    on_migrate : callable, optional
        ``on_migrate(zone, moved)`` after compaction moved blocks; `moved`
        is the ``(old_pfn, new_pfn, order)`` array of
        :meth:`memcore.buddy.BuddyAllocator.compact`.
    compaction : bool, optional
        Let the slow path compact (default True).
    """

    def __init__(self, e820, nodes=None, distance=None, *, arch="x86_64",
                 kernel_reserved=((0, 1 << 20),), trim_bios=True, min_free_kbytes=None,
                 watermark_scale_factor=10, wake_kswapd=None, direct_reclaim=None,
                 out_of_memory=None, on_migrate=None, compaction=True):
        limits = _zone_limits(arch)
        self.arch = arch
        self.zone_names = ZONE_NAMES_64 if arch == "x86_64" else ZONE_NAMES_32
        entries = [e if isinstance(e, E820Entry) else E820Entry(*e) for e in e820]
        self.e820 = entries
        usable = []
        for e in entries:
            if e.type == "usable":
                s = (e.start + PAGE_SIZE - 1) >> PAGE_SHIFT      # PFN_UP
                t = (e.end + 1) >> PAGE_SHIFT                    # PFN_DOWN of end+1
                if s < t:
                    usable.append((s, t))
        usable = sorted(usable)
        if trim_bios and arch in ("x86_64", "i386"):
            usable = _subtract(usable, [(0, 1), (0xA0000 >> PAGE_SHIFT, 0x100000 >> PAGE_SHIFT)])
        if not usable:
            raise ValueError("e820: the map has no usable memory")
        self.usable_ranges = usable
        reserved = []
        for k, rng in enumerate(kernel_reserved or ()):
            try:
                s, t = (int(v) for v in rng)
            except (TypeError, ValueError):
                raise ValueError(f"kernel_reserved[{k}] must be a (start, end) pair, got {rng!r}") from None
            if s > t:
                raise ValueError(f"kernel_reserved[{k}] = {rng!r}: start > end")
            reserved.append((s >> PAGE_SHIFT, (t + PAGE_SIZE - 1) >> PAGE_SHIFT))
        self.kernel_reserved = reserved
        if nodes is None:
            nodes = [(0, usable[-1][1] << PAGE_SHIFT)]
        node_ranges = []
        for k, rng in enumerate(nodes):
            try:
                s, t = (int(v) for v in rng)
            except (TypeError, ValueError):
                raise ValueError(f"nodes[{k}] must be a (start, end) pair, got {rng!r}") from None
            if s > t:
                raise ValueError(f"nodes[{k}] = {rng!r}: start > end")
            node_ranges.append((s >> PAGE_SHIFT, t >> PAGE_SHIFT))
        n_nodes = len(node_ranges)
        if n_nodes == 0:
            raise ValueError("nodes: at least one node is needed")
        if distance is None:
            distance = [[10 if i == j else 20 for j in range(n_nodes)] for i in range(n_nodes)]
        distance = np.asarray(distance, dtype=np.int64)
        if distance.shape != (n_nodes, n_nodes):
            raise ValueError(f"distance must be {n_nodes}x{n_nodes}, got shape {distance.shape}")
        self.distance = distance
        self.wake_kswapd = wake_kswapd
        self.direct_reclaim = direct_reclaim
        self.out_of_memory = out_of_memory
        self.on_migrate = on_migrate
        self.compaction = compaction

        self.nodes = []
        for nid, (ns, ne) in enumerate(node_ranges):
            mem = [(max(s, ns), min(t, ne)) for s, t in usable if min(t, ne) > max(s, ns)]
            node_start = mem[0][0] if mem else 0
            node_end = mem[-1][1] if mem else 0
            zones = []
            for idx, name in enumerate(self.zone_names):
                lim = next((lm for lm in limits if lm[0] == name), None)
                if lim is None or not mem:
                    zs = ze = 0
                else:
                    zs = min(max(node_start, lim[1]), lim[2])
                    ze = min(max(node_end, lim[1]), lim[2])
                spanned = ze - zs
                present_r = [(max(s, zs), min(t, ze)) for s, t in mem if min(t, ze) > max(s, zs)]
                present = sum(t - s for s, t in present_r)
                holes = _subtract([(zs, ze)], present_r)
                not_managed = _subtract(present_r, _subtract(present_r, reserved))
                buddy = BuddyAllocator(spanned, zs, reserved=holes + not_managed, compaction=compaction)
                zones.append(Zone(nid, idx, name, zs, spanned, present, buddy))
            self.nodes.append(Node(nid, zones, node_start, node_end))
        self.zones = [z for n in self.nodes for z in n.zones]
        spans = sorted((z.start_pfn, z.end_pfn, i) for i, z in enumerate(self.zones) if z.spanned)
        for a, b in zip(spans, spans[1:]):
            if b[0] < a[1]:
                raise ValueError("nodes overlap: zones "
                                 f"{self.zones[a[2]]!r} and {self.zones[b[2]]!r} share pfns")
        self._span_starts = [s for s, _, _ in spans]
        self._span_zones = [self.zones[i] for _, _, i in spans]
        self._setup_lowmem_reserve()
        lowmem_managed = sum(z.managed for z in self.zones
                             if z.index <= self.zone_names.index("Normal"))
        if min_free_kbytes is None:
            min_free_kbytes = _buddy.calculate_min_free_kbytes(lowmem_managed * (PAGE_SIZE >> 10))
        self.min_free_kbytes = int(min_free_kbytes)
        self.watermark_scale_factor = watermark_scale_factor
        wms = _buddy.setup_per_zone_wmarks(
            [z.managed for z in self.zones],
            [z.name not in ("HighMem", "Movable") for z in self.zones],
            self.min_free_kbytes, watermark_scale_factor)
        for z, wm in zip(self.zones, wms):
            z.buddy.set_watermarks(*wm)

    @classmethod
    def from_host(cls, **options):
        """Model this machine's physical memory.

        Reads the firmware map from ``/sys/firmware/memmap`` and, on a NUMA
        machine, the nodes' memory blocks and distances from
        ``/sys/devices/system``.

        Parameters
        ----------
        **options
            Other arguments of :class:`PhysicalMemory` (``kernel_reserved``,
            ``min_free_kbytes``, callbacks, ...).

        Returns
        -------
        PhysicalMemory
        """
        e820 = read_firmware_memmap()
        nodes, distance = _read_host_nodes()
        return cls(e820, nodes, distance, **options)

    def _setup_lowmem_reserve(self):
        # setup_per_zone_lowmem_reserve
        for node in self.nodes:
            zs = node.zones
            for i, z in enumerate(zs):
                z.lowmem_reserve = [0] * len(zs)
                ratio = LOWMEM_RESERVE_RATIO[z.name]
                if i == len(zs) - 1:
                    continue
                clear = not ratio or not z.managed
                managed = 0
                for j in range(i + 1, len(zs)):
                    managed += zs[j].managed
                    z.lowmem_reserve[j] = 0 if clear else managed // ratio

    # -- lookup -----------------------------------------------------------------

    def page_zone(self, pfn):
        """The zone that spans `pfn` (``page_zone``).

        Parameters
        ----------
        pfn : int

        Returns
        -------
        Zone

        Raises
        ------
        ValueError
            If no zone spans `pfn`.
        """
        k = bisect.bisect_right(self._span_starts, pfn) - 1
        if k >= 0 and pfn < self._span_zones[k].end_pfn:
            return self._span_zones[k]
        raise ValueError(f"pfn {pfn} ({pfn << PAGE_SHIFT:#x}) is in no zone")

    def zone(self, node, name):
        """The zone of `node` called `name`.

        Parameters
        ----------
        node : int
        name : str

        Returns
        -------
        Zone
        """
        self._check_node(node)
        for z in self.nodes[node].zones:
            if z.name == name:
                return z
        raise ValueError(f"zone name must be one of {self.zone_names}, got {name!r}")

    def _check_node(self, node):
        if not 0 <= node < len(self.nodes):
            raise ValueError(f"node must be in 0..{len(self.nodes) - 1}, got {node}")

    def node_order(self, node):
        """Nodes by distance from `node`, nearest (itself) first; ties by id.

        Parameters
        ----------
        node : int

        Returns
        -------
        list of int
        """
        self._check_node(node)
        d = self.distance[node]
        return sorted(range(len(self.nodes)), key=lambda n: (n != node, int(d[n]), n))

    def zonelist(self, node=0, gfp=GFP_KERNEL):
        """The zones an allocation tries, in order (``ZONELIST_FALLBACK``).

        Node order (local node, then by distance), and within each node the
        zones with managed pages from the highest allowed one down
        (``build_zonerefs_node``), filtered to zones no higher than
        ``gfp_zone(gfp)``; with ``__GFP_THISNODE`` only the local node.

        Parameters
        ----------
        node : int, optional
            Preferred node.
        gfp : int, optional
            GFP flags.

        Returns
        -------
        list of Zone
        """
        high = gfp_zone(gfp, self.arch)
        nodes = [node] if gfp & _F_THISNODE else self.node_order(node)
        self._check_node(node)
        out = []
        for n in nodes:
            for z in reversed(self.nodes[n].zones):
                if z.index <= high and z.managed > 0:
                    out.append(z)
        return out

    # -- allocation -------------------------------------------------------------

    def alloc_pages(self, gfp, order, node=None):
        """Allocate ``2**order`` pages (``__alloc_pages``).

        Parameters
        ----------
        gfp : int
            GFP flags (``GFP_KERNEL``, ``GFP_USER``, ``GFP_HIGHUSER_MOVABLE``,
            ``GFP_DMA``, ``GFP_DMA32``, ``GFP_ATOMIC`` ... with modifiers).
        order : int
            0..10.
        node : int, optional
            Preferred node (default 0).

        Returns
        -------
        int or None
            First pfn of the block, or None when it cannot be had.
        """
        node = 0 if node is None else int(node)
        self._check_node(node)
        order = _buddy._check_order(order)
        mt = gfp_migratetype(gfp)
        high = gfp_zone(gfp, self.arch)
        zl = self.zonelist(node, gfp)

        nofrag = self._alloc_nofragment(zl)

        def attempt(wmark):
            # get_page_from_freelist; ALLOC_NOFRAGMENT only on the fast path
            no_fallback = nofrag and wmark == "low"
            while True:
                restart = False
                for z in zl:
                    if (no_fallback and len(self.nodes) > 1 and z is not zl[0]
                            and z.node != zl[0].node):
                        # do not fragment the local node: first try remote
                        # nodes without the flag
                        no_fallback = False
                        restart = True
                        break
                    b = z.buddy
                    mark = b.watermarks[wmark]
                    if wmark == "min" and gfp & _F_HIGH:
                        mark -= mark // 2                      # ALLOC_MIN_RESERVE
                    pfn = b.alloc_fast(order, mt, mark=mark + z.lowmem_reserve[high],
                                       nofragment=no_fallback)
                    if pfn is not None:
                        return pfn
                if restart:
                    continue
                if no_fallback:
                    no_fallback = False
                    continue
                return None

        pfn = attempt("low")
        if pfn is not None:
            return pfn
        direct = bool(gfp & _F_DIRECT_RECLAIM)

        def compact(o):
            n = 0
            for z in zl:
                moved = z.buddy.compact(o, mt)
                if moved.shape[0] and self.on_migrate is not None:
                    self.on_migrate(z, moved)
                n += moved.shape[0]
            return n

        kswapd = None
        if gfp & _F_KSWAPD_RECLAIM and self.wake_kswapd is not None:
            def kswapd(o):
                for z in zl:
                    self.wake_kswapd(self, z, o)
        reclaim = oom = None
        if direct and self.direct_reclaim is not None:
            def reclaim(o):
                return self.direct_reclaim(self, o, gfp)
        if direct and self.out_of_memory is not None and not gfp & _F_NORETRY:
            def oom(o):
                return self.out_of_memory(self, o, gfp)
        return _buddy.alloc_slowpath(
            attempt, compact if (direct and self.compaction) else None, order,
            wake_kswapd=kswapd, direct_reclaim=reclaim, out_of_memory=oom)

    def _alloc_nofragment(self, zl):
        # alloc_flags_nofragment: with a DMA32 zone, a request whose
        # preferred zone is Normal avoids mixing pageblocks (ALLOC_NOFRAGMENT)
        if self.arch != "x86_64" or not zl or zl[0].name != "Normal":
            return False
        if len(self.nodes) > 1 and not self.zone(zl[0].node, "DMA32").populated:
            return False
        return True

    def free_pages(self, pfn, order):
        """Free a block that :meth:`alloc_pages` returned.

        Parameters
        ----------
        pfn : int
        order : int

        Raises
        ------
        ValueError
            As :meth:`memcore.buddy.BuddyAllocator.free`, or when no zone
            spans `pfn`.
        """
        self.page_zone(int(pfn)).buddy.free(pfn, order)

    def compact(self, node=None):
        """Compact every zone (``/proc/sys/vm/compact_memory``).

        Parameters
        ----------
        node : int, optional
            Only this node's zones.

        Returns
        -------
        dict
            ``{(node, zone name): moved}`` for zones where blocks moved.
        """
        out = {}
        for z in self.zones:
            if node is not None and z.node != node:
                continue
            moved = z.buddy.compact()
            if moved.shape[0]:
                out[(z.node, z.name)] = moved
                if self.on_migrate is not None:
                    self.on_migrate(z, moved)
        return out

    # -- /proc views ----------------------------------------------------------------

    def buddyinfo(self):
        """``/proc/buddyinfo``: free blocks per order of each populated zone.

        Returns
        -------
        str
        """
        lines = []
        for z in self.zones:
            if not z.populated:
                continue
            lines.append(_buddyinfo_line(z.node, z.name, z.buddy.free_counts()) + "\n")
        return "".join(lines)

    def pagetypeinfo(self):
        """``/proc/pagetypeinfo``: free blocks per migrate type and pageblock counts.

        Rows are printed for the types of an x86-64 kernel without CMA
        (:data:`PAGETYPE_NAMES`); HighAtomic and Isolate are not modelled
        and are always 0.  The page-owner mixed-block section is not printed
        (the kernel prints it only with page_owner enabled).

        Returns
        -------
        str
        """
        out = []
        ntypes = len(PAGETYPE_NAMES)
        for node in self.nodes:
            if not node.has_memory:
                continue
            out.append(f"Page block order: {_buddy.PAGEBLOCK_ORDER}\n")
            out.append(f"Pages per block:  {_buddy.PAGEBLOCK_NR_PAGES}\n\n")
            out.append(f"{'Free pages count per migrate type at order':<43s} "
                       + "".join(f"{o:6d} " for o in range(_buddy.NR_PAGE_ORDERS)) + "\n")
            for z in node.zones:
                if not z.populated:
                    continue
                by_type = z.buddy.free_counts_by_type()
                for t in range(ntypes):
                    row = by_type[t] if t < by_type.shape[0] else [0] * _buddy.NR_PAGE_ORDERS
                    out.append(_pagetype_line(node.id, z.name, PAGETYPE_NAMES[t],
                                              [str(int(c)) for c in row]) + "\n")
            out.append(f"\n{'Number of blocks type ':<23s}"
                       + "".join(f"{n:>12s} " for n in PAGETYPE_NAMES) + "\n")
            for z in node.zones:
                if not z.populated:
                    continue
                counts = self._pageblock_counts(z, ntypes)
                out.append(_blockcount_line(node.id, z.name, counts) + "\n")
        return "".join(out)

    def _pageblock_counts(self, z, ntypes):
        # pagetypeinfo_showblockcount_print: pfn = start, start + 512, ...
        # skipping pfns in memory sections without memory (pfn_to_online_page)
        counts = [0] * ntypes
        sections = {s >> 15 for s0, e0 in self.usable_ranges
                    for s in range(s0 - s0 % PAGES_PER_SECTION, e0, PAGES_PER_SECTION)}
        pbm = z.buddy.pageblock_migratetype
        first_block = z.start_pfn >> _buddy.PAGEBLOCK_ORDER
        for pfn in range(z.start_pfn, z.end_pfn, _buddy.PAGEBLOCK_NR_PAGES):
            if pfn // PAGES_PER_SECTION not in sections:
                continue
            counts[int(pbm[(pfn >> _buddy.PAGEBLOCK_ORDER) - first_block])] += 1
        return counts

    def zoneinfo(self):
        """``/proc/zoneinfo``: the key per-zone fields, in the kernel's format.

        For every zone of every node (populated or not): pages free, boost,
        min, low, high, promo, spanned, present, managed, cma, protection;
        for populated zones also ``nr_free_pages``, ``node_unreclaimable``
        and ``start_pfn``.  Not printed: the per-node statistics the kernel
        shows under the first populated zone, the other vmstat counters and
        the per-CPU pagesets (not modelled).

        Returns
        -------
        str
        """
        out = []
        for z in self.zones:
            b = z.buddy
            wm = b.watermarks
            out.append(f"Node {z.node}, zone {z.name:>8s}")
            out.append(f"\n  pages free     {b.free_pages}"
                       f"\n        boost    0"
                       f"\n        min      {wm['min']}"
                       f"\n        low      {wm['low']}"
                       f"\n        high     {wm['high']}"
                       f"\n        promo    {wm['promo']}"
                       f"\n        spanned  {z.spanned}"
                       f"\n        present  {z.present}"
                       f"\n        managed  {z.managed}"
                       f"\n        cma      0")
            out.append("\n        protection: (" + ", ".join(str(r) for r in z.lowmem_reserve) + ")")
            if not z.populated:
                out.append("\n")
                continue
            out.append(f"\n      {'nr_free_pages':<12s} {b.free_pages}")
            out.append(f"\n  node_unreclaimable:  0\n  start_pfn:           {z.start_pfn}\n")
        return "".join(out)

    def __repr__(self):
        return (f"PhysicalMemory(arch={self.arch!r}, nodes={len(self.nodes)}, "
                f"managed={sum(z.managed for z in self.zones)} pages)")


# --- parsers for the /proc formats ------------------------------------------------------

_BUDDY_RE = re.compile(r"^Node (\d+), zone +(\S+) ((?: *\d+ ){11})$")
_PTYPE_RE = re.compile(r"^Node +(\d+), zone +(\S+), type +(\S+) ((?: *>?\d+ ){11})$")
_BLOCK_RE = re.compile(r"^Node (\d+), zone +(\S+) ((?: *\d+ )+)$")


def _buddyinfo_line(node, zone, counts):
    return f"Node {node}, zone {zone:>8s} " + "".join(f"{int(c):6d} " for c in counts)


def _pagetype_line(node, zone, mtype, counts):
    return (f"Node {node:4d}, zone {zone:>8s}, type {mtype:>12s} "
            + "".join(f"{c:>6s} " for c in counts))


def _blockcount_line(node, zone, counts):
    return f"Node {node}, zone {zone:>8s} " + "".join(f"{int(c):12d} " for c in counts)


def parse_buddyinfo(text):
    """Parse ``/proc/buddyinfo`` text, strictly.

    Each line must be exactly what the kernel prints for the values read
    from it (``"Node %d, zone %8s "`` then ``"%6lu "`` per order).

    Parameters
    ----------
    text : str

    Returns
    -------
    list of tuple
        ``(node, zone name, [11 free block counts])`` per line.

    Raises
    ------
    ValueError
        On a line not in the kernel's format (names the line).
    """
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        m = _BUDDY_RE.match(line)
        counts = [int(v) for v in m.group(3).split()] if m else None
        if not m or _buddyinfo_line(int(m.group(1)), m.group(2), counts) != line:
            raise ValueError(f"buddyinfo line {n}: not in the kernel's format: {line!r}")
        out.append((int(m.group(1)), m.group(2), counts))
    return out


def parse_pagetypeinfo(text):
    """Parse ``/proc/pagetypeinfo`` text (free counts and block counts).

    Parameters
    ----------
    text : str

    Returns
    -------
    dict
        ``{"pageblock_order": int, "free": {(node, zone, type): [11 counts]},
        "blocks": {(node, zone): [counts per type]}, "types": [names]}``.

    Raises
    ------
    ValueError
        On a line in no known format.
    """
    res = {"pageblock_order": None, "free": {}, "blocks": {}, "types": []}
    for n, line in enumerate(text.splitlines(), 1):
        if line == "" or line.startswith("Pages per block:  "):
            continue
        if line.startswith("Page block order: "):
            res["pageblock_order"] = int(line.split(":")[1])
            continue
        if line.startswith("Free pages count per migrate type at order"):
            continue
        if line.startswith("Number of blocks type "):
            res["types"] = line[23:].split()
            continue
        m = _PTYPE_RE.match(line)
        if m:
            if _pagetype_line(int(m.group(1)), m.group(2), m.group(3), m.group(4).split()) != line:
                raise ValueError(f"pagetypeinfo line {n}: not in the kernel's format: {line!r}")
            res["free"][(int(m.group(1)), m.group(2), m.group(3))] = [
                int(v.lstrip(">")) for v in m.group(4).split()]
            continue
        m = _BLOCK_RE.match(line)
        if m:
            if _blockcount_line(int(m.group(1)), m.group(2), m.group(3).split()) != line:
                raise ValueError(f"pagetypeinfo line {n}: not in the kernel's format: {line!r}")
            res["blocks"][(int(m.group(1)), m.group(2))] = [int(v) for v in m.group(3).split()]
            continue
        if line.startswith("Number of mixed blocks") or res.get("_mixed"):
            res["_mixed"] = True
            continue
        raise ValueError(f"pagetypeinfo line {n}: not in the kernel's format: {line!r}")
    res.pop("_mixed", None)
    return res


_ZI_HEAD = re.compile(r"^Node (\d+), zone +(\S+)$")
_ZI_FIELD = re.compile(r"^ +(pages free|boost|min|low|high|promo|spanned|present|managed|cma) +(\d+)$")
_ZI_PROT = re.compile(r"^        protection: \((-?\d+(?:, -?\d+)*)\)$")
_ZI_STAT = re.compile(r"^      (\S+) +(\d+)$")
_ZI_TAIL = re.compile(r"^  (node_unreclaimable|start_pfn): +(\d+)$")


def parse_zoneinfo(text):
    """Parse the key fields of ``/proc/zoneinfo``.

    Parameters
    ----------
    text : str

    Returns
    -------
    dict
        ``{(node, zone): {field: int, "protection": [int, ...]}}`` with the
        fields pages free (as ``"free"``), boost, min, low, high, promo,
        spanned, present, managed, cma, nr_free_pages, node_unreclaimable,
        start_pfn.  Per-node statistics and pagesets are skipped.
    """
    res = {}
    cur = None
    for line in text.splitlines():
        m = _ZI_HEAD.match(line)
        if m:
            cur = res.setdefault((int(m.group(1)), m.group(2)), {})
            continue
        if cur is None:
            raise ValueError(f"zoneinfo: data before the first zone header: {line!r}")
        m = _ZI_FIELD.match(line)
        if m:
            cur["free" if m.group(1) == "pages free" else m.group(1)] = int(m.group(2))
            continue
        m = _ZI_PROT.match(line)
        if m:
            cur["protection"] = [int(v) for v in m.group(1).split(", ")]
            continue
        m = _ZI_TAIL.match(line)
        if m:
            cur[m.group(1)] = int(m.group(2))
            continue
        m = _ZI_STAT.match(line)
        if m and m.group(1) == "nr_free_pages":
            cur["nr_free_pages"] = int(m.group(2))
    return res


# --- command line -------------------------------------------------------------------

def register_cli(subparsers):
    """Add the ``memcore physmem`` subcommand.

    ``memcore physmem [--host | --e820 FILE] [--arch ARCH]
    [--min-free-kbytes N] {buddyinfo,pagetypeinfo,zoneinfo}`` prints a
    ``/proc`` view of a freshly booted model of the machine (this host's
    firmware map, or the ``BIOS-e820:`` lines of a boot log).

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``ArgumentParser.add_subparsers``.
    """
    p = subparsers.add_parser("physmem", help="print /proc/buddyinfo, pagetypeinfo or zoneinfo "
                                              "of a modelled machine")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--host", action="store_true",
                     help="this machine's firmware memory map (the default)")
    src.add_argument("--e820", metavar="FILE", help="a boot log with BIOS-e820: lines")
    p.add_argument("--arch", choices=("x86_64", "i386"), default="x86_64")
    p.add_argument("--min-free-kbytes", type=int, default=None)
    p.add_argument("view", choices=("buddyinfo", "pagetypeinfo", "zoneinfo"))
    p.set_defaults(func=_cmd_physmem)


def _cmd_physmem(args):
    import sys
    try:
        if args.e820:
            with open(args.e820) as f:
                e820 = parse_e820(f.read())
            pm = PhysicalMemory(e820, arch=args.arch, min_free_kbytes=args.min_free_kbytes)
        else:
            pm = PhysicalMemory.from_host(arch=args.arch, min_free_kbytes=args.min_free_kbytes)
    except (OSError, ValueError) as exc:
        print(f"memcore physmem: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(getattr(pm, args.view)())
    return 0
