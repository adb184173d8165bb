"""A plain, obviously-correct reader of Dinero "din" traces (the oracle for
the compiled din parser).

Grammar (after the line rules of :mod:`reference.records`): blank lines are
skipped; otherwise ``[ws] LABEL ws+ ADDR [ws+ REST]`` where LABEL is decimal
digits with value 0..4, ADDR is hex digits with an optional ``0x``/``0X``
(value < 2**64).  If REST starts with a digit, its first whitespace-separated
token is the size (decimal digits, 1..4096); the remainder is a comment.
Otherwise REST is all comment and the size is 4.  Label 0 is a load, 1 a
store, 2 an instruction fetch, 3 an escape (skipped, counted), 4 a flush.
"""
import re

from . import records as R

KIND_OF_LABEL = {0: 1, 1: 2, 2: 0, 4: 4}
DEFAULT_SIZE = 4

_HEAD = re.compile(r"[ \t]*([0-9]+)[ \t]+(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)(.*)")


def parse_record(line):
    """Parse one din line into a list of records, ``[]`` or ``"escape"``."""
    line = line.decode("latin1") if isinstance(line, bytes) else line
    if line.strip(" \t") == "":
        return []
    m = _HEAD.fullmatch(line)
    if not m:
        raise ValueError(line)
    label, addr, rest = int(m.group(1)), int(m.group(2), 16), m.group(3)
    if label > 4 or addr >= R.ADDR_LIMIT:
        raise ValueError(line)
    if rest and rest[0] not in " \t":
        raise ValueError(line)
    size = DEFAULT_SIZE
    rest = rest.lstrip(" \t")
    if rest[:1] and rest[0] in "0123456789":
        token = re.split(r"[ \t]", rest, maxsplit=1)[0]
        if not token or not set(token) <= set("0123456789"):
            raise ValueError(line)
        size = int(token)
        if not 1 <= size <= R.MAX_SIZE:
            raise ValueError(line)
    if label == 3:
        return "escape"
    return R.split_record(addr, size, KIND_OF_LABEL[label])


def parse_bytes(data, skip_bad=False):
    """Parse din text; returns ``(records, n_bad, n_escape)``."""
    return R.parse_data(data, parse_record, skip_bad)


def format_records(records):
    """din text for ``(addr, size, kind)`` records (a modify becomes read + write)."""
    label = {0: 2, 1: 0, 2: 1, 4: 4}
    out = []
    for addr, size, kind in records:
        for lab in ((0, 1) if kind == 3 else (label[kind],)):
            out.append(f"{lab} {addr:x} {max(size, 1)}\n")
    return "".join(out).encode()
