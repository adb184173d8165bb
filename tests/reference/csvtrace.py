"""A plain, obviously-correct reader of memcore's CSV traces (the oracle for
the compiled CSV parser).

The first non-blank line is the header: comma-separated column names (any
case, surrounding whitespace ignored), distinct, including ``addr`` and
``kind``; ``size``, ``cpu`` and ``pid`` are optional; other names are
ignored columns.  Each later non-blank line has exactly as many
comma-separated fields, each stripped of spaces/tabs: ``addr`` decimal or
``0x`` hex (< 2**64), ``size`` decimal 1..4096 (default 1), ``kind`` a digit
0..4 or a name below, ``cpu`` decimal 0..65535, ``pid`` decimal 0..2**32-1.
"""
from . import records as R

KIND_NAMES = {
    "i": 0, "ifetch": 0, "instr": 0, "l": 1, "load": 1, "read": 1,
    "s": 2, "store": 2, "write": 2, "m": 3, "modify": 3, "f": 4, "flush": 4,
    "0": 0, "1": 1, "2": 2, "3": 3, "4": 4,
}
_HEX = set("0123456789abcdefABCDEF")
_DEC = set("0123456789")


def _number(text, limit, allow_hex=False):
    if allow_hex and text[:2] in ("0x", "0X"):
        digits, base = text[2:], 16
        ok = digits and set(digits) <= _HEX
    else:
        digits, base = text, 10
        ok = digits and set(digits) <= _DEC
    if not ok:
        raise ValueError(text)
    value = int(digits, base)
    if value > limit:
        raise ValueError(text)
    return value


def parse_bytes(data, skip_bad=False):
    """Parse CSV trace text; returns ``(records, n_bad)``.

    A bad header raises ``ValueError(lineno, line)`` even with `skip_bad`.
    """
    lines = R.text_lines(data)
    i = 0
    while i < len(lines) and R.is_blank(lines[i]):
        i += 1
    if i == len(lines):
        return [], 0
    names = [n.strip().lower() for n in lines[i].decode("latin1").split(",")]
    if not {"addr", "kind"} <= set(names) or len(set(names)) != len(names):
        raise ValueError(i + 1, lines[i])

    def parse_line(line):
        if R.is_blank(line):
            return []
        fields = [f.strip(" \t") for f in line.decode("latin1").split(",")]
        if len(fields) != len(names):
            raise ValueError(line)
        rec = {"size": 1, "cpu": 0, "pid": 0}
        for name, text in zip(names, fields):
            if name == "addr":
                rec["addr"] = _number(text, R.ADDR_LIMIT - 1, allow_hex=True)
            elif name == "size":
                rec["size"] = _number(text, R.MAX_SIZE)
                if rec["size"] == 0:
                    raise ValueError(text)
            elif name == "kind":
                if text.lower() not in KIND_NAMES:
                    raise ValueError(text)
                rec["kind"] = KIND_NAMES[text.lower()]
            elif name == "cpu":
                rec["cpu"] = _number(text, 0xFFFF)
            elif name == "pid":
                rec["pid"] = _number(text, 0xFFFFFFFF)
        return R.split_record(rec["addr"], rec["size"], rec["kind"], rec["cpu"], rec["pid"])

    recs, n_bad, _ = R.parse_data(lines[i + 1:], parse_line, skip_bad, first_lineno=i + 2)
    return recs, n_bad
