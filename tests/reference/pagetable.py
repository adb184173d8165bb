"""Reference page-table walker and mapping model (plain Python).

Two independent oracles for ``memcore.pagetable``:

* :func:`walk` -- the x86 walk written from the Intel SDM (vol. 3A, ch. 4)
  over a dict of physical memory ``{address: entry value}`` (missing
  addresses read as zero).  It returns the translation or fault, the entries
  read, and updates the accessed/dirty bits in the dict as hardware does.
* :class:`Mappings` -- what the page table should *mean* after a sequence of
  map/unmap/protect calls: a dict of pages, with the rules for which calls
  are refused, and the translation/fault each access should get.

Conventions shared with the engine: levels are numbered from the leaf
(1 = PT); upper-level entries grant RW and US; a walk that faults changes no
bit; PAE PDPTEs have no rights and no accessed bit.
"""

P, RW, US, PWT, PCD, A, D, PS, G = (1 << b for b in range(9))
NX = 1 << 63
PF_P, PF_W, PF_U, PF_RSVD, PF_I = 1, 2, 4, 8, 16

# level -> (first va bit of the index, index width); large: level -> page bits
FORMATS = {
    "x86_64-4level": dict(entry=8, va_bits=48, large={2: 21, 3: 30},
                          index={4: (39, 9), 3: (30, 9), 2: (21, 9), 1: (12, 9)}),
    "x86_64-5level": dict(entry=8, va_bits=57, large={2: 21, 3: 30},
                          index={5: (48, 9), 4: (39, 9), 3: (30, 9), 2: (21, 9), 1: (12, 9)}),
    "i386-2level": dict(entry=4, va_bits=32, large={2: 22},
                        index={2: (22, 10), 1: (12, 10)}),
    "i386-pae": dict(entry=8, va_bits=32, large={2: 21},
                     index={3: (30, 2), 2: (21, 9), 1: (12, 9)}),
}


def bit_range(lo, hi):
    """Mask with bits lo..hi-1 set."""
    return sum(1 << b for b in range(lo, hi))


def reserved_mask(paging, level, entry, maxphyaddr, nxe):
    """Bits of `entry` that must be zero (SDM tables 4-8..4-20)."""
    fmt = FORMATS[paging]
    large = level in fmt["large"] and entry & PS
    if paging == "i386-2level":
        if level == 2 and large:
            # PSE-36: bits 13..20 hold address bits 32..39; bit 21 reserved
            return (1 << 21) | bit_range(13 + maxphyaddr - 32, 21)
        return 0
    if paging == "i386-pae":
        if level == 3:
            return bit_range(maxphyaddr, 64) | bit_range(1, 3) | bit_range(5, 9)
        mask = bit_range(maxphyaddr, 63)
    else:
        mask = bit_range(maxphyaddr, 52)
        if level >= 4:
            mask |= PS
    if not nxe:
        mask |= NX
    if large:
        mask |= bit_range(13, fmt["large"][level])
    return mask


def canonical(paging, va):
    bits = FORMATS[paging]["va_bits"]
    if bits == 32:
        return va < (1 << 32)
    top = va >> (bits - 1)
    return top == 0 or top == (1 << (65 - bits)) - 1


def walk(memory, paging, cr3, va, access, cpl, *, wp=True, nxe=True, maxphyaddr=52):
    """Walk `va` in the tables in `memory` (a dict, updated in place).

    Returns a dict with ``fault`` (None, "#PF", "#GP"), ``error_code``,
    ``pa``, ``page_size`` and ``refs`` (list of (level, address, value)).
    """
    fmt = FORMATS[paging]
    if paging == "i386-2level":
        nxe = False
    if not canonical(paging, va):
        return dict(fault="#GP", error_code=0, pa=None, page_size=None, refs=[])
    code = 0
    if access == "write":
        code |= PF_W
    if access == "exec" and nxe:
        code |= PF_I
    if cpl == 3:
        code |= PF_U
    table = cr3
    refs = []
    writable = user = True
    no_exec = False
    level = max(fmt["index"])
    while True:
        lo, width = fmt["index"][level]
        index = (va >> lo) % (1 << width)
        addr = table + index * fmt["entry"]
        entry = memory.get(addr, 0)
        refs.append((level, addr, entry))
        if not entry & P:
            return dict(fault="#PF", error_code=code, pa=None, page_size=None, refs=refs)
        if entry & reserved_mask(paging, level, entry, maxphyaddr, nxe):
            return dict(fault="#PF", error_code=code | PF_P | PF_RSVD, pa=None,
                        page_size=None, refs=refs)
        if not (paging == "i386-pae" and level == 3):
            writable = writable and bool(entry & RW)
            user = user and bool(entry & US)
            no_exec = no_exec or bool(entry & NX)
        if level == 1 or (level in fmt["large"] and entry & PS):
            break
        table = entry & (0xFFFFF000 if fmt["entry"] == 4 else bit_range(12, 52))
        level -= 1
    denied = False
    if cpl == 3 and not user:
        denied = True
    if access == "write" and not writable and (cpl == 3 or wp):
        denied = True
    if access == "exec" and no_exec and nxe:
        denied = True
    if denied:
        return dict(fault="#PF", error_code=code | PF_P, pa=None, page_size=None, refs=refs)
    page_bits = 12 if level == 1 else fmt["large"][level]
    if fmt["entry"] == 4 and level == 2:
        base = (entry & 0xFFC00000) | (((entry >> 13) & 0xFF) << 32)
    elif fmt["entry"] == 4:
        base = entry & 0xFFFFF000
    else:
        base = entry & bit_range(page_bits, 52)
    for lv, addr, _ in refs:
        if not (paging == "i386-pae" and lv == 3):
            memory[addr] = memory[addr] | A
    if access == "write":
        memory[refs[-1][1]] |= D
    offset = va % (1 << page_bits)
    return dict(fault=None, error_code=None, pa=base + offset, page_size=1 << page_bits,
                refs=refs)


def inverted_hash(tag, mask):
    """The hash of the engine's anchor table (multiplicative, folded)."""
    h = (tag * 0x9E3779B97F4A7C15) % (1 << 64)
    return (h ^ (h >> 29)) & mask


def walk_inverted(memory, hat_base, hat_entries, ipt_base, va, access, cpl, asid, *,
                  wp=True, nxe=True):
    """Walk the hashed inverted table in `memory`.

    Anchor entry ``h`` (8 bytes at ``hat_base + 8*h``) holds frame + 1 of the
    first entry of its chain (0: empty).  IPT entry ``f`` (16 bytes at
    ``ipt_base + 16*f``) is a tag word ``asid << 52 | vpn`` and a flags word
    whose bits 12..51 hold the next frame + 1 in the chain.
    """
    code = (PF_W if access == "write" else 0) | (PF_I if access == "exec" and nxe else 0) \
        | (PF_U if cpl == 3 else 0)
    tag = (asid << 52) | (va >> 12)
    h = inverted_hash(tag, hat_entries - 1)
    link = memory.get(hat_base + 8 * h, 0)
    refs = [(0, hat_base + 8 * h, link)]
    while link:
        frame = link - 1
        word = memory.get(ipt_base + 16 * frame + 8, 0)
        refs.append((0, ipt_base + 16 * frame, word))
        if memory.get(ipt_base + 16 * frame, 0) == tag:
            break
        link = (word >> 12) % (1 << 40)
    else:
        return dict(fault="#PF", error_code=code, pa=None, page_size=None, refs=refs)
    denied = (cpl == 3 and not word & US) or \
        (access == "write" and not word & RW and (cpl == 3 or wp)) or \
        (access == "exec" and word & NX and nxe)
    if denied:
        return dict(fault="#PF", error_code=code | PF_P, pa=None, page_size=None, refs=refs)
    word |= A
    if access == "write":
        word |= D
    memory[ipt_base + 16 * frame + 8] = word
    return dict(fault=None, error_code=None, pa=(frame << 12) | (va & 0xFFF), page_size=4096,
                refs=refs)


class Mappings:
    """What a page table means: pages ``{va: (size, pa, flags)}``.

    Mirrors the documented rules of ``PageTable``: ``map`` is refused if any
    page in the range is already mapped; ``unmap`` / ``protect`` are refused
    if the range cuts a page; holes are skipped.
    """

    def __init__(self, page_sizes):
        self.page_sizes = sorted(page_sizes)
        self.pages = {}

    def find(self, va):
        """The page containing `va`: (start, size, pa, flags) or None."""
        for size in self.page_sizes:
            start = va - va % size
            page = self.pages.get(start)
            if page is not None and page[0] == size:
                return (start,) + page
        return None

    def overlapping(self, va, size):
        return [(s,) + p for s, p in self.pages.items() if s < va + size and va < s + p[0]]

    def split(self, va, pa, size, page_size):
        out = []
        off = 0
        while off < size:
            if page_size is not None:
                ps = page_size
            else:
                ps = max(s for s in self.page_sizes
                         if (va + off) % s == 0 and (pa + off) % s == 0 and size - off >= s)
            out.append((va + off, pa + off, ps))
            off += ps
        return out

    def map(self, va, pa, size, flags, page_size=None):
        """Returns the number of pages, or raises ValueError."""
        if self.overlapping(va, size):
            raise ValueError("already mapped")
        chunks = self.split(va, pa, size, page_size)
        for cva, cpa, ps in chunks:
            self.pages[cva] = (ps, cpa, flags | P)
        return len(chunks)

    def _covered(self, va, size):
        pages = self.overlapping(va, size)
        for start, psize, _, _ in pages:
            if start < va or start + psize > va + size:
                raise ValueError("range cuts a page")
        return pages

    def unmap(self, va, size):
        pages = self._covered(va, size)
        for start, *_ in pages:
            del self.pages[start]
        return len(pages)

    def protect(self, va, size, flags):
        keep = A | D
        prot = RW | US | PWT | PCD | G | NX
        pages = self._covered(va, size)
        for start, psize, pa, old in pages:
            self.pages[start] = (psize, pa, (old & (keep | P)) | (flags & prot))
        return len(pages)

    def expect(self, va, access, cpl, *, wp=True, nxe=True):
        """Expected (fault, error_code, pa) of an access, upper levels
        granting everything."""
        code = (PF_W if access == "write" else 0) | (PF_I if access == "exec" and nxe else 0) \
            | (PF_U if cpl == 3 else 0)
        page = self.find(va)
        if page is None:
            return "#PF", code, None
        start, size, pa, flags = page
        if (cpl == 3 and not flags & US) or \
                (access == "write" and not flags & RW and (cpl == 3 or wp)) or \
                (access == "exec" and flags & NX and nxe):
            return "#PF", code | PF_P, None
        return None, None, pa + (va - start)
