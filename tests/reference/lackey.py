"""A plain, slow, obviously-correct reader of valgrind lackey traces.

The oracle for the fast reader in :mod:`pyapi.trace`, and a way for any test
to read a lackey trace.  Lackey (``valgrind --tool=lackey --trace-mem=yes``)
writes one record a line::

    I  04222cac,3
     L 7ff000ba0,8
     S 7ff000b98,8
     M 0421f6f0,4

and banner lines ``==pid== ...`` that are not records.
"""
import numpy as np

from memcore.access import ACCESS_DTYPE

KINDS = {"I": 0, "L": 1, "S": 2, "M": 3}


def parse_lines(lines):
    """Parse lackey text lines into a list of ``(addr, size, kind)``.

    Raises ``ValueError`` naming the 1-based line number on a bad record.
    """
    out = []
    for lineno, line in enumerate(lines, 1):
        text = line.rstrip("\r\n")
        if not text.strip() or text.startswith("=="):
            continue
        parts = text.split()
        if len(parts) != 2 or parts[0] not in KINDS or "," not in parts[1]:
            raise ValueError(f"line {lineno}: {text!r}")
        addr_s, size_s = parts[1].split(",", 1)
        try:
            addr, size = int(addr_s, 16), int(size_s, 10)
        except ValueError:
            raise ValueError(f"line {lineno}: {text!r}") from None
        out.append((addr, size, KINDS[parts[0]]))
    return out


def read(path):
    """Read a whole (uncompressed) lackey file into an ACCESS_DTYPE array."""
    with open(path) as f:
        recs = parse_lines(f)
    arr = np.zeros(len(recs), dtype=ACCESS_DTYPE)
    if recs:
        a, s, k = zip(*recs)
        arr["addr"] = a
        arr["size"] = np.minimum(np.asarray(s), 255)
        arr["kind"] = k
    return arr
