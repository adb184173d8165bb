"""A plain, slow, obviously-correct reader of valgrind lackey traces.

The oracle for the compiled reader in :mod:`memcore.traceparse` /
:mod:`pyapi.trace`, and a way for any test to read a lackey trace.  Lackey
(``valgrind --tool=lackey --trace-mem=yes``) writes one record a line::

    I  04222cac,3
     L 7ff000ba0,8
     S 7ff000b98,8
     M 0421f6f0,4

and banner lines ``==pid== ...`` that are not records.  The grammar accepted
(after the line rules of :mod:`reference.records`): a line starting with
``==`` is skipped, a blank line is skipped, otherwise the line must match
``[ws] KIND ws+ HEX "," DEC [ws]`` (ws = space or tab; KIND one of I L S M;
HEX hex digits without prefix, value < 2**64; DEC decimal 1..4096).
"""
import re

from . import records as R

KINDS = {"I": 0, "L": 1, "S": 2, "M": 3}

_RECORD = re.compile(r"[ \t]*([ILSM])[ \t]+([0-9a-fA-F]+),([0-9]+)[ \t]*")


def parse_record(line):
    """Parse one line (bytes or str) into a list of records (split if > 255 bytes)."""
    if isinstance(line, bytes):
        line = line.decode("latin1")
    if line.startswith("==") or line.strip(" \t") == "":
        return []
    m = _RECORD.fullmatch(line)
    if not m:
        raise ValueError(line)
    addr, size = int(m.group(2), 16), int(m.group(3), 10)
    if addr >= R.ADDR_LIMIT or not 1 <= size <= R.MAX_SIZE:
        raise ValueError(line)
    return R.split_record(addr, size, KINDS[m.group(1)])


def parse_bytes(data, skip_bad=False):
    """Parse lackey text; returns ``(records, n_bad)``."""
    recs, n_bad, _ = R.parse_data(data, parse_record, skip_bad)
    return recs, n_bad


def parse_lines(lines):
    """Parse lackey text lines into a list of ``(addr, size, kind)``.

    Raises ``ValueError`` naming the 1-based line number on a bad record.
    """
    out = []
    for lineno, line in enumerate(lines, 1):
        try:
            out.extend(parse_record(line.rstrip("\n").removesuffix("\r")))
        except ValueError:
            raise ValueError(f"line {lineno}: {line!r}") from None
    return out


def read(path):
    """Read a whole (uncompressed) lackey file into an ACCESS_DTYPE array."""
    with open(path, "rb") as f:
        recs, _ = parse_bytes(f.read())
    return R.to_array(recs)
