# The C contract of memcore's trace text parsers and din formatter.
#
# The parsers turn a block of trace text (bytes) into access records in a
# caller-provided array.  They consume whole lines only: a call stops before
# an incomplete last line (unless the block is the end of the input), before a
# line whose records would not fit in the output, or at the first bad line
# (unless bad lines are being skipped), and says how far it got in a
# ``parse_result_t``.  The caller carries the unconsumed tail into the next
# block.  Grammars are documented in docs/guide/traces.rst and in
# memcore/traceparse.pyx.

from memcore._typedefs cimport intp_t, uint8_t, uint16_t, uint32_t, addr_t
from memcore.access cimport access_t

cdef enum:
    # Largest size a text record may carry.  Lackey writes at most 512
    # (its MAX_DSIZE) for the memory operands of dirty helpers (e.g. fxsave).
    MAX_RECORD_SIZE = 4096
    # Records larger than 255 bytes (the access record's uint8 size) are split
    # at SPLIT_BLOCK-aligned addresses, so no cache line of up to SPLIT_BLOCK
    # bytes is touched by two pieces.
    SPLIT_BLOCK = 128
    MAX_PIECES = MAX_RECORD_SIZE // SPLIT_BLOCK + 1
    # Dinero "din" records without a size field touch this many bytes
    # (Dinero IV assumes 4 for din input).
    DIN_DEFAULT_SIZE = 4
    # Bytes din_format may write for one record (a modify becomes two lines).
    DIN_MAX_RECORD_TEXT = 64

# Text formats the parser understands.
cdef enum trace_format_t:
    FMT_LACKEY = 0
    FMT_DIN = 1
    FMT_CSV = 2

# Meaning of one CSV column.
cdef enum csv_column_t:
    COL_ADDR = 0
    COL_SIZE = 1
    COL_KIND = 2
    COL_CPU = 3
    COL_PID = 4
    COL_IGNORE = 5
    MAX_CSV_COLUMNS = 64

ctypedef struct parse_result_t:
    intp_t consumed    # bytes of the block consumed (whole lines)
    intp_t n_out       # records written to the output
    intp_t lines       # lines consumed (including blank, banner, skipped)
    intp_t bad_start   # offset of the first bad line (stopped there), or -1
    intp_t bad_end     # end of that line's text (before any CR LF)
    intp_t n_bad       # bad lines skipped (skip_bad only)
    intp_t n_escape    # din escape records (label 3) skipped

# One call of the parser over buf[0:n] into out[0:cap].  `final` says the
# block ends the input (a last line without newline is then parsed).
# `columns[0:ncols]` give the CSV column meanings (unused otherwise).
cdef void parse_block(trace_format_t fmt, const uint8_t* buf, intp_t n, bint final,
                      bint skip_bad, const uint8_t* columns, intp_t ncols,
                      access_t* out, intp_t cap, parse_result_t* res) noexcept nogil

# Number of records an access of `size` bytes at `addr` becomes (1 unless
# size > 255), or 0 if it runs past the top of the 64-bit address space.
cdef intp_t n_pieces(addr_t addr, uint32_t size) noexcept nogil

# Write the access, split as n_pieces says, at out[0:]; returns records written.
cdef intp_t emit(access_t* out, addr_t addr, uint32_t size, uint8_t kind,
                 uint16_t cpu, uint32_t pid) noexcept nogil

# Format recs[0:n] as din text into out[0:cap]; stops when fewer than
# DIN_MAX_RECORD_TEXT bytes remain.  Sets n_done (records formatted) and
# returns the bytes written.
cdef intp_t din_format(const access_t* recs, intp_t n, uint8_t* out, intp_t cap,
                       intp_t* n_done) noexcept nogil
