"""Reference page-replacement policies: textbook simulations on plain lists.

Each ``ref_*`` function takes a list of page numbers and a frame count and
returns the list of hits (True/False per reference).  :class:`RefReplacer` is
the online form (insert / touch / victim / remove) with the same conventions
as ``memcore.replace.Replacer``.
"""


def ref_fifo(refs, frames):
    queue, hits = [], []
    for p in refs:
        if p in queue:
            hits.append(True)
            continue
        hits.append(False)
        if len(queue) == frames:
            queue.pop(0)
        queue.append(p)
    return hits


def ref_lru(refs, frames):
    stack, hits = [], []          # least recently used first
    for p in refs:
        if p in stack:
            hits.append(True)
            stack.remove(p)
        else:
            hits.append(False)
            if len(stack) == frames:
                stack.pop(0)
        stack.append(p)
    return hits


def ref_opt(refs, frames):
    mem, hits = [], []
    for t, p in enumerate(refs):
        if p in mem:
            hits.append(True)
            continue
        hits.append(False)
        if len(mem) == frames:
            def next_use(q):
                for u in range(t + 1, len(refs)):
                    if refs[u] == q:
                        return u
                return len(refs)
            mem.remove(max(mem, key=next_use))
        mem.append(p)
    return hits


def ref_clock(refs, frames, ref_on_load=True):
    page = [None] * frames
    rbit = [0] * frames
    hand, hits = 0, []
    for p in refs:
        if p in page:
            hits.append(True)
            rbit[page.index(p)] = 1
            continue
        hits.append(False)
        while True:
            if page[hand] is not None and rbit[hand]:
                rbit[hand] = 0                  # second chance
                hand = (hand + 1) % frames
                continue
            page[hand] = p                      # empty, or R == 0: replace
            rbit[hand] = int(ref_on_load)
            hand = (hand + 1) % frames
            break
    return hits


def ref_second_chance(refs, frames, ref_on_load=True):
    queue, hits = [], []          # [page, R], oldest first
    for p in refs:
        entry = next((e for e in queue if e[0] == p), None)
        if entry is not None:
            hits.append(True)
            entry[1] = 1
            continue
        hits.append(False)
        if len(queue) == frames:
            while queue[0][1]:
                e = queue.pop(0)
                e[1] = 0
                queue.append(e)
            queue.pop(0)
        queue.append([p, int(ref_on_load)])
    return hits


def ref_nru(refs, frames, writes=None, clear_interval=None, ref_on_load=True):
    if clear_interval is None:
        clear_interval = frames
    writes = writes if writes is not None else [False] * len(refs)
    page = [None] * frames
    rbit = [0] * frames
    mbit = [0] * frames
    hits = []
    for t, p in enumerate(refs):
        w = bool(writes[t])
        if p in page:
            hits.append(True)
            f = page.index(p)
            rbit[f] = 1
            mbit[f] = mbit[f] or int(w)
        else:
            hits.append(False)
            if None in page:
                f = page.index(None)
            else:
                classes = [2 * rbit[i] + mbit[i] for i in range(frames)]
                f = classes.index(min(classes))   # lowest class, lowest frame
            page[f] = p
            rbit[f] = int(ref_on_load)
            mbit[f] = int(w)
        if clear_interval and (t + 1) % clear_interval == 0:
            rbit = [0] * frames
    return hits


class RefReplacer:
    """Online replacement with the conventions of ``memcore.replace.Replacer``."""

    def __init__(self, frames, policy, clear_interval=None, ref_on_load=True):
        self.n = frames
        self.policy = {"active_inactive": "lru2q"}.get(policy, policy)
        self.clear_interval = frames if clear_interval is None else clear_interval
        self.ref_on_load = int(ref_on_load)
        self.page = [None] * frames
        self.rbit = [0] * frames
        self.mbit = [0] * frames
        self.free = list(range(frames - 1, -1, -1))   # pop() gives frame 0 first
        self.inactive = []                             # frames, oldest first
        self.active = []
        self.hand = 0
        self.since_clear = 0

    def _tick(self):
        if self.policy == "nru" and self.clear_interval:
            self.since_clear += 1
            if self.since_clear == self.clear_interval:
                self.since_clear = 0
                self.rbit = [0] * self.n

    def insert(self, p, write=False):
        f = self.free.pop()
        self.page[f] = p
        self.rbit[f] = self.ref_on_load
        self.mbit[f] = int(write)
        if self.policy == "clock" and f == self.hand:
            self.hand = (f + 1) % self.n
        if self.policy in ("fifo", "lru", "second_chance", "lru2q"):
            self.inactive.append(f)
        self._tick()
        return f

    def touch(self, p, write=False):
        f = self.page.index(p)
        if self.policy == "lru":
            self.inactive.remove(f)
            self.inactive.append(f)
        elif self.policy == "lru2q":
            if f in self.inactive and self.rbit[f]:
                self.inactive.remove(f)
                self.active.append(f)
                self.rbit[f] = 0
            else:
                self.rbit[f] = 1
        elif self.policy != "fifo":
            self.rbit[f] = 1
        if write:
            self.mbit[f] = 1
        self._tick()

    def victim(self):
        if all(x is None for x in self.page):
            return None
        if self.policy in ("fifo", "lru"):
            return self.page[self.inactive[0]]
        if self.policy == "second_chance":
            while self.rbit[self.inactive[0]]:
                f = self.inactive.pop(0)
                self.rbit[f] = 0
                self.inactive.append(f)
            return self.page[self.inactive[0]]
        if self.policy == "clock":
            while self.page[self.hand] is None or self.rbit[self.hand]:
                self.rbit[self.hand] = 0
                self.hand = (self.hand + 1) % self.n
            return self.page[self.hand]
        if self.policy == "nru":
            best = min((2 * self.rbit[f] + self.mbit[f], f)
                       for f in range(self.n) if self.page[f] is not None)
            return self.page[best[1]]
        while len(self.inactive) < len(self.active):          # lru2q
            f = self.active.pop(0)
            self.rbit[f] = 0
            self.inactive.append(f)
        return self.page[self.inactive[0]]

    def remove(self, p):
        f = self.page.index(p)
        for lst in (self.inactive, self.active):
            if f in lst:
                lst.remove(f)
        self.page[f] = None
        self.rbit[f] = 0
        self.mbit[f] = 0
        self.free.append(f)

    def resident(self):
        return sorted(x for x in self.page if x is not None)


def ref_online(refs, frames, policy, writes=None, **kw):
    """Drive :class:`RefReplacer` over a reference string; return the hits."""
    r = RefReplacer(frames, policy, **kw)
    writes = writes if writes is not None else [False] * len(refs)
    hits = []
    for p, w in zip(refs, writes):
        if p in r.page:
            hits.append(True)
            r.touch(p, w)
        else:
            hits.append(False)
            if not r.free:
                r.remove(r.victim())
            r.insert(p, w)
    return hits


def ref_simulate(refs, frames, policy, writes=None, clear_interval=None, ref_on_load=True):
    """Hits of `policy` on `refs` (dispatch to the textbook functions)."""
    refs = list(refs)
    policy = {"active_inactive": "lru2q"}.get(policy, policy)
    if policy == "fifo":
        return ref_fifo(refs, frames)
    if policy == "lru":
        return ref_lru(refs, frames)
    if policy == "opt":
        return ref_opt(refs, frames)
    if policy == "clock":
        return ref_clock(refs, frames, ref_on_load)
    if policy == "second_chance":
        return ref_second_chance(refs, frames, ref_on_load)
    if policy == "nru":
        return ref_nru(refs, frames, writes, clear_interval, ref_on_load)
    return ref_online(refs, frames, policy, writes, ref_on_load=ref_on_load)
