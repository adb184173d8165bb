# memcore.pagetable -- the C contract of the page-table walker.
#
# Who uses it: ``memcore.mmu`` calls ``pt_walk`` / ``pt_walk_from`` from its
# nogil translation loop; ``memcore.pagetable.PageTable`` (the Python face)
# owns the state and the numpy arrays behind it.
#
# How to use it from another kernel::
#
#     from memcore.pagetable cimport (pt_state_t, walk_result_t, pt_walk,
#                                     pt_walk_from, ACCESS_READ, WALK_OK)
#     from memcore.pagetable cimport PageTable
#
#     cdef PageTable table = ...              # a Python PageTable object
#     cdef pt_state_t* pt = &table.st          # stays valid while `table` lives
#     cdef walk_result_t res
#     with nogil:
#         if pt_walk(pt, va, ACCESS_READ, 3, &res) == WALK_OK:
#             ... res.pa, res.page_shift, res.leaf, res.ref_addr[:res.n_refs]
#
# Rules of the contract:
#
# * Hold a pointer to the *struct* (``&table.st``), never copies of the array
#   pointers inside it: ``PageTable.map`` may grow the table pool and then
#   rewrites ``pool`` (and the frame index) in place.  Do not walk while
#   another thread maps/unmaps (the Python face holds the GIL for those).
# * The walker never allocates, never calls Python and never fails: every
#   outcome (translation, #PF with its error code, #GP) is in the result.
# * A walk that succeeds sets the accessed bit (A) in every entry it used and
#   the dirty bit (D) in the leaf on a write; a walk that faults writes
#   nothing.  Set ``pt.update_ad = 0`` to walk without touching A/D.
# * Walk caches: every entry read is reported with its level, its physical
#   address, its value as read, the physical address of the table it points to
#   (``ref_next``, 0 for a leaf) and the rights accumulated from the root down
#   to it (``ref_rights``).  A PML4E/PDPTE/PDE cache stores ``ref_next`` and
#   ``ref_rights`` of a reference, tagged with the virtual-address bits above
#   ``pt.level_shift[level]`` (e.g. a PDE cache: va >> pt.level_shift[2]); on
#   a hit, ``pt_walk_from`` resumes at the level below with that table and
#   those rights and reads only the remaining entries.  Only cache entries of
#   a walk that succeeded (their A bits are then set, as hardware requires).
# * For a TLB fill: ``pa``, ``page_shift``, ``rights`` (RIGHT_W/U/NX combined
#   over all levels), ``leaf`` (G, D, PWT/PCD bits).  A store that hits a TLB
#   entry whose ``leaf`` lacks D must walk again (hardware does the same) so
#   the walker sets D in memory.
# * ``access``: ACCESS_READ / ACCESS_WRITE / ACCESS_EXEC; ``pt_access_of_kind``
#   maps the access-record kinds (modify walks as a write).  ``cpl`` 3 is user
#   mode, 0..2 supervisor.
# * The inverted table has one "level": ``pt_walk_from`` is ``pt_walk`` there,
#   and ``ref_level`` is 0 for its references (anchor entry, then the chain).

from memcore._typedefs cimport (intp_t, int32_t, int64_t, uint8_t, uint16_t,
                                uint32_t, uint64_t, addr_t, pfn_t)
from memcore.access cimport KIND_IFETCH, KIND_LOAD

# Page-table organisations (``PageTable.paging``).
cdef enum:
    PAGING_X86_64_4LEVEL = 0   # 9/9/9/9/12, 8-byte entries
    PAGING_X86_64_5LEVEL = 1   # LA57: 9/9/9/9/9/12
    PAGING_I386_2LEVEL = 2     # 10/10/12, 4-byte entries, 4 MiB PSE pages
    PAGING_I386_PAE = 3        # 2/9/9/12, 8-byte entries, 2 MiB pages
    PAGING_INVERTED = 4        # hashed inverted table, one entry per frame

# Sizes and limits.
cdef enum:
    PAGE_SHIFT = 12
    PT_MAX_LEVELS = 5          # deepest radix table (LA57)
    WALK_MAX_REFS = 16         # entries recorded per walk (an inverted-table
                               # chain may be longer: n_refs still counts all)

# Access types of a walk (``access`` argument).
cdef enum:
    ACCESS_READ = 0
    ACCESS_WRITE = 1
    ACCESS_EXEC = 2

# Walk outcomes (return value of the walks and ``walk_result_t.fault``).
cdef enum:
    WALK_OK = 0
    WALK_PF = 1                # page fault, error code in ``error_code``
    WALK_GP = 2                # general protection (non-canonical address)

# x86 page-fault error-code bits (Linux: enum x86_pf_error_code).
cdef enum:
    X86_PF_PROT = 1            # 0: not present, 1: protection / reserved bit
    X86_PF_WRITE = 2           # the access was a write
    X86_PF_USER = 4            # the access was made at CPL 3
    X86_PF_RSVD = 8            # a reserved bit was set in an entry
    X86_PF_INSTR = 16          # the access was an instruction fetch (NXE)

# Rights accumulated over the levels of a walk (``ref_rights``, ``rights``).
cdef enum:
    RIGHT_W = 1                # RW set at every level so far
    RIGHT_U = 2                # US set at every level so far
    RIGHT_NX = 4               # NX set at some level so far
    RIGHTS_TOP = 3             # start value: RIGHT_W | RIGHT_U, no NX

# Entry bits, with their Linux names (arch/x86/include/asm/pgtable_types.h).
cdef extern from *:
    """
    #define MEMCORE_PAGE_PRESENT  ((uint64_t)1 << 0)
    #define MEMCORE_PAGE_RW       ((uint64_t)1 << 1)
    #define MEMCORE_PAGE_USER     ((uint64_t)1 << 2)
    #define MEMCORE_PAGE_PWT      ((uint64_t)1 << 3)
    #define MEMCORE_PAGE_PCD      ((uint64_t)1 << 4)
    #define MEMCORE_PAGE_ACCESSED ((uint64_t)1 << 5)
    #define MEMCORE_PAGE_DIRTY    ((uint64_t)1 << 6)
    #define MEMCORE_PAGE_PSE      ((uint64_t)1 << 7)
    #define MEMCORE_PAGE_GLOBAL   ((uint64_t)1 << 8)
    #define MEMCORE_PAGE_NX       ((uint64_t)1 << 63)
    #define MEMCORE_PTE_ADDR_MASK ((uint64_t)0x000FFFFFFFFFF000ULL)
    """
    const uint64_t PAGE_PRESENT "MEMCORE_PAGE_PRESENT"
    const uint64_t PAGE_RW "MEMCORE_PAGE_RW"
    const uint64_t PAGE_USER "MEMCORE_PAGE_USER"
    const uint64_t PAGE_PWT "MEMCORE_PAGE_PWT"
    const uint64_t PAGE_PCD "MEMCORE_PAGE_PCD"
    const uint64_t PAGE_ACCESSED "MEMCORE_PAGE_ACCESSED"
    const uint64_t PAGE_DIRTY "MEMCORE_PAGE_DIRTY"
    const uint64_t PAGE_PSE "MEMCORE_PAGE_PSE"
    const uint64_t PAGE_GLOBAL "MEMCORE_PAGE_GLOBAL"
    const uint64_t PAGE_NX "MEMCORE_PAGE_NX"
    const uint64_t PTE_ADDR_MASK "MEMCORE_PTE_ADDR_MASK"   # bits 12..51


# The whole state of one page table (one address space for radix formats;
# every address space for the inverted table).  Arrays are owned by the
# PageTable object; levels are numbered 1 (PT) .. levels (root).
ctypedef struct pt_state_t:
    # -- radix tables --
    uint64_t* pool             # table entries: slot * stride + index
    int32_t* child             # slot of the table a pool entry points to, -1
                               #   (kept equal to the entry's address field)
    intp_t root_slot           # slot of the table at cr3
    intp_t stride              # entries per table (512, 1024 for i386-2level)
    uint64_t* hkeys            # frame -> slot index (open addressing):
    int64_t* hvals             #   key pfn + 1, 0 empty, ~0 deleted
    uint64_t hmask             #   capacity - 1 (a power of two)
    uint32_t hshift            #   64 - log2(capacity)
    addr_t cr3                 # physical address of the root table
    uint8_t paging             # PAGING_*
    uint8_t levels             # 2, 3, 4 or 5 (1 for the inverted table)
    uint8_t entry_size         # bytes per entry in memory: 4 or 8
    uint8_t wp                 # CR0.WP: supervisor writes honour RW
    uint8_t nxe                # EFER.NXE: NX is honoured (not reserved)
    uint8_t maxphyaddr         # physical address width (bits)
    uint8_t update_ad          # walks set A/D bits
    uint8_t instr_bit          # X86_PF_INSTR if fetches are reported, else 0
    uint8_t va_bits            # canonical width: 48, 57; 32 on i386; 64 inverted
    uint8_t level_shift[6]     # va shift of each level's index
    uint64_t level_mask[6]     # index mask of each level
    uint8_t large_ok[6]        # PS at this level maps a page
    uint64_t rsvd[12]          # reserved-bit mask: [level * 2 + PS bit]
    # -- hashed inverted table --
    uint64_t* ipt              # two words per frame: tag, entry
    uint64_t* hat              # hash anchor table: frame + 1, 0 = empty
    uint64_t hat_mask          # entries - 1
    intp_t n_frames            # frames covered (IPT entries)
    addr_t ipt_base            # physical address of the IPT
    addr_t hat_base            # physical address of the hash anchor table
    uint16_t asid              # address space walked by pt_walk


# What a walk found.  ref_* arrays hold the first min(n_refs, WALK_MAX_REFS)
# entries read, in the order read.
ctypedef struct walk_result_t:
    addr_t pa                  # translated address (fault == WALK_OK)
    uint64_t leaf              # leaf entry value after the walk's A/D update
    uint32_t error_code        # x86 #PF error code (fault == WALK_PF)
    uint32_t n_refs            # memory references made by the walk
    uint8_t fault              # WALK_OK, WALK_PF or WALK_GP
    uint8_t page_shift         # 12, 21, 22 or 30 (0 on a fault)
    uint8_t level              # level of the leaf entry (0 on a fault)
    uint8_t rights             # RIGHT_* accumulated down to the leaf
    addr_t ref_addr[WALK_MAX_REFS]    # physical address of each entry read
    uint64_t ref_value[WALK_MAX_REFS] # its value as read (before A/D update)
    addr_t ref_next[WALK_MAX_REFS]    # table it points to, 0 if leaf/fault
    uint8_t ref_level[WALK_MAX_REFS]  # its level (0 for inverted entries)
    uint8_t ref_rights[WALK_MAX_REFS] # RIGHT_* from the root through it


# Access-record kind (memcore.access KIND_*) -> ACCESS_*: ifetch executes,
# load reads, store and modify write.  (Flush records are not translated.)
cdef inline uint8_t pt_access_of_kind(uint8_t kind) noexcept nogil:
    if kind == KIND_IFETCH:
        return ACCESS_EXEC
    if kind == KIND_LOAD:
        return ACCESS_READ
    return ACCESS_WRITE


# Frame number -> table slot, or -1 if no table lives in that frame.
cdef intp_t pt_frame_slot(const pt_state_t* pt, pfn_t pfn) noexcept nogil

# The rights check of an access and the error-code bits it reports, as x86
# makes them (the walker on a leaf, the MMU on a TLB hit): a user access (cpl
# 3) needs U, a write W (at cpl 3, or always with CR0.WP), a fetch faults on
# NX when EFER.NXE is set.
cdef inline uint8_t pt_error_bits(const pt_state_t* pt, uint8_t access, uint8_t cpl) noexcept nogil:
    cdef uint8_t e = 0
    if access == ACCESS_WRITE:
        e |= X86_PF_WRITE
    elif access == ACCESS_EXEC:
        e |= pt.instr_bit
    if cpl == 3:
        e |= X86_PF_USER
    return e


cdef inline bint pt_permitted(const pt_state_t* pt, uint8_t rights, uint8_t access,
                              uint8_t cpl) noexcept nogil:
    if cpl == 3 and not (rights & RIGHT_U):
        return False
    if access == ACCESS_WRITE and not (rights & RIGHT_W) and (cpl == 3 or pt.wp):
        return False
    if access == ACCESS_EXEC and (rights & RIGHT_NX) and pt.nxe:
        return False
    return True


# Full walk of `va` (CR3 for radix formats, pt.asid for the inverted table).
# `access` is ACCESS_READ/WRITE/EXEC, `cpl` 0..3 (3 = user).  Returns
# out.fault.
cdef int pt_walk(pt_state_t* pt, addr_t va, uint8_t access, uint8_t cpl,
                 walk_result_t* out) noexcept nogil

# Resume a walk at `level` (1..pt.levels) in the table at physical address
# `table_pa`, with the `rights` accumulated above it (RIGHTS_TOP at the
# root).  Only the entries from `level` down are read and reported.  For the
# inverted table this is pt_walk.
cdef int pt_walk_from(pt_state_t* pt, addr_t va, uint8_t access, uint8_t cpl,
                      uint8_t level, addr_t table_pa, uint8_t rights,
                      walk_result_t* out) noexcept nogil

# Walk with an explicit address space (inverted table; radix ignore `asid`).
cdef int pt_walk_asid(pt_state_t* pt, addr_t va, uint8_t access, uint8_t cpl,
                      uint16_t asid, walk_result_t* out) noexcept nogil


cdef class PageTable:
    cdef pt_state_t st
    cdef readonly object frame_source
    cdef object _pool          # uint64 (capacity, stride)
    cdef object _next          # int32 (capacity, stride): next table's slot
    cdef object _frame         # uint64 (capacity,): pfn of each slot
    cdef object _used          # int32 (capacity,): present entries per table
    cdef object _tlevel        # uint8 (capacity,): level of each table, 0 free
    cdef uint64_t* frame_p     # data of _frame, _used, _tlevel (set by _sync)
    cdef int32_t* used_p
    cdef uint8_t* tlevel_p
    cdef object _hkeys
    cdef object _hvals
    cdef object _ipt
    cdef object _hat
    cdef list _free_slots
    cdef intp_t _n_slots       # slots ever used (high-water mark)
    cdef intp_t _n_tables      # tables in use
    cdef intp_t _hused         # occupied + deleted keys in the frame index
    cdef object _region_frames # inverted: (hat pfn, n, ipt pfn, n)

    # internal helpers (the Python face); not part of the C contract
    cdef _placeholders(self)
    cdef _setup_geometry(self)
    cdef _init_frame_index(self, intp_t cap)
    cdef _index_insert(self, uint64_t pfn, intp_t slot)
    cdef _index_delete(self, uint64_t pfn)
    cdef _rehash(self)
    cdef _sync(self)
    cdef intp_t _new_table(self, int level) except -1
    cdef _grow(self, intp_t cap)
    cdef _free_table(self, intp_t slot)
    cdef _init_inverted(self, intp_t n_frames)
    cdef intp_t _index(self, uint64_t va, int level)
    cdef uint64_t _next_table_pfn(self, uint64_t e)
    cdef bint _is_leaf(self, uint64_t e, int level)
    cdef intp_t _child(self, uint64_t e, int level) except -2
    cdef intp_t _ipt_lookup(self, uint64_t tag, intp_t* prev) noexcept
