"""The C contract of memcore.tlb, used the way memcore.mmu uses it: a separate
extension cimports ``tlb.pxd`` (whose inline search needs the shipped
``_tlbfast.h``) and fills, looks up and invalidates from a nogil loop."""
import textwrap

import pytest
from capi import build_cimport_user

from memcore.tlb import TLB

CLIENT = textwrap.dedent("""
    # cython: language_level=3
    from memcore.tlb cimport (TLB, tlb_t, tlb_hit_t, tlb_lookup, tlb_insert, tlb_invlpg,
                              TLB_RW, TLB_US)

    def fill_then_look_up(TLB level, unsigned long long first_page, int n):
        # Fill pages first_page .. first_page + n - 1 (4 KiB, frame = page + 100),
        # look each up again, invalidate the first, look it up again.
        cdef tlb_t* t = &level.c
        cdef tlb_hit_t h
        cdef int k, hits = 0
        cdef unsigned long long frames = 0
        cdef int after
        with nogil:
            for k in range(n):
                tlb_insert(t, (first_page + k) << 12, 7, 12, first_page + k + 100, TLB_RW | TLB_US)
            for k in range(n):
                if tlb_lookup(t, ((first_page + k) << 12) | 0x123, 7, &h):
                    hits += 1
                    frames += h.pfn
            tlb_invlpg(t, first_page << 12, 7, True)
            after = tlb_lookup(t, first_page << 12, 7, &h)
        return hits, frames, after
""")


@pytest.mark.slow
def test_another_extension_drives_a_level_through_the_pxd(tmp_path):
    client = build_cimport_user(tmp_path, "tlbclient", CLIENT)
    # A wide set (20 ways: tags and LRU ranks) and a Skylake-shaped STLB.
    for level in (TLB(20, 0), TLB([1536, 16], [12, 4], [[4096, 2 << 20], 1 << 30])):
        n = 20
        hits, frames, after = client.fill_then_look_up(level, 0x7F000, n)
        assert hits == n and frames == sum(0x7F000 + k + 100 for k in range(n))
        assert after == 0
        s = level.stats()
        assert (s["fills"], s["hits"], s["misses"], s["invalidations"]) == (n, n, 1, 1)
