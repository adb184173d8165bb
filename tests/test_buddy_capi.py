"""The buddy C API (buddy.pxd) used as a downstream kernel uses it: a tiny
extension is compiled that cimports memcore.buddy and allocates and frees
pages in a nogil loop on a BuddyAllocator's state (as the slab kernel does)."""
import textwrap

import pytest
from capi import build_cimport_user

from memcore.buddy import BuddyAllocator

SRC = textwrap.dedent("""
    # cython: language_level=3
    from memcore._typedefs cimport int64_t, intp_t
    from memcore.buddy cimport (BuddyAllocator, buddy_t, buddy_alloc, buddy_free,
                                MIGRATE_UNMOVABLE, BUDDY_ENOTALLOC)

    def churn(BuddyAllocator b, int order, intp_t n):
        cdef buddy_t *z = b.c_zone()
        cdef int64_t first = -1, pfn
        cdef intp_t i
        cdef int rc = 0, rc2 = 0
        with nogil:
            for i in range(n):
                pfn = buddy_alloc(z, order, MIGRATE_UNMOVABLE, -1)
                if i == 0:
                    first = pfn
                rc = buddy_free(z, pfn, order)
            pfn = buddy_alloc(z, order, MIGRATE_UNMOVABLE, -1)
            rc2 = buddy_free(z, pfn, order)
            rc2 = buddy_free(z, pfn, order)      # double free: error code, no change
        return first, rc, rc2 == BUDDY_ENOTALLOC
""")


@pytest.fixture(scope="module")
def ext(tmp_path_factory):
    return build_cimport_user(tmp_path_factory.mktemp("capi"), "buddy_user", SRC)

def test_cimport_alloc_free_nogil(ext):
    b = BuddyAllocator(4096)
    first, rc, double_free_caught = ext.churn(b, 3, 1000)
    assert first == 0 and rc == 0 and double_free_caught
    assert list(b.free_counts()) == [0] * 10 + [4]
    assert b.stats()["alloc"] == 1001 and b.stats()["free"] == 1001
    assert b.pageblock_migratetype.tolist() == [0, 0, 1, 1, 1, 1, 1, 1]
