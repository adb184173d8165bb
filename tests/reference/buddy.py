"""Pure-Python reference of one zone's buddy allocator (Linux 6.8 rules).

Plain dicts and lists, no numpy.  Free lists are Python lists with the head
at index 0.  It follows the same documented rules as ``memcore.buddy``:

* boot: maximal aligned blocks of each usable run, ascending, to list tails;
  every pageblock MOVABLE;
* alloc: first block of the smallest sufficient order of the requested type,
  upper halves of the split to the list heads; else fallback (largest block
  of a fallback type, or the smallest for a movable request that may not
  claim the pageblock), with pageblock claiming;
* free: merge while the buddy is free at the same order, then to the list
  of the pageblock's type, at the tail if the parent's buddy is free (below
  order 9), else at the head;
* compaction: migrate scanner up, free scanner down, per-order target pools.
"""

MAX_ORDER = 10
PB_ORDER = 9
PB_PAGES = 1 << PB_ORDER
UNMOVABLE, MOVABLE, RECLAIMABLE = 0, 1, 2
FALLBACKS = {UNMOVABLE: (RECLAIMABLE, MOVABLE),
             MOVABLE: (RECLAIMABLE, UNMOVABLE),
             RECLAIMABLE: (UNMOVABLE, MOVABLE)}


class RefBuddy:
    """Reference buddy allocator over pfns ``[base, base + n)``."""

    def __init__(self, n, base=0, reserved=()):
        self.base = base
        self.end = base + n
        self.reserved = set()
        for s, e in reserved:
            self.reserved.update(range(max(s, base), min(e, self.end)))
        self.lists = {(o, t): [] for o in range(MAX_ORDER + 1) for t in range(3)}
        self.free = {}          # head pfn -> (order, list type)
        self.allocated = {}     # head pfn -> (order, migratetype)
        self.isolated = {}      # compaction pool: pfn -> order
        self.block_mt = {}
        if n:
            for b in range(base >> PB_ORDER, ((self.end - 1) >> PB_ORDER) + 1):
                self.block_mt[b] = MOVABLE
        pfn = base
        while pfn < self.end:
            if pfn in self.reserved:
                pfn += 1
                continue
            run_end = pfn
            while run_end < self.end and run_end not in self.reserved:
                run_end += 1
            while pfn < run_end:
                order = MAX_ORDER
                while order > 0 and pfn % (1 << order):
                    order -= 1
                while pfn + (1 << order) > run_end:
                    order -= 1
                self._free_one(pfn, order, MOVABLE, to_tail=True)
                pfn += 1 << order
        self.managed = n - len(self.reserved)

    # -- helpers ----------------------------------------------------------
    def _add(self, pfn, order, mt, tail):
        lst = self.lists[(order, mt)]
        if tail:
            lst.append(pfn)
        else:
            lst.insert(0, pfn)
        self.free[pfn] = (order, mt)

    def _del(self, pfn):
        order, mt = self.free.pop(pfn)
        self.lists[(order, mt)].remove(pfn)
        return order, mt

    def _is_free_at(self, pfn, order):
        return self.free.get(pfn, (None,))[0] == order

    def _free_one(self, pfn, order, mt, to_tail=False):
        buddy = 0
        while order < MAX_ORDER:
            buddy = pfn ^ (1 << order)
            if not self._is_free_at(buddy, order):
                break
            self._del(buddy)
            pfn = min(pfn, buddy)
            order += 1
        if not to_tail and order < MAX_ORDER - 1:
            parent = pfn & buddy
            to_tail = self._is_free_at(parent ^ (1 << (order + 1)), order + 1)
        self._add(pfn, order, mt, to_tail)

    def block_of(self, pfn):
        return self.block_mt[pfn >> PB_ORDER]

    # -- allocation -------------------------------------------------------
    def _smallest(self, order, mt):
        for o in range(order, MAX_ORDER + 1):
            lst = self.lists[(o, mt)]
            if lst:
                pfn = lst[0]
                self._del(pfn)
                while o > order:
                    o -= 1
                    self._add(pfn + (1 << o), o, mt, tail=False)
                return pfn
        return None

    def _fallback_type(self, order, mt, only_stealable=False):
        if not any(self.lists[(order, t)] for t in range(3)):
            return None, False
        steal = False
        for fmt in FALLBACKS[mt]:
            if not self.lists[(order, fmt)]:
                continue
            if order >= PB_ORDER or order >= PB_ORDER // 2 or mt != MOVABLE:
                steal = True
            if not only_stealable or steal:
                return fmt, steal
        return None, steal

    def _fallback(self, order, mt, nofragment=False):
        found = None
        lowest = PB_ORDER if (nofragment and order < PB_ORDER) else order
        for o in range(MAX_ORDER, lowest - 1, -1):
            fmt, steal = self._fallback_type(o, mt)
            if fmt is not None:
                found = (o, fmt, steal)
                break
        if found is None:
            return False
        o, fmt, steal = found
        if not steal and mt == MOVABLE and o > order:
            for o in range(order, MAX_ORDER + 1):
                fmt, steal = self._fallback_type(o, mt)
                if fmt is not None:
                    break
        pfn = self.lists[(o, fmt)][0]
        old_type = self.block_of(pfn)
        if o >= PB_ORDER:
            for k in range(1 << (o - PB_ORDER)):
                b = (pfn >> PB_ORDER) + k
                if b in self.block_mt:
                    self.block_mt[b] = mt
            self._move(pfn, mt)
            return True
        if steal:
            moved, movable = self._move_block(pfn, mt)
            if moved:
                if mt == MOVABLE:
                    alike = movable
                elif old_type == MOVABLE:
                    alike = PB_PAGES - (moved + movable)
                else:
                    alike = 0
                if moved + alike >= PB_PAGES // 2:
                    self.block_mt[pfn >> PB_ORDER] = mt
                return True
        self._move(pfn, mt)
        return True

    def _move(self, pfn, mt):
        order, _ = self._del(pfn)
        self._add(pfn, order, mt, tail=True)

    def _move_block(self, pfn, mt):
        start = pfn - pfn % PB_PAGES
        last = start + PB_PAGES - 1
        if start < self.base:
            start = pfn
        if last >= self.end:
            return 0, 0
        moved = movable = 0
        p = start
        while p <= last:
            if p in self.free:
                order = self.free[p][0]
                self._move(p, mt)
                moved += 1 << order
                p += 1 << order
                continue
            if p in self.allocated and self.allocated[p][1] == MOVABLE:
                movable += 1
            p += 1
        return moved, movable

    def free_pages(self):
        return sum(1 << o for o, _ in self.free.values())

    def watermark_ok(self, order, mark):
        if self.free_pages() - ((1 << order) - 1) <= mark:
            return False
        return order == 0 or any(self.lists[(o, t)] for o in range(order, MAX_ORDER + 1)
                                 for t in range(3))

    def alloc(self, order, mt=MOVABLE, mark=0, nofragment=False):
        if not self.watermark_ok(order, mark):
            return None
        pfn = self._smallest(order, mt)
        if pfn is None and self._fallback(order, mt, nofragment):
            pfn = self._smallest(order, mt)
        if pfn is not None:
            self.allocated[pfn] = (order, mt)
        return pfn

    def free_block(self, pfn, order):
        """Free; raises ValueError (state unchanged) on a bad free."""
        if not 0 <= order <= MAX_ORDER:
            raise ValueError("order")
        if not self.base <= pfn < self.end:
            raise ValueError("range")
        if pfn % (1 << order):
            raise ValueError("align")
        if pfn + (1 << order) > self.end:
            raise ValueError("block")
        if pfn not in self.allocated:
            raise ValueError("not allocated")
        if self.allocated[pfn][0] != order:
            raise ValueError("wrong order")
        del self.allocated[pfn]
        self._free_one(pfn, order, self.block_of(pfn))

    def counts(self):
        c = [0] * (MAX_ORDER + 1)
        for o, _ in self.free.values():
            c[o] += 1
        return c

    def counts_by_type(self):
        return [[len(self.lists[(o, t)]) for o in range(MAX_ORDER + 1)] for t in range(3)]

    # -- compaction -------------------------------------------------------
    def _finished(self, order, mt):
        for o in range(order, MAX_ORDER + 1):
            if self.lists[(o, mt)]:
                return True
            if self._fallback_type(o, mt, only_stealable=True)[0] is not None:
                return True
        return False

    def compact(self, order=-1, mt=MOVABLE):
        """Returns the list of (old_pfn, new_pfn, order) moves."""
        moves = []
        if self.end == self.base:
            return moves
        if order >= 0 and self._finished(order, mt):
            return moves
        pool = {o: [] for o in range(MAX_ORDER + 1)}

        def take(k):
            for o in range(k, MAX_ORDER + 1):
                if pool[o]:
                    pfn = pool[o].pop(0)
                    while o > k:
                        o -= 1
                        pool[o].insert(0, pfn + (1 << o))
                    return pfn
            return None

        def isolate(block):
            if self.block_mt[block >> PB_ORDER] != MOVABLE:
                return
            start, stop = max(block, self.base), min(block + PB_PAGES, self.end)
            if start in self.free and self.free[start][0] >= PB_ORDER:
                return
            for p in range(start, stop):
                if p in self.free:
                    o, _ = self._del(p)
                    pool[o].append(p)

        migrate = self.base - self.base % PB_PAGES
        free_next = (self.end - 1) - (self.end - 1) % PB_PAGES
        met = False
        while not met and migrate <= free_next:
            p = max(migrate, self.base)
            stop = min(migrate + PB_PAGES, self.end)
            while p < stop:
                if p in self.free:
                    p += 1 << self.free[p][0]
                    continue
                if p not in self.allocated:
                    p += 1
                    continue
                k, amt = self.allocated[p]
                if amt != MOVABLE or k >= PB_ORDER or (order >= 0 and k >= order):
                    p += 1 << k
                    continue
                target = take(k)
                while target is None:
                    if free_next <= migrate:
                        met = True
                        break
                    isolate(free_next)
                    free_next -= PB_PAGES
                    target = take(k)
                if met:
                    break
                del self.allocated[p]
                self.allocated[target] = (k, MOVABLE)
                self._free_one(p, k, self.block_of(p))
                moves.append((p, target, k))
                p += 1 << k
            if met:
                break
            migrate += PB_PAGES
            if order >= 0 and self._finished(order, mt):
                break
        for o in range(MAX_ORDER + 1):
            for p in pool[o]:
                self._free_one(p, o, self.block_of(p))
        return moves
