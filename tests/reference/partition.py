"""Reference contiguous allocator: a Python list of [offset, size, free]
blocks in address order, with the conventions of ``memcore.partition``."""


class RefPartition:
    def __init__(self, size, fit="first"):
        self.size = size
        self.fit = fit
        self.blocks = [[0, size, True]]
        self.rover = 0

    def _pick(self, n):
        fits = [i for i, (off, sz, free) in enumerate(self.blocks) if free and sz >= n]
        if not fits:
            return None
        if self.fit == "first":
            return fits[0]
        if self.fit == "best":
            return min(fits, key=lambda i: (self.blocks[i][1], self.blocks[i][0]))
        if self.fit == "worst":
            return min(fits, key=lambda i: (-self.blocks[i][1], self.blocks[i][0]))
        # next fit: from the block holding the rover (or the first above it), wrapping
        start = next((i for i, (off, sz, _) in enumerate(self.blocks) if off + sz > self.rover), 0)
        order = list(range(start, len(self.blocks))) + list(range(0, start))
        return next(i for i in order if i in fits)

    def alloc(self, n):
        i = self._pick(n)
        if i is None:
            return None
        off, sz, _ = self.blocks[i]
        if sz == n:
            self.blocks[i][2] = False
        else:
            self.blocks[i] = [off + n, sz - n, True]
            self.blocks.insert(i, [off, n, False])
        self.rover = off + n
        return off

    def free(self, offset):
        i = next((i for i, b in enumerate(self.blocks) if b[0] == offset and not b[2]), None)
        if i is None:
            raise ValueError(f"no allocated block at {offset}")
        self.blocks[i][2] = True
        if i + 1 < len(self.blocks) and self.blocks[i + 1][2]:
            self.blocks[i][1] += self.blocks.pop(i + 1)[1]
        if i > 0 and self.blocks[i - 1][2]:
            self.blocks[i - 1][1] += self.blocks.pop(i)[1]

    def holes(self):
        return [(off, sz) for off, sz, free in self.blocks if free]
