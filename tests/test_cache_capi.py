"""The C contract of memcore.cache / memcore.hierarchy, used as a downstream
kernel would: a tiny extension is compiled that cimports the .pxd files and
pushes accesses through a Hierarchy and a Cache with ``hier_access``."""
import os
import subprocess
import sys
import textwrap

import pytest

from memcore.access import LOAD, STORE
from memcore.cache import Cache
from memcore.hierarchy import Hierarchy

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")

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

SETUP = textwrap.dedent("""
    import numpy as np
    from Cython.Build import cythonize
    from setuptools import Extension, setup
    setup(ext_modules=cythonize(
        [Extension("capi_user", ["capi_user.pyx"], include_dirs=[np.get_include()])],
        include_path=[{src!r}], quiet=True))
""")


@pytest.fixture(scope="module")
def capi_user(tmp_path_factory):
    d = tmp_path_factory.mktemp("capi")
    (d / "capi_user.pyx").write_text(PYX)
    (d / "setup.py").write_text(SETUP.format(src=SRC))
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=d, env=env,
                   check=True, capture_output=True)
    sys.path.insert(0, str(d))
    try:
        import capi_user
        yield capi_user
    finally:
        sys.path.remove(str(d))


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
