# The one record type for a memory access, shared by every kernel.
#
# Its layout is mirrored exactly by ``memcore.access.ACCESS_DTYPE`` (16 bytes,
# naturally aligned, no padding), so a numpy array of that dtype can be viewed
# as ``const access_t[::1]`` without a copy.

from memcore._typedefs cimport uint8_t, uint16_t, uint32_t, uint64_t

ctypedef struct access_t:
    uint64_t addr    # byte address (virtual or physical)
    uint8_t size     # bytes touched, 1..255 (0 is read as 1)
    uint8_t kind     # one of the KIND_* values below
    uint16_t cpu     # issuing CPU (core) number
    uint32_t pid     # issuing process / address-space id

# Access kinds: valgrind lackey's I / L / S / M, in that order, then the
# non-access records that trace formats carry.
cdef enum:
    KIND_IFETCH = 0   # instruction fetch ('I')
    KIND_LOAD = 1     # data read (' L')
    KIND_STORE = 2    # data write (' S')
    KIND_MODIFY = 3   # read then write of the same bytes (' M')
    KIND_FLUSH = 4    # flush every cache (Dinero label 4)
    N_KINDS = 5
