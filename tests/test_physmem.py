"""Tests of pyapi.physmem: zones from an e820 map, zonelists, GFP flags, and
the /proc views in the kernel's exact format."""
import os

import pytest

from memcore.buddy import MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE
from pyapi import physmem as P
from pyapi.physmem import (GFP_ATOMIC, GFP_DMA, GFP_DMA32, GFP_HIGHUSER, GFP_HIGHUSER_MOVABLE,
                           GFP_KERNEL, GFP_USER, PhysicalMemory, parse_buddyinfo, parse_e820,
                           parse_pagetypeinfo, parse_zoneinfo)

MiB = 1 << 20
GiB = 1 << 30

# This machine's firmware map, as its kernel logged it at boot.
HOST_E820 = """\
[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
[    0.000000] BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved
[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x00000000bfffffff] usable
[    0.000000] BIOS-e820: [mem 0x00000000eec00000-0x00000000febfffff] reserved
[    0.000000] BIOS-e820: [mem 0x0000000100000000-0x000000063fffffff] usable
"""

SMALL = [(0, 0x9FBFF, "usable"), (0x9FC00, 0xFFFFF, "reserved"), (0x100000, 64 * MiB - 1, "usable")]


def test_zone_boundaries_of_the_host_map_match_its_kernel():
    e = parse_e820(HOST_E820)
    assert [x.type for x in e] == ["usable", "reserved", "usable", "reserved", "usable"]
    assert e[2].start == 0x100000 and e[2].end == 0xBFFFFFFF
    pm = PhysicalMemory(e)
    dma, dma32, normal = (pm.zone(0, n) for n in ("DMA", "DMA32", "Normal"))
    # what this host's /proc/zoneinfo says: pfn 0 is reserved by the kernel,
    # so the node and DMA start at pfn 1; 640 KiB..1 MiB is not memory, and
    # the first 1 MiB is reserved (not managed)
    assert (dma.start_pfn, dma.spanned, dma.present, dma.managed) == (1, 4095, 3998, 3840)
    # DMA32 spans 16 MiB..4 GiB; present is 16 MiB..3 GiB
    assert (dma32.start_pfn, dma32.spanned, dma32.present) == (4096, 1044480, 782336)
    assert (normal.start_pfn, normal.spanned, normal.present) == (1048576, 5505024, 5505024)
    assert [z.spanned for z in pm.nodes[0].zones[3:]] == [0, 0]
    # pageblock counts skip the 3..4 GiB hole (1528 = 782336 / 512, as on the host)
    blocks = parse_pagetypeinfo(pm.pagetypeinfo())["blocks"]
    assert blocks[(0, "DMA")] == [0, 8, 0, 0, 0]
    assert blocks[(0, "DMA32")] == [0, 1528, 0, 0, 0]
    assert blocks[(0, "Normal")] == [0, 10752, 0, 0, 0]
    # the DMA zone's buddyinfo row is the host's at boot
    assert parse_buddyinfo(pm.buddyinfo())[0] == (0, "DMA", [0] * 8 + [1, 1, 3])


def test_buddyinfo_byte_exact():
    pm = PhysicalMemory(SMALL)
    # DMA manages pfns 256..4095: 256 (order 8), 512 (order 9), 1024, 2048,
    # 3072 (order 10); DMA32 4096..16383: twelve order-10 blocks
    assert pm.buddyinfo() == (
        "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n"
        "Node 0, zone    DMA32      0      0      0      0      0      0      0      0      0      0     12 \n")
    assert pm.alloc_pages(GFP_KERNEL, 0) == 4096
    assert pm.buddyinfo().splitlines()[1] == (
        "Node 0, zone    DMA32      1      1      1      1      1      1      1      1      1      1     11 ")


def test_zoneinfo_byte_exact_and_watermarks():
    pm = PhysicalMemory(SMALL)
    # lowmem = 3840 + 12288 pages = 64512 KiB -> min_free_kbytes isqrt(64512*16) = 1015
    assert pm.min_free_kbytes == 1015
    # pages_min = 253; DMA min = 253*3840//16128 = 60, gap max(15, 3) = 15
    # DMA32 min = 253*12288//16128 = 192, gap max(48, 12) = 48
    # protection of DMA for DMA32..Device: 12288 // 256 = 48
    text = pm.zoneinfo()
    assert text.startswith(
        "Node 0, zone      DMA\n"
        "  pages free     3840\n"
        "        boost    0\n"
        "        min      60\n"
        "        low      75\n"
        "        high     90\n"
        "        promo    105\n"
        "        spanned  4095\n"
        "        present  3998\n"
        "        managed  3840\n"
        "        cma      0\n"
        "        protection: (0, 48, 48, 48, 48)\n"
        "      nr_free_pages 3840\n"
        "  node_unreclaimable:  0\n"
        "  start_pfn:           1\n"
        "Node 0, zone    DMA32\n"
        "  pages free     12288\n"
        "        boost    0\n"
        "        min      192\n"
        "        low      240\n")
    assert text.endswith(
        "Node 0, zone  Movable\n"
        "  pages free     0\n"
        "        boost    0\n"
        "        min      32\n"
        "        low      32\n"
        "        high     32\n"
        "        promo    32\n"
        "        spanned  0\n"
        "        present  0\n"
        "        managed  0\n"
        "        cma      0\n"
        "        protection: (0, 0, 0, 0, 0)\n"
        "Node 0, zone   Device\n"
        "  pages free     0\n"
        "        boost    0\n"
        "        min      0\n"
        "        low      0\n"
        "        high     0\n"
        "        promo    0\n"
        "        spanned  0\n"
        "        present  0\n"
        "        managed  0\n"
        "        cma      0\n"
        "        protection: (0, 0, 0, 0, 0)\n")
    zi = parse_zoneinfo(text)
    assert zi[(0, "DMA32")]["high"] == 288 and zi[(0, "DMA32")]["start_pfn"] == 4096


def test_pagetypeinfo_format_and_migratetypes():
    pm = PhysicalMemory(SMALL)
    pm.alloc_pages(GFP_KERNEL | P.__GFP_RECLAIMABLE, 0)
    text = pm.pagetypeinfo()
    lines = text.splitlines()
    assert lines[:4] == ["Page block order: 9", "Pages per block:  512", "",
                         "Free pages count per migrate type at order       0      1      2      3"
                         "      4      5      6      7      8      9     10 "]
    assert lines[4] == ("Node    0, zone      DMA, type    Unmovable      0      0      0      0"
                        "      0      0      0      0      0      0      0 ")
    assert "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate " in lines
    res = parse_pagetypeinfo(text)
    # the reclaimable request stole an order-10 block: two pageblocks claimed
    assert res["blocks"][(0, "DMA32")] == [0, 22, 2, 0, 0]
    assert res["free"][(0, "DMA32", "Reclaimable")] == [1] * 10 + [0]


def _three_nodes(distance=((10, 30, 20), (30, 10, 20), (20, 20, 10))):
    return PhysicalMemory([(MiB, 96 * MiB - 1, "usable")],
                          nodes=[(0, 32 * MiB), (32 * MiB, 64 * MiB), (64 * MiB, 96 * MiB)],
                          distance=distance)


def test_zonelist_local_first_then_by_distance_highest_zone_first():
    pm = _three_nodes()
    names = lambda zl: [(z.node, z.name) for z in zl]
    assert pm.node_order(0) == [0, 2, 1]
    assert names(pm.zonelist(0, GFP_KERNEL)) == [(0, "DMA32"), (0, "DMA"), (2, "DMA32"), (1, "DMA32")]
    assert names(pm.zonelist(1, GFP_KERNEL)) == [(1, "DMA32"), (2, "DMA32"), (0, "DMA32"), (0, "DMA")]
    assert names(pm.zonelist(1, GFP_DMA)) == [(0, "DMA")]
    assert names(pm.zonelist(2, GFP_KERNEL | P.__GFP_THISNODE)) == [(2, "DMA32")]
    # ties in distance go by node id
    pm2 = _three_nodes(distance=((10, 20, 20), (20, 10, 20), (20, 20, 10)))
    assert pm2.node_order(2) == [2, 0, 1]


def test_alloc_pages_falls_back_along_the_zonelist():
    pm = _three_nodes()
    zl = pm.zonelist(0, GFP_KERNEL)
    seen = []
    while True:
        pfn = pm.alloc_pages(GFP_KERNEL, 9, node=0)
        if pfn is None:
            break
        z = pm.page_zone(pfn)
        seen.append(zl.index(z))
        assert z.buddy.pages["migratetype"][pfn - z.start_pfn] == MIGRATE_UNMOVABLE
    # each zone is drained (down to its watermark) before the next is used
    assert seen == sorted(seen) and set(seen) == {0, 1, 2, 3}
    for z in zl:
        assert not z.buddy.watermark_ok(9, "min", z.lowmem_reserve[2]) or z.buddy.free_counts()[9:].sum() == 0
    # DMA kept its order-8 block at pfn 256 (too small for order 9)
    assert pm.alloc_pages(GFP_DMA, 0) == 256


def test_gfp_zone_and_migratetype():
    assert P.gfp_zone(GFP_KERNEL) == 2 and P.gfp_zone(GFP_DMA) == 0 and P.gfp_zone(GFP_DMA32) == 1
    assert P.gfp_zone(GFP_HIGHUSER_MOVABLE) == 3            # ZONE_MOVABLE
    assert P.gfp_zone(GFP_HIGHUSER) == 2                    # no highmem on 64-bit
    assert P.gfp_zone(GFP_HIGHUSER, "i386") == 2            # HighMem is index 2 on 32-bit
    assert P.gfp_zone(GFP_DMA32, "i386") == 1               # DMA32 means Normal on 32-bit
    assert P.gfp_migratetype(GFP_KERNEL) == MIGRATE_UNMOVABLE
    assert P.gfp_migratetype(GFP_HIGHUSER_MOVABLE) == MIGRATE_MOVABLE
    assert P.gfp_migratetype(GFP_KERNEL | P.__GFP_RECLAIMABLE) == MIGRATE_RECLAIMABLE
    with pytest.raises(ValueError, match="zone modifier"):
        P.gfp_zone(GFP_DMA | GFP_DMA32)
    with pytest.raises(ValueError, match="together"):
        P.gfp_migratetype(P.__GFP_MOVABLE | P.__GFP_RECLAIMABLE)
    assert GFP_USER & P.__GFP_HARDWALL and not GFP_ATOMIC & P.__GFP_DIRECT_RECLAIM


def test_32bit_highmem_zones():
    pm = PhysicalMemory([(MiB, 2 * GiB - 1, "usable")], arch="i386")
    assert [z.name for z in pm.nodes[0].zones] == ["DMA", "Normal", "HighMem", "Movable"]
    dma, normal, high = pm.nodes[0].zones[:3]
    assert (dma.start_pfn, dma.spanned) == (256, 3840)
    assert (normal.start_pfn, normal.spanned) == (4096, 229376 - 4096)
    assert (high.start_pfn, high.spanned, high.managed) == (229376, 524288 - 229376, 294912)
    # highmem min is clamp(managed // 1024, 32, 128)
    assert high.buddy.watermarks["min"] == 128
    assert pm.page_zone(pm.alloc_pages(GFP_HIGHUSER, 0)) is high
    assert pm.page_zone(pm.alloc_pages(GFP_KERNEL, 0)) is normal
    assert dma.lowmem_reserve == [0, 3632 // 256 * 0 + 225280 // 256, (225280 + 294912) // 256,
                                  (225280 + 294912) // 256]


def test_free_pages_and_errors():
    pm = PhysicalMemory(SMALL)
    pfn = pm.alloc_pages(GFP_KERNEL, 2)
    before = pm.buddyinfo()
    pm.free_pages(pfn, 2)
    assert pm.buddyinfo() != before
    with pytest.raises(ValueError, match="not an allocated"):
        pm.free_pages(pfn, 2)
    with pytest.raises(ValueError, match="in no zone"):
        pm.free_pages(1 << 30, 0)
    with pytest.raises(ValueError, match="node"):
        pm.alloc_pages(GFP_KERNEL, 0, node=5)
    with pytest.raises(ValueError, match="type"):
        P.E820Entry(0, 10, "ram")
    with pytest.raises(ValueError, match="no usable"):
        PhysicalMemory([(0, 4095, "reserved")])
    with pytest.raises(ValueError, match="distance"):
        PhysicalMemory(SMALL, distance=[[10, 20]])


def test_slow_path_policies_and_compaction_callback():
    events = []
    mem = [(MiB, 32 * MiB - 1, "usable")]
    pm = PhysicalMemory(mem, kernel_reserved=(),
                        wake_kswapd=lambda m, z, o: events.append(("kswapd", z.name, o)),
                        direct_reclaim=lambda m, o, g: events.append(("reclaim", o)) or 0,
                        out_of_memory=lambda m, o, g: events.append(("oom", o)) or False)
    while pm.alloc_pages(GFP_ATOMIC, 0) is not None:
        pass
    # GFP_ATOMIC wakes kswapd but never reclaims directly nor calls the OOM handler
    assert events and {e[0] for e in events} == {"kswapd"}
    # GFP_ATOMIC (__GFP_HIGH) may go below min: down to min - min // 2
    dma32 = pm.zone(0, "DMA32").buddy
    assert dma32.free_pages <= dma32.watermarks["min"] - dma32.watermarks["min"] // 2
    events.clear()
    assert pm.alloc_pages(GFP_KERNEL, 0) is None
    kinds = [e[0] for e in events]
    assert kinds[:2] == ["kswapd", "kswapd"] and kinds[2] == "reclaim" and kinds[-1] == "oom"

    moves = []
    pm2 = PhysicalMemory(mem, kernel_reserved=(),
                         on_migrate=lambda z, moved: moves.append((z.name, moved.copy())))
    pfns = []
    while True:
        p = pm2.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)
        if p is None:
            break
        pfns.append(p)
    for z in pm2.zones:                      # take the watermark reserves too
        while (p := z.buddy.alloc_fast(0, MIGRATE_MOVABLE, wmark=None)) is not None:
            pfns.append(p)
    pfns.sort()
    for p in pfns[::2]:                      # every other page: only order-0 blocks free
        pm2.free_pages(p, 0)
    assert all(z.buddy.free_counts()[1:].sum() == 0 for z in pm2.zones)
    got = pm2.alloc_pages(GFP_HIGHUSER_MOVABLE, 4)      # costly: compaction first
    assert got is not None and got % 16 == 0
    assert moves and moves[0][0] == "DMA32"
    old, new = moves[0][1][:, 0], moves[0][1][:, 1]
    assert set(old.tolist()).isdisjoint(new.tolist())


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


@pytest.mark.skipif(_read("/proc/buddyinfo") is None, reason="no /proc/buddyinfo")
def test_host_proc_files_parse_with_the_same_parsers():
    bi = parse_buddyinfo(_read("/proc/buddyinfo"))
    assert bi and all(len(c) == 11 for _, _, c in bi)
    pti = _read("/proc/pagetypeinfo")
    if pti is not None:
        res = parse_pagetypeinfo(pti)
        assert res["pageblock_order"] == 9 and res["types"][:3] == ["Unmovable", "Movable", "Reclaimable"]
    zi = parse_zoneinfo(_read("/proc/zoneinfo"))
    for (node, name), f in zi.items():
        assert {"free", "min", "low", "high", "spanned", "present", "managed", "protection"} <= set(f)
        assert f["min"] <= f["low"] <= f["high"]


def test_parsers_reject_malformed_lines():
    with pytest.raises(ValueError, match="line 1"):
        parse_buddyinfo("Node 0, zone DMA 0 0 0 0 0 0 0 0 0 0 0\n")
    with pytest.raises(ValueError):
        parse_pagetypeinfo("Node    0, zone      DMA, type Unmovable 0\n")


def test_user_guide_examples_run():
    import doctest
    from pathlib import Path
    guide = Path(__file__).resolve().parent.parent / "docs" / "guide" / "physmem.rst"
    if not guide.exists():
        pytest.skip("documentation sources not present")
    res = doctest.testfile(str(guide), module_relative=False,
                           optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 10 and res.failed == 0


def test_alloc_nofragment_prefers_a_lower_zone_to_mixing_pageblocks():
    pm = PhysicalMemory([(MiB, 3 * GiB - 1, "usable"), (4 * GiB, 4 * GiB + 8 * MiB - 1, "usable")])
    normal = pm.zone(0, "Normal")
    assert normal.managed == 2048
    got = [pm.alloc_pages(GFP_HIGHUSER_MOVABLE, o) for o in (9, 9, 9, 8)]
    assert got == [1048576, 1049088, 1049600, 1050112]
    # Normal has only a movable order-8 block left.  An unmovable request
    # (ALLOC_NOFRAGMENT: its preferred zone is Normal and DMA32 exists) may
    # not break it up; it falls through to DMA32 and claims a whole block there
    pfn = pm.alloc_pages(GFP_KERNEL, 0)
    assert pm.page_zone(pfn).name == "DMA32"
    assert normal.buddy.pageblock_migratetype.tolist() == [1, 1, 1, 1]
    # with DMA32 and DMA empty the fast path drops the flag and steals from
    # the Normal pageblock after all
    dma32 = pm.zone(0, "DMA32").buddy
    while dma32.alloc_fast(0, MIGRATE_MOVABLE, wmark=None) is not None:
        pass
    dma = pm.zone(0, "DMA").buddy
    while dma.alloc_fast(0, MIGRATE_MOVABLE, wmark=None) is not None:
        pass
    pfn = pm.alloc_pages(GFP_KERNEL, 0)
    assert pm.page_zone(pfn) is normal and pfn >= 1050368


@pytest.mark.skipif(not os.path.isdir("/sys/firmware/memmap") or _read("/proc/zoneinfo") is None,
                    reason="no firmware memory map or /proc/zoneinfo")
def test_model_of_this_host_matches_its_kernel_zones():
    pm = PhysicalMemory.from_host()
    host = parse_zoneinfo(_read("/proc/zoneinfo"))
    for z in pm.zones:
        h = host.get((z.node, z.name))
        if h is None or not z.populated:
            continue
        # spans and present pages come from the firmware map alone
        assert (z.spanned, z.present) == (h["spanned"], h["present"]), z
        assert z.start_pfn == h["start_pfn"]
        assert len(z.lowmem_reserve) == len(h["protection"])


def test_cli_prints_a_view(tmp_path, capsys):
    import argparse
    log = tmp_path / "dmesg.txt"
    log.write_text(HOST_E820)
    parser = argparse.ArgumentParser()
    P.register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["physmem", "--e820", str(log), "buddyinfo"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert parse_buddyinfo(out)[0] == (0, "DMA", [0] * 8 + [1, 1, 3])
    args = parser.parse_args(["physmem", "--e820", str(tmp_path / "missing"), "zoneinfo"])
    assert args.func(args) == 2
    assert "missing" in capsys.readouterr().err


def test_physical_memory_pickles_and_continues_identically():
    import pickle
    pm = PhysicalMemory(SMALL)
    pm.alloc_pages(GFP_KERNEL, 2)
    pm.alloc_pages(GFP_HIGHUSER_MOVABLE, 5)
    q = pickle.loads(pickle.dumps(pm))
    assert q.buddyinfo() == pm.buddyinfo() and q.zoneinfo() == pm.zoneinfo()
    assert [q.alloc_pages(GFP_KERNEL, o) for o in (0, 3, 1)] == [pm.alloc_pages(GFP_KERNEL, o) for o in (0, 3, 1)]
