"""Reference SLUB cache: the same policy as ``memcore.slab`` on plain lists.

Slabs are dicts; the cpu slabs, the partial list and the full list are Python
lists; each slab's freelist is a list whose first element is the next object
handed out.  Geometry is recomputed here from the formulas of mm/slub.c.
"""

PAGE_SIZE = 4096


def get_order(size):
    order = 0
    while PAGE_SIZE * 2 ** order < size:
        order += 1
    return order


def calculate_order(size, nr_cpus=1, min_objects=None, max_order=3):
    if not min_objects:
        fls = len(bin(nr_cpus)) - 2
        min_objects = 4 * (fls + 1)
    min_objects = min(min_objects, max(PAGE_SIZE * 2 ** max_order // size, 1))
    start = get_order(min_objects * size)
    for fraction in (16, 8, 4, 2):
        for order in range(start, max_order + 1):
            slab = PAGE_SIZE * 2 ** order
            if slab % size <= slab // fraction:
                return order
    return get_order(size)


class RefSlabCache:
    def __init__(self, name, object_size, align=8, page_source=None, hwcache_align=False,
                 colouring=False, nr_cpus=1):
        if hwcache_align:
            ralign = 64
            while object_size <= ralign // 2:
                ralign //= 2
            align = max(align, ralign)
        align = max(align, 8)
        self.name = name
        self.size = -(-(-(-object_size // 8) * 8) // align) * align
        self.order = calculate_order(self.size, nr_cpus)
        self.objects = PAGE_SIZE * 2 ** self.order // self.size
        self.min_partial = min(10, max(5, (self.size.bit_length() - 1) // 2))
        leftover = PAGE_SIZE * 2 ** self.order - self.objects * self.size
        self.colour_off = max(64, align)
        self.ncolours = leftover // self.colour_off if colouring else 0
        self.colour_next = 0
        self.pages = page_source
        self.cpu = [None] * nr_cpus
        self.partial = []
        self.full = []

    # -- helpers
    def _addr(self, slab, i):
        return slab["pfn"] * PAGE_SIZE + slab["colour"] + i * self.size

    def all_slabs(self):
        return [s for s in self.cpu if s is not None] + self.partial + self.full

    def _find(self, addr):
        for slab in self.all_slabs():
            start = slab["pfn"] * PAGE_SIZE
            if start <= addr < start + PAGE_SIZE * 2 ** self.order:
                return slab
        return None

    def _discard(self, slab):
        self.pages.free(slab["pfn"], self.order)

    def _deactivate(self, c):
        slab = self.cpu[c]
        if slab is None:
            return
        self.cpu[c] = None
        if slab["inuse"] == 0 and len(self.partial) >= self.min_partial:
            self._discard(slab)
        elif slab["free"]:
            self.partial.insert(0, slab)
        else:
            self.full.append(slab)

    # -- operations
    def alloc(self, c=0):
        slab = self.cpu[c]
        if slab is None or not slab["free"]:
            self._deactivate(c)
            if self.partial:
                slab = self.partial.pop(0)
            else:
                pfn = self.pages.alloc(self.order)
                if pfn is None:
                    return None
                slab = {"pfn": pfn, "colour": self.colour_next * self.colour_off,
                        "free": list(range(self.objects)), "inuse": 0}
                if self.ncolours:
                    self.colour_next = (self.colour_next + 1) % self.ncolours
            self.cpu[c] = slab
        i = slab["free"].pop(0)
        slab["inuse"] += 1
        return self._addr(slab, i)

    def check(self, addr):
        """None if addr is a live object, else 'foreign', 'boundary' or 'double'."""
        slab = self._find(addr)
        if slab is None:
            return "foreign"
        off = addr - self._addr(slab, 0)
        if off < 0 or off % self.size or off // self.size >= self.objects:
            return "boundary"
        if off // self.size in slab["free"]:
            return "double"
        return None

    def free(self, addr):
        err = self.check(addr)
        if err:
            raise ValueError(err)
        slab = self._find(addr)
        slab["free"].insert(0, (addr - self._addr(slab, 0)) // self.size)
        slab["inuse"] -= 1
        if slab in self.full:
            self.full.remove(slab)
            if slab["inuse"] == 0 and len(self.partial) >= self.min_partial:
                self._discard(slab)
            else:
                self.partial.append(slab)
        elif slab in self.partial and slab["inuse"] == 0 and len(self.partial) >= self.min_partial:
            self.partial.remove(slab)
            self._discard(slab)

    def shrink(self):
        before = len(self.all_slabs())
        for c in range(len(self.cpu)):
            self._deactivate(c)
        for slab in [s for s in self.partial if s["inuse"] == 0]:
            self.partial.remove(slab)
            self._discard(slab)
        self.partial.sort(key=lambda s: self.objects - s["inuse"])
        return before - len(self.all_slabs())

    def live(self):
        return sorted(self._addr(s, i) for s in self.all_slabs()
                      for i in range(self.objects) if i not in s["free"])

    def slabinfo_row(self):
        slabs = self.all_slabs()
        num = len(slabs) * self.objects
        free_partial = sum(self.objects - s["inuse"] for s in self.partial)
        return ("%-17s %6d %6d %6d %4d %4d : tunables    0    0    0 : slabdata %6d %6d      0"
                % (self.name, num - free_partial, num, self.size, self.objects,
                   2 ** self.order, len(slabs), len(slabs)))


class RefPageSource:
    """A page source over `n_pages` pages: lowest free naturally aligned block.

    Records every call so tests can check the cache returns what it takes.
    """

    def __init__(self, n_pages, base_pfn=0):
        self.base = base_pfn
        self.used = [False] * n_pages
        self.calls = []

    def alloc(self, order):
        size = 2 ** order
        for start in range(0, len(self.used) - size + 1, size):
            if not any(self.used[start:start + size]):
                for i in range(start, start + size):
                    self.used[i] = True
                self.calls.append(("alloc", self.base + start, order))
                return self.base + start
        self.calls.append(("alloc", None, order))
        return None

    def free(self, pfn, order):
        start = pfn - self.base
        assert all(self.used[start:start + 2 ** order]), "page source: freeing free pages"
        for i in range(start, start + 2 ** order):
            self.used[i] = False
        self.calls.append(("free", pfn, order))

    def pages_used(self):
        return sum(self.used)
