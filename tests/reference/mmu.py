"""A plain, slow, obviously-correct MMU: the oracle for :mod:`memcore.mmu`.

It composes reference TLB levels (:class:`tests.reference.tlb.RefTLB`) and
reference walk caches with a page walker (the Python face of a
:class:`memcore.pagetable.PageTable`, itself tested against its own
reference), following the rules of ``docs/guide/translation.rst``:

* a translation looks the TLB levels up from the entry level of its kind,
  following ``next``; the first hit ends the search;
* a hit whose rights forbid the access faults (protection); a store through
  an entry without the dirty bit walks again (to set D) and refills the level
  that hit as well as those above it;
* otherwise the levels that missed are filled with the hit's page (a
  fractured entry gives its whole page back, and each level fractures it
  again as it needs);
* a miss everywhere walks: the walk caches are looked up from the deepest
  level (PDE) up, the first hit starts the walk below it, every non-leaf
  entry the walk read fills the walk cache of its level, and every TLB level
  that missed is filled;
* a fault invalidates the address's page in every TLB level and the
  walk-cache entries for the address.
"""
from tests.reference.tlb import RefTLB, RW, US, NX, DIRTY, GLOBAL

RIGHT_W, RIGHT_U, RIGHT_NX = 1, 2, 4
PF_PROT, PF_WRITE, PF_USER = 1, 2, 4
ADDR_MASK = 0x000F_FFFF_FFFF_F000
LEVEL_OF_CACHE = {"PDE": 2, "PDPTE": 3, "PML4E": 4, "PML5E": 5}
ACCESS = {0: "exec", 1: "read", 2: "write"}


def rights_to_flags(r):
    return (RW if r & RIGHT_W else 0) | (US if r & RIGHT_U else 0) | (NX if r & RIGHT_NX else 0)


def flags_to_rights(f):
    return (RIGHT_W if f & RW else 0) | (RIGHT_U if f & US else 0) | (RIGHT_NX if f & NX else 0)


class RefMMU:
    """``tlbs``: list of ``(name, arrays, policy, next)`` (arrays as RefTLB takes)."""

    def __init__(self, tlbs, data_entry, inst_entry, pagetable, walk_caches=None, asid=0,
                 wp=True, nxe=True):
        self.tlbs = {name: RefTLB(arrays, policy) for name, arrays, policy, _ in tlbs}
        self.next = {name: nxt for name, _, _, nxt in tlbs}
        self.entry = {"data": data_entry, "exec": inst_entry}
        self.pt = pagetable
        self.asid = asid
        self.wp, self.nxe = wp, nxe
        shifts = {lv: 12 + 9 * (lv - 1) for lv in range(1, 6)}
        self.pwc = {LEVEL_OF_CACHE[name]: RefTLB([(n, 0, [1 << shifts[LEVEL_OF_CACHE[name]]])], "lru")
                    for name, n in (walk_caches or {}).items() if n}
        self.stats = dict(translations=0, walks=0, walk_cache_hits=0, memory_references=0,
                          dirty_walks=0, faults=0)

    def _allowed(self, flags, access, cpl):
        if cpl == 3 and not flags & US:
            return False
        if access == "write" and not flags & RW and (cpl == 3 or self.wp):
            return False
        if access == "exec" and flags & NX and self.nxe:
            return False
        return True

    def _fault(self, va):
        self.stats["faults"] += 1
        for t in self.tlbs.values():
            t.invlpg(va, self.asid, True)
        for c in self.pwc.values():
            c.invlpg(va, self.asid, False)

    def _walk(self, va, access, cpl):
        self.stats["walks"] += 1
        start, table, rights = self.pt.levels, None, 3
        for level in range(2, self.pt.levels + 1):
            if level in self.pwc:
                hit = self.pwc[level].lookup(va, self.asid)
                if hit is not None:
                    start, table, rights = level - 1, hit[1] << 12, flags_to_rights(hit[3])
                    self.stats["walk_cache_hits"] += 1
                    break
        if table is None:
            res = self.pt.walk(va, access, cpl)
        else:
            res = self.pt.walk_from(va, start, table, rights, access, cpl)
        self.stats["memory_references"] += res.n_refs
        if res.ok:
            for k, (level, _, value) in enumerate(res.refs):
                rights &= ~(0 if value & 2 else RIGHT_W)
                rights &= ~(0 if value & 4 else RIGHT_U)
                rights |= RIGHT_NX if value >> 63 else 0
                leaf = k == len(res.refs) - 1
                if not leaf and level in self.pwc:
                    self.pwc[level].insert(va, (value & ADDR_MASK) >> 12, 1 << (12 + 9 * (level - 1)),
                                           self.asid, rights_to_flags(rights))
        return res, rights

    def translate(self, va, access, cpl=3):
        """Return ``("ok", pa)`` or ``(fault, error_code)``."""
        self.stats["translations"] += 1
        name = self.entry["exec" if access == "exec" else "data"]
        missed, hit, hit_name = [], None, None
        while name is not None:
            hit = self.tlbs[name].lookup(va, self.asid)
            if hit is not None:
                hit_name = name
                break
            missed.append(name)
            name = self.next[name]
        if hit is not None:
            paddr, pfn, size, flags = hit
            if not self._allowed(flags, access, cpl):
                self._fault(va)
                return "#PF", PF_PROT | (PF_WRITE if access == "write" else 0) \
                    | (16 if access == "exec" and self.nxe else 0) | (PF_USER if cpl == 3 else 0)
            if not (access == "write" and not flags & DIRTY):
                entry = self.tlbs[hit_name].last_entry
                orig = 1 << entry["orig"]
                base = pfn - ((va & (orig - 1)) // size * size >> 12)
                for m in missed:
                    self.tlbs[m].insert(va, base, orig, self.asid, flags)
                return "ok", paddr
            self.stats["dirty_walks"] += 1
            missed.append(hit_name)
        res, rights = self._walk(va, access, cpl)
        if not res.ok:
            self._fault(va)
            return res.fault, res.error_code
        flags = rights_to_flags(rights) | (DIRTY if res.entry & 0x40 else 0) | (GLOBAL if res.entry & 0x100 else 0)
        base = (res.pa & ~(res.page_size - 1)) >> 12
        for m in missed:
            self.tlbs[m].insert(va, base, res.page_size, self.asid, flags)
        return "ok", res.pa
