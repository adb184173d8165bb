"""x86 segmentation: real mode with the A20 gate, protected-mode descriptors
and selectors with their checks, long mode's flat segments with FS/GS bases.

Segmentation turns a (segment register, offset) pair into a linear address,
which paging then translates.  It is consulted when a segment register is
loaded and when the boot model computes addresses, never per traced access
(in long mode every segment but FS/GS is flat), so it lives in the Python API
rather than in the compiled engine.

Faults raise :class:`SegmentFault` carrying the vector (``"#GP"``, ``"#SS"``,
``"#NP"``) and the error code: for a bad selector the selector with its two
low bits cleared (the hardware puts the EXT and IDT flags there), otherwise 0.
"""
from dataclasses import dataclass, replace

#: Segment register names.
SEGMENT_REGISTERS = ("es", "cs", "ss", "ds", "fs", "gs")
#: Processor modes.
MODES = ("real", "protected", "long")

# descriptor type bits (S = 1)
TYPE_ACCESSED = 0x1
TYPE_WRITABLE = 0x2      # data
TYPE_READABLE = 0x2      # code
TYPE_EXPAND_DOWN = 0x4   # data
TYPE_CONFORMING = 0x4    # code
TYPE_CODE = 0x8


class SegmentFault(Exception):
    """A fault raised by a segment load or a segment-relative access.

    Parameters
    ----------
    vector : {"#GP", "#SS", "#NP"}
        The exception.
    error_code : int
        Selector-format error code (selector & 0xFFFC) or 0.
    reason : str
        What was violated.
    """

    def __init__(self, vector, error_code, reason):
        super().__init__(f"{vector}({error_code:#x}): {reason}")
        self.vector = vector
        self.error_code = error_code
        self.reason = reason


@dataclass(frozen=True)
class Selector:
    """A segment selector: descriptor index, table indicator, requested
    privilege level.

    Attributes
    ----------
    index : int
        Descriptor index, 0..8191.
    ti : int
        Table indicator: 0 GDT, 1 LDT.
    rpl : int
        Requested privilege level, 0..3.
    """

    index: int
    ti: int = 0
    rpl: int = 0

    def __post_init__(self):
        if not 0 <= self.index < 8192 or self.ti not in (0, 1) or not 0 <= self.rpl <= 3:
            raise ValueError(f"selector: index 0..8191, ti 0/1, rpl 0..3; got {self}")

    @classmethod
    def from_value(cls, value):
        """Decode a 16-bit selector value."""
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"selector: expected a 16-bit value, got {value!r}")
        return cls(value >> 3, (value >> 2) & 1, value & 3)

    @property
    def value(self):
        """int: The 16-bit encoding."""
        return (self.index << 3) | (self.ti << 2) | self.rpl

    @property
    def is_null(self):
        """bool: Index 0 in the GDT (the null selector, any RPL)."""
        return self.index == 0 and self.ti == 0


@dataclass(frozen=True)
class Descriptor:
    """A segment descriptor, as stored in the GDT or LDT (8 bytes).

    Attributes
    ----------
    base : int
        32-bit base address (bits 16..39 and 56..63 of the descriptor).
    limit : int
        20-bit raw limit (bits 0..15 and 48..51); see :attr:`effective_limit`.
    type : int
        4-bit type (bits 40..43): for code/data, ``TYPE_CODE`` plus
        conforming/readable or expand-down/writable, plus accessed.
    s : int
        1 for code/data, 0 for system descriptors (bit 44).
    dpl : int
        Descriptor privilege level (bits 45..46).
    p : int
        Present (bit 47).
    avl : int
        Available to software (bit 52).
    l : int
        64-bit code segment (bit 53).
    db : int
        Default operation size / big (bit 54): 1 = 32-bit; for expand-down
        data it makes the upper bound 4 GiB - 1 instead of 64 KiB - 1.
    g : int
        Granularity (bit 55): the limit counts 4 KiB units.
    """

    base: int = 0
    limit: int = 0
    type: int = 0
    s: int = 1
    dpl: int = 0
    p: int = 1
    avl: int = 0
    l: int = 0  # noqa: E741 (the SDM's name)
    db: int = 0
    g: int = 0

    def __post_init__(self):
        fields = dict(base=(self.base, 32), limit=(self.limit, 20), type=(self.type, 4),
                      s=(self.s, 1), dpl=(self.dpl, 2), p=(self.p, 1), avl=(self.avl, 1),
                      l=(self.l, 1), db=(self.db, 1), g=(self.g, 1))
        for name, (value, bits) in fields.items():
            if not isinstance(value, int) or not 0 <= value < (1 << bits):
                raise ValueError(f"descriptor: {name} must fit {bits} bits, got {value!r}")

    @classmethod
    def from_bytes(cls, raw):
        """Decode 8 descriptor bytes (little-endian, as in memory)."""
        if len(raw) != 8:
            raise ValueError(f"descriptor: expected 8 bytes, got {len(raw)}")
        v = int.from_bytes(bytes(raw), "little")
        return cls(
            base=((v >> 16) & 0xFFFFFF) | (((v >> 56) & 0xFF) << 24),
            limit=(v & 0xFFFF) | (((v >> 48) & 0xF) << 16),
            type=(v >> 40) & 0xF, s=(v >> 44) & 1, dpl=(v >> 45) & 3, p=(v >> 47) & 1,
            avl=(v >> 52) & 1, l=(v >> 53) & 1, db=(v >> 54) & 1, g=(v >> 55) & 1)

    def to_bytes(self):
        """Encode as the 8 bytes stored in a descriptor table."""
        v = (self.limit & 0xFFFF) | ((self.base & 0xFFFFFF) << 16) | (self.type << 40) \
            | (self.s << 44) | (self.dpl << 45) | (self.p << 47) \
            | ((self.limit >> 16) << 48) | (self.avl << 52) | (self.l << 53) \
            | (self.db << 54) | (self.g << 55) | ((self.base >> 24) << 56)
        return v.to_bytes(8, "little")

    @classmethod
    def flat_code(cls, dpl=0, long=False):
        """A 4 GiB execute/read code segment (64-bit if `long`)."""
        return cls(0, 0xFFFFF, TYPE_CODE | TYPE_READABLE, dpl=dpl, l=int(long),
                   db=int(not long), g=1)

    @classmethod
    def flat_data(cls, dpl=0):
        """A 4 GiB read/write data segment."""
        return cls(0, 0xFFFFF, TYPE_WRITABLE, dpl=dpl, db=1, g=1)

    @property
    def is_code(self):
        """bool: A code segment."""
        return bool(self.s and self.type & TYPE_CODE)

    @property
    def is_data(self):
        """bool: A data (or stack) segment."""
        return bool(self.s and not self.type & TYPE_CODE)

    @property
    def writable(self):
        """bool: Data segment that may be written."""
        return self.is_data and bool(self.type & TYPE_WRITABLE)

    @property
    def readable(self):
        """bool: Data segment, or code segment that may be read."""
        return self.is_data or (self.is_code and bool(self.type & TYPE_READABLE))

    @property
    def conforming(self):
        """bool: Conforming code segment."""
        return self.is_code and bool(self.type & TYPE_CONFORMING)

    @property
    def expand_down(self):
        """bool: Expand-down data segment (valid offsets lie above the limit)."""
        return self.is_data and bool(self.type & TYPE_EXPAND_DOWN)

    @property
    def effective_limit(self):
        """int: The limit in bytes: ``limit`` or, with G, ``limit << 12 | 0xFFF``."""
        return (self.limit << 12) | 0xFFF if self.g else self.limit

    def offset_ok(self, offset, size=1):
        """Whether bytes ``offset .. offset+size-1`` are inside the segment.

        Expand-up: the last byte is at most the effective limit.
        Expand-down: the first byte is above the limit and the last at most
        0xFFFFFFFF (D/B = 1) or 0xFFFF (D/B = 0).
        """
        last = offset + size - 1
        if self.expand_down:
            upper = 0xFFFFFFFF if self.db else 0xFFFF
            return offset > self.effective_limit and last <= upper
        return 0 <= offset and last <= self.effective_limit


@dataclass
class SegmentRegister:
    """A segment register: the visible selector and its hidden descriptor
    cache (base, limit, attributes), which only a load changes."""

    selector: int
    descriptor: Descriptor
    null: bool = False

    @property
    def base(self):
        """int: Base address from the descriptor cache."""
        return self.descriptor.base


def real_mode_linear(segment, offset, a20=True):
    """Real-mode address: ``(segment << 4) + offset``, bit 20 masked when the
    A20 gate is disabled.

    Parameters
    ----------
    segment, offset : int
        16-bit segment and offset.
    a20 : bool, optional
        A20 gate enabled (default True).

    Returns
    -------
    int
        The linear (= physical) address, up to 0x10FFEF.

    Examples
    --------
    >>> hex(real_mode_linear(0xFFFF, 0x10))
    '0x100000'
    >>> hex(real_mode_linear(0xFFFF, 0x10, a20=False))
    '0x0'
    """
    if not 0 <= segment <= 0xFFFF or not 0 <= offset <= 0xFFFF:
        raise ValueError(f"real mode: segment and offset are 16-bit, got {segment:#x}:{offset:#x}")
    linear = (segment << 4) + offset
    return linear if a20 else linear & ~(1 << 20)


class Segmentation:
    """The segment unit of one CPU.

    Parameters
    ----------
    mode : {"real", "protected", "long"}, optional
        Processor mode (default "real", the state after reset).
    gdt, ldt : bytes or list of Descriptor, optional
        Descriptor tables (entry 0 of the GDT is the null descriptor).  Bytes
        are the table as in memory; its length is the table limit + 1.
    cpl : int, optional
        Current privilege level (default 0).
    a20 : bool, optional
        A20 gate enabled (default True).  When False, bit 20 of every linear
        address is forced to 0, in every mode.

    Attributes
    ----------
    regs : dict
        ``{name: SegmentRegister}`` for es, cs, ss, ds, fs, gs.
    fs_base, gs_base : int
        In long mode, the FS and GS bases (the IA32_FS_BASE / IA32_GS_BASE
        MSRs, which loading FS or GS also sets).

    Notes
    -----
    After :meth:`reset`, CS holds selector 0xF000 with base 0xFFFF0000, so
    the first fetch at IP 0xFFF0 is at the reset vector 0xFFFFFFF0.  As on
    hardware, a real-mode load changes only the selector and base; the
    limit left by protected mode stays ("unreal mode").  CS is loaded by
    :meth:`far_jump`; a ``MOV`` to CS does not exist.
    """

    def __init__(self, mode="real", gdt=None, ldt=None, cpl=0, a20=True):
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        if cpl not in (0, 1, 2, 3):
            raise ValueError(f"cpl: expected 0..3, got {cpl!r}")
        self.gdt = self._table_bytes(gdt, "gdt")
        self.ldt = self._table_bytes(ldt, "ldt")
        self.a20 = bool(a20)
        self.reset()
        self.mode = mode
        self.cpl = cpl

    @staticmethod
    def _table_bytes(table, name):
        if table is None:
            return bytes(8)
        if isinstance(table, (bytes, bytearray)):
            if len(table) % 8:
                raise ValueError(f"{name}: length {len(table)} is not a multiple of 8")
            return bytes(table)
        return b"".join(d.to_bytes() for d in table)

    def reset(self):
        """Processor reset: real mode, CPL 0, segments 64 KiB at base 0,
        CS = 0xF000 with base 0xFFFF0000."""
        self.mode = "real"
        self.cpl = 0
        data = Descriptor(0, 0xFFFF, TYPE_WRITABLE | TYPE_ACCESSED)
        self.regs = {name: SegmentRegister(0, data) for name in SEGMENT_REGISTERS}
        code = Descriptor(0xFFFF0000, 0xFFFF, TYPE_CODE | TYPE_READABLE | TYPE_ACCESSED)
        self.regs["cs"] = SegmentRegister(0xF000, code)
        self.fs_base = self.gs_base = 0

    def descriptor(self, selector):
        """Read the descriptor a selector names.

        Raises
        ------
        SegmentFault
            ``#GP(selector)`` if the index is beyond the table's limit.
        """
        sel = Selector.from_value(selector)
        table = self.ldt if sel.ti else self.gdt
        if sel.index * 8 + 7 >= len(table):
            raise SegmentFault("#GP", selector & 0xFFFC,
                               f"index {sel.index} beyond the {'LDT' if sel.ti else 'GDT'} limit")
        return Descriptor.from_bytes(table[sel.index * 8: sel.index * 8 + 8])

    def load(self, reg, selector):
        """Load a data segment register (``MOV Sreg`` / ``POP Sreg``).

        Parameters
        ----------
        reg : {"es", "ss", "ds", "fs", "gs"}
            The register.
        selector : int
            The 16-bit selector (real mode: the paragraph number).

        Raises
        ------
        SegmentFault
            In protected and long mode: ``#GP(sel)`` for an index beyond the
            table, a system descriptor, an execute-only code segment, a
            privilege violation (data and non-conforming code need
            ``DPL >= max(CPL, RPL)``; SS needs ``RPL == DPL == CPL`` and a
            writable data segment), ``#GP(0)`` for a null SS; ``#NP(sel)``
            (``#SS(sel)`` for SS) if the segment is not present.
        """
        if reg not in SEGMENT_REGISTERS or reg == "cs":
            raise ValueError(f"reg: expected one of es, ss, ds, fs, gs, got {reg!r}")
        if not 0 <= selector <= 0xFFFF:
            raise ValueError(f"selector: expected a 16-bit value, got {selector!r}")
        cur = self.regs[reg]
        if self.mode == "real":
            self.regs[reg] = SegmentRegister(selector, replace(cur.descriptor, base=selector << 4))
            return
        sel = Selector.from_value(selector)
        code = selector & 0xFFFC
        if sel.is_null:
            if reg == "ss" and not (self.mode == "long" and self.cpl < 3):
                raise SegmentFault("#GP", 0, "null selector loaded into SS")
            # (in long mode the FS/GS base MSRs keep their values)
            self.regs[reg] = SegmentRegister(selector, cur.descriptor, null=True)
            return
        d = self.descriptor(selector)
        if not d.s:
            raise SegmentFault("#GP", code, "system descriptor in a segment register")
        if reg == "ss":
            if sel.rpl != self.cpl or d.dpl != self.cpl:
                raise SegmentFault("#GP", code, f"SS needs RPL = DPL = CPL ({sel.rpl}, {d.dpl},"
                                                f" {self.cpl})")
            if not d.writable:
                raise SegmentFault("#GP", code, "SS needs a writable data segment")
            if not d.p:
                raise SegmentFault("#SS", code, "stack segment not present")
        else:
            if not d.readable:
                raise SegmentFault("#GP", code, "execute-only code segment")
            if (d.is_data or not d.conforming) and d.dpl < max(self.cpl, sel.rpl):
                raise SegmentFault("#GP", code, f"DPL {d.dpl} < max(CPL {self.cpl},"
                                                f" RPL {sel.rpl})")
            if not d.p:
                raise SegmentFault("#NP", code, "segment not present")
        self.regs[reg] = SegmentRegister(selector, d)
        if self.mode == "long" and reg == "fs":
            self.fs_base = d.base
        elif self.mode == "long" and reg == "gs":
            self.gs_base = d.base

    def far_jump(self, selector):
        """Load CS as a far JMP to a code segment does (CPL is unchanged).

        Raises
        ------
        SegmentFault
            ``#GP(sel)`` if the descriptor is not code, or fails the privilege
            rule (non-conforming: ``DPL == CPL`` and ``RPL <= CPL``;
            conforming: ``DPL <= CPL``); ``#GP(0)`` for a null selector;
            ``#NP(sel)`` if not present.
        """
        if not 0 <= selector <= 0xFFFF:
            raise ValueError(f"selector: expected a 16-bit value, got {selector!r}")
        if self.mode == "real":
            cur = self.regs["cs"].descriptor
            self.regs["cs"] = SegmentRegister(selector, replace(cur, base=selector << 4))
            return
        sel = Selector.from_value(selector)
        code = selector & 0xFFFC
        if sel.is_null:
            raise SegmentFault("#GP", 0, "null selector loaded into CS")
        d = self.descriptor(selector)
        if not d.is_code:
            raise SegmentFault("#GP", code, "CS needs a code segment")
        if d.conforming:
            if d.dpl > self.cpl:
                raise SegmentFault("#GP", code, f"conforming DPL {d.dpl} > CPL {self.cpl}")
        elif d.dpl != self.cpl or sel.rpl > self.cpl:
            raise SegmentFault("#GP", code, f"non-conforming code needs DPL = CPL and RPL <= CPL"
                                            f" (DPL {d.dpl}, RPL {sel.rpl}, CPL {self.cpl})")
        if not d.p:
            raise SegmentFault("#NP", code, "code segment not present")
        self.regs["cs"] = SegmentRegister((selector & ~3) | self.cpl, d)

    def linear(self, reg, offset, size=1, access="read"):
        """Translate ``reg:offset`` to a linear address, with the checks.

        Parameters
        ----------
        reg : str
            Segment register name.
        offset : int
            Offset (effective address).
        size : int, optional
            Bytes accessed (default 1); every byte must be inside the segment.
        access : {"read", "write", "exec"}, optional
            Kind of access.

        Returns
        -------
        int
            The linear address (bit 20 masked when A20 is disabled).

        Raises
        ------
        SegmentFault
            ``#GP(0)`` (``#SS(0)`` through SS) for an offset outside the
            limit, a null segment, a write to a read-only segment, a read of
            an execute-only segment; in long mode for a non-canonical address.
        """
        if reg not in SEGMENT_REGISTERS:
            raise ValueError(f"reg: expected one of {SEGMENT_REGISTERS}, got {reg!r}")
        if access not in ("read", "write", "exec"):
            raise ValueError(f"access: expected read, write or exec, got {access!r}")
        r = self.regs[reg]
        vector = "#SS" if reg == "ss" else "#GP"
        if self.mode == "long":
            base = {"fs": self.fs_base, "gs": self.gs_base}.get(reg, 0)
            linear = (base + offset) % (1 << 64)
            top = linear >> 47
            if top not in (0, (1 << 17) - 1):
                raise SegmentFault(vector, 0, f"non-canonical address {linear:#x}")
            return linear
        d = r.descriptor
        if self.mode == "protected":
            if r.null:
                raise SegmentFault("#GP", 0, f"access through a null {reg.upper()}")
            if access == "write" and not d.writable:
                raise SegmentFault(vector, 0, f"write to a read-only {reg.upper()} segment")
            if access == "read" and not d.readable:
                raise SegmentFault(vector, 0, f"read of an execute-only {reg.upper()} segment")
        if not d.offset_ok(offset, size):
            raise SegmentFault(vector, 0, f"offset {offset:#x}+{size} outside the"
                                          f" {reg.upper()} limit {d.effective_limit:#x}")
        linear = (d.base + offset) % (1 << 32)
        return linear if self.a20 else linear & ~(1 << 20)
