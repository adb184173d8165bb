"""Page-frame replacement: OPT, FIFO, LRU, NRU, second chance, clock, and
Linux's two-list (active/inactive) LRU.

Two faces over one compiled kernel:

* :func:`simulate` runs a whole reference string through a fixed number of
  frames in one ``nogil`` pass and returns the fault count and a per-reference
  hit mask (:class:`SimResult`);
* :class:`Replacer` is the online form for a kernel's reclaim: ``insert``,
  ``touch``, ``victim`` (pick without removing) and ``remove``.

Conventions (textbooks differ; these are the ones implemented):

* Frames are filled in order 0, 1, 2, ... while some are empty; a page loaded
  on a fault after memory is full goes into its victim's frame.
* ``ref_on_load`` (default True): a newly loaded page has R = 1 (the faulting
  access references it).  Applies to nru, second_chance, clock and lru2q.
* clock: the hand stops on the victim; the new page takes that frame and the
  hand moves one frame past it.  On its way the hand clears R = 1 bits.
  While memory fills, each load lands under the hand, so after filling ``k``
  frames the hand is back at frame 0 (the oldest page).
* second_chance: a FIFO queue; a page at the head with R = 1 gets R = 0 and
  goes to the tail.  For :func:`simulate` it evicts exactly what clock evicts
  (clock is the same algorithm with the queue kept in a circle); online, they
  differ once pages are removed out of order (clock reuses the hole in the
  circle, second chance queues the new page at the tail).
* nru: class = 2 R + M; the victim is the resident page of the lowest
  non-empty class held in the lowest-numbered frame.  A write (``writes``
  mask, or ``touch(write=True)``) sets M; after every ``clear_interval``-th
  reference all R bits are cleared (M stays).
* opt: evicts the page whose next use is farthest away (never again counts as
  farthest); next uses are precomputed in one backward pass.
* lru2q (alias ``active_inactive``): Linux's two lists.  New pages go to the
  young end of the inactive list with PG_referenced = ``ref_on_load``; a touch
  of an inactive page that is already referenced moves it to the active list
  (unreferenced), otherwise it marks it referenced; a touch of an active page
  marks it referenced.  ``victim`` first rebalances: while the inactive list
  is shorter than the active list, the oldest active page is moved to the
  young end of the inactive list with its reference cleared (inactive:active
  ratio 1, as ``inactive_is_low`` for small memories); then it picks the
  oldest inactive page.
"""
import numpy as np

cimport numpy as cnp

from memcore._typedefs cimport intp_t, int32_t, int64_t, uint8_t

cnp.import_array()

#: Policy names accepted by :func:`simulate`, in kernel order.
POLICIES = ("opt", "fifo", "lru", "nru", "second_chance", "clock", "lru2q")
_ALIASES = {"active_inactive": "lru2q"}


def _policy_code(policy, online):
    name = _ALIASES.get(policy, policy)
    if name not in POLICIES:
        raise ValueError(f"policy: unknown replacement policy {policy!r}; "
                         f"choose one of {', '.join(POLICIES + tuple(_ALIASES))}")
    if online and name == "opt":
        raise ValueError("policy: 'opt' needs the future reference string; "
                         "it is only available offline, through simulate()")
    return POLICIES.index(name)


# ---------------------------------------------------------------- lists

cdef inline void _list_del(repl_t *r, int32_t s) noexcept nogil:
    cdef int32_t l = r.lst[s]
    cdef int32_t p = r.prev[s]
    cdef int32_t q = r.next[s]
    if p >= 0:
        r.next[p] = q
    else:
        r.head[l] = q
    if q >= 0:
        r.prev[q] = p
    else:
        r.tail[l] = p
    r.count[l] -= 1
    r.lst[s] = LIST_NONE


cdef inline void _list_add_young(repl_t *r, int32_t s, int32_t l) noexcept nogil:
    cdef int32_t t = r.tail[l]
    r.prev[s] = t
    r.next[s] = -1
    if t >= 0:
        r.next[t] = s
    else:
        r.head[l] = s
    r.tail[l] = s
    r.count[l] += 1
    r.lst[s] = <uint8_t>l


# ---------------------------------------------------------------- opt heap

cdef inline void _heap_swap(repl_t *r, int32_t i, int32_t j) noexcept nogil:
    cdef int32_t a = r.heap[i]
    cdef int32_t b = r.heap[j]
    r.heap[i] = b
    r.heap[j] = a
    r.heappos[b] = i
    r.heappos[a] = j


cdef inline void _heap_up(repl_t *r, int32_t i) noexcept nogil:
    cdef int32_t p
    while i > 0:
        p = (i - 1) >> 1
        if r.key[r.heap[p]] >= r.key[r.heap[i]]:
            break
        _heap_swap(r, i, p)
        i = p


cdef inline void _heap_down(repl_t *r, int32_t i) noexcept nogil:
    cdef int32_t n = r.nused
    cdef int32_t c, big
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        big = c
        if c + 1 < n and r.key[r.heap[c + 1]] > r.key[r.heap[c]]:
            big = c + 1
        if r.key[r.heap[i]] >= r.key[r.heap[big]]:
            break
        _heap_swap(r, i, big)
        i = big


# ---------------------------------------------------------------- kernel

cdef void repl_touch(repl_t *r, int32_t s, bint write, int64_t next_use) noexcept nogil:
    cdef int32_t pol = r.policy
    if pol == POL_LRU:
        if r.tail[0] != s:
            _list_del(r, s)
            _list_add_young(r, s, LIST_INACTIVE)
    elif pol == POL_CLOCK or pol == POL_SECOND_CHANCE:
        r.rbit[s] = 1
    elif pol == POL_NRU:
        r.rbit[s] = 1
        if write:
            r.mbit[s] = 1
    elif pol == POL_OPT:
        r.key[s] = next_use
        _heap_up(r, r.heappos[s])
        _heap_down(r, r.heappos[s])
    elif pol == POL_LRU2Q:
        if r.lst[s] == LIST_INACTIVE and r.rbit[s]:
            _list_del(r, s)
            _list_add_young(r, s, LIST_ACTIVE)
            r.rbit[s] = 0
        else:
            r.rbit[s] = 1
    # fifo: a reference changes nothing
    if write:
        r.mbit[s] = 1


cdef int32_t repl_insert(repl_t *r, int64_t page, bint write, int64_t next_use) noexcept nogil:
    cdef int32_t s, pol = r.policy
    if r.nfree == 0:
        return -1
    r.nfree -= 1
    s = r.freeslots[r.nfree]
    r.page[s] = page
    r.nused += 1
    r.rbit[s] = r.ref_on_load
    r.mbit[s] = 1 if write else 0
    if pol == POL_CLOCK:
        if s == r.hand:
            r.hand = s + 1 if s + 1 < r.nframes else 0
    elif pol == POL_OPT:
        r.key[s] = next_use
        r.heap[r.nused - 1] = s
        r.heappos[s] = r.nused - 1
        _heap_up(r, r.nused - 1)
    elif pol == POL_FIFO or pol == POL_LRU or pol == POL_SECOND_CHANCE or pol == POL_LRU2Q:
        _list_add_young(r, s, LIST_INACTIVE)
    return s


cdef int32_t repl_victim(repl_t *r) noexcept nogil:
    cdef int32_t pol = r.policy
    cdef int32_t s, best, cls, bestcls
    if r.nused == 0:
        return -1
    if pol == POL_FIFO or pol == POL_LRU:
        return r.head[0]
    if pol == POL_OPT:
        return r.heap[0]
    if pol == POL_CLOCK:
        while True:
            s = r.hand
            if r.page[s] >= 0:
                if not r.rbit[s]:
                    return s
                r.rbit[s] = 0
            r.hand = s + 1 if s + 1 < r.nframes else 0
    if pol == POL_SECOND_CHANCE:
        while True:
            s = r.head[0]
            if not r.rbit[s]:
                return s
            r.rbit[s] = 0
            _list_del(r, s)
            _list_add_young(r, s, LIST_INACTIVE)
    if pol == POL_NRU:
        best = -1
        bestcls = 4
        for s in range(r.nframes):
            if r.page[s] >= 0:
                cls = 2 * r.rbit[s] + r.mbit[s]
                if cls < bestcls:
                    bestcls = cls
                    best = s
                    if cls == 0:
                        break
        return best
    # lru2q: deactivate until the inactive list is no shorter than the active
    while r.count[LIST_INACTIVE] < r.count[LIST_ACTIVE]:
        s = r.head[LIST_ACTIVE]
        _list_del(r, s)
        _list_add_young(r, s, LIST_INACTIVE)
        r.rbit[s] = 0
    return r.head[LIST_INACTIVE]


cdef void repl_remove(repl_t *r, int32_t s) noexcept nogil:
    cdef int32_t pol = r.policy
    cdef int32_t i, last, moved
    if pol == POL_OPT:
        # move the last heap entry into s's place, then restore the order
        i = r.heappos[s]
        last = r.nused - 1
        if i != last:
            moved = r.heap[last]
            r.heap[i] = moved
            r.heappos[moved] = i
            r.nused -= 1          # heap operations below see the shrunk heap
            _heap_up(r, i)
            _heap_down(r, r.heappos[moved])
            r.nused += 1
    elif r.lst[s] != LIST_NONE:
        _list_del(r, s)
    r.page[s] = -1
    r.rbit[s] = 0
    r.mbit[s] = 0
    r.nused -= 1
    r.freeslots[r.nfree] = s
    r.nfree += 1


cdef void repl_tick(repl_t *r) noexcept nogil:
    cdef int32_t s
    if r.policy == POL_NRU and r.clear_interval > 0:
        r.since_clear += 1
        if r.since_clear >= r.clear_interval:
            r.since_clear = 0
            for s in range(r.nframes):
                r.rbit[s] = 0


cdef intp_t _run_lru(repl_t *r, const int64_t *ids, int64_t lo, intp_t n, int32_t *slot_of,
                     uint8_t *hits) noexcept nogil:
    """LRU fast path of _run: same result, list links kept in locals."""
    cdef intp_t t, faults = 0
    cdef int64_t p
    cdef int32_t s, q, nxt_s, prv
    cdef int32_t head = -1, tail = -1, used = 0, k = r.nframes
    cdef int32_t *prev = r.prev
    cdef int32_t *next = r.next
    cdef int64_t *page = r.page
    for t in range(n):
        p = ids[t] - lo
        s = slot_of[p]
        if s >= 0:
            hits[t] = 1
            if s != tail:
                prv = prev[s]
                nxt_s = next[s]
                if prv >= 0:
                    next[prv] = nxt_s
                else:
                    head = nxt_s
                prev[nxt_s] = prv
                prev[s] = tail
                next[s] = -1
                next[tail] = s
                tail = s
            continue
        hits[t] = 0
        faults += 1
        if used < k:
            s = used
            used += 1
        else:
            s = head                     # least recently used
            slot_of[page[s]] = -1
            head = next[s]
            if head >= 0:
                prev[head] = -1
            else:
                tail = -1
        page[s] = p
        slot_of[p] = s
        prev[s] = tail
        next[s] = -1
        if tail >= 0:
            next[tail] = s
        else:
            head = s
        tail = s
    return faults


cdef intp_t _run_clock(repl_t *r, const int64_t *ids, int64_t lo, intp_t n, int32_t *slot_of,
                       uint8_t *hits) noexcept nogil:
    """Clock fast path of _run (also second chance, which evicts the same)."""
    cdef intp_t t, faults = 0
    cdef int64_t p
    cdef int32_t s, hand = 0, used = 0, k = r.nframes
    cdef uint8_t load = r.ref_on_load
    cdef uint8_t *rbit = r.rbit
    cdef int64_t *page = r.page
    for t in range(n):
        p = ids[t] - lo
        s = slot_of[p]
        if s >= 0:
            hits[t] = 1
            rbit[s] = 1
            continue
        hits[t] = 0
        faults += 1
        if used < k:
            used += 1                    # frames fill in order under the hand
        else:
            while rbit[hand]:
                rbit[hand] = 0
                hand += 1
                if hand == k:
                    hand = 0
            slot_of[page[hand]] = -1
        page[hand] = p
        rbit[hand] = load
        slot_of[p] = hand
        hand += 1
        if hand == k:
            hand = 0
    return faults


cdef intp_t _run(repl_t *r, const int64_t *ids, int64_t lo, intp_t n, int32_t *slot_of,
                 const uint8_t *writes, const int64_t *nxt, uint8_t *hits) noexcept nogil:
    """Run pages ids[t] - lo (dense ids) through r; return the number of faults.

    Only victims are removed, so a fresh state behaves as in the fast paths
    above (frames fill in order; second chance's queue stays a circle).
    """
    cdef intp_t t, faults = 0
    if r.nused == 0 and r.policy == POL_LRU:
        return _run_lru(r, ids, lo, n, slot_of, hits)
    if r.nused == 0 and (r.policy == POL_CLOCK or r.policy == POL_SECOND_CHANCE):
        return _run_clock(r, ids, lo, n, slot_of, hits)
    cdef int64_t p, nu = 0
    cdef int32_t s, v
    cdef bint w = 0
    for t in range(n):
        p = ids[t] - lo
        if writes != NULL:
            w = writes[t]
        if nxt != NULL:
            nu = nxt[t]
        s = slot_of[p]
        if s >= 0:
            hits[t] = 1
            repl_touch(r, s, w, nu)
        else:
            hits[t] = 0
            faults += 1
            if r.nfree == 0:
                v = repl_victim(r)
                slot_of[r.page[v]] = -1
                repl_remove(r, v)
            slot_of[p] = repl_insert(r, p, w, nu)
        repl_tick(r)
    return faults


cdef class _ReplState:
    """The arrays behind one :c:type:`repl_t` (shared by both faces)."""

    def __init__(self, int frames, int policy, int clear_interval, bint ref_on_load):
        if frames < 1:
            raise ValueError(f"frames: need at least 1 frame, got {frames}")
        if clear_interval < 0:
            raise ValueError(f"clear_interval: must be >= 0, got {clear_interval}")
        self.page = np.full(frames, -1, dtype=np.int64)
        self.prev = np.full(frames, -1, dtype=np.int32)
        self.next = np.full(frames, -1, dtype=np.int32)
        self.lst = np.full(frames, LIST_NONE, dtype=np.uint8)
        self.rbit = np.zeros(frames, dtype=np.uint8)
        self.mbit = np.zeros(frames, dtype=np.uint8)
        self.key = np.zeros(frames, dtype=np.int64)
        self.heap = np.zeros(frames, dtype=np.int32)
        self.heappos = np.zeros(frames, dtype=np.int32)
        # popped from the end: frame 0 is filled first
        self.freeslots = np.arange(frames - 1, -1, -1, dtype=np.int32)
        self.r.policy = policy
        self.r.nframes = frames
        self.r.nused = 0
        self.r.hand = 0
        self.r.clear_interval = clear_interval
        self.r.since_clear = 0
        self.r.ref_on_load = ref_on_load
        for l in range(2):
            self.r.head[l] = -1
            self.r.tail[l] = -1
            self.r.count[l] = 0
        self.r.nfree = frames
        self._bind()

    cdef _bind(self):
        cdef int64_t[::1] page = self.page
        cdef int32_t[::1] prev = self.prev, nxt = self.next, heap = self.heap
        cdef int32_t[::1] heappos = self.heappos, freeslots = self.freeslots
        cdef uint8_t[::1] lst = self.lst, rbit = self.rbit, mbit = self.mbit
        cdef int64_t[::1] key = self.key
        self.r.page = &page[0]
        self.r.prev = &prev[0]
        self.r.next = &nxt[0]
        self.r.lst = &lst[0]
        self.r.rbit = &rbit[0]
        self.r.mbit = &mbit[0]
        self.r.key = &key[0]
        self.r.heap = &heap[0]
        self.r.heappos = &heappos[0]
        self.r.freeslots = &freeslots[0]


def _readonly(arr):
    """A read-only view of `arr` (state stays owned by the kernel)."""
    v = arr.view()
    v.flags.writeable = False
    return v


class SimResult:
    """Outcome of :func:`simulate`.

    Attributes
    ----------
    policy : str
        Policy simulated.
    frames : int
        Number of frames.
    faults : int
        Page faults (references that missed).
    hits : numpy.ndarray of bool
        ``hits[i]`` is True when reference ``i`` found its page resident.
    """

    def __init__(self, policy, frames, faults, hits):
        self.policy = policy
        self.frames = frames
        self.faults = faults
        self.hits = hits

    @property
    def n_refs(self):
        """int: Number of references simulated."""
        return int(self.hits.shape[0])

    @property
    def n_hits(self):
        """int: Number of references that hit."""
        return self.n_refs - self.faults

    def __repr__(self):
        return (f"SimResult(policy={self.policy!r}, frames={self.frames}, "
                f"faults={self.faults}, hits={self.n_hits}/{self.n_refs})")


def _dense_ids(refs):
    """Map int64 page numbers to ids 0..m-1 as ``refs[t] - lo``.

    Returns ``(array, lo, m)``.  When the pages span a small range the array
    is `refs` itself (no copy, no sort); otherwise pages are renumbered by
    sorting (``np.unique``) and ``lo`` is 0.
    """
    n = refs.shape[0]
    if n == 0:
        return refs, 0, 0
    lo = int(refs.min())
    hi = int(refs.max())
    if hi - lo < max(4 * n, 1 << 20):
        return refs, lo, hi - lo + 1
    uniq, inv = np.unique(refs, return_inverse=True)
    return np.ascontiguousarray(inv.ravel(), dtype=np.int64), 0, uniq.shape[0]


cdef void _next_use(const int64_t *ids, int64_t lo, intp_t n, int64_t *last,
                    int64_t *nxt) noexcept nogil:
    """nxt[t] = index of the next reference to page ids[t] after t (n if none)."""
    cdef intp_t t
    cdef int64_t p
    for t in range(n - 1, -1, -1):
        p = ids[t] - lo
        nxt[t] = last[p]
        last[p] = t


def simulate(refs, frames, policy, writes=None, clear_interval=None, ref_on_load=True):
    """Run a reference string through `frames` page frames under `policy`.

    Parameters
    ----------
    refs : array_like of int
        Page numbers referenced, in order (any integers, e.g. virtual page
        numbers).
    frames : int
        Number of page frames (>= 1).
    policy : str
        One of ``"opt"``, ``"fifo"``, ``"lru"``, ``"nru"``,
        ``"second_chance"``, ``"clock"``, ``"lru2q"`` (alias
        ``"active_inactive"``).
    writes : array_like of bool, optional
        Per reference, True for a write (sets M; used by nru).
    clear_interval : int, optional
        nru only: clear every R bit after each `clear_interval` references
        (default `frames`; 0 never clears).
    ref_on_load : bool, optional
        R bit of a newly loaded page (default True).

    Returns
    -------
    SimResult
        ``faults`` and the per-reference ``hits`` mask.

    Raises
    ------
    ValueError
        On an unknown policy, ``frames < 1``, a negative `clear_interval`,
        or a `writes` mask whose length differs from `refs`.

    Examples
    --------
    >>> from memcore.replace import simulate
    >>> refs = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]
    >>> [simulate(refs, 3, p).faults for p in ("opt", "fifo", "lru")]
    [9, 15, 12]
    """
    code = _policy_code(policy, online=False)
    refs = np.ascontiguousarray(refs)
    if refs.ndim != 1:
        refs = refs.ravel()
    if refs.shape[0] and not np.issubdtype(refs.dtype, np.integer):
        raise ValueError(f"refs: page numbers must be integers, got dtype {refs.dtype}")
    frames = int(frames)
    if clear_interval is None:
        clear_interval = frames
    state = _ReplState(frames, code, int(clear_interval), bool(ref_on_load))
    cdef intp_t n = refs.shape[0]
    ids_arr, lo, m = _dense_ids(np.ascontiguousarray(refs, dtype=np.int64))
    cdef const int64_t[::1] ids = ids_arr
    cdef int64_t lo_ = lo
    cdef const uint8_t[::1] wv
    cdef const uint8_t *wp = NULL
    if writes is not None:
        warr = np.ascontiguousarray(writes, dtype=bool).ravel()
        if warr.shape[0] != n:
            raise ValueError(f"writes: length {warr.shape[0]} differs from refs length {n}")
        wv = warr.view(np.uint8)
        if n:
            wp = &wv[0]
    slot_arr = np.full(max(m, 1), -1, dtype=np.int32)
    cdef int32_t[::1] slot_of = slot_arr
    hits_arr = np.zeros(n, dtype=bool)
    if n == 0:
        return SimResult(POLICIES[code], frames, 0, hits_arr)
    cdef uint8_t[::1] hv = hits_arr.view(np.uint8)
    cdef int64_t[::1] nxt, last
    cdef const int64_t *np_ = NULL
    if code == POL_OPT:
        nxt_arr = np.empty(n, dtype=np.int64)
        last_arr = np.full(m, n, dtype=np.int64)
        nxt = nxt_arr
        last = last_arr
        with nogil:
            _next_use(&ids[0], lo_, n, &last[0], &nxt[0])
        np_ = &nxt[0]
    cdef _ReplState st = state
    cdef intp_t faults
    with nogil:
        faults = _run(&st.r, &ids[0], lo_, n, &slot_of[0], wp, np_, &hv[0])
    return SimResult(POLICIES[code], frames, int(faults), hits_arr)


cdef class Replacer:
    """Online page replacement over `frames` frames, for a kernel's reclaim.

    The caller owns the decisions: on a fault with every frame used it asks
    :meth:`victim`, evicts that page with :meth:`remove`, then :meth:`insert`\\ s
    the new one; every other reference is a :meth:`touch`.  Driven that way
    over a reference string it reproduces :func:`simulate` exactly.

    Parameters
    ----------
    frames : int
        Number of frames (>= 1).
    policy : str
        ``"fifo"``, ``"lru"``, ``"nru"``, ``"second_chance"``, ``"clock"`` or
        ``"lru2q"`` (alias ``"active_inactive"``).  ``"opt"`` needs the
        future and is only offered by :func:`simulate`.
    clear_interval : int, optional
        nru: clear every R bit after this many references (touches and
        inserts; default `frames`, 0 never).
    ref_on_load : bool, optional
        R bit of a newly inserted page (default True).

    Examples
    --------
    >>> from memcore.replace import Replacer
    >>> r = Replacer(2, "lru")
    >>> for page in (10, 11):
    ...     _ = r.insert(page)
    >>> r.touch(10)
    >>> r.victim()
    11
    """

    def __init__(self, frames, policy, clear_interval=None, ref_on_load=True):
        code = _policy_code(policy, online=True)
        frames = int(frames)
        if clear_interval is None:
            clear_interval = frames
        self._ctor = (frames, policy, int(clear_interval), bool(ref_on_load))
        self.st = _ReplState(frames, code, int(clear_interval), bool(ref_on_load))
        self.slot_of = {}
        self.policy = POLICIES[code]

    @property
    def frames(self):
        """int: Number of frames."""
        return self.st.r.nframes

    def __len__(self):
        return self.st.r.nused

    def __contains__(self, page):
        return int(page) in self.slot_of

    def insert(self, page, write=False):
        """Load `page` into a free frame; return the frame number.

        Raises
        ------
        ValueError
            If `page` is negative or already resident.
        MemoryError
            If every frame is in use (ask :meth:`victim` and :meth:`remove`
            first).
        """
        page = int(page)
        if page < 0:
            raise ValueError(f"page: must be >= 0, got {page}")
        if page in self.slot_of:
            raise ValueError(f"page: {page} is already resident")
        if self.st.r.nfree == 0:
            raise MemoryError(f"insert: all {self.frames} frames are in use")
        s = repl_insert(&self.st.r, page, write, 0)
        repl_tick(&self.st.r)
        self.slot_of[page] = s
        return s

    def touch(self, page, write=False):
        """Reference resident `page` (a store when `write`).

        Raises
        ------
        KeyError
            If `page` is not resident.
        """
        page = int(page)
        s = self.slot_of.get(page)
        if s is None:
            raise KeyError(f"page {page} is not resident")
        repl_touch(&self.st.r, s, write, 0)
        repl_tick(&self.st.r)

    def victim(self):
        """Return the page the policy would evict now, or None if empty.

        The page is not removed.  Like the policy itself, choosing may age
        state (clock and second chance clear R bits they pass; lru2q
        deactivates pages to rebalance its lists).
        """
        s = repl_victim(&self.st.r)
        if s < 0:
            return None
        return int(self.st.page[s])

    def remove(self, page):
        """Evict resident `page`, freeing its frame.

        Raises
        ------
        KeyError
            If `page` is not resident.
        """
        page = int(page)
        s = self.slot_of.pop(page, None)
        if s is None:
            raise KeyError(f"page {page} is not resident")
        repl_remove(&self.st.r, s)

    cdef repl_t *c_state(self) noexcept:
        return &self.st.r

    def __reduce__(self):
        r = &self.st.r
        sc = (r.nused, r.hand, r.since_clear, r.nfree, r.head[0], r.head[1], r.tail[0],
              r.tail[1], r.count[0], r.count[1])
        arrays = {k: getattr(self.st, k) for k in _STATE_ARRAYS}
        return (_restore_replacer, (self._ctor, sc, arrays, self.slot_of))

    def _restore(self, sc, arrays, slot_of):
        for k in _STATE_ARRAYS:
            getattr(self.st, k)[:] = arrays[k]
        r = &self.st.r
        (r.nused, r.hand, r.since_clear, r.nfree, r.head[0], r.head[1], r.tail[0],
         r.tail[1], r.count[0], r.count[1]) = sc
        self.slot_of = dict(slot_of)

    def clear_referenced(self):
        """Clear every R (referenced) bit, as a periodic NRU clock tick does."""
        self.st.rbit[:] = 0

    @property
    def frame_pages(self):
        """numpy.ndarray: Page held by each frame (-1: empty), a read-only view."""
        return _readonly(self.st.page)

    @property
    def referenced(self):
        """numpy.ndarray: R bit of each frame (read-only view)."""
        return _readonly(self.st.rbit)

    @property
    def modified(self):
        """numpy.ndarray: M bit of each frame (read-only view)."""
        return _readonly(self.st.mbit)

    @property
    def hand(self):
        """int: Frame under the clock hand (clock policy)."""
        return self.st.r.hand

    def list_pages(self, which="inactive"):
        """Pages on a list, oldest (next victim) first.

        Parameters
        ----------
        which : {"inactive", "active"}
            For fifo, lru and second_chance the one queue is ``"inactive"``;
            lru2q has both.

        Returns
        -------
        numpy.ndarray of int64
        """
        if which not in ("inactive", "active"):
            raise ValueError(f"which: 'inactive' or 'active', got {which!r}")
        l = LIST_INACTIVE if which == "inactive" else LIST_ACTIVE
        out = []
        s = self.st.r.head[l]
        while s >= 0:
            out.append(int(self.st.page[s]))
            s = self.st.r.next[s]
        return np.array(out, dtype=np.int64)


_STATE_ARRAYS = ("page", "prev", "next", "lst", "rbit", "mbit", "key", "heap", "heappos",
                 "freeslots")


def _restore_replacer(ctor, scalars, arrays, slot_of):
    r = Replacer(*ctor)
    r._restore(scalars, arrays, slot_of)
    return r
