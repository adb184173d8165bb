"""Shared pieces of the reference trace readers: splitting text into lines,
splitting records larger than 255 bytes, and building ACCESS_DTYPE arrays.

The rules, restated plainly:

* Lines end at LF; one CR right before the LF (or at the very end of the
  data) is dropped.  Data that does not end with LF still has a last line.
* "Blank" means empty or only spaces and tabs.
* Sizes are 1..MAX_SIZE.  A record of more than 255 bytes becomes pieces cut
  at multiples of SPLIT: the first piece runs from the address to the next
  multiple of SPLIT, the others cover SPLIT bytes each, the last what is
  left.  One that would pass 2**64 - 1 is a bad record.
"""
import numpy as np

from memcore.access import ACCESS_DTYPE

MAX_SIZE = 4096
SPLIT = 128
ADDR_LIMIT = 2 ** 64


def text_lines(data):
    """Split bytes into lines (bytes, without their CR LF)."""
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]


def is_blank(line):
    return line.strip(b" \t") == b""


def pieces(addr, size):
    """The records an access becomes, as (addr, size) pairs, or None if bad."""
    if size <= 255:
        return [(addr, size)]
    if addr + size > ADDR_LIMIT:
        return None
    out = []
    end = addr + size
    while addr < end:
        block_end = (addr // SPLIT + 1) * SPLIT
        piece_end = min(block_end, end)
        out.append((addr, piece_end - addr))
        addr = piece_end
    return out


def to_array(records):
    """Records ``(addr, size, kind[, cpu, pid])`` (sizes <= 255) to an array."""
    arr = np.zeros(len(records), dtype=ACCESS_DTYPE)
    for i, rec in enumerate(records):
        arr[i]["addr"] = rec[0]
        arr[i]["size"] = rec[1]
        arr[i]["kind"] = rec[2]
        if len(rec) > 3:
            arr[i]["cpu"] = rec[3]
            arr[i]["pid"] = rec[4]
    return arr


def parse_data(data, parse_line, skip_bad=False, first_lineno=1):
    """Run a line parser over bytes (or a list of lines from :func:`text_lines`);
    the skeleton shared by every reference.

    `parse_line(line)` returns a list of records, or ``[]`` to skip the line,
    or ``"escape"`` for a din escape, or raises ``ValueError`` if bad.
    Returns ``(records, n_bad, n_escape)``; without `skip_bad` a bad line
    raises ``ValueError(lineno, text)``.
    """
    records, n_bad, n_escape = [], 0, 0
    lines = text_lines(data) if isinstance(data, bytes) else data
    for lineno, line in enumerate(lines, first_lineno):
        try:
            got = parse_line(line)
        except ValueError:
            if not skip_bad:
                raise ValueError(lineno, line) from None
            n_bad += 1
            continue
        if got == "escape":
            n_escape += 1
        else:
            records.extend(got)
    return records, n_bad, n_escape


def split_record(addr, size, kind, *extra):
    """Split one parsed record into pieces (raises ValueError if it wraps)."""
    parts = pieces(addr, size)
    if parts is None:
        raise ValueError("access runs past the top of the address space")
    return [(a, s, kind) + tuple(extra) for a, s in parts]
