# C contract of memcore.partition: variable-size contiguous allocation over
# one range [0, size) with first / best / worst / next fit.
#
# The range is a chain of blocks in address order (index-linked over block
# ids), each free (a hole) or allocated; the holes are also chained among
# themselves, so fits scan holes only.  Freeing merges a block with free
# neighbours, so two holes are never adjacent.  Allocated blocks are found by
# offset through an open-addressing hash table (linear probing, backward-shift
# deletion).

from memcore._typedefs cimport intp_t, int32_t, int64_t, uint8_t, uint64_t

cdef enum:
    FIT_FIRST = 0
    FIT_BEST = 1
    FIT_WORST = 2
    FIT_NEXT = 3

cdef enum:                 # blk_state
    BLK_UNUSED = 0
    BLK_HOLE = 1
    BLK_ALLOC = 2
    BLK_FREEING = 3        # allocated, named by the batch being freed

ctypedef struct part_t:
    uint64_t size          # bytes managed
    int32_t fit            # FIT_*
    uint64_t rover         # next fit: searches start at the hole holding, or
                           # first after, this offset (end of the last allocation)
    int32_t head           # lowest block
    intp_t cap             # capacity of the block arrays
    uint64_t *blk_off      # [cap] start offset
    uint64_t *blk_len      # [cap] length
    uint8_t *blk_state     # [cap] BLK_*
    int32_t *blk_prev      # [cap] address-order links over every block
    int32_t *blk_next
    int32_t *hole_prev     # [cap] address-order links over the holes only
    int32_t *hole_next
    int32_t hole_head      # lowest hole (-1: none)
    int32_t *free_ids      # stack of unused block ids
    int32_t nr_free_ids
    uint64_t *hkey         # hash: offset of an allocated block, or HASH_EMPTY
    int32_t *hval          # hash: its block id
    uint64_t hmask         # table size - 1 (a power of two)
    int32_t hshift         # 64 - log2(table size)
    uint64_t free_bytes
    int32_t nr_holes
    int32_t nr_alloc

# Allocate n >= 1 bytes; the offset, or -1 when no hole fits.
cdef int64_t part_alloc(part_t *p, uint64_t n) noexcept nogil
# Block id of the allocated block starting at off, or -1.
cdef int32_t part_lookup(part_t *p, uint64_t off) noexcept nogil
# Free the allocated block starting at off: 0, or -1 (nothing changed) if
# no allocated block starts there.
cdef int part_free(part_t *p, uint64_t off) noexcept nogil


# The Python class, for C users: ``alloc.c_part()`` is its state.  part_alloc
# needs a free block id per call: make room first with ``alloc._reserve(n)``
# (the batch methods do) before n allocations in a nogil loop.
cdef class PartitionAllocator:
    cdef part_t p
    cdef readonly str fit
    cdef dict _arr
    cdef part_t *c_part(self) noexcept
    cdef _bind(self)
