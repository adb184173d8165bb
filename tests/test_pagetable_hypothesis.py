"""Differential tests: memcore.pagetable against the plain-Python references
of tests/reference/pagetable.py on random map/unmap/protect/walk sequences."""
import random

from hypothesis import given
from hypothesis import strategies as st

from memcore.pagetable import PageTable
from tests.reference import pagetable as ref

RADIX = ["x86_64-4level", "x86_64-5level", "i386-2level", "i386-pae"]
FLAG_BITS = [ref.RW, ref.US, ref.PWT, ref.PCD, ref.A, ref.D, ref.G, ref.NX]
ACCESSES = ["read", "write", "exec"]

# the strides random addresses are built from: every page size, plus the
# span of the level above the largest page
SPANS = {
    "x86_64-4level": [1 << 12, 1 << 21, 1 << 30, 1 << 39],
    "x86_64-5level": [1 << 12, 1 << 21, 1 << 30, 1 << 39, 1 << 48],
    "i386-2level": [1 << 12, 1 << 22],
    "i386-pae": [1 << 12, 1 << 21, 1 << 30],
}
BASES = {
    "x86_64-4level": [0, 0xFFFF800000000000],
    "x86_64-5level": [0, 0xFF00000000000000],
    "i386-2level": [0],
    "i386-pae": [0],
}


class RandomFrames:
    """Frame source handing out unique random frames below 4 GiB."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.out = set()

    def alloc(self, order):
        while True:
            pfn = self.rng.randrange(0x100, 1 << 20)
            if pfn not in self.out:
                self.out.add(pfn)
                return pfn

    def free(self, pfn, order):
        assert pfn in self.out, f"double free of frame {pfn:#x}"
        self.out.remove(pfn)


def address(paging, base, ks):
    spans = SPANS[paging]
    return base + sum(k * s for k, s in zip(ks, spans))


coords = st.lists(st.integers(0, 3), min_size=5, max_size=5)
flags = st.lists(st.sampled_from(FLAG_BITS), max_size=4).map(lambda bs: sum(set(bs)))

op = st.one_of(
    st.tuples(st.just("map"), st.integers(0, 1), coords, st.integers(0, 4), st.integers(1, 3),
              st.integers(0, 63), flags, st.booleans()),
    st.tuples(st.just("unmap"), st.integers(0, 1), coords, st.integers(0, 4), st.integers(1, 3)),
    st.tuples(st.just("protect"), st.integers(0, 1), coords, st.integers(0, 4),
              st.integers(1, 3), flags),
    st.tuples(st.just("walk"), st.integers(0, 1), coords, st.integers(0, 4095),
              st.sampled_from(ACCESSES), st.sampled_from([0, 3]), st.integers(0, 20)),
)
# flip one bit of an existing entry (rights at upper levels, reserved bits,
# A/D, PS): the walk must still agree with the reference walker
POKE_BITS = [1, 2, 5, 6, 7, 8, 12, 13, 20, 21, 29, 40, 45, 51, 55, 60, 62, 63]
poke = st.tuples(st.just("poke"), st.integers(0, 10**6), st.sampled_from(POKE_BITS))


def reachable_tables(pt, paging):
    """Count the tables reachable from CR3 in memory; check none is empty."""
    fmt = ref.FORMATS[paging]
    mem = pt.memory()
    count = 0
    todo = [(pt.cr3, max(fmt["index"]))]
    while todo:
        table, level = todo.pop()
        count += 1
        _, width = fmt["index"][level]
        entries = [mem.get(table + i * fmt["entry"], 0) for i in range(1 << width)]
        if level != max(fmt["index"]):
            assert any(e & ref.P for e in entries), "an empty table was not freed"
        for e in entries:
            if e & ref.P and level > 1 and not (level in fmt["large"] and e & ref.PS):
                mask = 0xFFFFF000 if fmt["entry"] == 4 else ref.bit_range(12, 52)
                todo.append((e & mask, level - 1))
    return count


def run_call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return "ValueError"


@given(st.sampled_from(RADIX), st.integers(0, 2**32), st.booleans(), st.booleans(),
       st.sampled_from([36, 46, 52]), st.lists(op, max_size=40),
       st.lists(st.tuples(st.integers(0, 40), poke), max_size=4))
def test_radix_agrees_with_reference(paging, seed, wp, nxe, maxphyaddr, ops, pokes):
    frames = RandomFrames(seed)
    if paging == "i386-2level":
        maxphyaddr = min(maxphyaddr, 40)
    pt = PageTable(paging, frames, wp=wp, nxe=nxe, maxphyaddr=maxphyaddr)
    nxe = pt.nxe
    model = ref.Mappings(pt.page_sizes)
    sizes = pt.page_sizes
    ops = list(ops)
    for at, p in sorted(pokes, reverse=True):
        ops.insert(min(at, len(ops)), p)
    poked = False
    for o in ops:
        if o[0] == "poke":
            mem = pt.memory()
            if mem:
                addr = sorted(mem)[o[1] % len(mem)]
                try:
                    pt.write_entry(addr, mem[addr] ^ (1 << o[2]))
                    poked = True
                except ValueError:
                    assert pt.memory() == mem
            continue
        kind, half, ks = o[0], o[1], o[2]
        base = BASES[paging][half % len(BASES[paging])]
        if kind == "walk":
            _, _, _, offset, acc, cpl, noise = o
            va = address(paging, base, ks) + offset
            if noise == 0:
                va ^= 1 << 60          # non-canonical (or beyond 32 bits)
            mem = pt.memory()
            got = pt.walk(va, acc, cpl)
            want = ref.walk(mem, paging, pt.cr3, va, acc, cpl, wp=wp, nxe=nxe,
                            maxphyaddr=pt.maxphyaddr)
            assert (got.fault, got.error_code, got.pa, got.page_size) == \
                (want["fault"], want["error_code"], want["pa"], want["page_size"])
            assert got.refs == want["refs"]
            assert pt.memory() == mem                  # A/D updated as the reference did
            if want["fault"] != "#GP" and not poked:
                assert model.expect(va, acc, cpl, wp=wp, nxe=nxe) == \
                    (got.fault, got.error_code, got.pa)
            continue
        size_i, count = o[3] % len(sizes), o[4]
        ps = sizes[size_i]
        va = address(paging, base, ks)
        va -= va % ps
        if kind == "map":
            _, _, _, _, _, pa_k, fl, explicit = o
            if not nxe:
                fl &= ~ref.NX
            pa = pa_k * ps % (1 << 32)
            pa -= pa % ps
            page_size = ps if explicit else None
            got = run_call(pt.map, va, pa, count * ps, fl, page_size)
            want = run_call(model.map, va, pa, count * ps, fl, page_size)
        elif kind == "unmap":
            got, want = run_call(pt.unmap, va, count * ps), run_call(model.unmap, va, count * ps)
        else:
            fl = o[5] if nxe else o[5] & ~ref.NX
            got = run_call(pt.protect, va, count * ps, fl)
            want = run_call(model.protect, va, count * ps, fl)
        # after a poke the model no longer describes the tables
        assert poked or got == want
    if poked:
        return
    # every page the model holds translates; no table leaked or left empty
    for start, (size, pa, _) in model.pages.items():
        r = pt.walk(start + size - 1, "read", 0)
        assert r.ok and r.pa == pa + size - 1 and r.page_size == size
    assert reachable_tables(pt, paging) == pt.n_tables == len(frames.out)


inv_op = st.one_of(
    st.tuples(st.just("map"), st.integers(0, 2), st.integers(0, 40), st.integers(0, 15),
              st.integers(1, 3), flags),
    st.tuples(st.just("unmap"), st.integers(0, 2), st.integers(0, 40), st.integers(1, 3)),
    st.tuples(st.just("protect"), st.integers(0, 2), st.integers(0, 40), st.integers(1, 3),
              flags),
    st.tuples(st.just("walk"), st.integers(0, 2), st.integers(0, 42), st.integers(0, 4095),
              st.sampled_from(ACCESSES), st.sampled_from([0, 3])),
)


@given(st.booleans(), st.lists(inv_op, max_size=60))
def test_inverted_agrees_with_reference(wp, ops):
    pt = PageTable("inverted", n_frames=16, wp=wp)
    layout = pt.ipt_layout
    models = {asid: ref.Mappings([4096]) for asid in range(3)}
    frames = {}                                         # frame -> (asid, va)

    def vaddr(k):
        return (k % 7) * 4096 + (k // 7) * (1 << 33)

    for o in ops:
        kind, asid, k = o[0], o[1], o[2]
        va = vaddr(k)
        if kind == "walk":
            _, _, _, offset, acc, cpl = o
            mem = pt.memory()
            got = pt.walk(va + offset, acc, cpl, asid=asid)
            want = ref.walk_inverted(mem, layout["hat_base"], layout["hat_entries"],
                                     layout["ipt_base"], va + offset, acc, cpl, asid, wp=wp)
            assert (got.fault, got.error_code, got.pa, got.refs) == \
                (want["fault"], want["error_code"], want["pa"], want["refs"])
            assert pt.memory() == mem
            assert models[asid].expect(va + offset, acc, cpl, wp=wp) == \
                (got.fault, got.error_code, got.pa)
        elif kind == "map":
            _, _, _, frame, count, fl = o
            if any(vaddr(k + i) != va + 4096 * i for i in range(count)):
                count = 1                                # keep the range contiguous
            want = "ValueError" if frame + count > 16 or \
                any(f in frames for f in range(frame, frame + count)) else None
            if want is None:
                want = run_call(models[asid].map, va, frame << 12, count * 4096, fl)
                if want != "ValueError":
                    for i in range(count):
                        frames[frame + i] = (asid, va + 4096 * i)
            assert run_call(pt.map, va, frame << 12, count * 4096, fl, None, asid=asid) == want
        elif kind == "unmap":
            count = o[3]
            got = pt.unmap(va, count * 4096, asid=asid)
            assert got == models[asid].unmap(va, count * 4096)
            for f, owner in list(frames.items()):
                if owner[0] == asid and va <= owner[1] < va + count * 4096:
                    del frames[f]
        else:
            count, fl = o[3], o[4]
            assert pt.protect(va, count * 4096, fl, asid=asid) == \
                models[asid].protect(va, count * 4096, fl)
