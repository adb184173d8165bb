"""The C contract of memcore.cache / memcore.hierarchy, used as a downstream
kernel would: a tiny extension is compiled that cimports the .pxd files and
pushes accesses through a Hierarchy and a Cache with ``hier_access``."""
import textwrap

import pytest
from capi import build_cimport_user

from memcore.access import LOAD
from memcore.cache import Cache
from memcore.hierarchy import Hierarchy


PYX = textwrap.dedent("""
    # cython: language_level=3
    from memcore.access cimport KIND_LOAD, KIND_STORE
    from memcore.cache cimport Cache, level_lookup
    from memcore.hierarchy cimport Hierarchy, hier_t, hier_access

    def walk(Hierarchy hier, addrs, bint store):
        # Returns the level index that served each access (n_levels = memory).
        cdef hier_t* h = &hier.h
        cdef list out = []
        cdef unsigned long long a
        cdef int served
        for a in addrs:
            with nogil:
                served = hier_access(h, a, 8, KIND_STORE if store else KIND_LOAD)
            out.append(served)
        return out, h.n_levels

    def solo(Cache c, unsigned long long a):
        cdef int served = hier_access(&c.solo, a, 4, KIND_LOAD)
        return served, level_lookup(&c.lv, a >> c.lv.line_bits) >= 0
""")

@pytest.fixture(scope="module")
def capi_user(tmp_path_factory):
    return build_cimport_user(tmp_path_factory.mktemp("capi"), "capi_user", PYX)

def test_hier_access_from_another_extension_counts_like_python(capi_user):
    levels = [dict(name="L1", size=256, line_size=64, ways=2, next="L2"),
              dict(name="L2", size=1024, line_size=64, ways=4)]
    h = Hierarchy(levels, data_entry="L1", inst_entry=None)
    served, n = capi_user.walk(h, [0x1000, 0x1000, 0x2000, 0x3000, 0x1000], False)
    assert n == 2
    assert served == [2, 0, 2, 2, 1]   # memory, L1, memory, memory, L2 (L1 set full)
    ref = Hierarchy(levels, data_entry="L1", inst_entry=None)
    assert [ref.access(a, 8, LOAD) for a in (0x1000, 0x1000, 0x2000, 0x3000, 0x1000)] == \
        ["memory", "L1", "memory", "memory", "L2"]
    assert h.stats() == ref.stats()
    capi_user.walk(h, [0x1000], True)
    assert h.level("L1").lines()[0] == (0x1000, True)


def test_cache_solo_state_is_reachable(capi_user):
    c = Cache(1024, 64, 2)
    assert capi_user.solo(c, 0x40) == (1, True)
    assert capi_user.solo(c, 0x44) == (0, True)
    assert c.stats()["hits"] == 1
