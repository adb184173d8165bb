"""Virtual-address replay: a machine's MMU, its page tables and first-touch mapping.

When a machine has TLB levels (``[tlb.NAME]`` tables, see
:class:`pyapi.config.TLBConfig`), :func:`pyapi.replay.replay` reads the trace
as *virtual* addresses and drives it through a :class:`VirtualMemory`: an
:class:`memcore.mmu.MMU` built from the machine, one page table per address
space (the records' ``pid``), and a frame source that maps each page the
first time it is touched -- the stand-in for demand paging until a kernel
model is attached.  The per-access work runs in the MMU's nogil loop; Python
runs once per first touch (a page fault) and once per new address space.

Frame sources (``[mmu] frames``):

``sequential``
    the next free 4 KiB frame, counting up from 1 MiB (frame 0x100), for page
    tables and pages alike, so a trace's pages are laid out in the order it
    first touches them;
``random``
    a frame drawn uniformly among the free frames below ``[mmu] memory``,
    from a generator seeded with ``[mmu] seed``: physical placement without
    the artificial contiguity of the sequential source.
"""
import numpy as np

from memcore.mmu import MMU
from memcore.pagetable import PageTable, SequentialFrames

__all__ = ["VirtualMemory", "RandomFrames", "LimitedFrames", "build_mmu", "FIRST_FRAME"]

#: First frame the sequential source hands out (1 MiB: below it sits what a PC
#: keeps for firmware and devices).
FIRST_FRAME = 0x100

# Page-table entry bits of a first-touch page: present (implied), writable,
# user-accessible, executable.
_USER_RW = 0x2 | 0x4


class LimitedFrames(SequentialFrames):
    """Sequential frames that stop at the end of physical memory.

    Parameters
    ----------
    n_frames : int
        Frames of physical memory; the last one handed out is ``n_frames - 1``.
    start : int, optional
        First frame (default :data:`FIRST_FRAME`).
    """

    def __init__(self, n_frames, start=FIRST_FRAME):
        super().__init__(start)
        self.n_frames = int(n_frames)

    def alloc(self, order=0):
        """Return the first of ``2**order`` fresh contiguous frames.

        Raises
        ------
        MemoryError
            When physical memory is used up.
        """
        if self.next_pfn + (1 << int(order)) > self.n_frames:
            raise MemoryError(f"mmu.memory: all {self.n_frames:,} frames are in use "
                              "(raise [mmu] memory for this trace)")
        return super().alloc(order)


class RandomFrames:
    """Frames drawn uniformly at random among the free ones (seeded).

    Parameters
    ----------
    n_frames : int
        Frames of physical memory.
    seed : int, optional
        Seed of the generator (default 0); the same seed gives the same
        frames in the same order.
    start : int, optional
        Frames below it are never handed out (default :data:`FIRST_FRAME`).

    Notes
    -----
    ``alloc(order)`` with ``order > 0`` (a contiguous block, e.g. an inverted
    page table) draws an aligned block whose frames are all free.  Draws are
    rejected and repeated while they hit used frames, so allocation slows
    down only as memory fills up.
    """

    def __init__(self, n_frames, seed=0, start=FIRST_FRAME):
        self.n_frames = int(n_frames)
        self.start = int(start)
        self.rng = np.random.default_rng(seed)
        self.used = set()

    def alloc(self, order=0):
        """Return the first frame of a free, aligned block of ``2**order`` frames.

        Raises
        ------
        MemoryError
            When no such block can be found.
        """
        size = 1 << int(order)
        first = -(-self.start // size)
        last = self.n_frames // size
        if len(self.used) + size > self.n_frames - self.start or first >= last:
            raise MemoryError(f"mmu.memory: no free block of {size} frames left")
        for _ in range(10_000):
            pfn = int(self.rng.integers(first, last)) * size
            block = range(pfn, pfn + size)
            if not any(f in self.used for f in block):
                self.used.update(block)
                return pfn
        raise MemoryError(f"mmu.memory: no free block of {size} frames found (memory nearly full)")

    def free(self, pfn, order=0):
        """Give a block back."""
        self.used.difference_update(range(pfn, pfn + (1 << int(order))))

    def __call__(self):
        return self.alloc(0)


def build_mmu(machine, hierarchy=None, threads=None):
    """Build the MMU of a machine (empty TLBs, no address space attached).

    Parameters
    ----------
    machine : pyapi.config.MachineConfig
        A machine with TLB levels.
    hierarchy : memcore.hierarchy.Hierarchy, optional
        Its caches (walk references and, in :meth:`memcore.mmu.MMU.run`,
        the physical accesses go there).
    threads : int, optional
        Host threads :meth:`memcore.mmu.MMU.run` may use (1 or 2; None: the
        MMU's default, ``MEMCORE_THREADS`` or 2 where the process may use two
        CPUs).  The results do not depend on it.

    Returns
    -------
    memcore.mmu.MMU
    """
    if not machine.tlbs:
        raise ValueError("tlb: this machine has no TLB levels; it replays physical addresses")
    names = {level.name for level in machine.tlbs}
    data = "TLB" if "TLB" in names else "DTLB"
    inst = "TLB" if "TLB" in names else "ITLB"
    mmu = machine.mmu
    return MMU([(level.name, level.build(), level.next) for level in machine.tlbs], data, inst,
               paging=mmu.paging, walk_caches=mmu.walk_caches, hierarchy=hierarchy,
               walk_through_caches=mmu.walk_through_caches, pcid=mmu.pcid, threads=threads)


class VirtualMemory:
    """A machine's MMU with first-touch mapping, replaying virtual traces.

    Parameters
    ----------
    machine : pyapi.config.MachineConfig
        A machine with TLB levels.
    hierarchy : memcore.hierarchy.Hierarchy, optional
        The machine's caches.
    threads : int, optional
        Host threads the replay may use (see :func:`build_mmu`).

    Attributes
    ----------
    mmu : memcore.mmu.MMU
    frames : object
        The frame source (:class:`LimitedFrames` or :class:`RandomFrames`).
    page_faults : int
        Pages mapped on first touch.
    records : int
        Records replayed so far (record numbers in errors count from the
        start of the trace).
    """

    def __init__(self, machine, hierarchy=None, threads=None):
        self.machine = machine
        self.mmu = build_mmu(machine, hierarchy, threads)
        cfg = machine.mmu
        n_frames = cfg.memory >> 12
        if cfg.frames == "random":
            self.frames = RandomFrames(n_frames, seed=cfg.seed)
        else:
            self.frames = LimitedFrames(n_frames)
        self.page_faults = 0
        self.records = 0
        self._inverted = None

    def _table(self):
        paging = self.machine.mmu.paging
        if paging != "inverted":
            return PageTable(paging, self.frames)
        if self._inverted is None:
            # One inverted table covers every address space and all of memory.
            self._inverted = PageTable("inverted", self.frames, n_frames=self.machine.mmu.memory >> 12)
        return self._inverted

    def _on_event(self, ev):
        where = f"trace record {self.records + ev.index}"
        if ev.kind == "new_space":
            self.mmu.attach(ev.asid, self._table())
            return
        if ev.fault == "#PF" and not ev.error_code & 1:
            # Not present: map the 4 KiB page on first touch.
            table = self.mmu.spaces[ev.asid]
            page = ev.vaddr & ~0xFFF
            pfn = self.frames.alloc(0)
            if self.machine.mmu.paging == "inverted":
                table.map(page, pfn << 12, 4096, _USER_RW, asid=ev.asid)
            else:
                table.map(page, pfn << 12, 4096, _USER_RW)
            self.page_faults += 1
            return
        if ev.fault == "#GP":
            raise ValueError(f"{where}: #GP on {ev.access} of {ev.vaddr:#x}: not a canonical address for "
                             f"{self.machine.mmu.paging} paging (is this trace physical?)")
        raise ValueError(f"{where}: {ev.fault} (error code {ev.error_code:#x}) on {ev.access} of {ev.vaddr:#x}")

    def run(self, chunk):
        """Replay one chunk of records (:data:`memcore.access.ACCESS_DTYPE`).

        Raises
        ------
        ValueError
            On an address the paging cannot translate (non-canonical, or
            beyond 32 bits with i386 paging), naming the record.
        MemoryError
            When first touches have used up ``[mmu] memory``.
        """
        self.mmu.run(chunk, self._on_event)
        self.records += len(chunk)

    def stats(self):
        """Return the translation statistics for a report.

        Returns
        -------
        dict
            ``tlbs`` (name -> ``accesses``, ``hits``, ``misses`` and the
            level's other counters), ``walks`` (``count``,
            ``walk_cache_hits``, ``memory_references``, ``cache_hits``,
            ``cache_misses``, ``served``, ``dirty_walks``, ``caches``),
            ``translations``, ``faults`` and ``page_faults``.
        """
        s = self.mmu.stats()
        s["page_faults"] = self.page_faults
        return s

    def merge_into(self, stats):
        """Add the translation statistics to a hierarchy's ``stats()`` dict.

        The hierarchy counted every page-walk reference it served as a
        record; they are taken out of ``records`` so that it counts trace
        records only.

        Parameters
        ----------
        stats : dict
            :meth:`memcore.hierarchy.Hierarchy.stats` output (changed in place).

        Returns
        -------
        dict
            `stats`.
        """
        s = self.stats()
        stats["records"] -= s["walks"]["cache_hits"] + s["walks"]["cache_misses"]
        stats["tlbs"] = s["tlbs"]
        stats["walks"] = s["walks"]
        stats["translations"] = s["translations"]
        stats["page_faults"] = s["page_faults"]
        return stats
