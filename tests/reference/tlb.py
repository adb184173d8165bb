"""A plain, slow, obviously-correct TLB level: the oracle for :mod:`memcore.tlb`.

A level is a list of *arrays*; each array is a list of sets, each set a list
of ways holding ``None`` (invalid) or an entry dict.  The rules it follows are
the ones documented in ``docs/guide/translation.rst``:

* lookup visits the arrays in order, in each array the page sizes it holds from
  the smallest, in each set the ways in order, and returns the first valid
  entry with the same page number and page size that is global or belongs to
  the asking ASID;
* insert stores the translation at the largest page size the level holds that
  is no larger than the page (a larger page is *fractured*); it overwrites an
  entry for the same page (same ASID, or either one global) if there is one,
  else the lowest invalid way, else the victim of the policy;
* LRU stamps an entry on insert and on every hit, FIFO on insert only; the
  stamps come from one clock per level that counts every stamp; random draws
  ``splitmix64() % ways``; tree-PLRU points every node on the path away from the
  way touched (insert or hit) and walks the pointers to find its victim;
* INVLPG invalidates the entries that translate the address (any page size,
  fractured entries of a large page included) for the ASID and the global ones;
  INVPCID single-address (``include_global=False``) spares the global ones.
"""

MASK64 = (1 << 64) - 1

VALID, RW, US, NX, DIRTY, GLOBAL = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
POLICIES = ("lru", "fifo", "random", "plru")


def splitmix64(state):
    """Return ``(new_state, value)`` of one splitmix64 step."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


class RefArray:
    def __init__(self, entries, ways, shifts):
        self.ways = ways or entries
        self.nsets = entries // self.ways
        self.shifts = sorted(shifts)
        self.sets = [[None] * self.ways for _ in range(self.nsets)]
        self.tree = [[0] * (self.ways - 1) for _ in range(self.nsets)]


class RefTLB:
    """Reference TLB level; ``arrays`` is a list of ``(entries, ways, page_sizes)``."""

    def __init__(self, arrays, policy="lru", seed=0):
        self.arrays = [RefArray(e, w, [s.bit_length() - 1 for s in sizes]) for e, w, sizes in arrays]
        self.policy = policy
        self.clock = 0
        self.rng = seed & MASK64
        self.stats = dict(accesses=0, hits=0, misses=0, fills=0, evictions=0, invalidations=0, fractures=0)

    # -- replacement bookkeeping -------------------------------------------
    def _stamp(self):
        self.clock += 1
        return self.clock

    def _touch_tree(self, arr, s, way):
        tree = arr.tree[s]
        node = 0
        levels = arr.ways.bit_length() - 1
        for level in range(levels - 1, -1, -1):
            bit = (way >> level) & 1
            tree[node] = 1 - bit
            node = 2 * node + 1 + bit

    def _victim(self, arr, s):
        ways = arr.sets[s]
        for w, e in enumerate(ways):
            if e is None:
                return w
        if self.policy in ("lru", "fifo"):
            return min(range(arr.ways), key=lambda w: ways[w]["stamp"])
        if self.policy == "random":
            self.rng, r = splitmix64(self.rng)
            return r % arr.ways
        tree = arr.tree[s]
        node, way = 0, 0
        for _ in range(arr.ways.bit_length() - 1):
            b = tree[node]
            way = (way << 1) | b
            node = 2 * node + 1 + b
        return way

    def _hit(self, arr, s, w):
        if self.policy == "lru":
            arr.sets[s][w]["stamp"] = self._stamp()
        elif self.policy == "plru":
            self._touch_tree(arr, s, w)

    # -- operations ---------------------------------------------------------
    def _find(self, va, asid):
        for arr in self.arrays:
            for shift in arr.shifts:
                vpn = va >> shift
                s = vpn % arr.nsets
                for w, e in enumerate(arr.sets[s]):
                    if (e is not None and e["vpn"] == vpn and e["shift"] == shift
                            and (e["flags"] & GLOBAL or e["asid"] == asid)):
                        return arr, s, w
        return None

    @staticmethod
    def _result(va, e):
        shift = e["shift"]
        return ((e["pfn"] << 12) | (va & ((1 << shift) - 1)), e["pfn"], 1 << shift, e["flags"] & ~VALID)

    def lookup(self, va, asid=0):
        """Return ``(paddr, pfn, page_size, flags)`` or ``None``; counts and touches."""
        self.stats["accesses"] += 1
        found = self._find(va, asid)
        if found is None:
            self.stats["misses"] += 1
            return None
        arr, s, w = found
        self.stats["hits"] += 1
        self._hit(arr, s, w)
        self.last_entry = arr.sets[s][w]
        return self._result(va, arr.sets[s][w])

    def probe(self, va, asid=0):
        found = self._find(va, asid)
        if found is None:
            return None
        arr, s, w = found
        return self._result(va, arr.sets[s][w])

    def insert(self, va, pfn, page_size=4096, asid=0, flags=0):
        """Insert; return the page size stored, or ``None`` if not cached."""
        shift = page_size.bit_length() - 1
        held = [sh for arr in self.arrays for sh in arr.shifts if sh <= shift]
        if not held:
            return None
        s_shift = max(held)
        if s_shift < shift:
            self.stats["fractures"] += 1
            pfn += (va & ((1 << shift) - 1) & ~((1 << s_shift) - 1)) >> 12
        arr = next(a for a in self.arrays if s_shift in a.shifts)
        vpn = va >> s_shift
        s = vpn % arr.nsets
        flags = (flags | VALID) & 0x3F
        ways = arr.sets[s]
        for w, e in enumerate(ways):
            if (e is not None and e["vpn"] == vpn and e["shift"] == s_shift
                    and (e["asid"] == asid or (e["flags"] | flags) & GLOBAL)):
                e.update(pfn=pfn, asid=asid, flags=flags, orig=shift)
                self._hit(arr, s, w)
                return 1 << s_shift
        w = self._victim(arr, s)
        if ways[w] is not None:
            self.stats["evictions"] += 1
        ways[w] = dict(vpn=vpn, shift=s_shift, orig=shift, asid=asid, pfn=pfn, flags=flags,
                       stamp=self._stamp() if self.policy in ("lru", "fifo") else 0)
        if self.policy == "plru":
            self._touch_tree(arr, s, w)
        self.stats["fills"] += 1
        return 1 << s_shift

    def _invalidate_if(self, pred):
        n = 0
        for arr in self.arrays:
            for ways in arr.sets:
                for w, e in enumerate(ways):
                    if e is not None and pred(e):
                        ways[w] = None
                        n += 1
        self.stats["invalidations"] += n
        return n

    def flush_all(self, keep_global=False):
        return self._invalidate_if(lambda e: not (keep_global and e["flags"] & GLOBAL))

    def flush_asid(self, asid):
        return self._invalidate_if(lambda e: not e["flags"] & GLOBAL and e["asid"] == asid)

    def invlpg(self, va, asid=0, include_global=True):
        def covers(e):
            if e["flags"] & GLOBAL:
                if not include_global:
                    return False
            elif e["asid"] != asid:
                return False
            return (e["vpn"] << e["shift"]) >> e["orig"] == va >> e["orig"]
        return self._invalidate_if(covers)

    def valid_entries(self):
        """Every valid entry as ``(array, set, way, vpn, page_size, asid, pfn, flags)``."""
        out = []
        for a, arr in enumerate(self.arrays):
            for s, ways in enumerate(arr.sets):
                for w, e in enumerate(ways):
                    if e is not None:
                        out.append((a, s, w, e["vpn"], 1 << e["shift"], e["asid"], e["pfn"], e["flags"]))
        return out
