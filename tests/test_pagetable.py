"""memcore.pagetable: hand-worked examples from the x86 bit layouts, faults
with their error codes, the Python API's error handling, pickling."""
import pickle

import numpy as np
import pytest

from memcore import access
from memcore.pagetable import (
    _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_NX, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW, _PAGE_USER,
    PAGING_NAMES, RIGHTS_NX, RIGHTS_USER, RIGHTS_WRITABLE, PageTable, SequentialFrames,
)

URW = _PAGE_USER | _PAGE_RW


def entry_at(pt, ref):
    """Current value of the entry a walk reference points to."""
    return pt.read_entry(ref[1])


# -- address decomposition ------------------------------------------------------


def test_4level_address_decomposition():
    # 0x00007f1234567abc: PML4 bits 47..39 = 254, PDPT 38..30 = 72,
    # PD 29..21 = 418, PT 20..12 = 359, offset 0xabc.
    va = 0x00007F1234567ABC
    assert [(va >> s) & 511 for s in (39, 30, 21, 12)] == [254, 72, 418, 359]
    pt = PageTable("x86_64-4level")
    pt.map(va & ~0xFFF, 0x12345000, 4096, URW)
    r = pt.walk(va)
    assert r.ok and r.pa == 0x12345ABC and r.page_size == 4096
    assert [lv for lv, _, _ in r.refs] == [4, 3, 2, 1]
    # each entry sits at table base + 8 * index; the first table is CR3's
    table = pt.cr3
    for (lv, addr, value), index in zip(r.refs, [254, 72, 418, 359]):
        assert addr == table + 8 * index
        table = value & 0x000FFFFFFFFFF000
    assert r.refs[-1][2] & 0x000FFFFFFFFFF000 == 0x12345000


def test_5level_uses_bits_56_to_48():
    va = (0x0AB << 48) | (3 << 39) | 0x1234           # canonical with LA57 only
    pt5 = PageTable("x86_64-5level")
    pt5.map(va & ~0xFFF, 0x7000, 4096, URW)
    r = pt5.walk(va)
    assert r.ok and r.pa == 0x7234 and len(r.refs) == 5
    assert r.refs[0] == (5, pt5.cr3 + 8 * 0xAB, r.refs[0][2])
    assert r.refs[1][1] & 0xFFF == 8 * 3
    assert pt5.walk(1 << 56).fault == "#GP"          # bit 56 must be extended
    # the same address is non-canonical with 4-level paging
    pt4 = PageTable("x86_64-4level")
    assert pt4.walk(va).fault == "#GP"
    with pytest.raises(ValueError, match="canonical"):
        pt4.map(va & ~0xFFF, 0x7000, 4096)


def test_noncanonical_is_general_protection():
    pt = PageTable()
    for va in (0x0000800000000000, 0xFFFF7FFFFFFFFFFF, 0x8000000000000000):
        r = pt.walk(va)
        assert r.fault == "#GP" and r.error_code == 0 and r.n_refs == 0
    # upper canonical half is fine
    pt.map(0xFFFFFFFF80000000, 0x1000000, 0x200000, _PAGE_RW)
    assert pt.walk(0xFFFFFFFF80001234, cpl=0).pa == 0x1001234


def test_2mib_mapping_and_ad_bits():
    pt = PageTable()
    n = pt.map(0x200000, 0x40000000, 0x200000, URW)
    assert n == 1
    r = pt.walk(0x2ABCDE, "read")
    assert r.ok and r.pa == 0x400ABCDE and r.page_size == 0x200000 and r.level == 2
    assert len(r.refs) == 3 and r.refs[-1][2] & _PAGE_PSE
    # A set at every level used, D not on a read
    assert all(entry_at(pt, ref) & _PAGE_ACCESSED for ref in r.refs)
    assert not entry_at(pt, r.refs[-1]) & _PAGE_DIRTY
    # the values reported are as read: no A before the first walk
    assert not any(v & _PAGE_ACCESSED for _, _, v in r.refs)
    w = pt.walk(0x200000, "write")
    assert w.ok and w.entry & _PAGE_DIRTY and w.flags & _PAGE_DIRTY
    assert entry_at(pt, w.refs[-1]) & _PAGE_DIRTY
    # D only on the leaf
    assert not any(entry_at(pt, ref) & _PAGE_DIRTY for ref in w.refs[:-1])


def test_1gib_page_and_greedy_split():
    pt = PageTable()
    # 1 GiB + 2 MiB + 4 KiB, all aligned: greedy split uses one of each
    assert pt.map(0x40000000, 0x80000000, 0x40000000 + 0x200000 + 0x1000, URW) == 3
    assert pt.walk(0x7FFFFFFF).page_size == 1 << 30
    assert pt.walk(0x80000000).page_size == 1 << 21
    assert pt.walk(0x80200000).page_size == 4096
    # explicit page size
    pt2 = PageTable()
    assert pt2.map(0x40000000, 0x80000000, 0x400000, URW, page_size=4096) == 1024
    with pytest.raises(ValueError, match="page_size"):
        pt2.map(0x0, 0x0, 0x400000, page_size=0x400000)
    with pytest.raises(ValueError, match="multiples of page_size"):
        pt2.map(0x1000, 0x0, 0x200000, page_size=0x200000)


# -- faults and error codes -------------------------------------------------------


def test_error_codes_user_supervisor():
    pt = PageTable()
    pt.map(0x1000, 0x10000, 0x1000, _PAGE_RW)                 # supervisor page
    pt.map(0x2000, 0x20000, 0x1000, _PAGE_USER)               # user, read-only
    pt.map(0x3000, 0x30000, 0x1000, URW | _PAGE_NX)           # user, no execute
    cases = [
        (0x1000, "read", 3, 0x5),     # user read of a supervisor page
        (0x1000, "write", 3, 0x7),    # user write of a supervisor page
        (0x5000, "read", 3, 0x4),     # user read, not present
        (0x5000, "write", 3, 0x6),    # user write, not present
        (0x5000, "read", 0, 0x0),     # supervisor read, not present
        (0x2000, "write", 3, 0x7),    # user write of a read-only page
        (0x2000, "write", 0, 0x3),    # supervisor write, read-only, CR0.WP=1
        (0x3000, "exec", 3, 0x15),    # user fetch from an NX page
        (0x3000, "exec", 0, 0x11),    # supervisor fetch from an NX page
        (0x5000, "exec", 3, 0x14),    # user fetch, not present
    ]
    for va, acc, cpl, code in cases:
        r = pt.walk(va, acc, cpl)
        assert (r.fault, r.error_code) == ("#PF", code), (hex(va), acc, cpl)
    assert pt.walk(0x1000, "write", 0).ok       # supervisor may write its page
    assert pt.walk(0x2000, "read", 3).ok
    assert pt.walk(0x3000, "read", 3).ok


def test_cr0_wp_and_efer_nxe():
    pt = PageTable(wp=False)
    pt.map(0x2000, 0x20000, 0x1000, _PAGE_USER)
    assert pt.walk(0x2000, "write", 0).ok            # WP=0: supervisor ignores RW
    assert pt.walk(0x2000, "write", 3).error_code == 0x7
    pt.wp = True
    assert pt.walk(0x2000, "write", 0).error_code == 0x3
    # without EFER.NXE: no I/D bit, and NX is a reserved bit
    nonx = PageTable(nxe=False)
    nonx.map(0x1000, 0x10000, 0x1000, URW)
    assert nonx.walk(0x9000, "exec").error_code == 0x4
    with pytest.raises(ValueError, match="NX"):
        nonx.map(0x3000, 0x30000, 0x1000, URW | _PAGE_NX)
    leaf = nonx.walk(0x1000).refs[-1]
    nonx.write_entry(leaf[1], nonx.read_entry(leaf[1]) | _PAGE_NX)
    assert nonx.walk(0x1000).error_code == 0xD      # P | RSVD | U


def test_rights_combine_across_levels():
    pt = PageTable()
    pt.map(0x1000, 0x10000, 0x1000, URW)
    pml4e, pdpte, pde, pte = pt.walk(0x1000, cpl=0).refs
    assert pt.walk(0x1000).rights == RIGHTS_WRITABLE | RIGHTS_USER
    # clear RW in the PDE: the user write faults although the PTE allows it
    pt.write_entry(pde[1], pt.read_entry(pde[1]) & ~_PAGE_RW)
    assert pt.walk(0x1000, "write", 3).error_code == 0x7
    assert pt.walk(0x1000, "read", 3).rights == RIGHTS_USER
    # clear US in the PDPTE: user reads fault, supervisor reads do not
    pt.write_entry(pdpte[1], pt.read_entry(pdpte[1]) & ~_PAGE_USER)
    assert pt.walk(0x1000, "read", 3).error_code == 0x5
    assert pt.walk(0x1000, "read", 0).ok
    # NX in the PML4E forbids execution everywhere below
    pt.write_entry(pml4e[1], pt.read_entry(pml4e[1]) | _PAGE_NX)
    assert pt.walk(0x1000, "exec", 0).error_code == 0x11
    assert pt.walk(0x1000, "read", 0).rights == RIGHTS_NX


def test_reserved_bits():
    pt = PageTable(maxphyaddr=40)
    pt.map(0x1000, 0x10000, 0x1000, URW)
    pt.map(0x200000, 0x400000, 0x200000, URW)
    pml4e, pdpte, pde, pte = pt.walk(0x1000).refs
    # an address bit at or above MAXPHYADDR (40) in the PTE
    pt.write_entry(pte[1], pte[2] | (1 << 45))
    r = pt.walk(0x1000, "write")
    assert r.fault == "#PF" and r.error_code == 0xF            # P | W | U | RSVD
    pt.write_entry(pte[1], pte[2])
    # PS is reserved in a PML4E
    pt.write_entry(pml4e[1], pml4e[2] | _PAGE_PSE)
    r = pt.walk(0x1000)
    assert r.error_code == 0xD and len(r.refs) == 1            # stops at the PML4E
    pt.write_entry(pml4e[1], pml4e[2])
    # bits 13..20 of a 2 MiB PDE are reserved
    big = pt.walk(0x200000).refs[-1]
    pt.write_entry(big[1], pt.read_entry(big[1]) | (1 << 13))
    assert pt.walk(0x200000, cpl=0).error_code == 0x9          # P | RSVD
    # bits 52..62 are ignored (available to software) in 4-level entries
    pt.write_entry(pte[1], pte[2] | (1 << 55))
    assert pt.walk(0x1000).ok


def test_faulting_walk_changes_nothing():
    pt = PageTable()
    pt.map(0x1000, 0x10000, 0x1000, _PAGE_RW)
    before = pt.memory()
    assert pt.walk(0x1000, "write", 3).fault == "#PF"
    assert pt.walk(0x3000, "read", 3).fault == "#PF"
    assert pt.memory() == before
    pt.update_ad = False
    assert pt.walk(0x1000, "write", 0).ok
    assert pt.memory() == before


# -- 32-bit formats -----------------------------------------------------------------


def test_i386_2level_4k_and_pse():
    pt = PageTable("i386-2level")
    assert pt.page_sizes == (4096, 4 << 20) and pt.entry_size == 4
    pt.map(0x00C00000, 0x12400000, 4 << 20, URW)               # one 4 MiB page
    r = pt.walk(0x00C12345, "write")
    assert r.ok and r.pa == 0x12412345 and r.page_size == 4 << 20 and len(r.refs) == 1
    assert r.refs[0][1] == pt.cr3 + 4 * 3                       # PDE index 3, 4-byte entries
    assert pt.read_entry(r.refs[0][1]) == 0x12400000 | _PAGE_PSE | URW | _PAGE_PRESENT \
        | _PAGE_ACCESSED | _PAGE_DIRTY
    # 4 KiB page: va 0x0804A123 -> PD index 32, PT index 0x4A
    pt.map(0x0804A000, 0x00333000, 4096, URW)
    r = pt.walk(0x0804A123)
    assert r.pa == 0x00333123
    assert r.refs[0][1] == pt.cr3 + 4 * 32
    assert r.refs[1][1] == (r.refs[0][2] & 0xFFFFF000) + 4 * 0x4A
    # PSE-36: a 4 MiB page above 4 GiB keeps address bits 32..39 in bits 13..20
    pt.map(0x40000000, 0x5_0040_0000, 4 << 20, URW)
    r = pt.walk(0x40000010)
    assert r.pa == 0x5_0040_0010 and (r.refs[0][2] >> 13) & 0xFF == 5
    # no NX in 32-bit entries, and 4 KiB pages cannot reach above 4 GiB
    with pytest.raises(ValueError, match="NX"):
        pt.map(0x1000, 0x1000, 4096, _PAGE_NX)
    with pytest.raises(ValueError, match="physical reach"):
        pt.map(0x2000, 1 << 32, 4096)
    assert pt.walk(0x1000, "exec").error_code == 0x4            # no I/D bit
    assert pt.walk(1 << 32).fault == "#GP"


def test_i386_pae():
    pt = PageTable("i386-pae")
    assert pt.page_sizes == (4096, 2 << 20)
    va = 0xC0201ABC            # PDPT index 3, PD index 1, PT index 1
    pt.map(va & ~0xFFF, 0x7_0000_0000, 4096, URW | _PAGE_NX)
    r = pt.walk(va)
    assert r.ok and r.pa == 0x7_0000_0ABC
    assert [lv for lv, _, _ in r.refs] == [3, 2, 1]
    assert r.refs[0][1] == pt.cr3 + 8 * 3
    assert r.refs[1][1] & 0xFFF == 8 * 1 and r.refs[2][1] & 0xFFF == 8 * 1
    # the PDPTE has neither rights nor an accessed bit
    assert pt.read_entry(r.refs[0][1]) == r.refs[0][2]
    assert r.refs[0][2] & 0xFFF == _PAGE_PRESENT
    assert pt.walk(va, "exec").error_code == 0x15
    # bits 52..62 are reserved in PAE entries
    pt.write_entry(r.refs[2][1], pt.read_entry(r.refs[2][1]) | (1 << 60))
    assert pt.walk(va).error_code == 0xD
    pt.map(0x400000, 0x800000, 0x200000, URW)
    assert pt.walk(0x5FFFFF).page_size == 2 << 20


# -- walk caches: resuming a walk below the root ------------------------------------


@pytest.mark.parametrize("paging", ["x86_64-4level", "x86_64-5level", "i386-pae"])
def test_walk_from_matches_full_walk(paging):
    pt = PageTable(paging)
    pt.map(0x40201000, 0x9000, 0x1000, URW)
    full = pt.walk(0x40201234, "write")
    for skip in range(1, pt.levels):
        # the entry above `level` points to the table to resume in
        _, _, value = full.refs[skip - 1]
        level = pt.levels - skip
        r = pt.walk_from(0x40201234, level, value & 0x000FFFFFFFFFF000, access="write")
        assert r.ok and r.pa == full.pa
        assert r.refs == [(lv, a, pt.read_entry(a)) for lv, a, _ in full.refs[skip:]]
    # rights accumulated above are honoured
    r = pt.walk_from(0x40201234, 1, full.refs[-2][2] & 0x000FFFFFFFFFF000, rights=0b001)
    assert r.fault == "#PF" and r.error_code == 0x5
    with pytest.raises(ValueError, match="level"):
        pt.walk_from(0x0, pt.levels + 1, pt.cr3)


# -- batch walks -------------------------------------------------------------------


def test_walk_batch_agrees_with_walk():
    rng = np.random.default_rng(5)
    pt = PageTable()
    pt.map(0x400000, 0x1000000, 0x400000, URW)
    pt.map(0x800000, 0x2000000, 0x10000, _PAGE_USER | _PAGE_NX)
    vas = rng.integers(0x3F0000, 0x820000, size=400, dtype=np.uint64)
    kinds = rng.integers(0, 4, size=400)
    twin = pickle.loads(pickle.dumps(pt))
    out = pt.walk_batch(vas, kinds, cpl=3)
    names = {access.IFETCH: "exec", access.LOAD: "read", access.STORE: "write",
             access.MODIFY: "write"}
    for i in range(400):
        r = twin.walk(int(vas[i]), names[int(kinds[i])], 3)
        assert out.fault[i] == (0 if r.ok else 1)
        assert out.n_refs[i] == r.n_refs
        if r.ok:
            assert out.pa[i] == r.pa
        else:
            assert out.error_code[i] == r.error_code
    assert twin.memory() == pt.memory()        # same A/D updates, in order


def test_walk_batch_validates_before_walking():
    pt = PageTable()
    pt.map(0x1000, 0x1000, 0x1000, URW)
    before = pt.memory()
    with pytest.raises(ValueError, match=r"kinds\[2\]"):
        pt.walk_batch([0x1000, 0x1000, 0x1000], [1, 2, 4])
    with pytest.raises(ValueError, match="kinds"):
        pt.walk_batch([0x1000, 0x1000], [1, 2, 1])
    with pytest.raises(ValueError, match="cpl"):
        pt.walk_batch([0x1000], 1, cpl=4)
    with pytest.raises(ValueError, match="integer addresses"):
        pt.walk_batch(np.array([4096.0]), 1)
    with pytest.raises(ValueError, match=r"vaddrs\[1\]: negative"):
        pt.walk_batch(np.array([4096, -4096]), 1)
    assert pt.memory() == before
    out = pt.walk_batch(np.array([], dtype=np.uint64), 1)
    assert out.pa.shape == (0,)
    gp = pt.walk_batch([1 << 63], 1)
    assert gp.fault[0] == 2 and gp.n_refs[0] == 0


# -- map / unmap / protect rules, frame source ------------------------------------------


class CountingFrames:
    """A frame source with alloc/free that runs dry after `limit` frames."""

    def __init__(self, limit, start=0x500):
        self.free_list = list(range(start + limit - 1, start - 1, -1))
        self.freed = []
        self.out = set()

    def alloc(self, order):
        assert order == 0
        if not self.free_list:
            raise MemoryError("out of frames")
        pfn = self.free_list.pop()
        self.out.add(pfn)
        return pfn

    def free(self, pfn, order):
        assert pfn in self.out, "double free"
        self.out.remove(pfn)
        self.freed.append(pfn)
        self.free_list.append(pfn)


def test_tables_live_in_frames_from_the_source():
    fs = CountingFrames(10)
    pt = PageTable(frame_source=fs)
    assert pt.cr3 == 0x500 << 12
    pt.map(0x1000, 0x1000, 0x1000, URW)
    assert set(pt.table_frames()) == fs.out and len(fs.out) == 4
    assert sorted(pt.table_frames().values()) == [1, 2, 3, 4]
    r = pt.walk(0x1000)
    assert all((addr >> 12) in fs.out for _, addr, _ in r.refs)
    # unmapping frees every table but the root
    assert pt.unmap(0, 0x10000) == 1
    assert fs.out == {0x500} and pt.n_tables == 1 and len(fs.freed) == 3
    # a callable works too
    frames = iter(range(0x900, 0x910))
    pt2 = PageTable("i386-2level", frame_source=lambda: next(frames))
    pt2.map(0x1000, 0x1000, 0x1000)
    assert pt2.cr3 == 0x900 << 12 and set(pt2.table_frames()) == {0x900, 0x901}


def test_map_failures_leave_the_table_unchanged():
    fs = CountingFrames(3)
    pt = PageTable(frame_source=fs)
    pt.map(0x200000, 0x200000, 0x200000, URW)       # root + PDPT + PD
    before = pt.memory()
    # overlap with an existing 2 MiB page
    with pytest.raises(ValueError, match="already mapped"):
        pt.map(0x1FF000, 0x0, 0x2000, URW)
    # the frame source runs dry half-way: everything is rolled back
    with pytest.raises(MemoryError):
        pt.map(0x100000000, 0x0, 0x1000, URW)
    assert pt.memory() == before and len(fs.out) == 3
    with pytest.raises(ValueError, match="multiples of 4096"):
        pt.map(0x1001, 0x0, 0x1000)
    with pytest.raises(ValueError, match="flags"):
        pt.map(0x0, 0x0, 0x1000, 1 << 9)
    with pytest.raises(ValueError, match="paging"):
        PageTable("sparc")
    with pytest.raises(ValueError, match="maxphyaddr"):
        PageTable(maxphyaddr=60)
    assert pt.memory() == before


def test_unmap_and_protect_rules():
    pt = PageTable()
    pt.map(0x200000, 0x200000, 0x200000, URW)
    pt.map(0x400000, 0x800000, 0x3000, URW)
    with pytest.raises(ValueError, match="part of"):
        pt.unmap(0x200000, 0x1000)                   # cuts the 2 MiB page
    with pytest.raises(ValueError, match="part of"):
        pt.protect(0x3FF000, 0x2000, _PAGE_USER)
    # protect replaces the rights, keeps A/D and the address
    pt.walk(0x401000, "write")
    assert pt.protect(0x400000, 0x10000, _PAGE_USER | _PAGE_NX) == 3
    r = pt.walk(0x401000, "read")
    assert r.pa == 0x801000 and r.flags & _PAGE_DIRTY and not r.flags & _PAGE_RW
    assert r.flags & _PAGE_NX
    assert pt.walk(0x401000, "write").error_code == 0x7
    assert pt.unmap(0x0, 0x1000000) == 4
    assert pt.walk(0x200000).error_code == 0x4 and pt.n_tables == 1


def test_write_entry_guards_the_structure():
    pt = PageTable()
    pt.map(0x1000, 0x1000, 0x1000, URW)
    pml4e = pt.walk(0x1000).refs[0]
    with pytest.raises(ValueError, match="keep P"):
        pt.write_entry(pml4e[1], 0)
    with pytest.raises(ValueError, match="not in a page-table frame"):
        pt.read_entry(0x10)
    with pytest.raises(ValueError, match="aligned"):
        pt.read_entry(pt.cr3 + 4)
    with pytest.raises(ValueError, match="point to a table"):
        pt.write_entry(pt.cr3 + 8, 0x5000 | _PAGE_PRESENT)


# -- inverted page table ------------------------------------------------------------------


def test_inverted_table():
    pt = PageTable("inverted", n_frames=256)
    assert pt.page_sizes == (4096,)
    pt.map(0x7000, 0x3000, 0x2000, URW, asid=1)
    pt.map(0x7000, 0x5000, 0x1000, _PAGE_USER, asid=2)
    r = pt.walk(0x7123, "write", asid=1)
    assert r.ok and r.pa == 0x3123 and r.flags & _PAGE_DIRTY
    # memory references: the anchor entry, then the chain up to the entry
    assert r.refs[0][1] >> 12 == pt.cr3 >> 12 and r.n_refs >= 2
    assert r.refs[-1][1] == r.refs[0][2] * 0 + pt.walk(0x7000, asid=1).refs[-1][1]
    assert pt.walk(0x7123, asid=2).pa == 0x5123
    assert pt.walk(0x7123, "write", asid=2).error_code == 0x7
    assert pt.walk(0x7123, asid=3).error_code == 0x4
    with pytest.raises(ValueError, match="frame"):
        pt.map(0x9000, 0x3000, 0x1000, asid=3)      # a frame is mapped once
    with pytest.raises(ValueError, match="beyond"):
        pt.map(0x9000, 256 << 12, 0x1000)
    with pytest.raises(ValueError, match="page_size"):
        pt.map(0x200000, 0x0, 0x200000, page_size=0x200000)
    assert pt.unmap(0x7000, 0x2000, asid=1) == 2
    assert pt.walk(0x7123, asid=1).fault == "#PF"
    assert pt.walk(0x7123, asid=2).ok
    pt.asid = 2
    out = pt.walk_batch([0x7123, 0x8000], access.LOAD)
    assert list(out.fault) == [0, 1] and out.pa[0] == 0x5123


def test_inverted_long_chain_counts_every_reference():
    pt = PageTable("inverted", n_frames=64)
    layout = pt.ipt_layout
    assert layout["hat_base"] == pt.cr3 and layout["hat_entries"] == 64
    # 64 pages in a 64-entry anchor table: some chains are longer than one
    for i in range(64):
        pt.map(i << 20, i << 12, 0x1000, URW)
    refs = [pt.walk(i << 20).n_refs for i in range(64)]
    assert min(refs) == 2 and max(refs) > 2
    # the chain of every anchor entry, followed through memory
    mem = pt.memory()
    total = 0
    for h in range(64):
        link, n = mem.get(layout["hat_base"] + 8 * h, 0), 0
        while link:
            n += 1
            total += n + 1                    # anchor + n entries to reach it
            link = (mem[layout["ipt_base"] + 16 * (link - 1) + 8] >> 12) & ((1 << 40) - 1)
    assert total == sum(refs)


# -- state ------------------------------------------------------------------------------


@pytest.mark.parametrize("paging", PAGING_NAMES)
def test_pickle_round_trip(paging):
    pt = PageTable(paging, SequentialFrames(0x2000), **({"n_frames": 512} if paging == "inverted" else {}))
    pt.map(0x400000, 0x100000, 0x80000, URW)
    pt.walk(0x400000, "write")
    copy = pickle.loads(pickle.dumps(pt))
    assert copy.memory() == pt.memory() and copy.cr3 == pt.cr3
    assert copy.walk(0x401234).pa == pt.walk(0x401234).pa
    # both keep working independently
    copy.unmap(0x400000, 0x80000)
    assert copy.walk(0x401234).fault == "#PF" and pt.walk(0x401234).ok
    copy.map(0x400000, 0x100000, 0x1000, URW)
    assert copy.walk(0x400000).ok


def test_pool_is_a_numpy_view():
    pt = PageTable()
    pt.map(0x1000, 0x1000, 0x1000, URW)
    pool = pt.pool
    assert pool.dtype == np.uint64 and pool.shape == (4, 512)
    assert np.count_nonzero(pool) == 4


def test_frames_are_reused_after_unmap():
    # a LIFO source hands freed frames straight back; the frame index must
    # forget a freed table (and survive growing past its first capacity)
    fs = CountingFrames(400)
    pt = PageTable(frame_source=fs)
    for rnd in range(3):
        for i in range(40):
            pt.map((i << 30) | (rnd << 21), i << 12, 0x1000, URW)
        assert pt.n_tables == 2 + 2 * 40          # root, one PDPT, 40 PDs and PTs
        for i in range(40):
            assert pt.walk((i << 30) | (rnd << 21) | 0x10).pa == (i << 12) | 0x10
        assert pt.unmap(0, 40 << 30) == 40
        assert pt.n_tables == 1 and fs.out == {0x500}
    assert len(pt.table_frames()) == 1


def test_frame_source_misbehaving():
    frames = iter([0x100, 0x100])
    with pytest.raises(ValueError, match="already holds"):
        PageTable(frame_source=lambda: next(frames)).map(0x0, 0x0, 0x1000)
    with pytest.raises(ValueError, match="reach"):
        PageTable("i386-2level", frame_source=lambda: 1 << 21)
    with pytest.raises(MemoryError):
        PageTable(frame_source=lambda: None)
    with pytest.raises(ValueError, match="frame_source"):
        PageTable(frame_source=42)
