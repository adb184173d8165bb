"""The C contract of memcore.pagetable, used the way memcore.mmu uses it: a
separate extension cimports ``pagetable.pxd`` and walks from a nogil loop,
including a walk resumed below the root after a (simulated) walk-cache hit."""
import textwrap

import pytest
from capi import build_cimport_user

from memcore.pagetable import _PAGE_RW, _PAGE_USER, PageTable


CLIENT = textwrap.dedent("""
    # cython: language_level=3
    from memcore.pagetable cimport (PageTable, pt_state_t, walk_result_t, pt_walk,
                                    pt_walk_from, ACCESS_READ, ACCESS_WRITE, WALK_OK)

    def walk_twice(PageTable table, unsigned long long va):
        cdef pt_state_t* pt = &table.st
        cdef walk_result_t full, part
        cdef int rc1, rc2
        with nogil:
            rc1 = pt_walk(pt, va, ACCESS_WRITE, 3, &full)
            # a PDE-cache hit: resume in the PT with the rights above it
            rc2 = pt_walk_from(pt, va, ACCESS_READ, 3, 1,
                               full.ref_next[full.n_refs - 2],
                               full.ref_rights[full.n_refs - 2], &part)
        return (rc1, full.pa, full.n_refs,
                [full.ref_addr[i] for i in range(full.n_refs)],
                rc2, part.pa, part.n_refs, part.ref_addr[0], part.leaf)
""")

@pytest.mark.slow
def test_another_extension_walks_through_the_pxd(tmp_path):
    ptclient = build_cimport_user(tmp_path, "ptclient", CLIENT)
    pt = PageTable()
    pt.map(0x7F0000201000, 0x5000, 0x1000, _PAGE_RW | _PAGE_USER)
    expect = pt.walk(0x7F0000201ABC)
    rc1, pa, n, addrs, rc2, pa2, n2, first2, leaf = ptclient.walk_twice(pt, 0x7F0000201ABC)
    assert (rc1, pa, n) == (0, 0x5ABC, 4)
    assert addrs == [a for _, a, _ in expect.refs]
    assert (rc2, pa2, n2, first2) == (0, 0x5ABC, 1, addrs[-1])
    assert leaf & 0x60 == 0x60               # A and D set by the first (write) walk
