"""The C contract of memcore.pagetable, used the way memcore.mmu uses it: a
separate extension cimports ``pagetable.pxd`` and walks from a nogil loop,
including a walk resumed below the root after a (simulated) walk-cache hit."""
import os
import subprocess
import sys
import textwrap

import pytest

import memcore
from memcore.pagetable import _PAGE_RW, _PAGE_USER, PageTable

SRC = os.path.dirname(os.path.dirname(os.path.abspath(memcore.__file__)))

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

SETUP = textwrap.dedent("""
    from setuptools import setup, Extension
    from Cython.Build import cythonize
    import numpy as np
    setup(ext_modules=cythonize([Extension("ptclient", ["ptclient.pyx"],
                                           include_dirs=[np.get_include(), {src!r}])],
                                include_path=[{src!r}], quiet=True))
""")


@pytest.mark.slow
def test_another_extension_walks_through_the_pxd(tmp_path):
    pytest.importorskip("Cython", reason="building a cimport user needs Cython")
    pytest.importorskip("setuptools", reason="building a cimport user needs setuptools")
    (tmp_path / "ptclient.pyx").write_text(CLIENT)
    (tmp_path / "setup.py").write_text(SETUP.format(src=SRC))
    proc = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sys.path.insert(0, str(tmp_path))
    try:
        import ptclient
    finally:
        sys.path.remove(str(tmp_path))
    pt = PageTable()
    pt.map(0x7F0000201000, 0x5000, 0x1000, _PAGE_RW | _PAGE_USER)
    expect = pt.walk(0x7F0000201ABC)
    rc1, pa, n, addrs, rc2, pa2, n2, first2, leaf = ptclient.walk_twice(pt, 0x7F0000201ABC)
    assert (rc1, pa, n) == (0, 0x5ABC, 4)
    assert addrs == [a for _, a, _ in expect.refs]
    assert (rc2, pa2, n2, first2) == (0, 0x5ABC, 1, addrs[-1])
    assert leaf & 0x60 == 0x60               # A and D set by the first (write) walk
