"""memcore's compat modes against the simulators they reproduce.

* ``compat="pycachesim"`` against pycachesim 0.3.1 itself (``import
  cachesim``): identical counts on random traces and on a real lackey trace.
* ``compat="cachegrind"`` against a live ``valgrind --tool=cachegrind`` run of
  a small C program whose ``--tool=lackey`` trace is replayed: every counter
  within 0.1 %.
"""
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from memcore.access import ACCESS_DTYPE, IFETCH, LOAD, STORE, MODIFY
from memcore.hierarchy import Hierarchy
from pyapi.trace import read_trace

cachesim = pytest.importorskip("cachesim")

HAVE_VALGRIND = shutil.which("valgrind") is not None and shutil.which("gcc") is not None

# The program traced by lackey and measured by cachegrind: 600 generated
# functions (~70 KB of code, more than I1 and LL) called round after round,
# then stores and loads one line apart over 2 MiB, so that every counter is
# large next to the few start-up accesses in which the two valgrind tools'
# runs differ.
N_FUNCS, ROUNDS = 600, 60
_FUNCS = "\n".join(
    f"__attribute__((noinline)) int f{k}(int x) {{ int y = x * {k + 3}; y ^= y >> 3; "
    f"y += {k} * x; y ^= y << 5; y -= x >> 2; y *= {2 * k + 1}; y ^= y >> 7; "
    f"y += {k * 7}; return y ^ (x << 1); }}"
    for k in range(N_FUNCS))
PROGRAM = f"""
#include <stdio.h>
#include <stdlib.h>
{_FUNCS}
static int (*tab[])(int) = {{ {", ".join(f"f{k}" for k in range(N_FUNCS))} }};
#define BUF (2 << 20)
int main(void) {{
    int i, r, acc = 1;
    long t = 0;
    char *buf = malloc(BUF);
    for (r = 0; r < {ROUNDS}; r++)
        for (i = 0; i < {N_FUNCS}; i++) acc = tab[i](acc);
    for (r = 0; r < 2; r++)
        for (i = 0; i < BUF; i += 64) *(long *)(buf + i) = i + r;
    for (r = 0; r < 2; r++)
        for (i = 0; i < BUF; i += 64) t += buf[i];
    printf("%d %ld\\n", acc, t);
    free(buf);
    return 0;
}}
"""


# ------------------------------------------------------------------ helpers

def pycachesim_run(levels, recs):
    """Drive pycachesim as its users do: one load/store call per record."""
    cfg = {}
    for lv in levels:
        cfg[lv["name"]] = dict(
            sets=lv["size"] // lv["line_size"] // lv["ways"], ways=lv["ways"],
            cl_size=lv["line_size"], replacement_policy=lv["policy"].upper(),
            write_back=lv["write_back"], write_allocate=lv["write_allocate"])
        if lv["next"]:
            cfg[lv["name"]]["load_from"] = lv["next"]
            cfg[lv["name"]]["store_to"] = lv["next"]
    sim, caches, mem = cachesim.CacheSimulator.from_dict(cfg)
    for addr, size, kind in recs:
        size = max(size, 1)
        if kind in (LOAD, MODIFY):
            sim.load(addr, length=size)
        if kind in (STORE, MODIFY):
            sim.store(addr, length=size)
    return caches, mem


def assert_pycachesim_agrees(levels, recs):
    h = Hierarchy(levels, data_entry=levels[0]["name"], inst_entry=None, compat="pycachesim")
    arr = np.zeros(len(recs), dtype=ACCESS_DTYPE)
    if recs:
        a, s, k = zip(*recs)
        arr["addr"], arr["size"], arr["kind"] = a, s, k
    h.run(arr)
    caches, mem = pycachesim_run(levels, recs)
    ours = h.stats()
    for name, c in caches.items():
        mine = ours["levels"][name]
        theirs = c.stats()
        assert (mine["loads"], mine["stores"], mine["hits"], mine["misses"], mine["writebacks"]) == (
            theirs["LOAD_count"], theirs["STORE_count"], theirs["HIT_count"],
            theirs["MISS_count"], theirs["EVICT_count"]), name
        # Same resident lines too.  pycachesim parses an address as a C
        # unsigned int into a long, leaving the upper 32 bits undefined.
        bits = levels[0]["line_size"].bit_length() - 1
        assert {(x & 0xFFFFFFFF) >> bits for x in c.backend.cached} == {
            a >> bits for a, _ in h.level(name).lines()}, name
    m = mem.stats()
    assert (ours["memory"]["reads"], ours["memory"]["writes"]) == (m["LOAD_count"], m["STORE_count"])


WRITE_POLICIES = [(True, True), (True, False), (False, False)]  # what pycachesim allows


@st.composite
def pycachesim_config(draw):
    line = draw(st.sampled_from([8, 16, 64]))
    depth = draw(st.integers(1, 3))
    levels = []
    for i in range(depth):
        ways = draw(st.sampled_from([1, 2, 4, 8]))
        sets = draw(st.sampled_from([1, 2, 4, 8]))
        wb, wa = draw(st.sampled_from(WRITE_POLICIES))
        levels.append(dict(name=f"L{i + 1}", size=sets * ways * line, line_size=line, ways=ways,
                           policy=draw(st.sampled_from(["lru", "fifo"])), write_back=wb,
                           write_allocate=wa, next=f"L{i + 2}" if i + 1 < depth else None))
    return levels


@settings(max_examples=40)
@given(levels=pycachesim_config(), data=st.data())
def test_pycachesim_mode_matches_pycachesim_on_random_traces(levels, data):
    line = levels[0]["line_size"]
    n_lines = data.draw(st.integers(1, 200))
    recs = data.draw(st.lists(st.tuples(
        st.integers(0, n_lines * line - 1),
        st.sampled_from([1, 4, 8, line, 2 * line + 3]),
        st.sampled_from([LOAD, STORE, MODIFY])), max_size=300))
    assert_pycachesim_agrees(levels, recs)


def test_memcore_keeps_addresses_above_4gib_apart():
    # pycachesim keeps only the low 32 bits of an address; memcore does not.
    levels = [dict(name="L1", size=1024, line_size=64, ways=16, policy="lru",
                   write_back=True, write_allocate=True, next=None)]
    h = Hierarchy(levels, data_entry="L1", inst_entry=None, compat="pycachesim")
    h.access(0x40)
    assert h.access(0x1_0000_0040) == "memory"
    assert h.stats()["levels"]["L1"]["misses"] == 2


# ------------------------------------------------------------- real traces

@pytest.fixture(scope="module")
def traced_program(tmp_path_factory):
    if not HAVE_VALGRIND:
        pytest.skip("valgrind or gcc missing")
    d = tmp_path_factory.mktemp("prog")
    src = d / "prog.c"
    src.write_text(PROGRAM)
    exe = d / "prog"
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(src)], check=True)
    lk = d / "lackey.txt"
    subprocess.run(["valgrind", "--tool=lackey", "--trace-mem=yes", f"--log-file={lk}", str(exe)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return d, exe, read_trace(lk, format="lackey")


def test_pycachesim_mode_matches_pycachesim_on_lackey_trace(traced_program):
    _, _, trace = traced_program
    data = trace[trace["kind"] != IFETCH]
    # pycachesim keeps 32 address bits: fold the stack (near 2**35) down.
    data = data.copy()
    data["addr"] &= np.uint64(0xFFFFFFFF)
    recs = list(zip(data["addr"].tolist(), data["size"].tolist(), data["kind"].tolist()))
    levels = [dict(name="L1", size=32768, line_size=64, ways=8, policy="lru", write_back=True,
                   write_allocate=True, next="L2"),
              dict(name="L2", size=262144, line_size=64, ways=4, policy="lru", write_back=True,
                   write_allocate=True, next=None)]
    assert_pycachesim_agrees(levels, recs)


def read_cachegrind_summary(path):
    events = summary = None
    for line in open(path):
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:"):
            summary = [int(x) for x in line.split()[1:]]
    return dict(zip(events, summary))


@pytest.mark.valgrind
def test_cachegrind_mode_matches_live_cachegrind(traced_program):
    d, exe, trace = traced_program
    I1, D1, LL = (16384, 4, 64), (8192, 2, 64), (32768, 8, 64)
    out = d / "cg.out"
    subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=yes",
                    "--I1=%d,%d,%d" % I1, "--D1=%d,%d,%d" % D1, "--LL=%d,%d,%d" % LL,
                    f"--cachegrind-out-file={out}", str(exe)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    cg = read_cachegrind_summary(out)
    h = Hierarchy([dict(name="I1", size=I1[0], ways=I1[1], line_size=I1[2], next="LL"),
                   dict(name="D1", size=D1[0], ways=D1[1], line_size=D1[2], next="LL"),
                   dict(name="LL", size=LL[0], ways=LL[1], line_size=LL[2])],
                  data_entry="D1", inst_entry="I1", compat="cachegrind")
    h.run(trace)
    s = h.stats()["levels"]
    ours = {
        "Ir": s["I1"]["ifetches"], "I1mr": s["I1"]["ifetch_misses"],
        "ILmr": s["LL"]["ifetch_misses"],
        "Dr": s["D1"]["loads"], "D1mr": s["D1"]["load_misses"],
        "DLmr": s["LL"]["load_misses"] - s["LL"]["ifetch_misses"],
        "Dw": s["D1"]["stores"], "D1mw": s["D1"]["store_misses"],
        "DLmw": s["LL"]["store_misses"],
    }
    for key, theirs in cg.items():
        if key in ours:
            assert abs(ours[key] - theirs) <= 0.001 * theirs + 2, (key, ours[key], theirs, ours, cg)
