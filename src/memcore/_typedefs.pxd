# memcore's C types, declared once and cimported everywhere
# (``from memcore._typedefs cimport ...``).
#
# When to use which:
#
# * ``intp_t`` for indexing and loop counters over numpy buffers: it is the
#   width numpy uses for indices (``np.intp``) and never overflows an array.
# * Fixed widths (``uint64_t``, ``uint32_t``, ``uint8_t``, ...) for *stored*
#   state and trace fields: their size is part of a numpy dtype, of a file
#   format or of a modelled hardware structure, and must not depend on the
#   platform.
# * ``addr_t`` for every address (virtual or physical, always 64 bits: never
#   truncate to 32 as some simulators do) and ``pfn_t`` for page frame numbers.

from libc.stdint cimport (int8_t, int16_t, int32_t, int64_t,
                          uint8_t, uint16_t, uint32_t, uint64_t)

ctypedef Py_ssize_t intp_t
ctypedef uint64_t addr_t
ctypedef uint64_t pfn_t
ctypedef uint64_t count_t
