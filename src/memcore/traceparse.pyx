"""Compiled parsers for memory-trace text, and a din formatter.

The Python side (:mod:`pyapi.trace`) reads and decompresses files in large
blocks and calls :func:`parse` on each; this module turns the text into
:data:`memcore.access.ACCESS_DTYPE` records in one ``nogil`` loop.

Grammars (one record per line; a line ends at LF, and a CR right before the LF
is dropped; "blank" means empty or only spaces and tabs, and blank lines are
skipped in every format):

lackey (``valgrind --tool=lackey --trace-mem=yes``)
    ``[ws] KIND ws+ HEXADDR "," DECSIZE [ws]`` with KIND one of ``I L S M``;
    HEXADDR is 1 or more hex digits without a prefix; DECSIZE is a decimal
    size 1..MAX_RECORD_SIZE.  Lines that begin with ``==`` are banner lines
    and are skipped.
din (Dinero III/IV "din")
    ``[ws] LABEL ws+ ADDR [ws+ SIZE] [ws+ COMMENT] [ws]``: LABEL is a decimal
    0..4 (0 read, 1 write, 2 instruction fetch, 3 escape: skipped and
    counted, 4 flush); ADDR is hex with an optional ``0x``; SIZE is a decimal
    1..MAX_RECORD_SIZE and is present when the third field starts with a
    digit (otherwise the rest of the line is a comment and the size is
    DIN_DEFAULT_SIZE).
csv
    fields separated by commas, in the column order the caller gives (the
    header line is the caller's business), each field with optional
    surrounding spaces/tabs: ``addr`` decimal or ``0x`` hex; ``size`` decimal
    1..MAX_RECORD_SIZE; ``kind`` a digit 0..4 or a name (case-insensitive)
    ``i l s m f ifetch instr load read store write modify flush``; ``cpu``
    decimal 0..65535; ``pid`` decimal 0..2**32-1; ignored columns anything
    without a comma.

Any other line is bad.  Addresses are 64-bit: a value that does not fit is
bad, never truncated.  A record of more than 255 bytes (the record's size
field is 8-bit) becomes several records split at SPLIT_BLOCK-aligned
addresses; one that would run past the top of the address space is bad.
"""
from libc.string cimport memchr

from memcore._typedefs cimport int8_t, intp_t, uint8_t, uint16_t, uint32_t, uint64_t, addr_t
from memcore.access cimport (access_t, KIND_IFETCH, KIND_LOAD, KIND_STORE,
                             KIND_MODIFY, KIND_FLUSH)

# Value of each byte as a hex digit, or -1.
cdef int8_t HEX_DIGIT[256]
# Lower-case hex digits, for din_format.
cdef const char* HEX_CHARS = b"0123456789abcdef"
# Access kind of each lackey record letter (I L S M), or 255.
cdef uint8_t LACKEY_KIND[256]
# din label of each access kind (0 read, 1 write, 2 ifetch, 4 flush).
cdef uint8_t DIN_LABEL[5]
# access kind of each din label (label 3 is an escape and has none).
cdef uint8_t DIN_KIND[5]

cdef uint64_t ADDR_MAX = 0xFFFFFFFFFFFFFFFF
# ADDR_MAX // 10: the largest value that can take one more decimal digit.
cdef uint64_t DEC64_GUARD = ADDR_MAX // 10


cdef void _init_tables() noexcept:
    cdef int i
    for i in range(256):
        HEX_DIGIT[i] = -1
    for i in range(256):
        LACKEY_KIND[i] = 255
    LACKEY_KIND[ord('I')] = KIND_IFETCH
    LACKEY_KIND[ord('L')] = KIND_LOAD
    LACKEY_KIND[ord('S')] = KIND_STORE
    LACKEY_KIND[ord('M')] = KIND_MODIFY
    for i in range(10):
        HEX_DIGIT[ord('0') + i] = i
    for i in range(6):
        HEX_DIGIT[ord('a') + i] = 10 + i
        HEX_DIGIT[ord('A') + i] = 10 + i
    DIN_LABEL[KIND_LOAD] = 0
    DIN_LABEL[KIND_STORE] = 1
    DIN_LABEL[KIND_IFETCH] = 2
    DIN_LABEL[KIND_MODIFY] = 3   # never written: a modify is split (see din_format)
    DIN_LABEL[KIND_FLUSH] = 4
    DIN_KIND[0] = KIND_LOAD
    DIN_KIND[1] = KIND_STORE
    DIN_KIND[2] = KIND_IFETCH
    DIN_KIND[3] = 255
    DIN_KIND[4] = KIND_FLUSH


_init_tables()

#: Largest size a text record may carry (bigger sizes are bad records).
MAX_SIZE = MAX_RECORD_SIZE
#: Records over 255 bytes are split at addresses that are multiples of this.
SPLIT = SPLIT_BLOCK
#: Size of a din record that has no size field.
DIN_SIZE = DIN_DEFAULT_SIZE
#: Codes of the text formats, for :func:`parse`.
LACKEY = FMT_LACKEY
DIN = FMT_DIN
CSV = FMT_CSV
#: Codes of CSV columns, for :func:`parse`.
CSV_COLUMNS = {"addr": COL_ADDR, "size": COL_SIZE, "kind": COL_KIND,
               "cpu": COL_CPU, "pid": COL_PID}
CSV_IGNORE = COL_IGNORE
CSV_MAX_COLUMNS = MAX_CSV_COLUMNS


# ---------------------------------------------------------------- helpers

cdef inline bint is_ws(uint8_t c) noexcept nogil:
    return c == 32 or c == 9


cdef inline const uint8_t* skip_ws(const uint8_t* p, const uint8_t* e) noexcept nogil:
    while p < e and (p[0] == 32 or p[0] == 9):
        p += 1
    return p


cdef inline const uint8_t* parse_hex(const uint8_t* p, const uint8_t* e, uint64_t* value) noexcept nogil:
    # 1+ hex digits; returns the end, or NULL if none or the value overflows.
    cdef const uint8_t* start = p
    cdef uint64_t v = 0
    cdef int8_t d
    while p < e:
        d = HEX_DIGIT[p[0]]
        if d < 0:
            break
        if v >> 60:
            return NULL
        v = (v << 4) | <uint64_t>d
        p += 1
    if p == start:
        return NULL
    value[0] = v
    return p


cdef inline const uint8_t* parse_dec(const uint8_t* p, const uint8_t* e, uint32_t limit,
                                     uint64_t* value) noexcept nogil:
    # 1+ decimal digits with value <= limit (< 2**32, so v * 10 + 9 never
    # overflows); returns the end, or NULL.
    cdef const uint8_t* start = p
    cdef uint64_t v = 0
    while p < e and p[0] >= 48 and p[0] <= 57:
        v = v * 10 + (p[0] - 48)
        if v > limit:
            return NULL
        p += 1
    if p == start:
        return NULL
    value[0] = v
    return p


cdef inline const uint8_t* parse_dec64(const uint8_t* p, const uint8_t* e,
                                       uint64_t* value) noexcept nogil:
    # 1+ decimal digits with a value that fits 64 bits; returns the end, or NULL.
    cdef const uint8_t* start = p
    cdef uint64_t v = 0, d
    while p < e and p[0] >= 48 and p[0] <= 57:
        d = p[0] - 48
        if v > DEC64_GUARD or (v == DEC64_GUARD and d > ADDR_MAX % 10):
            return NULL
        v = v * 10 + d
        p += 1
    if p == start:
        return NULL
    value[0] = v
    return p


cdef inline bint word_is(const uint8_t* p, intp_t n, const char* word) noexcept nogil:
    # Case-insensitive comparison of p[0:n] with the NUL-terminated `word`.
    cdef intp_t i
    cdef uint8_t c
    for i in range(n):
        if word[i] == 0:
            return False
        c = p[i]
        if c >= 65 and c <= 90:
            c += 32
        if c != <uint8_t>word[i]:
            return False
    return word[n] == 0


cdef inline int kind_from_name(const uint8_t* p, intp_t n) noexcept nogil:
    if n == 1 and p[0] >= 48 and p[0] <= 52:
        return p[0] - 48
    if word_is(p, n, b"i") or word_is(p, n, b"ifetch") or word_is(p, n, b"instr"):
        return KIND_IFETCH
    if word_is(p, n, b"l") or word_is(p, n, b"load") or word_is(p, n, b"read"):
        return KIND_LOAD
    if word_is(p, n, b"s") or word_is(p, n, b"store") or word_is(p, n, b"write"):
        return KIND_STORE
    if word_is(p, n, b"m") or word_is(p, n, b"modify"):
        return KIND_MODIFY
    if word_is(p, n, b"f") or word_is(p, n, b"flush"):
        return KIND_FLUSH
    return -1


cdef intp_t n_pieces(addr_t addr, uint32_t size) noexcept nogil:
    cdef uint64_t last
    if size <= 255:
        return 1
    if addr > ADDR_MAX - (size - 1):
        return 0
    last = addr + (size - 1)
    return <intp_t>(last // SPLIT_BLOCK - addr // SPLIT_BLOCK + 1)


cdef intp_t emit(access_t* out, addr_t addr, uint32_t size, uint8_t kind,
                 uint16_t cpu, uint32_t pid) noexcept nogil:
    cdef intp_t k, i
    cdef uint64_t last, piece_last
    if size <= 255:
        out[0].addr = addr
        out[0].size = <uint8_t>size
        out[0].kind = kind
        out[0].cpu = cpu
        out[0].pid = pid
        return 1
    k = n_pieces(addr, size)
    last = addr + (size - 1)
    for i in range(k):
        piece_last = addr | (SPLIT_BLOCK - 1)
        if piece_last > last:
            piece_last = last
        out[i].addr = addr
        out[i].size = <uint8_t>(piece_last - addr + 1)
        out[i].kind = kind
        out[i].cpu = cpu
        out[i].pid = pid
        addr = piece_last + 1
    return k


# ---------------------------------------------------------------- line parsers
# Each returns 1 for a record (fields set), 0 for a line to skip, 2 for a din
# escape record, -1 for a bad line.  [p, e) is the line without CR LF.

cdef inline int lackey_line(const uint8_t* p, const uint8_t* e, access_t* rec,
                            uint32_t* size) noexcept nogil:
    cdef uint64_t v
    cdef uint8_t c
    if e - p >= 2 and p[0] == 61 and p[1] == 61:      # "==pid== banner"
        return 0
    p = skip_ws(p, e)
    if p == e:
        return 0
    c = LACKEY_KIND[p[0]]
    if c == 255:
        return -1
    rec.kind = c
    p += 1
    if p == e or not is_ws(p[0]):
        return -1
    p = skip_ws(p, e)
    p = parse_hex(p, e, &rec.addr)
    if p == NULL or p == e or p[0] != 44:             # ','
        return -1
    p = parse_dec(p + 1, e, MAX_RECORD_SIZE, &v)
    if p == NULL or v == 0:
        return -1
    if skip_ws(p, e) != e:
        return -1
    size[0] = <uint32_t>v
    return 1


cdef inline const uint8_t* lackey_fast(const uint8_t* p, const uint8_t* end, access_t* rec,
                                       uint32_t* size) noexcept nogil:
    # The common case only: [ws] KIND ws+ HEX "," DEC LF, with no CR, no
    # trailing blanks and no banner.  Returns the start of the next line, or
    # NULL to let lackey_line (the full grammar) decide.
    cdef uint8_t c
    cdef uint64_t a, v
    p = skip_ws(p, end)
    if p >= end:
        return NULL
    c = LACKEY_KIND[p[0]]
    if c == 255:
        return NULL
    p += 1
    if p >= end or not is_ws(p[0]):
        return NULL
    p = parse_hex(skip_ws(p, end), end, &a)
    if p == NULL or p >= end or p[0] != 44:
        return NULL
    p = parse_dec(p + 1, end, MAX_RECORD_SIZE, &v)
    if p == NULL or v == 0 or p >= end or p[0] != 10:
        return NULL
    rec.kind = c
    rec.addr = a
    size[0] = <uint32_t>v
    return p + 1


cdef inline const uint8_t* din_fast(const uint8_t* p, const uint8_t* end, access_t* rec,
                                    uint32_t* size) noexcept nogil:
    # The common case only: [ws] LABEL ws+ [0x]HEX [ws+ DEC] LF with a
    # one-digit label other than 3, no CR and no comment.  Returns the start
    # of the next line, or NULL to let din_line (the full grammar) decide.
    cdef uint64_t a, v = DIN_DEFAULT_SIZE
    cdef uint8_t label
    p = skip_ws(p, end)
    if end - p < 3 or p[0] < 48 or p[0] > 52 or p[0] == 51 or not is_ws(p[1]):
        return NULL
    label = p[0] - 48
    p = skip_ws(p + 2, end)
    if end - p >= 3 and p[0] == 48 and (p[1] == 120 or p[1] == 88):
        p += 2
    p = parse_hex(p, end, &a)
    if p == NULL or p >= end:
        return NULL
    if p[0] != 10:
        if not is_ws(p[0]):
            return NULL
        p = parse_dec(skip_ws(p, end), end, MAX_RECORD_SIZE, &v)
        if p == NULL or v == 0 or p >= end or p[0] != 10:
            return NULL
    rec.kind = DIN_KIND[label]
    rec.addr = a
    size[0] = <uint32_t>v
    return p + 1


cdef inline int din_line(const uint8_t* p, const uint8_t* e, access_t* rec,
                         uint32_t* size) noexcept nogil:
    cdef uint64_t label, v
    p = skip_ws(p, e)
    if p == e:
        return 0
    p = parse_dec(p, e, 4, &label)
    if p == NULL or p == e or not is_ws(p[0]):
        return -1
    p = skip_ws(p, e)
    if e - p >= 3 and p[0] == 48 and (p[1] == 120 or p[1] == 88):   # 0x / 0X
        p += 2
    p = parse_hex(p, e, &rec.addr)
    if p == NULL:
        return -1
    size[0] = DIN_DEFAULT_SIZE
    if p != e:
        if not is_ws(p[0]):
            return -1
        p = skip_ws(p, e)
        if p != e and p[0] >= 48 and p[0] <= 57:
            p = parse_dec(p, e, MAX_RECORD_SIZE, &v)
            if p == NULL or v == 0 or (p != e and not is_ws(p[0])):
                return -1
            size[0] = <uint32_t>v
        # anything after is a comment
    if label == 3:
        return 2
    rec.kind = DIN_KIND[label]
    return 1


cdef inline int csv_line(const uint8_t* p, const uint8_t* e, const uint8_t* columns,
                         intp_t ncols, access_t* rec, uint32_t* size) noexcept nogil:
    cdef intp_t col
    cdef uint64_t v = 0
    cdef const uint8_t* f
    cdef const uint8_t* fe
    cdef int k
    if skip_ws(p, e) == e:
        return 0
    rec.cpu = 0
    rec.pid = 0
    size[0] = 1
    for col in range(ncols):
        if col:
            if p == e or p[0] != 44:
                return -1
            p += 1
        p = skip_ws(p, e)
        f = p
        while p < e and p[0] != 44:
            p += 1
        fe = p                       # field is [f, fe) without leading ws
        while fe > f and is_ws((fe - 1)[0]):
            fe -= 1
        if columns[col] == COL_ADDR:
            if fe - f >= 3 and f[0] == 48 and (f[1] == 120 or f[1] == 88):
                f = parse_hex(f + 2, fe, &rec.addr)
            else:
                f = parse_dec64(f, fe, &rec.addr)
        elif columns[col] == COL_SIZE:
            f = parse_dec(f, fe, MAX_RECORD_SIZE, &v)
            if f != NULL and v == 0:
                return -1
            size[0] = <uint32_t>v
        elif columns[col] == COL_KIND:
            k = kind_from_name(f, fe - f)
            if k < 0:
                return -1
            rec.kind = <uint8_t>k
            f = fe
        elif columns[col] == COL_CPU:
            f = parse_dec(f, fe, 0xFFFF, &v)
            rec.cpu = <uint16_t>v
        elif columns[col] == COL_PID:
            f = parse_dec(f, fe, 0xFFFFFFFF, &v)
            rec.pid = <uint32_t>v
        else:
            f = fe
        if f != fe:                  # NULL (bad number) or trailing junk
            return -1
    if p != e:                       # more fields than columns
        return -1
    return 1


# ---------------------------------------------------------------- block driver

cdef void parse_block(trace_format_t fmt, const uint8_t* buf, intp_t n, bint final,
                      bint skip_bad, const uint8_t* columns, intp_t ncols,
                      access_t* out, intp_t cap, parse_result_t* res) noexcept nogil:
    cdef intp_t pos = 0, nxt, k
    cdef intp_t n_out = 0, lines = 0, n_bad = 0, n_escape = 0
    cdef const uint8_t* nl
    cdef const uint8_t* p
    cdef const uint8_t* e
    cdef access_t rec
    cdef uint32_t size = 0
    cdef int status
    rec.cpu = 0
    rec.pid = 0
    res.bad_start = -1
    res.bad_end = -1
    while pos < n:
        p = buf + pos
        if fmt != FMT_CSV:
            if fmt == FMT_LACKEY:
                nl = lackey_fast(p, buf + n, &rec, &size)
            else:
                nl = din_fast(p, buf + n, &rec, &size)
            if nl != NULL:
                k = n_pieces(rec.addr, size)
                if k == 1 and n_out < cap:
                    emit(out + n_out, rec.addr, size, rec.kind, rec.cpu, rec.pid)
                    n_out += 1
                    lines += 1
                    pos = nl - buf
                    continue
        nl = <const uint8_t*>memchr(p, 10, n - pos)
        if nl == NULL:
            if not final:
                break
            e = buf + n
            nxt = n
        else:
            e = nl
            nxt = (nl - buf) + 1
        if e > p and (e - 1)[0] == 13:
            e -= 1
        if fmt == FMT_LACKEY:
            status = lackey_line(p, e, &rec, &size)
        elif fmt == FMT_DIN:
            status = din_line(p, e, &rec, &size)
        else:
            status = csv_line(p, e, columns, ncols, &rec, &size)
        if status == 1:
            k = n_pieces(rec.addr, size)
            if k == 0:
                status = -1
            elif n_out + k > cap:
                break
            else:
                n_out += emit(out + n_out, rec.addr, size, rec.kind, rec.cpu, rec.pid)
        if status == -1:
            if not skip_bad:
                res.bad_start = pos
                res.bad_end = e - buf
                break
            n_bad += 1
        elif status == 2:
            n_escape += 1
        lines += 1
        pos = nxt
    res.consumed = pos
    res.n_out = n_out
    res.lines = lines
    res.n_bad = n_bad
    res.n_escape = n_escape


def parse(int fmt, const uint8_t[::1] buf, access_t[::1] out, bint final=False,
          bint skip_bad=False, const uint8_t[::1] columns=None):
    """Parse whole lines of trace text into access records.

    Parameters
    ----------
    fmt : int
        :data:`LACKEY`, :data:`DIN` or :data:`CSV`.
    buf : bytes-like
        The text block.
    out : numpy.ndarray
        C-contiguous ``ACCESS_DTYPE`` array receiving the records.
    final : bool
        The block ends the input: parse a last line that has no newline.
    skip_bad : bool
        Count and skip bad lines instead of stopping at the first.
    columns : numpy.ndarray of uint8, optional
        For CSV: the meaning of each column (values of :data:`CSV_COLUMNS`
        or :data:`CSV_IGNORE`).

    Returns
    -------
    tuple of int
        ``(consumed, n_out, lines, bad_start, bad_end, n_bad, n_escape)``:
        bytes consumed (whole lines), records written to ``out[:n_out]``,
        lines consumed, the start and text end of the bad line it stopped
        at (or -1), bad lines skipped and din escape records skipped.
    """
    cdef parse_result_t res
    cdef intp_t ncols = 0
    cdef const uint8_t* cols = NULL
    cdef const uint8_t* data = NULL
    cdef access_t* dst = NULL
    cdef intp_t n = buf.shape[0], cap = out.shape[0]
    cdef intp_t i
    if fmt != FMT_LACKEY and fmt != FMT_DIN and fmt != FMT_CSV:
        raise ValueError(f"fmt: unknown text format code {fmt}")
    if fmt == FMT_CSV:
        if columns is None or columns.shape[0] == 0 or columns.shape[0] > MAX_CSV_COLUMNS:
            raise ValueError(f"columns: CSV needs 1..{MAX_CSV_COLUMNS} column codes")
        for i in range(columns.shape[0]):
            if columns[i] > COL_IGNORE:
                raise ValueError(f"columns: unknown column code {columns[i]}")
        ncols = columns.shape[0]
        cols = &columns[0]
    if n:
        data = &buf[0]
    if cap:
        dst = &out[0]
    with nogil:
        parse_block(<trace_format_t>fmt, data, n, final, skip_bad, cols, ncols, dst, cap, &res)
    return (res.consumed, res.n_out, res.lines, res.bad_start, res.bad_end,
            res.n_bad, res.n_escape)


# ---------------------------------------------------------------- din writer

cdef inline intp_t put_hex(uint8_t* out, uint64_t v) noexcept nogil:
    cdef uint8_t tmp[16]
    cdef intp_t n = 0, i
    while True:
        tmp[n] = HEX_CHARS[v & 15]
        n += 1
        v >>= 4
        if v == 0:
            break
    for i in range(n):
        out[i] = tmp[n - 1 - i]
    return n


cdef inline intp_t put_dec(uint8_t* out, uint64_t v) noexcept nogil:
    cdef uint8_t tmp[20]
    cdef intp_t n = 0, i
    while True:
        tmp[n] = 48 + <uint8_t>(v % 10)
        n += 1
        v //= 10
        if v == 0:
            break
    for i in range(n):
        out[i] = tmp[n - 1 - i]
    return n


cdef inline intp_t din_record(uint8_t* out, uint8_t label, uint64_t addr, uint8_t size) noexcept nogil:
    cdef intp_t w = 0
    out[0] = 48 + label
    out[1] = 32
    w = 2 + put_hex(out + 2, addr)
    out[w] = 32
    w += 1
    w += put_dec(out + w, size if size else 1)
    out[w] = 10
    return w + 1


cdef intp_t din_format(const access_t* recs, intp_t n, uint8_t* out, intp_t cap,
                       intp_t* n_done) noexcept nogil:
    cdef intp_t i = 0, w = 0
    cdef uint8_t kind
    while i < n and cap - w >= DIN_MAX_RECORD_TEXT:
        kind = recs[i].kind
        if kind == KIND_MODIFY:
            w += din_record(out + w, 0, recs[i].addr, recs[i].size)
            w += din_record(out + w, 1, recs[i].addr, recs[i].size)
        elif kind <= KIND_FLUSH:
            w += din_record(out + w, DIN_LABEL[kind], recs[i].addr, recs[i].size)
        else:
            w += din_record(out + w, 3, recs[i].addr, recs[i].size)
        i += 1
    n_done[0] = i
    return w


def format_din(const access_t[::1] recs, uint8_t[::1] out):
    """Format access records as din text.

    A modify becomes a read line then a write line; a kind outside 0..4
    becomes an escape line (label 3).  Each line is
    ``LABEL HEXADDR DECSIZE``.

    Parameters
    ----------
    recs : numpy.ndarray
        C-contiguous ``ACCESS_DTYPE`` records.
    out : numpy.ndarray of uint8
        Output buffer; must hold at least ``DIN_MAX_TEXT`` bytes.

    Returns
    -------
    tuple of int
        ``(n_done, n_bytes)``: records formatted and bytes written.
    """
    cdef intp_t n_done = 0, w
    if out.shape[0] < DIN_MAX_RECORD_TEXT:
        raise ValueError(f"out: needs at least {DIN_MAX_RECORD_TEXT} bytes")
    if recs.shape[0] == 0:
        return 0, 0
    with nogil:
        w = din_format(&recs[0], recs.shape[0], &out[0], out.shape[0], &n_done)
    return n_done, w


#: Bytes :func:`format_din` may need for one record.
DIN_MAX_TEXT = DIN_MAX_RECORD_TEXT
