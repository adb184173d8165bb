"""Page tables: x86 radix tables (4- and 5-level, 32-bit 2-level, PAE) and a
hashed inverted page table, with a hardware-faithful walker.

Every table lives in a physical frame handed out by a *frame source*, so every
entry has a real physical address; a walk reports the addresses and values of
the entries it read, sets the accessed and dirty bits as the processor does,
and reports faults with the x86 page-fault error code.  The state is a handful
of numpy arrays (the table pool, the frame index) that can be inspected and
pickled.  The C contract used by :mod:`memcore.mmu` is in ``pagetable.pxd``.
"""
from collections import namedtuple

import numpy as np

cimport numpy as cnp
from libc.string cimport memset

from memcore._typedefs cimport (intp_t, int32_t, int64_t, uint8_t, uint16_t,
                                uint32_t, uint64_t, addr_t, pfn_t)
from memcore.access cimport KIND_IFETCH, KIND_MODIFY

cnp.import_array()

# ---------------------------------------------------------------------------
# Public constants (kernel names)

#: Present.
_PAGE_PRESENT = 1 << 0
#: Writable (read/write).
_PAGE_RW = 1 << 1
#: User accessible (user/supervisor).
_PAGE_USER = 1 << 2
#: Page-level write-through.
_PAGE_PWT = 1 << 3
#: Page-level cache disable.
_PAGE_PCD = 1 << 4
#: Accessed (set by the walker).
_PAGE_ACCESSED = 1 << 5
#: Dirty (set by the walker on a write, leaf entries only).
_PAGE_DIRTY = 1 << 6
#: Page size: the entry maps a large page (in a PDE or PDPTE).
_PAGE_PSE = 1 << 7
#: Global (not flushed by a CR3 write).
_PAGE_GLOBAL = 1 << 8
#: No execute (bit 63; reserved unless EFER.NXE).
_PAGE_NX = 1 << 63

#: Page-fault error-code bits (Linux ``X86_PF_*``).
X86_PF_PROT_BIT = X86_PF_PROT
X86_PF_WRITE_BIT = X86_PF_WRITE
X86_PF_USER_BIT = X86_PF_USER
X86_PF_RSVD_BIT = X86_PF_RSVD
X86_PF_INSTR_BIT = X86_PF_INSTR

#: Walk rights bit: writable at every level (``rights`` of walk results and
#: :meth:`PageTable.walk_from`).
RIGHTS_WRITABLE = RIGHT_W
#: Walk rights bit: user accessible at every level.
RIGHTS_USER = RIGHT_U
#: Walk rights bit: no execute at some level.
RIGHTS_NX = RIGHT_NX

#: Names accepted for ``paging``, in the order of their codes.
PAGING_NAMES = ("x86_64-4level", "x86_64-5level", "i386-2level", "i386-pae", "inverted")
#: Names accepted for ``access``.
ACCESS_NAMES = ("read", "write", "exec")

cdef uint64_t _FLAG_BITS = (PAGE_RW | PAGE_USER | PAGE_PWT | PAGE_PCD | PAGE_ACCESSED
                            | PAGE_DIRTY | PAGE_GLOBAL | PAGE_NX)
cdef uint64_t _PROT_BITS = PAGE_RW | PAGE_USER | PAGE_PWT | PAGE_PCD | PAGE_GLOBAL | PAGE_NX
cdef uint64_t _HASH_MUL = 0x9E3779B97F4A7C15ULL
cdef uint64_t _DELETED = 0xFFFFFFFFFFFFFFFFULL
# inverted table: entry word 1 keeps the x86 flag bits and the chain link
# (next frame + 1) in bits 12..51.
cdef uint64_t _IPT_LINK_MASK = 0x000FFFFFFFFFF000ULL
cdef int _VPN_BITS = 52


# ---------------------------------------------------------------------------
# The walker (nogil)

cdef intp_t pt_frame_slot(const pt_state_t* pt, pfn_t pfn) noexcept nogil:
    cdef uint64_t key = pfn + 1
    cdef uint64_t h = (key * _HASH_MUL) >> pt.hshift
    cdef uint64_t k
    while True:
        k = pt.hkeys[h]
        if k == key:
            return <intp_t>pt.hvals[h]
        if k == 0:
            return -1
        h = (h + 1) & pt.hmask


cdef inline bint _canonical(const pt_state_t* pt, addr_t va) noexcept nogil:
    cdef uint8_t b = pt.va_bits
    if b >= 64:
        return True
    if b == 32:
        return (va >> 32) == 0
    return <uint64_t>((<int64_t>(va << (64 - b))) >> (64 - b)) == va


cdef inline void _fault(walk_result_t* out, uint8_t kind, uint32_t code) noexcept nogil:
    out.fault = kind
    out.error_code = code
    out.pa = 0
    out.leaf = 0
    out.page_shift = 0
    out.level = 0
    out.rights = 0


cdef int _radix_walk(pt_state_t* pt, addr_t va, uint8_t access, uint8_t cpl,
                     uint8_t level, addr_t table_pa, uint8_t rights,
                     walk_result_t* out) noexcept nogil:
    cdef intp_t pos[PT_MAX_LEVELS + 1]
    cdef intp_t slot, idx, k
    cdef uint64_t e = 0
    cdef uint8_t ps, shift
    cdef uint32_t n = 0
    cdef addr_t next_pa = 0, base
    cdef bint wide = pt.entry_size == 8
    out.n_refs = 0
    if not _canonical(pt, va):
        _fault(out, WALK_GP, 0)
        return WALK_GP
    if level < 1 or level > pt.levels:
        _fault(out, WALK_GP, 0)
        return WALK_GP
    if table_pa == pt.cr3:
        slot = pt.root_slot
    else:
        slot = pt_frame_slot(pt, table_pa >> PAGE_SHIFT)
    while True:
        idx = <intp_t>((va >> pt.level_shift[level]) & pt.level_mask[level])
        if slot >= 0:
            pos[n] = slot * pt.stride + idx
            e = pt.pool[pos[n]]
        else:
            # memory that holds no page table reads as zero
            pos[n] = -1
            e = 0
        out.ref_addr[n] = table_pa + <addr_t>(idx * pt.entry_size)
        out.ref_value[n] = e
        out.ref_level[n] = level
        out.ref_next[n] = 0
        n += 1
        out.n_refs = n
        if not (e & PAGE_PRESENT):
            out.ref_rights[n - 1] = rights
            _fault(out, WALK_PF, pt_error_bits(pt, access, cpl))
            return WALK_PF
        ps = <uint8_t>((e >> 7) & 1)
        if e & pt.rsvd[level * 2 + ps]:
            out.ref_rights[n - 1] = rights
            _fault(out, WALK_PF, X86_PF_PROT | X86_PF_RSVD | pt_error_bits(pt, access, cpl))
            return WALK_PF
        if not (pt.paging == PAGING_I386_PAE and level == 3):
            # PAE PDPTEs carry no access rights
            if not (e & PAGE_RW):
                rights &= ~RIGHT_W
            if not (e & PAGE_USER):
                rights &= ~RIGHT_U
            if e & PAGE_NX:
                rights |= RIGHT_NX
        out.ref_rights[n - 1] = rights
        if level == 1 or (ps and pt.large_ok[level]):
            break
        if wide:
            next_pa = e & PTE_ADDR_MASK
        else:
            next_pa = e & 0xFFFFF000ULL
        out.ref_next[n - 1] = next_pa
        table_pa = next_pa
        # the child index saves a frame lookup per level; it always names
        # the table at next_pa (map/unmap/write_entry keep them equal)
        slot = pt.child[pos[n - 1]]
        level -= 1
    # e is the leaf at `level`
    if not pt_permitted(pt, rights, access, cpl):
        _fault(out, WALK_PF, X86_PF_PROT | pt_error_bits(pt, access, cpl))
        return WALK_PF
    shift = pt.level_shift[level]
    if wide:
        base = (e & PTE_ADDR_MASK) & ~((<addr_t>1 << shift) - 1)
    elif level == 1:
        base = e & 0xFFFFF000ULL
    else:
        base = (e & 0xFFC00000ULL) | (((e >> 13) & 0xFF) << 32)
    if pt.update_ad:
        # like hardware, write an entry only if its bit is not yet set
        for k in range(n):
            if out.ref_value[k] & PAGE_ACCESSED or (
                    pt.paging == PAGING_I386_PAE and out.ref_level[k] == 3):
                continue
            pt.pool[pos[k]] |= PAGE_ACCESSED
        if access == ACCESS_WRITE and not (e & PAGE_DIRTY):
            pt.pool[pos[n - 1]] |= PAGE_DIRTY
        e = pt.pool[pos[n - 1]]
    out.fault = WALK_OK
    out.error_code = 0
    out.pa = base | (va & ((<addr_t>1 << shift) - 1))
    out.leaf = e
    out.page_shift = shift
    out.level = level
    out.rights = rights
    return WALK_OK


cdef inline uint64_t _ipt_hash(uint64_t tag, uint64_t mask) noexcept nogil:
    cdef uint64_t h = tag * _HASH_MUL
    return (h ^ (h >> 29)) & mask


cdef int _inverted_walk(pt_state_t* pt, addr_t va, uint8_t access, uint8_t cpl,
                        uint16_t asid, walk_result_t* out) noexcept nogil:
    cdef uint64_t vpn = va >> PAGE_SHIFT
    cdef uint64_t tag = (<uint64_t>asid << _VPN_BITS) | vpn
    cdef uint64_t h = _ipt_hash(tag, pt.hat_mask)
    cdef uint64_t link = pt.hat[h]
    cdef uint64_t e = 0
    cdef intp_t frame
    cdef uint8_t rights = RIGHTS_TOP
    cdef uint32_t n = 1
    out.ref_addr[0] = pt.hat_base + 8 * h
    out.ref_value[0] = link
    out.ref_next[0] = 0 if link == 0 else pt.ipt_base + 16 * (link - 1)
    out.ref_level[0] = 0
    out.ref_rights[0] = rights
    frame = -1
    while link != 0:
        frame = <intp_t>(link - 1)
        e = pt.ipt[2 * frame + 1]
        if n < WALK_MAX_REFS:
            out.ref_addr[n] = pt.ipt_base + 16 * <addr_t>frame
            out.ref_value[n] = e
            out.ref_level[n] = 0
            out.ref_next[n] = 0
            out.ref_rights[n] = rights
        n += 1
        if pt.ipt[2 * frame] == tag:
            break
        link = (e & _IPT_LINK_MASK) >> PAGE_SHIFT
        frame = -1
    out.n_refs = n
    if frame < 0:
        _fault(out, WALK_PF, pt_error_bits(pt, access, cpl))
        return WALK_PF
    if not (e & PAGE_RW):
        rights &= ~RIGHT_W
    if not (e & PAGE_USER):
        rights &= ~RIGHT_U
    if e & PAGE_NX:
        rights |= RIGHT_NX
    if n - 1 < WALK_MAX_REFS:
        out.ref_rights[n - 1] = rights
    if not pt_permitted(pt, rights, access, cpl):
        _fault(out, WALK_PF, X86_PF_PROT | pt_error_bits(pt, access, cpl))
        return WALK_PF
    if pt.update_ad:
        e |= PAGE_ACCESSED
        if access == ACCESS_WRITE:
            e |= PAGE_DIRTY
        pt.ipt[2 * frame + 1] = e
    out.fault = WALK_OK
    out.error_code = 0
    out.pa = (<addr_t>frame << PAGE_SHIFT) | (va & 0xFFF)
    out.leaf = e & ~_IPT_LINK_MASK
    out.page_shift = PAGE_SHIFT
    out.level = 1
    out.rights = rights
    return WALK_OK


cdef int pt_walk(pt_state_t* pt, addr_t va, uint8_t access, uint8_t cpl,
                 walk_result_t* out) noexcept nogil:
    if pt.paging == PAGING_INVERTED:
        return _inverted_walk(pt, va, access, cpl, pt.asid, out)
    return _radix_walk(pt, va, access, cpl, pt.levels, pt.cr3, RIGHTS_TOP, out)


cdef int pt_walk_from(pt_state_t* pt, addr_t va, uint8_t access, uint8_t cpl,
                      uint8_t level, addr_t table_pa, uint8_t rights,
                      walk_result_t* out) noexcept nogil:
    if pt.paging == PAGING_INVERTED:
        return _inverted_walk(pt, va, access, cpl, pt.asid, out)
    return _radix_walk(pt, va, access, cpl, level, table_pa, rights, out)


cdef int pt_walk_asid(pt_state_t* pt, addr_t va, uint8_t access, uint8_t cpl,
                      uint16_t asid, walk_result_t* out) noexcept nogil:
    if pt.paging == PAGING_INVERTED:
        return _inverted_walk(pt, va, access, cpl, asid, out)
    return _radix_walk(pt, va, access, cpl, pt.levels, pt.cr3, RIGHTS_TOP, out)


# ---------------------------------------------------------------------------
# Python face

#: Result of :meth:`PageTable.walk_batch`: arrays ``pa`` (uint64), ``fault``
#: (uint8: 0 none, 1 #PF, 2 #GP), ``error_code`` (uint32, x86 #PF error code)
#: and ``n_refs`` (uint32, memory references made by each walk).
WalkBatch = namedtuple("WalkBatch", ["pa", "fault", "error_code", "n_refs"])


class WalkResult:
    """What one walk found (returned by :meth:`PageTable.walk`).

    Attributes
    ----------
    va : int
        The virtual address walked.
    fault : str or None
        ``None`` on success, ``"#PF"`` for a page fault, ``"#GP"`` for a
        general-protection fault (non-canonical address).
    error_code : int or None
        The x86 page-fault error code on a ``#PF``, 0 on a ``#GP``, ``None``
        on success.
    pa : int or None
        Translated physical address.
    page_size : int or None
        Size in bytes of the page that maps `va`.
    level : int or None
        Level of the leaf entry (1 = PT, 2 = PD, 3 = PDPT).
    entry : int or None
        Leaf entry value after the walk updated its A/D bits.
    flags : int or None
        The flag bits of `entry` (P, RW, US, PWT, PCD, A, D, PS, G, NX).
    refs : list of tuple
        ``(level, entry physical address, value as read)`` for each entry the
        walk read, in order (at most 16 are kept; see `n_refs`).
    n_refs : int
        Memory references made by the walk.
    rights : int or None
        Rights combined over every level: :data:`RIGHTS_WRITABLE` (RW at
        every level), :data:`RIGHTS_USER` (US at every level),
        :data:`RIGHTS_NX` (NX at some level).
    """

    __slots__ = ("va", "fault", "error_code", "pa", "page_size", "level", "entry",
                 "flags", "refs", "n_refs", "rights")

    def __init__(self, va, fault, error_code, pa, page_size, level, entry, flags, refs, n_refs,
                 rights=None):
        self.va = va
        self.fault = fault
        self.error_code = error_code
        self.pa = pa
        self.page_size = page_size
        self.level = level
        self.entry = entry
        self.flags = flags
        self.refs = refs
        self.n_refs = n_refs
        self.rights = rights

    @property
    def ok(self):
        """bool: True if the walk translated the address."""
        return self.fault is None

    def __repr__(self):
        if self.fault is None:
            return (f"WalkResult(va={self.va:#x}, pa={self.pa:#x}, page_size={self.page_size:#x},"
                    f" flags={self.flags:#x}, n_refs={self.n_refs})")
        return (f"WalkResult(va={self.va:#x}, fault={self.fault!r},"
                f" error_code={self.error_code:#x}, n_refs={self.n_refs})")


class SequentialFrames:
    """The simplest frame source: hands out consecutive frame numbers.

    Parameters
    ----------
    start : int, optional
        First frame number handed out (default 0x100, i.e. 1 MiB).

    Notes
    -----
    A frame source is either a callable returning a frame number or an object
    with ``alloc(order)`` returning the first frame of ``2**order`` contiguous
    frames and, optionally, ``free(pfn, order)``; this class offers both.
    Freed frames are not reused.
    """

    def __init__(self, start=0x100):
        self.next_pfn = int(start)

    def alloc(self, order=0):
        """Return the first of ``2**order`` fresh contiguous frames."""
        pfn = self.next_pfn
        self.next_pfn += 1 << int(order)
        return pfn

    def free(self, pfn, order=0):
        """Accept a frame back (it is not reused)."""

    def __call__(self):
        return self.alloc(0)


def _paging_code(paging):
    if isinstance(paging, str) and paging in PAGING_NAMES:
        return PAGING_NAMES.index(paging)
    raise ValueError(f"paging: expected one of {', '.join(PAGING_NAMES)}, got {paging!r}")


def _access_code(access):
    if isinstance(access, str) and access in ACCESS_NAMES:
        return ACCESS_NAMES.index(access)
    raise ValueError(f"access: expected one of {', '.join(ACCESS_NAMES)}, got {access!r}")


def _check_cpl(cpl):
    if not isinstance(cpl, (int, np.integer)) or not 0 <= int(cpl) <= 3:
        raise ValueError(f"cpl: expected 0..3, got {cpl!r}")
    return int(cpl)


def _u64(what, field, value):
    if not isinstance(value, (int, np.integer)) or not 0 <= int(value) < (1 << 64):
        raise ValueError(f"{what}: {field}: expected an integer in 0..2**64-1, got {value!r}")
    return int(value)


def _bits(lo, hi):
    """Mask of bits lo..hi-1."""
    if hi <= lo:
        return 0
    return ((1 << (hi - lo)) - 1) << lo


cdef object _to_result(addr_t v, walk_result_t* r):
    refs = [(int(r.ref_level[k]), int(r.ref_addr[k]), int(r.ref_value[k]))
            for k in range(min(r.n_refs, WALK_MAX_REFS))]
    if r.fault == WALK_OK:
        return WalkResult(int(v), None, None, int(r.pa), 1 << r.page_shift, int(r.level),
                          int(r.leaf), int(r.leaf & (_FLAG_BITS | PAGE_PRESENT | PAGE_PSE)),
                          refs, int(r.n_refs), int(r.rights))
    return WalkResult(int(v), "#PF" if r.fault == WALK_PF else "#GP", int(r.error_code),
                      None, None, None, None, None, refs, int(r.n_refs))


def _grown(old, cap):
    new = np.zeros(cap, dtype=old.dtype)
    new[: old.shape[0]] = old
    return new


def _restore(config, arrays):
    obj = PageTable.__new__(PageTable)
    obj._setstate(config, arrays)
    return obj


cdef class PageTable:
    """One page table, with the x86 walker.

    Parameters
    ----------
    paging : {"x86_64-4level", "x86_64-5level", "i386-2level", "i386-pae", "inverted"}
        The organisation.  Radix formats hold one address space (switch
        address spaces by switching PageTable objects, i.e. CR3); the inverted
        table holds every address space, keyed by `asid`.
    frame_source : callable or object, optional
        Where table frames come from: a callable returning a frame number, or
        an allocator with ``alloc(order)`` and ``free(pfn, order)`` (such as
        :class:`memcore.buddy.BuddyAllocator`).  It is called only when a
        table is created (in the constructor and :meth:`map`) and freed into
        when :meth:`unmap` empties a table.  Default: a fresh
        :class:`SequentialFrames`.
    wp : bool, optional
        CR0.WP: when True (the default) supervisor writes to read-only pages
        fault too.
    nxe : bool, optional
        EFER.NXE: when True (the default) NX forbids instruction fetches and
        fetches set the I/D bit of the error code; when False bit 63 is a
        reserved bit.  Ignored (always False) for ``i386-2level``.
    maxphyaddr : int, optional
        Physical address width in bits (default 52; 40 for ``i386-2level``,
        whose 4 MiB pages reach 40 bits with PSE-36).  Address bits at and
        above it are reserved in entries.
    n_frames : int, optional
        Inverted table only: physical frames covered (one entry each).
        Default 65536 (256 MiB).
    update_ad : bool, optional
        Whether walks set the accessed and dirty bits (default True).

    Notes
    -----
    Levels are numbered from the leaf: 1 = PT, 2 = PD, 3 = PDPT, 4 = PML4,
    5 = PML5.  Upper-level entries are created with P, RW and US set (the
    leaf decides the rights), PAE PDPTEs with P only.

    :meth:`walk_batch` releases the GIL: do not change the table (map,
    unmap, protect, write_entry) from another thread while it runs.
    Pickling a table pickles its frame source with it (so a callable frame
    source must be picklable, e.g. not a lambda).
    """

    def __init__(self, paging="x86_64-4level", frame_source=None, *, wp=True, nxe=True,
                 maxphyaddr=None, n_frames=None, update_ad=True):
        code = _paging_code(paging)
        if maxphyaddr is None:
            maxphyaddr = 40 if code == PAGING_I386_2LEVEL else 52
        if not isinstance(maxphyaddr, (int, np.integer)) or not 32 <= maxphyaddr <= 52:
            raise ValueError(f"maxphyaddr: expected 32..52, got {maxphyaddr!r}")
        if code == PAGING_I386_2LEVEL and maxphyaddr > 40:
            raise ValueError(f"maxphyaddr: i386-2level reaches at most 40 bits, got {maxphyaddr}")
        if frame_source is None:
            frame_source = SequentialFrames()
        elif not (callable(frame_source) or hasattr(frame_source, "alloc")):
            raise ValueError("frame_source: expected a callable or an object with alloc(order),"
                             f" got {frame_source!r}")
        if code != PAGING_INVERTED and n_frames is not None:
            raise ValueError("n_frames: only the inverted table takes n_frames")
        if n_frames is None:
            n_frames = 65536
        if code == PAGING_INVERTED and (not isinstance(n_frames, (int, np.integer))
                                        or not 1 <= n_frames <= (1 << 40)):
            raise ValueError(f"n_frames: expected 1..2**40, got {n_frames!r}")
        self.frame_source = frame_source
        memset(&self.st, 0, sizeof(pt_state_t))
        self._placeholders()
        self.st.paging = code
        self.st.wp = bool(wp)
        self.st.nxe = bool(nxe) and code != PAGING_I386_2LEVEL
        self.st.maxphyaddr = maxphyaddr
        self.st.update_ad = bool(update_ad)
        self._setup_geometry()
        self._free_slots = []
        self._n_slots = 0
        self._n_tables = 0
        self._hused = 0
        self.st.root_slot = -1
        self._region_frames = None
        if code == PAGING_INVERTED:
            self._init_frame_index(8)
            self._init_inverted(int(n_frames))
        else:
            self._pool = np.zeros((4, self.st.stride), dtype=np.uint64)
            self._next = np.full((4, self.st.stride), -1, dtype=np.int32)
            self._frame = np.zeros(4, dtype=np.uint64)
            self._used = np.zeros(4, dtype=np.int32)
            self._tlevel = np.zeros(4, dtype=np.uint8)
            self._init_frame_index(64)
            self._sync()
            self.st.root_slot = self._new_table(self.st.levels)
            self.st.cr3 = <addr_t>self._frame[self.st.root_slot] << PAGE_SHIFT

    cdef _placeholders(self):
        self._pool = np.zeros((0, 1), dtype=np.uint64)
        self._next = np.zeros((0, 1), dtype=np.int32)
        self._frame = np.zeros(0, dtype=np.uint64)
        self._used = np.zeros(0, dtype=np.int32)
        self._tlevel = np.zeros(0, dtype=np.uint8)
        self._ipt = np.zeros(2, dtype=np.uint64)
        self._hat = np.zeros(1, dtype=np.uint64)
        self._hkeys = np.zeros(8, dtype=np.uint64)
        self._hvals = np.zeros(8, dtype=np.int64)

    # -- geometry ---------------------------------------------------------

    cdef _setup_geometry(self):
        cdef int code = self.st.paging
        cdef int lv
        mp = self.st.maxphyaddr
        nx = 0 if self.st.nxe else int(PAGE_NX)
        rs = [[0, 0] for _ in range(6)]
        if code in (PAGING_X86_64_4LEVEL, PAGING_X86_64_5LEVEL):
            levels = 4 if code == PAGING_X86_64_4LEVEL else 5
            self.st.entry_size = 8
            self.st.stride = 512
            self.st.va_bits = 48 if levels == 4 else 57
            phys = _bits(mp, 52) | nx
            for lv in range(1, levels + 1):
                self.st.level_shift[lv] = 12 + 9 * (lv - 1)
                self.st.level_mask[lv] = 511
                rs[lv] = [phys, phys]
            rs[2][1] |= _bits(13, 21)
            rs[3][1] |= _bits(13, 30)
            for lv in range(4, levels + 1):
                rs[lv] = [phys | int(PAGE_PSE), phys | int(PAGE_PSE)]
            self.st.large_ok[2] = 1
            self.st.large_ok[3] = 1
        elif code == PAGING_I386_PAE:
            levels = 3
            self.st.entry_size = 8
            self.st.stride = 512
            self.st.va_bits = 32
            phys = _bits(mp, 63) | nx
            for lv in (1, 2):
                self.st.level_shift[lv] = 12 + 9 * (lv - 1)
                self.st.level_mask[lv] = 511
                rs[lv] = [phys, phys]
            self.st.level_shift[3] = 30
            self.st.level_mask[3] = 3
            rs[2][1] |= _bits(13, 21)
            pdpte = _bits(mp, 64) | _bits(1, 3) | _bits(5, 9)
            rs[3] = [pdpte, pdpte]
            self.st.large_ok[2] = 1
        elif code == PAGING_I386_2LEVEL:
            levels = 2
            self.st.entry_size = 4
            self.st.stride = 1024
            self.st.va_bits = 32
            self.st.level_shift[1] = 12
            self.st.level_shift[2] = 22
            self.st.level_mask[1] = 1023
            self.st.level_mask[2] = 1023
            # PSE-36: PDE bits 13..20 hold address bits 32..39, bit 21 reserved
            rs[2][1] = _bits(21, 22) | _bits(13 + (mp - 32), 21)
            self.st.large_ok[2] = 1
        else:
            levels = 1
            self.st.entry_size = 16
            self.st.va_bits = 64
            self.st.level_shift[1] = 12
        self.st.levels = levels
        for lv in range(6):
            self.st.rsvd[lv * 2] = rs[lv][0]
            self.st.rsvd[lv * 2 + 1] = rs[lv][1]
        self.st.instr_bit = X86_PF_INSTR if self.st.nxe else 0

    # -- frame index (frame number -> table slot) --------------------------

    cdef _init_frame_index(self, intp_t cap):
        self._hkeys = np.zeros(cap, dtype=np.uint64)
        self._hvals = np.full(cap, -1, dtype=np.int64)
        self._hused = 0
        self.st.hmask = cap - 1
        self.st.hshift = 64 - (int(cap).bit_length() - 1)
        self._sync()

    cdef _index_insert(self, uint64_t pfn, intp_t slot):
        """Map frame `pfn` to `slot` (replacing an existing key)."""
        cdef uint64_t key = pfn + 1
        cdef uint64_t h
        cdef int64_t free_h = -1
        if 2 * (self._hused + 1) > <intp_t>(self.st.hmask + 1):
            self._rehash()
        h = (key * _HASH_MUL) >> self.st.hshift
        while self.st.hkeys[h] != 0:
            if self.st.hkeys[h] == key:
                self.st.hvals[h] = slot
                return
            if self.st.hkeys[h] == _DELETED and free_h < 0:
                free_h = <int64_t>h
            h = (h + 1) & self.st.hmask
        if free_h >= 0:
            h = <uint64_t>free_h
        else:
            self._hused += 1
        self.st.hkeys[h] = key
        self.st.hvals[h] = slot

    cdef _index_delete(self, uint64_t pfn):
        cdef uint64_t key = pfn + 1
        cdef uint64_t h = (key * _HASH_MUL) >> self.st.hshift
        while self.st.hkeys[h] != 0:
            if self.st.hkeys[h] == key:
                self.st.hkeys[h] = _DELETED
                self.st.hvals[h] = -1
                return
            h = (h + 1) & self.st.hmask

    cdef _rehash(self):
        live = [(int(self._frame[s]), s) for s in range(self._n_slots) if self._tlevel[s]]
        cap = 64
        while 4 * (len(live) + 1) > cap:
            cap *= 2
        self._init_frame_index(cap)
        for pfn, s in live:
            self._index_insert(pfn, s)

    cdef _sync(self):
        cdef cnp.ndarray pool = self._pool
        cdef cnp.ndarray child = self._next
        cdef cnp.ndarray hk = self._hkeys
        cdef cnp.ndarray hv = self._hvals
        cdef cnp.ndarray ipt = self._ipt
        cdef cnp.ndarray hat = self._hat
        cdef cnp.ndarray frame = self._frame
        cdef cnp.ndarray used = self._used
        cdef cnp.ndarray tlevel = self._tlevel
        self.frame_p = <uint64_t*>cnp.PyArray_DATA(frame)
        self.used_p = <int32_t*>cnp.PyArray_DATA(used)
        self.tlevel_p = <uint8_t*>cnp.PyArray_DATA(tlevel)
        self.st.pool = <uint64_t*>cnp.PyArray_DATA(pool)
        self.st.child = <int32_t*>cnp.PyArray_DATA(child)
        self.st.hkeys = <uint64_t*>cnp.PyArray_DATA(hk)
        self.st.hvals = <int64_t*>cnp.PyArray_DATA(hv)
        self.st.ipt = <uint64_t*>cnp.PyArray_DATA(ipt)
        self.st.hat = <uint64_t*>cnp.PyArray_DATA(hat)

    # -- frames -------------------------------------------------------------

    def _alloc_frames(self, order, what):
        fs = self.frame_source
        if hasattr(fs, "alloc"):
            pfn = fs.alloc(order)
        elif order == 0:
            pfn = fs()
        else:
            pfns = [fs() for _ in range(1 << order)]
            if any(not isinstance(p, (int, np.integer)) for p in pfns) or \
                    [int(p) - int(pfns[0]) for p in pfns] != list(range(1 << order)):
                raise ValueError(f"frame_source: {what} needs {1 << order} contiguous frames,"
                                 f" the callable returned {pfns[:4]}...")
            pfn = pfns[0]
        if pfn is None or not isinstance(pfn, (int, np.integer)) or pfn < 0:
            raise MemoryError(f"frame_source: no frame for {what} (got {pfn!r})")
        return int(pfn)

    def _free_frames(self, pfn, order):
        fs = self.frame_source
        if hasattr(fs, "free"):
            fs.free(pfn, order)

    cdef intp_t _new_table(self, int level) except -1:
        cdef intp_t slot, cap
        pfn = self._alloc_frames(0, f"a level-{level} page table")
        limit = 1 << (int(self.st.maxphyaddr) - 12)
        if self.st.paging == PAGING_I386_2LEVEL or (
                self.st.paging == PAGING_I386_PAE and level == 3):
            limit = 1 << 20     # 32-bit CR3 / 4-byte PDE address fields
        if pt_frame_slot(&self.st, pfn) >= 0:
            # the source handed out a frame it already gave us: not ours to free
            raise ValueError(f"frame_source: frame {pfn:#x} already holds a page table")
        if pfn >= limit:
            self._free_frames(pfn, 0)
            raise ValueError(f"frame_source: frame {pfn:#x} is beyond the reach of a"
                             f" level-{level} table's address field")
        if self._free_slots:
            slot = self._free_slots.pop()
        else:
            slot = self._n_slots
            cap = self._pool.shape[0]
            if slot >= cap:
                self._grow(2 * cap)
            self._n_slots += 1
        self._pool[slot, :] = 0
        self._next[slot, :] = -1
        self._frame[slot] = pfn
        self._used[slot] = 0
        self._tlevel[slot] = level
        self._index_insert(pfn, slot)
        self._n_tables += 1
        return slot

    cdef _grow(self, intp_t cap):
        pool = np.zeros((cap, self.st.stride), dtype=np.uint64)
        pool[: self._pool.shape[0]] = self._pool
        self._pool = pool
        child = np.full((cap, self.st.stride), -1, dtype=np.int32)
        child[: self._next.shape[0]] = self._next
        self._next = child
        self._frame = _grown(self._frame, cap)
        self._used = _grown(self._used, cap)
        self._tlevel = _grown(self._tlevel, cap)
        self._sync()

    cdef _free_table(self, intp_t slot):
        pfn = int(self._frame[slot])
        self._index_delete(pfn)
        self._tlevel[slot] = 0
        self._used[slot] = 0
        self._pool[slot, :] = 0
        self._next[slot, :] = -1
        self._free_slots.append(slot)
        self._n_tables -= 1
        self._free_frames(pfn, 0)

    # -- inverted table setup ------------------------------------------------

    cdef _init_inverted(self, intp_t n_frames):
        hat_n = 1
        while hat_n < n_frames:
            hat_n *= 2
        self._ipt = np.zeros(2 * n_frames, dtype=np.uint64)
        self._hat = np.zeros(hat_n, dtype=np.uint64)
        self._frame = np.zeros(0, dtype=np.uint64)
        self._used = np.zeros(0, dtype=np.int32)
        self._tlevel = np.zeros(0, dtype=np.uint8)
        hat_frames = max(1, (hat_n * 8 + 4095) // 4096)
        ipt_frames = max(1, (n_frames * 16 + 4095) // 4096)
        hat_order = (hat_frames - 1).bit_length()
        ipt_order = (ipt_frames - 1).bit_length()
        hat_pfn = self._alloc_frames(hat_order, "the hash anchor table")
        try:
            ipt_pfn = self._alloc_frames(ipt_order, "the inverted page table")
        except BaseException:
            self._free_frames(hat_pfn, hat_order)
            raise
        self._region_frames = (hat_pfn, hat_order, ipt_pfn, ipt_order)
        self.st.hat_mask = hat_n - 1
        self.st.n_frames = n_frames
        self.st.hat_base = <addr_t>hat_pfn << PAGE_SHIFT
        self.st.ipt_base = <addr_t>ipt_pfn << PAGE_SHIFT
        self.st.cr3 = self.st.hat_base
        self._sync()

    # -- properties -----------------------------------------------------------

    @property
    def paging(self):
        """str: The organisation (one of :data:`PAGING_NAMES`)."""
        return PAGING_NAMES[self.st.paging]

    @property
    def levels(self):
        """int: Number of radix levels (1 for the inverted table)."""
        return self.st.levels

    @property
    def cr3(self):
        """int: Physical address of the root table (of the hash anchor table
        for the inverted organisation)."""
        return int(self.st.cr3)

    @property
    def page_sizes(self):
        """tuple of int: Page sizes this format maps, smallest first."""
        sizes = []
        for lv in range(1, self.st.levels + 1):
            if lv == 1 or self.st.large_ok[lv]:
                sizes.append(1 << int(self.st.level_shift[lv]))
        return tuple(sizes)

    @property
    def entry_size(self):
        """int: Bytes per entry in memory (4, 8, or 16 for the inverted table)."""
        return self.st.entry_size

    @property
    def wp(self):
        """bool: CR0.WP (supervisor writes honour read-only pages)."""
        return bool(self.st.wp)

    @wp.setter
    def wp(self, value):
        self.st.wp = bool(value)

    @property
    def nxe(self):
        """bool: EFER.NXE (NX honoured; bit 63 reserved when False)."""
        return bool(self.st.nxe)

    @property
    def maxphyaddr(self):
        """int: Physical address width in bits."""
        return self.st.maxphyaddr

    @property
    def update_ad(self):
        """bool: Whether walks set the accessed/dirty bits."""
        return bool(self.st.update_ad)

    @update_ad.setter
    def update_ad(self, value):
        self.st.update_ad = bool(value)

    @property
    def asid(self):
        """int: Address space walked by :meth:`walk_batch` and the C walker
        (inverted table; 0..4095)."""
        return self.st.asid

    @asid.setter
    def asid(self, value):
        self.st.asid = self._check_asid(value)

    @property
    def n_tables(self):
        """int: Page tables (frames) in use (radix formats)."""
        return self._n_tables

    @property
    def pool(self):
        """numpy.ndarray: The table pool, ``(slots, entries per table)`` uint64,
        a zero-copy view (slots of freed tables are zero)."""
        return self._pool[: self._n_slots]

    @property
    def ipt_layout(self):
        """dict: Inverted table only: physical layout, ``hat_base``,
        ``hat_entries`` (8-byte anchor entries), ``ipt_base`` and ``n_frames``
        (16-byte IPT entries: tag word, then flags word)."""
        if self.st.paging != PAGING_INVERTED:
            raise AttributeError("ipt_layout: only paging='inverted' has one")
        return dict(hat_base=int(self.st.hat_base), hat_entries=int(self.st.hat_mask + 1),
                    ipt_base=int(self.st.ipt_base), n_frames=int(self.st.n_frames))

    def table_frames(self):
        """Frames holding page tables.

        Returns
        -------
        dict
            ``{pfn: level}`` for every table in use (radix formats).
        """
        return {int(self._frame[s]): int(self._tlevel[s])
                for s in range(self._n_slots) if self._tlevel[s]}

    # -- helpers --------------------------------------------------------------

    def _check_asid(self, asid):
        if asid is None:
            return self.st.asid
        if not isinstance(asid, (int, np.integer)) or not 0 <= asid < 4096:
            raise ValueError(f"asid: expected 0..4095, got {asid!r}")
        return int(asid)

    cdef intp_t _index(self, uint64_t va, int level):
        return <intp_t>((va >> self.st.level_shift[level]) & self.st.level_mask[level])

    cdef uint64_t _next_table_pfn(self, uint64_t e):
        if self.st.entry_size == 8:
            return (e & PTE_ADDR_MASK & ((<uint64_t>1 << self.st.maxphyaddr) - 1)) >> PAGE_SHIFT
        return (e & 0xFFFFF000ULL) >> PAGE_SHIFT

    cdef bint _is_leaf(self, uint64_t e, int level):
        return level == 1 or (self.st.large_ok[level] and (e & PAGE_PSE))

    cdef intp_t _child(self, uint64_t e, int level) except -2:
        cdef intp_t s = pt_frame_slot(&self.st, self._next_table_pfn(e))
        if s < 0 or self.tlevel_p[s] != level - 1:
            raise ValueError(f"page table corrupt: a level-{level} entry {e:#x} points to a"
                             " frame that holds no table of the level below")
        return s

    def _find(self, uint64_t va, int stop=1):
        """Descend towards `va`: (level, slot, index, entry) where the
        descent stopped (not present, leaf, or reached level `stop`), and the
        path of (slot, index) from the root."""
        cdef int level = self.st.levels
        cdef intp_t slot = self.st.root_slot, idx
        cdef uint64_t e
        path = []
        while True:
            idx = self._index(va, level)
            e = self.st.pool[slot * self.st.stride + idx]
            path.append((slot, idx))
            if level == stop or not (e & PAGE_PRESENT) or self._is_leaf(e, level):
                return level, slot, idx, e, path
            slot = self._child(e, level)
            level -= 1

    def _check_range(self, va, size, what):
        va = _u64(what, "va", va)
        size = _u64(what, "size", size)
        if size == 0:
            raise ValueError(f"{what}: size must be positive")
        if va % 4096 or size % 4096:
            raise ValueError(f"{what}: va {va:#x} and size {size:#x} must be multiples of 4096")
        end = va + size
        if self.st.va_bits < 64:
            top = 1 << int(self.st.va_bits)
            half = top >> 1
            if self.st.va_bits == 32:
                ok = end <= top
            else:
                low = end <= half
                high = va >= (1 << 64) - half and end <= (1 << 64)
                ok = low or high
            if not ok:
                raise ValueError(f"{what}: range {va:#x}..{end:#x} is not within one canonical"
                                 f" half of the {self.st.va_bits}-bit address space")
        elif end > (1 << 64):
            raise ValueError(f"{what}: range {va:#x}..{end:#x} wraps around")
        return va, size

    def _check_flags(self, flags, what):
        flags = _u64(what, "flags", flags)
        extra = flags & ~(int(_FLAG_BITS) | int(PAGE_PRESENT))
        if extra:
            raise ValueError(f"{what}: flags {flags:#x} has bits {extra:#x} that are not"
                             " RW/US/PWT/PCD/A/D/G/NX (P and PS are set by the table)")
        if flags & int(PAGE_NX) and not self.st.nxe:
            raise ValueError(f"{what}: flags {flags:#x} sets NX, which is reserved here"
                             f" ({self.paging}, nxe={self.nxe})")
        return flags

    def _encode_leaf(self, pa, flags, int level):
        v = flags | int(PAGE_PRESENT)
        if level > 1:
            v |= int(PAGE_PSE)
        if self.st.entry_size == 4 and level == 2:
            return v | (pa & 0xFFC00000) | (((pa >> 32) & 0xFF) << 13)
        return v | pa

    def _upper_entry(self, pfn, int level):
        if self.st.paging == PAGING_I386_PAE and level == 3:
            return (pfn << PAGE_SHIFT) | int(PAGE_PRESENT)
        return (pfn << PAGE_SHIFT) | int(PAGE_PRESENT | PAGE_RW | PAGE_USER)

    def _level_of_size(self, page_size):
        for lv in range(1, self.st.levels + 1):
            if (lv == 1 or self.st.large_ok[lv]) and (1 << int(self.st.level_shift[lv])) == page_size:
                return lv
        raise ValueError(f"page_size: {page_size!r} is not a page size of {self.paging}"
                         f" (sizes: {', '.join(hex(s) for s in self.page_sizes)})")

    # -- map / unmap / protect -------------------------------------------------

    def map(self, va, pa, size, flags=_PAGE_RW, page_size=None, *, asid=None):
        """Map ``[va, va+size)`` to ``[pa, pa+size)``.

        Parameters
        ----------
        va, pa : int
            Virtual and physical start addresses.
        size : int
            Bytes, a multiple of 4096.
        flags : int, optional
            Entry flags: any of ``_PAGE_RW``, ``_PAGE_USER``, ``_PAGE_PWT``,
            ``_PAGE_PCD``, ``_PAGE_ACCESSED``, ``_PAGE_DIRTY``,
            ``_PAGE_GLOBAL``, ``_PAGE_NX`` (``_PAGE_PRESENT`` is implied, PS is
            set for large pages).  Default ``_PAGE_RW``: supervisor, writable.
        page_size : int, optional
            Map with pages of this size only (`va`, `pa` and `size` must be
            multiples of it).  When None, the range is split greedily into
            the largest pages whose alignment `va` and `pa` share and that
            fit in what is left.
        asid : int, optional
            Inverted table: the address space (default :attr:`asid`).

        Returns
        -------
        int
            Number of pages mapped.

        Raises
        ------
        ValueError
            If an argument is malformed or part of the range is already
            mapped; the table is left unchanged.
        MemoryError
            If the frame source has no frame for a new table; the table is
            left unchanged.
        """
        va, size = self._check_range(va, size, "map")
        pa = _u64("map", "pa", pa)
        flags = self._check_flags(flags, "map")
        if pa % 4096:
            raise ValueError(f"map: pa {pa:#x} must be a multiple of 4096")
        if self.st.paging == PAGING_INVERTED:
            if page_size not in (None, 4096):
                raise ValueError(f"page_size: the inverted table maps 4096-byte pages only,"
                                 f" got {page_size!r}")
            return self._ipt_map(va, pa, size, flags, self._check_asid(asid))
        if asid is not None:
            raise ValueError("asid: radix page tables hold one address space; asid is for"
                             " paging='inverted'")
        if page_size is not None:
            level = self._level_of_size(page_size)
            if va % page_size or pa % page_size or size % page_size:
                raise ValueError(f"map: va {va:#x}, pa {pa:#x} and size {size:#x} must be"
                                 f" multiples of page_size {page_size:#x}")
        # split into pages
        chunks = []
        off = 0
        sizes = self.page_sizes[::-1]
        while off < size:
            if page_size is not None:
                ps = page_size
            else:
                for ps in sizes:
                    if (va + off) % ps == 0 and (pa + off) % ps == 0 and size - off >= ps:
                        break
            chunks.append((va + off, pa + off, ps))
            off += ps
        # physical reach
        for cva, cpa, ps in chunks:
            top = 1 << int(self.st.maxphyaddr)
            if self.st.entry_size == 4 and ps == 4096:
                top = 1 << 32
            if cpa + ps > top:
                raise ValueError(f"map: pa range ends at {cpa + ps:#x}, beyond the"
                                 f" {top.bit_length() - 1}-bit physical reach of these entries")
        # check nothing is in the way
        for cva, cpa, ps in chunks:
            level = self._level_of_size(ps)
            lv, slot, idx, e, path = self._find(cva, level)
            if e & PAGE_PRESENT:
                raise ValueError(f"map: {cva:#x} is already mapped (a level-{lv} entry at"
                                 f" {self._entry_pa(slot, idx):#x} is present)")
        done = []
        try:
            for cva, cpa, ps in chunks:
                level = self._level_of_size(ps)
                self._map_one(cva, cpa, level, flags)
                done.append((cva, ps))
        except BaseException:
            for cva, ps in reversed(done):
                self._unmap_one(cva, self._level_of_size(ps))
            raise
        return len(chunks)

    def _entry_pa(self, slot, idx):
        return (int(self._frame[slot]) << PAGE_SHIFT) + idx * self.st.entry_size

    def _map_one(self, uint64_t va, uint64_t pa, int target, uint64_t flags):
        cdef int level = self.st.levels
        cdef intp_t slot = self.st.root_slot, idx, child
        cdef uint64_t e
        while level > target:
            idx = self._index(va, level)
            e = self.st.pool[slot * self.st.stride + idx]
            if e & PAGE_PRESENT:
                slot = self._child(e, level)
            else:
                child = self._new_table(level - 1)
                self.st.pool[slot * self.st.stride + idx] = self._upper_entry(
                    self.frame_p[child], level)
                self.st.child[slot * self.st.stride + idx] = child
                self.used_p[slot] += 1
                slot = child
            level -= 1
        idx = self._index(va, level)
        self.st.pool[slot * self.st.stride + idx] = self._encode_leaf(pa, flags, level)
        self.used_p[slot] += 1

    def _unmap_one(self, uint64_t va, int target):
        lv, slot, idx, e, path = self._find(va, target)
        self.st.pool[slot * self.st.stride + idx] = 0
        self.used_p[slot] -= 1
        # free tables that became empty, bottom up (never the root)
        for k in range(len(path) - 1, 0, -1):
            s, _ = path[k]
            if self.used_p[s] != 0:
                break
            ps, pidx = path[k - 1]
            self._free_table(s)
            self.st.pool[ps * self.st.stride + pidx] = 0
            self.st.child[ps * self.st.stride + pidx] = -1
            self.used_p[ps] -= 1

    def _leaves(self, va, size, what):
        """The mapped leaves in [va, va+size): list of (va, level); raises if
        the range cuts a large page."""
        out = []
        pos = va
        end = va + size
        while pos < end:
            lv, slot, idx, e, path = self._find(pos)
            span = 1 << int(self.st.level_shift[lv])
            start = pos & ~(span - 1)
            if e & PAGE_PRESENT:
                if start < va or start + span > end:
                    raise ValueError(f"{what}: range {va:#x}..{end:#x} covers only part of the"
                                     f" {span:#x}-byte page at {start:#x}")
                out.append((start, lv))
            pos = start + span
        return out

    def unmap(self, va, size, *, asid=None):
        """Unmap every page in ``[va, va+size)``; holes are skipped.

        Tables left empty are freed (their frames go back to the frame
        source), except the root.

        Parameters
        ----------
        va, size : int
            Range, multiples of 4096.
        asid : int, optional
            Inverted table: the address space (default :attr:`asid`).

        Returns
        -------
        int
            Number of pages unmapped.

        Raises
        ------
        ValueError
            If the range covers only part of a large page (nothing is
            changed).
        """
        va, size = self._check_range(va, size, "unmap")
        if self.st.paging == PAGING_INVERTED:
            return self._ipt_each(va, size, self._check_asid(asid), None)
        leaves = self._leaves(va, size, "unmap")
        for lva, lv in leaves:
            self._unmap_one(lva, lv)
        return len(leaves)

    def protect(self, va, size, flags, *, asid=None):
        """Change the rights of every page in ``[va, va+size)``.

        The bits RW, US, PWT, PCD, G and NX of each leaf are replaced by those
        in `flags`; A, D, the address and PS are kept; holes are skipped.

        Parameters
        ----------
        va, size : int
            Range, multiples of 4096.
        flags : int
            New flags (A and D in it are ignored).
        asid : int, optional
            Inverted table: the address space (default :attr:`asid`).

        Returns
        -------
        int
            Number of pages changed.

        Raises
        ------
        ValueError
            If the range covers only part of a large page, or `flags` is
            malformed (nothing is changed).
        """
        va, size = self._check_range(va, size, "protect")
        flags = self._check_flags(flags, "protect") & int(_PROT_BITS)
        if self.st.paging == PAGING_INVERTED:
            return self._ipt_each(va, size, self._check_asid(asid), flags)
        leaves = self._leaves(va, size, "protect")
        for lva, lv in leaves:
            _, slot, idx, e, _ = self._find(lva, lv)
            pos = slot * self.st.stride + idx
            self.st.pool[pos] = (e & ~_PROT_BITS) | flags
        return len(leaves)

    # -- inverted table operations ------------------------------------------------

    cdef intp_t _ipt_lookup(self, uint64_t tag, intp_t* prev) noexcept:
        cdef uint64_t link = self.st.hat[_ipt_hash(tag, self.st.hat_mask)]
        cdef intp_t frame
        prev[0] = -1
        while link != 0:
            frame = <intp_t>(link - 1)
            if self.st.ipt[2 * frame] == tag:
                return frame
            prev[0] = frame
            link = (self.st.ipt[2 * frame + 1] & _IPT_LINK_MASK) >> PAGE_SHIFT
        return -1

    def _ipt_map(self, va, pa, size, flags, asid):
        cdef intp_t prev, n = size // 4096, i, frame
        cdef uint64_t tag, h
        first = pa >> PAGE_SHIFT
        if first + n > self.st.n_frames:
            raise ValueError(f"map: pa range {pa:#x}..{pa + size:#x} is beyond the"
                             f" {self.st.n_frames} frames of the inverted table")
        for i in range(n):
            frame = first + i
            if self.st.ipt[2 * frame + 1] & PAGE_PRESENT:
                raise ValueError(f"map: frame {frame:#x} is already mapped (an inverted table"
                                 " maps each frame once)")
            tag = (<uint64_t>asid << _VPN_BITS) | ((va >> PAGE_SHIFT) + i)
            if self._ipt_lookup(tag, &prev) >= 0:
                raise ValueError(f"map: {va + i * 4096:#x} is already mapped in asid {asid}")
        for i in range(n):
            frame = first + i
            tag = (<uint64_t>asid << _VPN_BITS) | ((va >> PAGE_SHIFT) + i)
            h = _ipt_hash(tag, self.st.hat_mask)
            self.st.ipt[2 * frame] = tag
            self.st.ipt[2 * frame + 1] = ((flags | PAGE_PRESENT) & ~_IPT_LINK_MASK) | \
                (self.st.hat[h] << PAGE_SHIFT)
            self.st.hat[h] = frame + 1
        return int(n)

    def _ipt_each(self, va, size, asid, flags):
        """Unmap (flags None) or protect the mapped pages of a range."""
        cdef intp_t prev, frame, i, n = size // 4096, count = 0
        cdef uint64_t tag, nxt, e
        for i in range(n):
            tag = (<uint64_t>asid << _VPN_BITS) | ((va >> PAGE_SHIFT) + i)
            frame = self._ipt_lookup(tag, &prev)
            if frame < 0:
                continue
            count += 1
            e = self.st.ipt[2 * frame + 1]
            if flags is not None:
                self.st.ipt[2 * frame + 1] = (e & ~_PROT_BITS) | <uint64_t>flags
                continue
            nxt = (e & _IPT_LINK_MASK) >> PAGE_SHIFT
            if prev < 0:
                self.st.hat[_ipt_hash(tag, self.st.hat_mask)] = nxt
            else:
                self.st.ipt[2 * prev + 1] = (self.st.ipt[2 * prev + 1] & ~_IPT_LINK_MASK) | \
                    (nxt << PAGE_SHIFT)
            self.st.ipt[2 * frame] = 0
            self.st.ipt[2 * frame + 1] = 0
        return int(count)

    # -- walks ---------------------------------------------------------------------

    def walk(self, va, access="read", cpl=3, *, asid=None):
        """Walk the table for one access, as the hardware walker does.

        Parameters
        ----------
        va : int
            Virtual (linear) address.
        access : {"read", "write", "exec"}, optional
            Kind of access (default "read").
        cpl : int, optional
            Current privilege level, 0..3; 3 is user mode (default 3).
        asid : int, optional
            Inverted table: the address space (default :attr:`asid`).

        Returns
        -------
        WalkResult
            The translation or the fault, and the entries read.  A successful
            walk has set A in every entry it used and D in the leaf on a write.
        """
        cdef walk_result_t r
        cdef uint8_t acc = _access_code(access)
        cdef uint8_t c = _check_cpl(cpl)
        cdef addr_t v = _u64("walk", "va", va)
        cdef uint16_t a = self._check_asid(asid)
        pt_walk_asid(&self.st, v, acc, c, a, &r)
        return _to_result(v, &r)

    def walk_from(self, va, level, table_pa, rights=RIGHTS_TOP, access="read", cpl=3):
        """Resume a walk below the root, as after a page-walk-cache hit.

        This is the Python face of the C function ``pt_walk_from``: the walk
        starts at `level` in the table at physical address `table_pa`, with
        the rights accumulated above it, and reads only the entries from
        `level` down.

        Parameters
        ----------
        va : int
            Virtual address.
        level : int
            Level of the table `table_pa` (1 .. :attr:`levels`).
        table_pa : int
            Physical address of that table (``ref_next`` of the entry above).
        rights : int, optional
            Rights accumulated above: bit 0 writable, bit 1 user, bit 2 no
            execute (default 3: writable, user, executable, as at the root).
        access : {"read", "write", "exec"}, optional
            Kind of access.
        cpl : int, optional
            Current privilege level, 0..3.

        Returns
        -------
        WalkResult
        """
        cdef walk_result_t r
        cdef uint8_t acc = _access_code(access)
        cdef uint8_t c = _check_cpl(cpl)
        cdef addr_t v = _u64("walk_from", "va", va)
        if not isinstance(level, (int, np.integer)) or not 1 <= level <= self.st.levels:
            raise ValueError(f"level: expected 1..{self.st.levels}, got {level!r}")
        if not isinstance(rights, (int, np.integer)) or not 0 <= rights <= 7:
            raise ValueError(f"rights: expected 0..7, got {rights!r}")
        tpa = _u64("walk_from", "table_pa", table_pa)
        pt_walk_from(&self.st, v, acc, c, <uint8_t>level, tpa, <uint8_t>rights, &r)
        return _to_result(v, &r)

    def walk_batch(self, vaddrs, kinds, cpl=3):
        """Walk many addresses in one nogil loop.

        Parameters
        ----------
        vaddrs : array_like of uint64
            Virtual addresses.
        kinds : array_like of int or int
            Access kinds of :mod:`memcore.access`: ``IFETCH`` (0) walks for
            execution, ``LOAD`` (1) for reading, ``STORE`` (2) and ``MODIFY``
            (3) for writing.  A scalar applies to every address.
        cpl : int, optional
            Current privilege level, 0..3 (default 3).

        Returns
        -------
        WalkBatch
            Named tuple of arrays ``pa``, ``fault`` (0 none, 1 #PF, 2 #GP),
            ``error_code`` and ``n_refs``.  Walks are independent: each one
            that succeeds updates A/D before the next starts.

        Raises
        ------
        ValueError
            If a kind is not 0..3 (naming the first bad index) or the arrays
            differ in length.
        """
        varr = np.asarray(vaddrs)
        if varr.size and not np.issubdtype(varr.dtype, np.integer):
            raise ValueError(f"vaddrs: expected integer addresses, got dtype {varr.dtype}")
        if varr.size and np.issubdtype(varr.dtype, np.signedinteger) and varr.min() < 0:
            raise ValueError(f"vaddrs[{int(np.argmin(varr))}]: negative address {varr.min()}")
        cdef const uint64_t[::1] va = np.ascontiguousarray(varr, dtype=np.uint64).ravel()
        cdef intp_t n = va.shape[0], i
        karr = np.asarray(kinds)
        if karr.ndim == 0:
            karr = np.full(n, karr, dtype=np.int64)
        karr = np.ascontiguousarray(karr.ravel())
        if n and not np.issubdtype(karr.dtype, np.integer):
            raise ValueError(f"kinds: expected integer access kinds, got dtype {karr.dtype}")
        if karr.shape[0] != n:
            raise ValueError(f"kinds: expected {n} kinds (one per address), got {karr.shape[0]}")
        if n:
            bad = np.flatnonzero((karr < KIND_IFETCH) | (karr > KIND_MODIFY))
            if bad.size:
                raise ValueError(f"kinds[{bad[0]}]: expected an access kind 0..3"
                                 f" (ifetch, load, store, modify), got {karr[bad[0]]!r}")
        cdef const uint8_t[::1] kd = karr.astype(np.uint8)
        cdef uint8_t c = _check_cpl(cpl)
        pa = np.zeros(n, dtype=np.uint64)
        fault = np.zeros(n, dtype=np.uint8)
        err = np.zeros(n, dtype=np.uint32)
        nref = np.zeros(n, dtype=np.uint32)
        cdef uint64_t[::1] pa_v = pa
        cdef uint8_t[::1] f_v = fault
        cdef uint32_t[::1] e_v = err
        cdef uint32_t[::1] r_v = nref
        cdef walk_result_t r
        with nogil:
            for i in range(n):
                f_v[i] = <uint8_t>pt_walk(&self.st, va[i], pt_access_of_kind(kd[i]), c, &r)
                pa_v[i] = r.pa
                e_v[i] = r.error_code
                r_v[i] = r.n_refs
        return WalkBatch(pa, fault, err, nref)

    # -- raw memory -----------------------------------------------------------------

    def _locate(self, pa, what):
        pa = _u64(what, "pa", pa)
        esz = 8 if self.st.paging == PAGING_INVERTED else self.st.entry_size
        if pa % esz:
            raise ValueError(f"{what}: pa {pa:#x} is not aligned to the {esz}-byte entries")
        if self.st.paging == PAGING_INVERTED:
            hat_end = self.st.hat_base + 8 * (self.st.hat_mask + 1)
            ipt_end = self.st.ipt_base + 16 * self.st.n_frames
            if self.st.hat_base <= pa < hat_end:
                return "hat", (pa - self.st.hat_base) // 8
            if self.st.ipt_base <= pa < ipt_end:
                return "ipt", (pa - self.st.ipt_base) // 8
            raise ValueError(f"{what}: pa {pa:#x} is not in the inverted table")
        slot = pt_frame_slot(&self.st, pa >> PAGE_SHIFT)
        if slot < 0:
            raise ValueError(f"{what}: pa {pa:#x} is not in a page-table frame")
        return slot, (pa & 0xFFF) // esz

    def read_entry(self, pa):
        """Read the entry stored at physical address `pa`.

        Parameters
        ----------
        pa : int
            Physical address of an entry (of a table frame, or of the hash
            anchor table / IPT words for the inverted table).

        Returns
        -------
        int
            Its value.
        """
        where, idx = self._locate(pa, "read_entry")
        if where == "hat":
            return int(self._hat[idx])
        if where == "ipt":
            return int(self._ipt[idx])
        return int(self._pool[where, idx])

    def write_entry(self, pa, value):
        """Overwrite the entry at physical address `pa` (for experiments:
        reserved bits, rights at upper levels, clearing A/D).

        The structure must stay intact: an entry pointing to a table keeps its
        P and PS bits and its address bits below :attr:`maxphyaddr`; other
        entries may become leaves or not-present, but not table pointers.
        In the inverted table only the flag bits of an IPT entry word may
        change.

        Parameters
        ----------
        pa : int
            Physical address of the entry.
        value : int
            New value (below 2**32 for ``i386-2level``).

        Raises
        ------
        ValueError
            If `pa` holds no entry or the write would break the structure.
        """
        value = _u64("write_entry", "value", value)
        where, idx = self._locate(pa, "write_entry")
        if where in ("hat", "ipt"):
            if where == "hat" or idx % 2 == 0:
                raise ValueError(f"write_entry: pa {pa:#x} is a hash-anchor or tag word;"
                                 " only IPT entry flag words may be written")
            old = int(self._ipt[idx])
            keep = int(_IPT_LINK_MASK | PAGE_PRESENT)
            if (old ^ value) & keep:
                raise ValueError("write_entry: an IPT entry keeps its P bit and chain link")
            self._ipt[idx] = value
            return
        if self.st.entry_size == 4 and value >= (1 << 32):
            raise ValueError(f"write_entry: value {value:#x} does not fit a 4-byte entry")
        slot = where
        level = int(self._tlevel[slot])
        old = int(self._pool[slot, idx])
        old_table = (old & 1) and not self._is_leaf(old, level)
        new_table = (value & 1) and not self._is_leaf(value, level)
        if old_table:
            addr = (int(PTE_ADDR_MASK) if self.st.entry_size == 8 else 0xFFFFF000) & \
                ((1 << int(self.st.maxphyaddr)) - 1)
            keep = addr | int(PAGE_PRESENT)
            if self.st.large_ok[level]:
                keep |= int(PAGE_PSE)
            if (old ^ value) & keep:
                raise ValueError(f"write_entry: the level-{level} entry at {pa:#x} points to a"
                                 " table; it must keep P, PS and its address")
        elif new_table:
            raise ValueError(f"write_entry: a level-{level} entry cannot be made to point to a"
                             " table (use map)")
        self._pool[slot, idx] = value
        self._used[slot] += (value & 1) - (old & 1)

    def memory(self):
        """Every nonzero entry word in memory.

        Returns
        -------
        dict
            ``{physical address: value}`` (4-byte words for ``i386-2level``,
            8-byte words otherwise).  The plain-Python reference walker runs
            over this.
        """
        out = {}
        if self.st.paging == PAGING_INVERTED:
            for i in np.flatnonzero(self._hat):
                out[int(self.st.hat_base + 8 * i)] = int(self._hat[i])
            for i in np.flatnonzero(self._ipt):
                out[int(self.st.ipt_base + 8 * i)] = int(self._ipt[i])
            return out
        esz = self.st.entry_size
        for s in range(self._n_slots):
            if not self._tlevel[s]:
                continue
            base = int(self._frame[s]) << PAGE_SHIFT
            row = self._pool[s]
            for i in np.flatnonzero(row):
                out[base + esz * int(i)] = int(row[i])
        return out

    # -- pickling ---------------------------------------------------------------------

    def __reduce__(self):
        config = dict(paging=self.paging, wp=self.wp, nxe=self.nxe,
                      maxphyaddr=self.maxphyaddr, update_ad=self.update_ad, asid=self.asid,
                      frame_source=self.frame_source, free_slots=list(self._free_slots),
                      n_slots=self._n_slots, n_tables=self._n_tables,
                      root_slot=self.st.root_slot, cr3=self.cr3,
                      region_frames=self._region_frames, n_frames=int(self.st.n_frames),
                      hat_base=int(self.st.hat_base), ipt_base=int(self.st.ipt_base))
        arrays = dict(pool=self._pool.copy(), child=self._next.copy(), frame=self._frame.copy(), used=self._used.copy(),
                      tlevel=self._tlevel.copy(), ipt=self._ipt.copy(), hat=self._hat.copy())
        return (_restore, (config, arrays))

    def _setstate(self, config, arrays):
        memset(&self.st, 0, sizeof(pt_state_t))
        self.st.paging = _paging_code(config["paging"])
        self.st.wp = config["wp"]
        self.st.nxe = config["nxe"]
        self.st.maxphyaddr = config["maxphyaddr"]
        self.st.update_ad = config["update_ad"]
        self.st.asid = config["asid"]
        self._setup_geometry()
        self.frame_source = config["frame_source"]
        self._free_slots = list(config["free_slots"])
        self._n_slots = config["n_slots"]
        self._n_tables = config["n_tables"]
        self.st.root_slot = config["root_slot"]
        self._region_frames = config["region_frames"]
        self._pool = arrays["pool"]
        self._next = arrays["child"]
        self._frame = arrays["frame"]
        self._used = arrays["used"]
        self._tlevel = arrays["tlevel"]
        self._ipt = arrays["ipt"]
        self._hat = arrays["hat"]
        self.st.cr3 = config["cr3"]
        self.st.n_frames = config["n_frames"]
        self.st.hat_base = config["hat_base"]
        self.st.ipt_base = config["ipt_base"]
        self.st.hat_mask = self._hat.shape[0] - 1
        self._init_frame_index(8)
        self._rehash()
