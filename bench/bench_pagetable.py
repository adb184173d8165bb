"""Benchmarks of memcore.pagetable: batch walks over random mapped addresses.

asv suites (``time_*`` and exact ``track_*`` counts), and, run as a script,
walks per second for each format against the plain-Python reference walker::

    PYTHONPATH=src python3 bench/bench_pagetable.py
"""
import os
import sys
import time

import numpy as np

from memcore.pagetable import _PAGE_RW, _PAGE_USER, PageTable

N_PAGES = 4096          # pages mapped (scattered over the address space)
N_WALKS = 200_000       # addresses walked per batch


REGIONS_64 = [0x40000000, 0x80000000, 0x7F0000000000, 0x7FFF00000000]
REGIONS_32 = [0x00000000, 0x40000000, 0x80000000, 0xC0000000]


def build(paging, page_size, layout="scattered", seed=0):
    """A table and N_WALKS random addresses (loads and stores), 1/16 of them
    in unmapped pages.

    ``scattered``: N_PAGES pages at random virtual pages of the whole address
    space (nearly every page has its own tables: the walk misses the host's
    caches at every level).  ``dense``: 4 * N_PAGES pages in four contiguous
    regions, like a process's text, heap, mmap area and stack.
    """
    rng = np.random.default_rng(seed)
    n_pages = N_PAGES if layout == "scattered" else 4 * N_PAGES
    pt = PageTable(paging, **({"n_frames": 2 * n_pages} if paging == "inverted" else {}))
    va_bits = {"x86_64-5level": 56, "i386-pae": 32, "i386-2level": 32}.get(paging, 47)
    if layout == "scattered":
        n_slots = 1 << (va_bits - page_size.bit_length() + 1)
        slots = np.unique(rng.integers(0, n_slots, size=n_pages + n_pages // 4, dtype=np.uint64))
        rng.shuffle(slots)
        n_pages = min(n_pages, len(slots) - n_pages // 8)
        mapped, unmapped = slots[:n_pages], slots[n_pages:]
        for i, slot in enumerate(mapped):
            pt.map(int(slot) * page_size, i * page_size, page_size, _PAGE_RW | _PAGE_USER,
                   page_size=page_size)
    else:
        regions = REGIONS_32 if va_bits == 32 else REGIONS_64
        per = n_pages // len(regions)
        if per * page_size > 0x10000000:
            per = 0x10000000 // page_size
        mapped = []
        for r, base in enumerate(regions):
            pt.map(base, r * per * page_size, per * page_size, _PAGE_RW | _PAGE_USER,
                   page_size=page_size)
            mapped.append(np.arange(per, dtype=np.uint64) + np.uint64(base // page_size))
        mapped = np.concatenate(mapped)
        unmapped = mapped[rng.integers(0, len(mapped), size=64)] + np.uint64(per)
        n_pages = len(mapped)
    pick = rng.integers(0, n_pages, size=N_WALKS)
    vaddrs = mapped[pick] * np.uint64(page_size) + rng.integers(0, page_size, size=N_WALKS,
                                                               dtype=np.uint64)
    miss = rng.random(N_WALKS) < 1 / 16
    vaddrs[miss] = unmapped[rng.integers(0, len(unmapped), size=miss.sum())] \
        * np.uint64(page_size)
    kinds = rng.integers(1, 3, size=N_WALKS).astype(np.uint8)      # loads and stores
    return pt, vaddrs, kinds


class WalkBatch:
    """``PageTable.walk_batch`` over random addresses of scattered pages."""

    params = (["x86_64-4level", "x86_64-5level", "i386-pae", "i386-2level", "inverted"],
              ["4k", "large"], ["dense", "scattered"])
    param_names = ["paging", "pages", "layout"]
    timeout = 120

    def setup(self, paging, pages, layout):
        sizes = PageTable(paging).page_sizes
        if pages == "large" and len(sizes) == 1:
            raise NotImplementedError("the inverted table maps 4 KiB pages only")
        self.pt, self.vaddrs, self.kinds = build(paging, sizes[pages == "large"], layout)

    def time_walk_batch(self, paging, pages, layout):
        self.pt.walk_batch(self.vaddrs, self.kinds, 3)

    def track_memory_references(self, paging, pages, layout):
        return int(self.pt.walk_batch(self.vaddrs, self.kinds, 3).n_refs.sum())

    def track_page_faults(self, paging, pages, layout):
        return int(np.count_nonzero(self.pt.walk_batch(self.vaddrs, self.kinds, 3).fault))


class TableBuild:
    """``PageTable.map`` of scattered 4 KiB pages (table allocation included)."""

    params = ["x86_64-4level", "x86_64-5level"]
    param_names = ["paging"]

    def time_map_scattered(self, paging):
        build(paging, 4096, "scattered")

    def track_tables(self, paging):
        return build(paging, 4096, "scattered")[0].n_tables


def _best(fn, repeat=5):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
    from tests.reference import pagetable as ref

    names = {1: "read", 2: "write"}
    print(f"{'format':15s} {'page':>6s} {'layout':>9s} {'Mwalks/s':>9s} {'refs/walk':>9s}"
          f" {'ref walks/s':>12s} {'speed-up':>9s}")
    for paging in ["x86_64-4level", "x86_64-5level", "i386-pae", "i386-2level", "inverted"]:
        sizes = PageTable(paging).page_sizes[:2]
        for page_size, layout in [(s, lay) for s in sizes for lay in ("dense", "scattered")]:
            pt, vaddrs, kinds = build(paging, page_size, layout)
            t = _best(lambda: pt.walk_batch(vaddrs, kinds, 3))
            refs = pt.walk_batch(vaddrs, kinds, 3).n_refs.mean()
            # the reference walker over the same memory image, 2000 walks
            mem = pt.memory()
            n_ref = 2000
            t0 = time.perf_counter()
            if paging == "inverted":
                lay = pt.ipt_layout
                for i in range(n_ref):
                    ref.walk_inverted(mem, lay["hat_base"], lay["hat_entries"], lay["ipt_base"],
                                      int(vaddrs[i]), names[int(kinds[i])], 3, 0)
            else:
                for i in range(n_ref):
                    ref.walk(mem, paging, pt.cr3, int(vaddrs[i]), names[int(kinds[i])], 3)
            t_ref = (time.perf_counter() - t0) / n_ref
            rate = N_WALKS / t
            print(f"{paging:15s} {page_size >> 10:5d}K {layout:>9s} {rate / 1e6:9.2f} {refs:9.2f}"
                  f" {1 / t_ref:12.0f} {rate * t_ref:8.0f}x")


if __name__ == "__main__":
    sys.exit(main())
