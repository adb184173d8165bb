"""The C APIs of slab.pxd, partition.pxd and replace.pxd used as a downstream
kernel uses them: a tiny extension cimports the three modules and drives
each kernel in a nogil loop on the state of a Python-made object."""
import textwrap

import pytest
from capi import build_cimport_user

from memcore.partition import PartitionAllocator
from memcore.replace import Replacer
from memcore.slab import SlabCache
from reference.slab import RefPageSource

SRC = textwrap.dedent("""
    # cython: language_level=3
    from memcore._typedefs cimport addr_t, intp_t, int32_t, int64_t
    from memcore.slab cimport (SlabCache, slab_cache_t, slab_alloc_obj, slab_free_obj,
                               SLAB_OK, SLAB_ENOSLAB, SLAB_EDOUBLE)
    from memcore.partition cimport PartitionAllocator, part_t, part_alloc, part_free
    from memcore.replace cimport Replacer, repl_t, repl_insert, repl_touch, repl_victim, repl_remove

    def slab_churn(SlabCache cache, intp_t n):
        # allocate until the cpu slab and partial list run out, free it all
        cdef slab_cache_t *s = cache.c_cache()
        cdef addr_t a[4096]
        cdef intp_t i, got = 0
        cdef int rc = SLAB_OK, rc2 = 0
        with nogil:
            while got < n and got < 4096:
                rc = slab_alloc_obj(s, 0, &a[got])
                if rc != SLAB_OK:
                    break
                got += 1
            for i in range(got):
                slab_free_obj(s, a[i])
            if got:
                rc2 = slab_free_obj(s, a[0])         # double free: error code
        return got, rc == SLAB_ENOSLAB, rc2 == SLAB_EDOUBLE

    def part_fill(PartitionAllocator p, int64_t size, intp_t n):
        cdef part_t *c = p.c_part()
        cdef int64_t off, first = -2
        cdef intp_t i
        with nogil:
            for i in range(n):
                off = part_alloc(c, size)
                if i == 0:
                    first = off
        return first

    def lru_victims(Replacer r, intp_t n):
        cdef repl_t *c = r.c_state()
        cdef int32_t s, v
        cdef intp_t i
        with nogil:
            for i in range(n):
                s = repl_insert(c, i, 0, 0)
            repl_touch(c, 0, 0, 0)                   # frame 0 holds page 0
            v = repl_victim(c)
        return c.page[v]
""")


@pytest.fixture(scope="module")
def ext(tmp_path_factory):
    return build_cimport_user(tmp_path_factory.mktemp("capi"), "physmem_user", SRC)

def test_slab_capi(ext):
    src = RefPageSource(64)
    c = SlabCache("capi", 512, page_source=src)       # 8 objects per slab
    first = c.alloc()                                  # one slab, 7 objects left
    got, ran_out, double = ext.slab_churn(c, 100)
    assert (got, ran_out, double) == (7, True, True)
    assert c.inuse_objects == 1 and c.nr_slabs == 1
    c.free(first)
    assert c.inuse_objects == 0 and c.alloc() == first


def test_partition_capi(ext):
    p = PartitionAllocator(100)
    assert ext.part_fill(p, 10, 5) == 0
    assert p.nr_allocated == 5 and p.holes().tolist() == [(50, 50)]


def test_replace_capi(ext):
    r = Replacer(3, "lru")
    assert ext.lru_victims(r, 3) == 1                  # page 0 touched: 1 is least recent
