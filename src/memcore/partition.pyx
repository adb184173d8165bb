"""Contiguous variable-size allocation: first, best, worst and next fit.

:class:`PartitionAllocator` manages the byte range ``[0, size)`` as a chain
of blocks in address order, each a hole or allocated.  Conventions:

* A request of ``n`` bytes takes the low end of the chosen hole; the rest of
  the hole stays a hole.
* first fit takes the lowest hole that fits; best fit the smallest that fits
  and worst fit the largest (ties: the lowest address).
* next fit keeps a roving pointer, the offset just past the last block it
  allocated (initially 0).  A search starts at the hole that contains the
  rover, or else the first hole above it, runs up to the end of the range
  and wraps around to the bottom, taking the first hole that fits.  Freeing
  never moves the rover.
* Freeing a block merges it with a free neighbour on either side, so holes
  are never adjacent.  Freeing an offset that does not start an allocated
  block (double free, or any other offset) raises and changes nothing.

Fragmentation figures (:meth:`PartitionAllocator.fragmentation`): external
fragmentation is ``1 - largest_hole / free_bytes`` (0 when nothing is free):
0 when all free memory is one hole, near 1 when it is scattered in small
holes.
"""
import numpy as np

cimport numpy as cnp

from memcore._typedefs cimport intp_t, int32_t, int64_t, uint8_t, uint64_t

cnp.import_array()

#: Placement policies, in kernel order.
FITS = ("first", "best", "worst", "next")

cdef uint64_t HASH_EMPTY = 0xFFFFFFFFFFFFFFFF
cdef uint64_t HASH_MUL = 0x9E3779B97F4A7C15


# ---------------------------------------------------------------- hash

cdef inline uint64_t _home(part_t *p, uint64_t key) noexcept nogil:
    return (key * HASH_MUL) >> p.hshift


cdef inline void _hash_put(part_t *p, uint64_t key, int32_t val) noexcept nogil:
    cdef uint64_t i = _home(p, key)
    while p.hkey[i] != HASH_EMPTY:
        i = (i + 1) & p.hmask
    p.hkey[i] = key
    p.hval[i] = val


cdef inline int64_t _hash_slot(part_t *p, uint64_t key) noexcept nogil:
    cdef uint64_t i = _home(p, key)
    while p.hkey[i] != HASH_EMPTY:
        if p.hkey[i] == key:
            return <int64_t>i
        i = (i + 1) & p.hmask
    return -1


cdef inline void _hash_del_slot(part_t *p, uint64_t i) noexcept nogil:
    # backward-shift deletion keeps every probe chain unbroken
    cdef uint64_t j = i, k
    while True:
        j = (j + 1) & p.hmask
        if p.hkey[j] == HASH_EMPTY:
            break
        k = _home(p, p.hkey[j])
        if (i <= j and i < k and k <= j) or (i > j and (i < k or k <= j)):
            continue                  # j's home lies after the gap: it stays
        p.hkey[i] = p.hkey[j]
        p.hval[i] = p.hval[j]
        i = j
    p.hkey[i] = HASH_EMPTY


# ---------------------------------------------------------------- blocks

cdef inline int32_t _new_block(part_t *p) noexcept nogil:
    p.nr_free_ids -= 1
    return p.free_ids[p.nr_free_ids]


cdef inline void _unlink(int32_t *prev, int32_t *next, int32_t *head, int32_t b) noexcept nogil:
    # take b out of the chain linked by prev/next whose first element is *head
    cdef int32_t pr = prev[b], nx = next[b]
    if pr >= 0:
        next[pr] = nx
    else:
        head[0] = nx
    if nx >= 0:
        prev[nx] = pr


cdef inline void _drop_block(part_t *p, int32_t b) noexcept nogil:
    # unlink b from the address chain and recycle its id
    _unlink(p.blk_prev, p.blk_next, &p.head, b)
    p.blk_state[b] = BLK_UNUSED
    p.free_ids[p.nr_free_ids] = b
    p.nr_free_ids += 1


cdef inline void _hole_insert_after(part_t *p, int32_t q, int32_t b) noexcept nogil:
    # put block b on the hole chain after hole q (q = -1: first)
    cdef int32_t nx = p.hole_head if q < 0 else p.hole_next[q]
    p.hole_prev[b] = q
    p.hole_next[b] = nx
    if q < 0:
        p.hole_head = b
    else:
        p.hole_next[q] = b
    if nx >= 0:
        p.hole_prev[nx] = b


cdef inline void _hole_remove(part_t *p, int32_t b) noexcept nogil:
    _unlink(p.hole_prev, p.hole_next, &p.hole_head, b)


cdef inline int32_t _find_hole(part_t *p, uint64_t n) noexcept nogil:
    cdef int32_t b = p.hole_head, best = -1, start
    cdef uint64_t len_, bestlen = 0
    if p.fit == FIT_FIRST:
        while b >= 0:
            if p.blk_len[b] >= n:
                return b
            b = p.hole_next[b]
        return -1
    if p.fit == FIT_NEXT:
        # first hole that ends past the rover; search from it, wrapping
        while b >= 0 and p.blk_off[b] + p.blk_len[b] <= p.rover:
            b = p.hole_next[b]
        if b < 0:
            b = p.hole_head
        if b < 0:
            return -1
        start = b
        while True:
            if p.blk_len[b] >= n:
                return b
            b = p.hole_next[b]
            if b < 0:
                b = p.hole_head
            if b == start:
                return -1
    while b >= 0:
        len_ = p.blk_len[b]
        if len_ >= n:
            if best < 0 or (p.fit == FIT_BEST and len_ < bestlen) \
                    or (p.fit == FIT_WORST and len_ > bestlen):
                best = b
                bestlen = len_
        b = p.hole_next[b]
    return best


cdef int64_t part_alloc(part_t *p, uint64_t n) noexcept nogil:
    cdef int32_t h = _find_hole(p, n), a
    cdef uint64_t off
    if h < 0:
        return -1
    off = p.blk_off[h]
    if p.blk_len[h] == n:
        a = h                          # the hole is used up
        _hole_remove(p, h)
        p.nr_holes -= 1
    else:
        a = _new_block(p)              # carve [off, off + n) below the hole
        p.blk_off[a] = off
        p.blk_len[a] = n
        p.blk_prev[a] = p.blk_prev[h]
        p.blk_next[a] = h
        if p.blk_prev[h] >= 0:
            p.blk_next[p.blk_prev[h]] = a
        else:
            p.head = a
        p.blk_prev[h] = a
        p.blk_off[h] = off + n
        p.blk_len[h] -= n
    p.blk_state[a] = BLK_ALLOC
    p.free_bytes -= n
    p.nr_alloc += 1
    _hash_put(p, off, a)
    p.rover = off + n
    return <int64_t>off


cdef int32_t part_lookup(part_t *p, uint64_t off) noexcept nogil:
    cdef int64_t i = _hash_slot(p, off)
    if i < 0:
        return -1
    return p.hval[i]


cdef inline void _free_block(part_t *p, int32_t b) noexcept nogil:
    cdef int32_t pr = p.blk_prev[b], nx = p.blk_next[b], q
    cdef bint pr_hole = pr >= 0 and p.blk_state[pr] == BLK_HOLE
    cdef bint nx_hole = nx >= 0 and p.blk_state[nx] == BLK_HOLE
    _hash_del_slot(p, <uint64_t>_hash_slot(p, p.blk_off[b]))
    p.free_bytes += p.blk_len[b]
    p.nr_alloc -= 1
    if pr_hole and nx_hole:            # bridge two holes: one remains
        p.blk_len[pr] += p.blk_len[b] + p.blk_len[nx]
        _hole_remove(p, nx)
        _drop_block(p, nx)
        _drop_block(p, b)
        p.nr_holes -= 1
    elif pr_hole:                      # grow the hole below
        p.blk_len[pr] += p.blk_len[b]
        _drop_block(p, b)
    elif nx_hole:                      # b takes over the hole above
        p.blk_state[b] = BLK_HOLE
        p.blk_len[b] += p.blk_len[nx]
        q = p.hole_prev[nx]
        _hole_remove(p, nx)
        _hole_insert_after(p, q, b)
        _drop_block(p, nx)
    else:                              # a new hole, after the nearest hole below
        p.blk_state[b] = BLK_HOLE
        q = pr
        while q >= 0 and p.blk_state[q] != BLK_HOLE:
            q = p.blk_prev[q]
        _hole_insert_after(p, q, b)
        p.nr_holes += 1


cdef int part_free(part_t *p, uint64_t off) noexcept nogil:
    cdef int32_t b = part_lookup(p, off)
    if b < 0 or p.blk_state[b] != BLK_ALLOC:
        return -1
    _free_block(p, b)
    return 0


cdef intp_t _alloc_loop(part_t *p, const uint64_t *sizes, intp_t n, int64_t *out) noexcept nogil:
    cdef intp_t i, fails = 0
    for i in range(n):
        out[i] = part_alloc(p, sizes[i])
        if out[i] < 0:
            fails += 1
    return fails


cdef intp_t _free_loop(part_t *p, const uint64_t *offs, intp_t n, int32_t *ids) noexcept nogil:
    """Free offs[:n] all or nothing: n, or the index of the first bad offset."""
    cdef intp_t i, j
    cdef int32_t b
    for i in range(n):
        b = part_lookup(p, offs[i])
        if b < 0 or p.blk_state[b] != BLK_ALLOC:
            for j in range(i):
                p.blk_state[ids[j]] = BLK_ALLOC
            return i
        p.blk_state[b] = BLK_FREEING
        ids[i] = b
    for i in range(n):
        p.blk_state[ids[i]] = BLK_ALLOC
        _free_block(p, ids[i])
    return n


# ---------------------------------------------------------------- Python face

cdef class PartitionAllocator:
    """Contiguous allocation over ``[0, size)`` with a placement policy.

    Parameters
    ----------
    size : int
        Bytes (or any unit) managed, >= 1.
    fit : {"first", "best", "worst", "next"}
        Placement policy (see the module notes for next fit's rover).

    Examples
    --------
    >>> from memcore.partition import PartitionAllocator
    >>> p = PartitionAllocator(100, fit="best")
    >>> a, b, c = p.alloc(10), p.alloc(30), p.alloc(20)
    >>> p.free(a); p.free(c)
    >>> p.holes().tolist()
    [(0, 10), (40, 60)]
    >>> p.alloc(8)                 # best fit: the 10-byte hole
    0
    """

    def __init__(self, size, fit="first"):
        size = int(size)
        if size < 1 or size >= 1 << 62:
            raise ValueError(f"size: must be in 1..2**62-1, got {size}")
        if fit not in FITS:
            raise ValueError(f"fit: one of {', '.join(FITS)}, got {fit!r}")
        self.fit = fit
        self.p.size = size
        self.p.fit = FITS.index(fit)
        self.p.rover = 0
        self.p.cap = 0
        self.p.nr_free_ids = 0
        self.p.free_bytes = size
        self.p.nr_holes = 1
        self.p.nr_alloc = 0
        self._arr = {"blk_off": np.zeros(0, np.uint64), "blk_len": np.zeros(0, np.uint64),
                     "blk_state": np.zeros(0, np.uint8), "blk_prev": np.zeros(0, np.int32),
                     "blk_next": np.zeros(0, np.int32), "hole_prev": np.zeros(0, np.int32),
                     "hole_next": np.zeros(0, np.int32), "free_ids": np.zeros(0, np.int32)}
        self._reserve(16)
        b = _new_block(&self.p)
        self.p.blk_off[b] = 0
        self.p.blk_len[b] = size
        self.p.blk_state[b] = BLK_HOLE
        self.p.blk_prev[b] = -1
        self.p.blk_next[b] = -1
        self.p.head = b
        self.p.hole_head = -1
        _hole_insert_after(&self.p, -1, b)

    cdef part_t *c_part(self) noexcept:
        return &self.p

    cdef _bind(self):
        cdef uint64_t[::1] off = self._arr["blk_off"], ln = self._arr["blk_len"]
        cdef uint8_t[::1] st = self._arr["blk_state"]
        cdef int32_t[::1] pr = self._arr["blk_prev"], nx = self._arr["blk_next"]
        cdef int32_t[::1] hp = self._arr["hole_prev"], hn = self._arr["hole_next"]
        cdef int32_t[::1] ids = self._arr["free_ids"], hv = self._arr["hval"]
        cdef uint64_t[::1] hk = self._arr["hkey"]
        self.p.blk_off = &off[0]
        self.p.blk_len = &ln[0]
        self.p.blk_state = &st[0]
        self.p.blk_prev = &pr[0]
        self.p.blk_next = &nx[0]
        self.p.hole_prev = &hp[0]
        self.p.hole_next = &hn[0]
        self.p.free_ids = &ids[0]
        self.p.hkey = &hk[0]
        self.p.hval = &hv[0]

    def _reserve(self, extra):
        """Make room for `extra` more blocks (outside any nogil loop)."""
        if extra <= self.p.nr_free_ids:
            return
        old = self.p.cap
        cap = max(16, 2 * old, old + extra)
        a = self._arr
        for f in ("blk_off", "blk_len", "blk_state", "blk_prev", "blk_next", "hole_prev",
                  "hole_next"):
            grown = np.zeros(cap, dtype=a[f].dtype)
            grown[:old] = a[f]
            a[f] = grown
        ids = np.zeros(cap, dtype=np.int32)
        ids[:self.p.nr_free_ids] = a["free_ids"][:self.p.nr_free_ids]
        fresh = np.arange(cap - 1, old - 1, -1, dtype=np.int32)
        ids[self.p.nr_free_ids:self.p.nr_free_ids + fresh.shape[0]] = fresh
        a["free_ids"] = ids
        self.p.nr_free_ids += fresh.shape[0]
        self.p.cap = cap
        # hash table at most half full: 2 * cap slots, rehashed
        bits = max(4, (2 * cap - 1).bit_length())
        keys = np.full(1 << bits, HASH_EMPTY, dtype=np.uint64)
        vals = np.zeros(1 << bits, dtype=np.int32)
        live = []
        if old:
            hk, hv = a["hkey"], a["hval"]
            used = hk != HASH_EMPTY
            live = list(zip(hk[used].tolist(), hv[used].tolist()))
        a["hkey"], a["hval"] = keys, vals
        self.p.hmask = (1 << bits) - 1
        self.p.hshift = 64 - bits
        self._bind()
        for k, v in live:
            _hash_put(&self.p, k, v)

    # -- single blocks

    def alloc(self, n):
        """Allocate `n` bytes; return the offset, or None if no hole fits.

        Raises
        ------
        ValueError
            If `n` < 1.
        """
        n = int(n)
        if n < 1:
            raise ValueError(f"n: must be >= 1, got {n}")
        if n > self.p.free_bytes:
            return None
        self._reserve(1)
        off = part_alloc(&self.p, n)
        return None if off < 0 else off

    def free(self, offset):
        """Free the block that starts at `offset`, merging it with free
        neighbours.

        Raises
        ------
        ValueError
            If no allocated block starts at `offset` (double free, or an
            offset never returned by :meth:`alloc`); nothing changes.
        """
        offset = int(offset)
        if offset < 0 or offset >= self.p.size or part_free(&self.p, offset) < 0:
            raise ValueError(f"free: offset {offset} does not start an allocated block")

    # -- batches

    def alloc_batch(self, sizes):
        """Allocate each of `sizes` in order, in one ``nogil`` loop.

        Returns
        -------
        numpy.ndarray of int64
            Offsets; -1 where no hole fitted.
        """
        arr = np.ascontiguousarray(sizes)
        if arr.ndim != 1:
            arr = arr.ravel()
        if arr.shape[0] and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 1):
            raise ValueError("sizes: every size must be an integer >= 1")
        arr = arr.astype(np.uint64, copy=False)
        cdef intp_t n = arr.shape[0]
        out_arr = np.empty(n, dtype=np.int64)
        if n == 0:
            return out_arr
        self._reserve(n)
        cdef const uint64_t[::1] s = arr
        cdef int64_t[::1] out = out_arr
        with nogil:
            _alloc_loop(&self.p, &s[0], n, &out[0])
        return out_arr

    def free_batch(self, offsets):
        """Free every offset in `offsets` in one ``nogil`` loop, all or nothing.

        Raises
        ------
        ValueError
            Naming the first bad offset and its position; nothing is freed.
        """
        arr = np.ascontiguousarray(offsets)
        if arr.ndim != 1:
            arr = arr.ravel()
        if arr.shape[0] and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"offsets: must be integers, got dtype {arr.dtype}")
        if arr.shape[0] and arr.dtype != np.uint64 and arr.min() < 0:
            i = int(np.argmin(arr))
            raise ValueError(f"free_batch: offsets[{i}]: offset {int(arr[i])} "
                             "does not start an allocated block")
        arr = arr.astype(np.uint64, copy=False)
        cdef intp_t n = arr.shape[0], done
        if n == 0:
            return
        ids_arr = np.empty(n, dtype=np.int32)
        cdef const uint64_t[::1] o = arr
        cdef int32_t[::1] ids = ids_arr
        with nogil:
            done = _free_loop(&self.p, &o[0], n, &ids[0])
        if done != n:
            raise ValueError(f"free_batch: offsets[{done}]: offset {int(o[done])} "
                             "does not start an allocated block")

    # -- inspection

    @property
    def size(self):
        """int: Bytes managed."""
        return int(self.p.size)

    @property
    def rover(self):
        """int: Next fit's roving pointer (end of the last allocation)."""
        return int(self.p.rover)

    @property
    def free_bytes(self):
        """int: Bytes in holes."""
        return int(self.p.free_bytes)

    @property
    def nr_holes(self):
        """int: Number of holes."""
        return self.p.nr_holes

    @property
    def nr_allocated(self):
        """int: Number of allocated blocks."""
        return self.p.nr_alloc

    def blocks(self):
        """Every block in address order.

        Returns
        -------
        numpy.ndarray
            Structured, fields ``offset``, ``size`` (uint64) and ``free`` (bool).
        """
        rows = []
        b = self.p.head
        while b >= 0:
            rows.append((self.p.blk_off[b], self.p.blk_len[b], self.p.blk_state[b] == BLK_HOLE))
            b = self.p.blk_next[b]
        return np.array(rows, dtype=[("offset", "u8"), ("size", "u8"), ("free", "?")])

    def holes(self):
        """The holes in address order.

        Returns
        -------
        numpy.ndarray
            Structured, fields ``offset`` and ``size`` (uint64).
        """
        rows = []
        b = self.p.hole_head
        while b >= 0:
            rows.append((self.p.blk_off[b], self.p.blk_len[b]))
            b = self.p.hole_next[b]
        return np.array(rows, dtype=[("offset", "u8"), ("size", "u8")])

    def fragmentation(self):
        """Fragmentation figures.

        Returns
        -------
        dict
            ``free_bytes``, ``allocated_bytes``, ``holes``, ``allocated_blocks``,
            ``largest_hole``, ``smallest_hole``, ``mean_hole`` and
            ``external_fragmentation`` = ``1 - largest_hole / free_bytes``
            (0.0 when nothing is free).
        """
        sizes = self.holes()["size"].astype(np.int64)
        free = int(self.p.free_bytes)
        largest = int(sizes.max()) if sizes.size else 0
        return {
            "free_bytes": free,
            "allocated_bytes": int(self.p.size) - free,
            "holes": int(sizes.size),
            "allocated_blocks": int(self.p.nr_alloc),
            "largest_hole": largest,
            "smallest_hole": int(sizes.min()) if sizes.size else 0,
            "mean_hole": float(sizes.mean()) if sizes.size else 0.0,
            "external_fragmentation": 1.0 - largest / free if free else 0.0,
        }

    def state(self):
        """The allocator's state arrays, as zero-copy numpy views.

        Returns
        -------
        dict of numpy.ndarray
            Per block id: ``blk_off``, ``blk_len``, ``blk_state`` (0 unused,
            1 hole, 2 allocated), ``blk_prev``/``blk_next`` (address chain),
            ``hole_prev``/``hole_next`` (hole chain); ``free_ids``; the hash
            table ``hkey``/``hval``.  Writing to them corrupts the allocator.
        """
        return dict(self._arr)

    def __reduce__(self):
        p = &self.p
        sc = dict(rover=p.rover, head=p.head, cap=p.cap, nr_free_ids=p.nr_free_ids,
                  hmask=p.hmask, hshift=p.hshift, free_bytes=p.free_bytes,
                  nr_holes=p.nr_holes, nr_alloc=p.nr_alloc, hole_head=p.hole_head)
        return (_restore_partition, (int(p.size), self.fit, sc, self._arr))

    def _restore(self, sc, arrays):
        p = &self.p
        self._arr = {k: np.array(v, copy=True) for k, v in arrays.items()}
        p.rover, p.head, p.cap = sc["rover"], sc["head"], sc["cap"]
        p.nr_free_ids, p.hmask, p.hshift = sc["nr_free_ids"], sc["hmask"], sc["hshift"]
        p.free_bytes, p.nr_holes, p.nr_alloc = sc["free_bytes"], sc["nr_holes"], sc["nr_alloc"]
        p.hole_head = sc["hole_head"]
        self._bind()

    def __repr__(self):
        return (f"PartitionAllocator(size={self.p.size}, fit={self.fit!r}, "
                f"allocated={self.p.nr_alloc}, holes={self.p.nr_holes}, free={self.p.free_bytes})")


def _restore_partition(size, fit, scalars, arrays):
    p = PartitionAllocator(size, fit)
    p._restore(scalars, arrays)
    return p
