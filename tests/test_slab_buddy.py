"""memcore.slab over the real page source, memcore.buddy.BuddyAllocator."""
import numpy as np
import pytest

buddy = pytest.importorskip("memcore.buddy")

from memcore.slab import Kmalloc, SlabCache  # noqa: E402


def test_slabs_come_from_and_return_to_the_buddy_allocator():
    zone = buddy.BuddyAllocator(1 << 14)
    start = zone.free_counts().copy()
    km = Kmalloc(zone, nr_cpus=2)
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 20000, 1500)
    addrs = [km.kmalloc(int(s)) for s in sizes]
    assert None not in addrs and len(set(addrs)) == len(addrs)
    held = sum(c.nr_slabs << c.order for c in km.caches.values())
    held += sum(1 << o for o in km.large.values())
    free_pages = int((zone.free_counts() * (1 << np.arange(11))).sum())
    assert free_pages + held == 1 << 14            # every page accounted for
    # no two objects overlap, whatever cache or large block they came from
    spans = sorted((a, a + (km.cache_for(s).size if s <= 8192 else 4096 << km.large[a]))
                   for a, s in zip(addrs, sizes.tolist()))
    assert all(e <= b for (_, e), (b, _) in zip(spans, spans[1:]))
    for a in rng.permutation(np.array(addrs, dtype=np.uint64)):
        km.kfree(int(a))
    for c in km.caches.values():
        c.shrink()
    assert np.array_equal(zone.free_counts(), start)  # buddies merged back


def test_cache_runs_dry_with_the_zone():
    zone = buddy.BuddyAllocator(64)
    c = SlabCache("big", 4096, page_source=zone)      # order 3: 8 slabs of 8 objects
    got = c.alloc_batch(100)
    assert len(got) == 64 and c.alloc() is None
    c.free_batch(got[:8])
    assert c.alloc() is not None


def test_checkpoint_of_cache_and_zone():
    import pickle

    c = SlabCache("ckpt", 100, page_source=buddy.BuddyAllocator(1 << 10))
    a = c.alloc_batch(500)
    c.free_batch(a[::2])
    c2 = pickle.loads(pickle.dumps(c))
    assert np.array_equal(c2.alloc_batch(300), c.alloc_batch(300))
    assert np.array_equal(c2.page_source.free_counts(), c.page_source.free_counts())
