"""The set searches of memcore/_cachefast.h that pick between code paths:
the LRU/FIFO victim (``mc_oldest``: the first way with the smallest stamp)
and the all-LRU miss path's lookup (``mc_find``), for every associativity,
on each path the engine can take: AVX2 (chosen at run time where the host
has it), SSE2 (every x86-64) and the portable scalar code other hosts get.
The header (shipped with the package) is compiled into a tiny shared
library once per path and compared with plain Python on random stamps and
tags, ties and stamps above 2**63 included."""
import ctypes
import platform
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import memcore

CC = shutil.which("gcc") or shutil.which("cc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler")

SOURCE = textwrap.dedent("""
    #include "memcore/_cachefast.h"
    ptrdiff_t oldest(const uint64_t *r, ptrdiff_t ways) { return mc_oldest(r, ways); }
    ptrdiff_t find(const uint64_t *t, ptrdiff_t ways, uint64_t line) { return mc_find(t, ways, line); }
    void init(void) { mc_cpu_init(); }
""")

FLAVOURS = ["default"]
if platform.machine().lower() in ("x86_64", "amd64"):
    FLAVOURS += ["-DMEMCORE_NO_AVX2", "-mno-sse2"]


@pytest.fixture(scope="module", params=FLAVOURS)
def header(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("victim")
    src = d / "victim.c"
    src.write_text(SOURCE)
    lib = d / "victim.so"
    flags = [] if request.param == "default" else [request.param]
    include = Path(memcore.__file__).resolve().parent.parent
    subprocess.run([CC, "-O2", "-shared", "-fPIC", *flags, f"-I{include}", str(src),
                    "-o", str(lib)], check=True)
    dll = ctypes.CDLL(str(lib))
    dll.init()
    for fn in (dll.oldest, dll.find):
        fn.restype = ctypes.c_ssize_t
    dll.oldest.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_ssize_t]
    dll.find.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_ssize_t, ctypes.c_uint64]
    return dll


@pytest.fixture(scope="module")
def oldest(header):
    def call(stamps):
        return header.oldest((ctypes.c_uint64 * len(stamps))(*stamps), len(stamps))
    return call


def first_smallest(stamps):
    return stamps.index(min(stamps))


# Small values force ties (invalid ways all carry stamp 0); the large ones
# catch a signed compare.
STAMP = st.one_of(st.integers(0, 3), st.integers(0, 2**64 - 1),
                  st.integers(2**63 - 2, 2**63 + 1), st.just(2**64 - 1))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_oldest_is_the_first_smallest_stamp(oldest, data):
    ways = data.draw(st.sampled_from([1, 2, 3, 4, 5, 8, 12, 16, 32]))
    stamps = data.draw(st.lists(STAMP, min_size=ways, max_size=ways))
    assert oldest(stamps) == first_smallest(stamps)


@pytest.mark.parametrize("ways", [2, 4, 8, 16])
def test_ties_resolve_to_the_lowest_way(oldest, ways):
    for w in range(ways):
        stamps = [5] * ways
        stamps[w] = 1
        for later in range(w + 1, ways):
            tied = list(stamps)
            tied[later] = 1
            assert oldest(tied) == w
        assert oldest(stamps) == w
    assert oldest([0] * ways) == 0
    assert oldest([2**63] * (ways - 1) + [2**63 - 1]) == ways - 1


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_find_is_the_way_holding_the_line(header, data):
    # mc_find (the all-LRU miss path's set search): a line is held by at
    # most one way; invalid ways hold all ones.
    ways = data.draw(st.sampled_from([1, 2, 4, 8, 16, 32]))
    lines = data.draw(st.lists(st.integers(0, 2**64 - 2), min_size=ways, max_size=ways,
                               unique=True))
    valid = data.draw(st.lists(st.booleans(), min_size=ways, max_size=ways))
    tags = [t if v else 2**64 - 1 for t, v in zip(lines, valid)]
    held = [t for t in tags if t != 2**64 - 1]
    line = data.draw(st.sampled_from(held) if held and data.draw(st.booleans())
                     else st.integers(0, 2**64 - 2))
    arr = (ctypes.c_uint64 * ways)(*tags)
    expect = tags.index(line) if line in held else -1
    assert header.find(arr, ways, line) == expect
