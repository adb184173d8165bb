"""A slow, obviously-correct model of cache levels and hierarchies.

The oracle for :mod:`memcore.cache` and :mod:`memcore.hierarchy`.  Every set
is a plain list of ways (``None`` or ``[line, dirty]``); replacement state is
kept the way a textbook draws it: an explicit recency list for LRU and MRU,
a fill-order queue for FIFO, tree bits for PLRU, RRPVs for SRRIP, and a
splitmix64 generator for random.  Counters are the reported ones, counted
directly where each event happens.  The rules are those of the user guide
(``docs/guide/cache.rst``), mode by mode.
"""
M64 = (1 << 64) - 1


def splitmix64(state):
    """Return ``(new_state, output)`` of one splitmix64 step."""
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


COUNTERS = ("records", "accesses", "loads", "stores", "hits", "misses", "load_hits",
            "load_misses", "store_hits", "store_misses", "ifetches", "ifetch_hits",
            "ifetch_misses", "fills", "evictions", "clean_evictions", "dirty_evictions",
            "writebacks", "invalidations", "dirty_at_end")


class RefLevel:
    """One cache level: ``sets`` lists of ``ways`` ways."""

    def __init__(self, size, line_size, ways, policy="lru", write_back=True,
                 write_allocate=True, seed=0, name="cache", next=None,
                 inclusion="non-inclusive"):
        n_lines = size // line_size
        self.ways = ways or n_lines
        self.nsets = n_lines // self.ways
        self.line_size = line_size
        self.policy = policy
        self.write_back = write_back
        self.write_allocate = write_allocate
        self.rng = seed
        self.name = name
        self.next = next
        self.inclusion = inclusion
        self.sets = [[None] * self.ways for _ in range(self.nsets)]
        self.order = [[] for _ in range(self.nsets)]          # lru / mru / fifo
        self.tree = [[0] * self.ways for _ in range(self.nsets)]  # plru nodes 1..ways-1
        self.rrpv = [[3] * self.ways for _ in range(self.nsets)]  # srrip
        self.stats = dict.fromkeys(COUNTERS, 0)
        self.last_record = 0

    # -- contents --------------------------------------------------------
    def set_of(self, line):
        return line % self.nsets

    def find(self, line):
        """Way holding `line` in its set, or None."""
        for w, e in enumerate(self.sets[self.set_of(line)]):
            if e is not None and e[0] == line:
                return w
        return None

    def touch(self, line, w, fill):
        s = self.set_of(line)
        if self.policy in ("lru", "mru") or (self.policy == "fifo" and fill):
            if w in self.order[s]:
                self.order[s].remove(w)
            self.order[s].append(w)
        elif self.policy == "plru":
            depth = self.ways.bit_length() - 1
            node = 1
            for d in range(depth - 1, -1, -1):
                bit = (w >> d) & 1
                self.tree[s][node] = 1 - bit
                node = 2 * node + bit
        elif self.policy == "srrip":
            self.rrpv[s][w] = 2 if fill else 0

    def victim(self, line):
        s = self.set_of(line)
        ways = self.sets[s]
        for w, e in enumerate(ways):
            if e is None:
                return w
        if self.policy in ("lru", "fifo"):
            return self.order[s][0]
        if self.policy == "mru":
            return self.order[s][-1]
        if self.policy == "random":
            self.rng, z = splitmix64(self.rng)
            return z % self.ways
        if self.policy == "plru":
            node = 1
            while node < self.ways:
                node = 2 * node + self.tree[s][node]
            return node - self.ways
        r = self.rrpv[s]
        while 3 not in r:
            for w in range(self.ways):
                r[w] += 1
        return r.index(3)

    def invalidate(self, line, w):
        s = self.set_of(line)
        self.sets[s][w] = None
        if w in self.order[s]:
            self.order[s].remove(w)
        self.rrpv[s][w] = 3

    def install(self, line, w, dirty):
        """Put `line` in way `w`; return the displaced ``[line, dirty]`` or None."""
        s = self.set_of(line)
        old = self.sets[s][w]
        if old is not None:
            self.invalidate(old[0], w)
        self.sets[s][w] = [line, dirty]
        self.touch(line, w, True)
        self.stats["fills"] += 1
        return old

    def tags(self):
        """Flat per-way line numbers (-1 invalid), set-major like the engine."""
        return [e[0] if e else -1 for ways in self.sets for e in ways]

    def dirty_flags(self):
        return [int(bool(e and e[1])) for ways in self.sets for e in ways]

    def count_dirty(self):
        return sum(self.dirty_flags())


class RefHierarchy:
    """Levels linked by ``next``, in one of the compat modes."""

    def __init__(self, levels, data_entry="L1D", inst_entry="L1I", compat="default"):
        self.levels = {}
        for spec in levels:
            self.levels[spec["name"]] = RefLevel(**spec)
        self.data_entry = data_entry
        self.inst_entry = inst_entry
        self.compat = compat
        self.memory = {"reads": 0, "writes": 0}
        self.records = self.instructions = self.skipped = self.flushes = 0
        self.cur = 0
        self.line_bits = next(iter(self.levels.values())).line_size.bit_length() - 1
        # Levels above each level.
        self.above = {}
        for nm in self.levels:
            ups = []
            for u in self.levels:
                x = self.levels[u].next
                while x is not None:
                    if x == nm:
                        ups.append(u)
                        break
                    x = self.levels[x].next
            self.above[nm] = ups
        names = list(self.levels)
        self.topdown = sorted(names, key=lambda nm: (len(self.above[nm]), names.index(nm)))

    def nxt(self, name):
        return self.levels[name].next

    def seen(self, L):
        if self.cur and L.last_record != self.cur:
            L.last_record = self.cur
            L.stats["records"] += 1

    def count(self, L, kind, hit):
        """Count one line access of kind 'i', 'r' or 'w' (default rules)."""
        st = L.stats
        st["accesses"] += 1
        outcome = "hits" if hit else "misses"
        st[outcome] += 1
        if kind == "w":
            st["stores"] += 1
            st["store_" + outcome] += 1
        else:
            st["loads"] += 1
            st["load_" + outcome] += 1
            if kind == "i":
                st["ifetches"] += 1
                st["ifetch_" + outcome] += 1

    def is_excl(self, name):
        return name is not None and self.levels[name].inclusion == "exclusive"

    def depth_index(self, name):
        """Engine index of a level (memory after every level)."""
        return len(self.levels) if name == "memory" else list(self.levels).index(name)

    def deeper(self, a, b):
        return a if self.depth_index(a) >= self.depth_index(b) else b

    # -- default / dinero ---------------------------------------------------
    def read(self, name, line, kind, demand):
        """Return (served level name or 'memory', dirty bit handed up)."""
        if name is None:
            self.memory["reads"] += 1
            return "memory", 0
        L = self.levels[name]
        self.seen(L)
        w = L.find(line)
        if w is not None:
            self.count(L, kind, True)
            if L.inclusion == "exclusive" and not demand:
                d = L.sets[L.set_of(line)][w][1]
                L.invalidate(line, w)
                L.stats["invalidations"] += 1
                return name, d
            L.touch(line, w, False)
            return name, 0
        self.count(L, kind, False)
        if L.inclusion == "exclusive" and not demand:
            return self.read(L.next, line, kind, False)
        served, d = self.read(L.next, line, kind, False)
        self.fill(name, line, d)
        return served, 0

    def fill(self, name, line, dirty):
        L = self.levels[name]
        w = L.victim(line)
        old = L.sets[L.set_of(line)][w]
        vdirty = 0
        if old is not None:
            vline, vdirty = old
            L.stats["dirty_evictions" if vdirty else "clean_evictions"] += 1
            L.stats["evictions"] += 1
            if L.inclusion == "inclusive":
                for u in self.above[name]:
                    U = self.levels[u]
                    uw = U.find(vline)
                    if uw is not None:
                        vdirty = vdirty or U.sets[U.set_of(vline)][uw][1]
                        U.invalidate(vline, uw)
                        U.stats["invalidations"] += 1
        L.install(line, w, dirty)
        if old is not None:
            if self.is_excl(L.next):
                if vdirty:
                    L.stats["writebacks"] += 1
                X = self.levels[L.next]
                xw = X.find(vline)
                if xw is not None:
                    if vdirty:
                        X.sets[X.set_of(vline)][xw][1] = 1
                    X.touch(vline, xw, False)
                else:
                    self.fill(L.next, vline, int(bool(vdirty)))
            elif vdirty:
                L.stats["writebacks"] += 1
                self.write(L.next, vline, True, False)

    def write(self, name, line, full, demand):
        if name is None:
            self.memory["writes"] += 1
            return "memory"
        L = self.levels[name]
        self.seen(L)
        w = L.find(line)
        if w is not None:
            self.count(L, "w", True)
            L.touch(line, w, False)
            if L.write_back:
                L.sets[L.set_of(line)][w][1] = 1
            else:
                self.write(L.next, line, full, False)
            return name
        self.count(L, "w", False)
        if L.write_allocate and (demand or L.inclusion != "exclusive"):
            served = name
            if not full:
                served, _ = self.read(L.next, line, "r", False)
            self.fill(name, line, 1 if L.write_back else 0)
            if not L.write_back:
                self.write(L.next, line, full, False)
            return served
        return self.write(L.next, line, full, False)

    # -- pycachesim -----------------------------------------------------------
    def p_inject(self, name, line, dirty):
        L = self.levels[name]
        w = L.victim(line)
        old = L.install(line, w, dirty)
        if old is not None:
            L.stats["evictions"] += 1
            L.stats["dirty_evictions" if old[1] else "clean_evictions"] += 1
            if old[1] and L.write_back:
                L.stats["writebacks"] += 1
                if L.next is not None:
                    self.p_store(L.next, old[0] * L.line_size, L.line_size)
                else:
                    self.memory["writes"] += 1
        return w

    def p_load(self, name, first, last, kind):
        """pycachesim's Cache__load: returns (served, way of the last line)."""
        if name is None:
            self.memory["reads"] += 1
            return "memory", None
        L = self.levels[name]
        self.seen(L)
        st = L.stats
        st["loads"] += 1
        served, w = name, None
        for line in range(first, last + 1):
            st["accesses"] += 1
            w = L.find(line)
            if kind == "i":
                st["ifetches"] += 1
            if w is not None:
                st["hits"] += 1
                st["load_hits"] += 1
                if kind == "i":
                    st["ifetch_hits"] += 1
                L.touch(line, w, False)
            else:
                st["misses"] += 1
                st["load_misses"] += 1
                if kind == "i":
                    st["ifetch_misses"] += 1
                s, _ = self.p_load(L.next, line, line, kind)
                served = self.deeper(served, s)
                w = self.p_inject(name, line, 0)
        return served, w

    def p_store(self, name, addr, length):
        """pycachesim's Cache__store of bytes [addr, addr + length)."""
        L = self.levels[name]
        self.seen(L)
        st = L.stats
        st["stores"] += 1
        bits = L.line_size.bit_length() - 1
        end = min(addr + max(length, 1) - 1, M64)
        for line in range((addr >> bits), (end >> bits) + 1):
            st["accesses"] += 1
            w = L.find(line)
            st["store_hits" if w is not None else "store_misses"] += 1
            if L.write_allocate:
                if w is None:
                    _, w = self.p_load(name, line, line, "r")
            elif w is None and L.write_back:
                w = self.p_inject(name, line, 1)
            if L.write_back and w is not None:
                L.sets[L.set_of(line)][w][1] = 1
            elif L.next is not None:
                # pycachesim's sub-range: a whole line unless the range ends
                # first, measured from max(line start, addr).
                start = max(line << bits, addr)
                sub = min(L.line_size, end - start + 1)
                st["writebacks"] += 1
                self.p_store(L.next, start, sub)

    # -- cachegrind -----------------------------------------------------------
    def c_ref(self, name, first, last, kind):
        if name is None:
            self.memory["reads"] += 1
            return "memory"
        L = self.levels[name]
        self.seen(L)
        miss = False
        for line in range(first, last + 1):
            w = L.find(line)
            if w is not None:
                L.touch(line, w, False)
            else:
                miss = True
                w = L.victim(line)
                old = L.install(line, w, 0)
                if old is not None:
                    L.stats["evictions"] += 1
                    L.stats["clean_evictions"] += 1
        self.count(L, kind, not miss)
        if miss:
            return self.c_ref(L.next, first, last, kind)
        return name

    # -- records --------------------------------------------------------------
    def flush(self, invalidate):
        saved, self.cur = self.cur, 0
        for nm in self.topdown:
            L = self.levels[nm]
            for s in range(L.nsets):
                for w in range(L.ways):
                    e = L.sets[s][w]
                    if e is not None and e[1]:
                        e[1] = 0
                        L.stats["writebacks"] += 1
                        if self.compat == "pycachesim":
                            if L.next is not None:
                                self.p_store(L.next, e[0] * L.line_size, L.line_size)
                            else:
                                self.memory["writes"] += 1
                        else:
                            self.write(L.next, e[0], True, False)
            if invalidate:
                for s in range(L.nsets):
                    for w in range(L.ways):
                        e = L.sets[s][w]
                        if e is not None:
                            L.invalidate(e[0], w)
        self.cur = saved

    def access(self, addr, size, kind):
        """One record; kind 0 ifetch, 1 load, 2 store, 3 modify, 4 flush."""
        self.records += 1
        self.cur = self.records
        if kind == 4:
            self.flushes += 1
            self.flush(True)
            return None
        if kind == 0:
            self.instructions += 1
            entry = self.inst_entry
            if entry is None:
                self.skipped += 1
                return None
        else:
            entry = self.data_entry
        size = max(size, 1)
        end = min(addr + size - 1, M64)
        first, last = addr >> self.line_bits, end >> self.line_bits
        k = "i" if kind == 0 else "r"
        served = []
        if self.compat == "pycachesim":
            if kind != 2:
                served.append(self.p_load(entry, first, last, k)[0])
            if kind in (2, 3):
                self.p_store(entry, addr, size)
                served.append(entry)
        elif self.compat == "cachegrind":
            served.append(self.c_ref(entry, first, last, "w" if kind == 2 else k))
        else:
            if kind != 2:
                for line in range(first, last + 1):
                    served.append(self.read(entry, line, k, True)[0])
            if kind in (2, 3):
                for line in range(first, last + 1):
                    served.append(self.write(entry, line, False, True))
        return max(served, key=self.depth_index)

    def run(self, records):
        for addr, size, kind in records:
            self.access(addr, size, kind)

    def finish(self):
        if self.compat == "dinero":
            self.flush(False)
        for L in self.levels.values():
            L.stats["dirty_at_end"] = L.count_dirty()

    def stats(self):
        return {
            "levels": {nm: dict(self.levels[nm].stats) for nm in self.topdown},
            "memory": dict(self.memory),
            "records": self.records,
            "instructions": self.instructions,
            "skipped_instructions": self.skipped,
            "flushes": self.flushes,
            "compat": self.compat,
        }
