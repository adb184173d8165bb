"""pyapi.segment: real mode and A20, descriptor encoding, selector and
privilege checks, limits (expand-up and expand-down), long mode."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyapi.segment import (
    TYPE_ACCESSED, TYPE_CODE, TYPE_CONFORMING, TYPE_EXPAND_DOWN, TYPE_WRITABLE, Descriptor,
    SegmentFault, Segmentation, Selector, real_mode_linear,
)


def test_real_mode_and_a20():
    assert real_mode_linear(0x1234, 0x5678) == 0x12340 + 0x5678 == 0x179B8
    assert real_mode_linear(0xFFFF, 0x10) == 0x100000
    assert real_mode_linear(0xFFFF, 0x10, a20=False) == 0x0
    assert real_mode_linear(0xFFFF, 0xFFFF) == 0x10FFEF
    assert real_mode_linear(0xFFFF, 0xFFFF, a20=False) == 0x0FFEF
    assert real_mode_linear(0xB800, 0x0) == 0xB8000
    with pytest.raises(ValueError):
        real_mode_linear(0x10000, 0)


def test_reset_state_and_real_mode_unit():
    seg = Segmentation()
    assert seg.mode == "real" and seg.regs["cs"].selector == 0xF000
    assert seg.linear("cs", 0xFFF0, access="exec") == 0xFFFFFFF0      # reset vector
    seg.load("ds", 0xFFFF)
    assert seg.linear("ds", 0x10) == 0x100000
    seg.a20 = False
    assert seg.linear("ds", 0x10) == 0x0
    with pytest.raises(SegmentFault) as e:
        seg.linear("ds", 0xFFFF, size=2)                               # crosses the 64 KiB limit
    assert e.value.vector == "#GP" and e.value.error_code == 0
    with pytest.raises(SegmentFault) as e:
        seg.linear("ss", 0x10000)
    assert e.value.vector == "#SS"
    seg.far_jump(0x07C0)
    assert seg.linear("cs", 0x0, access="exec") == 0x7C00


def test_descriptor_encoding_hand_worked():
    # the classic flat 4 GiB ring-0 code descriptor 0x00CF9A000000FFFF
    raw = (0x00CF9A000000FFFF).to_bytes(8, "little")
    d = Descriptor.from_bytes(raw)
    assert (d.base, d.limit, d.type, d.s, d.dpl, d.p, d.db, d.g, d.l) == \
        (0, 0xFFFFF, 0xA, 1, 0, 1, 1, 1, 0)
    assert d.is_code and d.readable and not d.conforming and d.effective_limit == 0xFFFFFFFF
    assert Descriptor.flat_code() == Descriptor(0, 0xFFFFF, 0xA, db=1, g=1)
    assert Descriptor.flat_code().to_bytes() == raw
    # ring-3 flat data 0x00CFF2000000FFFF, 64-bit code 0x00AF9A000000FFFF
    assert Descriptor.flat_data(dpl=3).to_bytes() == (0x00CFF2000000FFFF).to_bytes(8, "little")
    assert Descriptor.flat_code(long=True).to_bytes() == \
        (0x00AF9A000000FFFF).to_bytes(8, "little")
    # base split over bits 16..39 and 56..63, limit over 0..15 and 48..51
    d = Descriptor(base=0x12345678, limit=0xABCDE, type=TYPE_WRITABLE)
    v = int.from_bytes(d.to_bytes(), "little")
    assert v & 0xFFFF == 0xBCDE and (v >> 48) & 0xF == 0xA
    assert (v >> 16) & 0xFFFFFF == 0x345678 and v >> 56 == 0x12
    with pytest.raises(ValueError, match="limit"):
        Descriptor(limit=1 << 20)


descriptors = st.builds(
    Descriptor, base=st.integers(0, 2**32 - 1), limit=st.integers(0, 2**20 - 1),
    type=st.integers(0, 15), s=st.integers(0, 1), dpl=st.integers(0, 3), p=st.integers(0, 1),
    avl=st.integers(0, 1), l=st.integers(0, 1), db=st.integers(0, 1), g=st.integers(0, 1))


@given(descriptors)
def test_descriptor_round_trip(d):
    assert Descriptor.from_bytes(d.to_bytes()) == d


@given(st.binary(min_size=8, max_size=8))
def test_every_8_bytes_decode_losslessly(raw):
    assert Descriptor.from_bytes(raw).to_bytes() == raw


@given(st.integers(0, 0xFFFF))
def test_selector_round_trip(v):
    s = Selector.from_value(v)
    assert s.value == v and s.index == v >> 3 and s.ti == (v >> 2) & 1 and s.rpl == v & 3


def protected(cpl=0, extra=()):
    gdt = [Descriptor(p=0, s=0),                                   # 0: null
           Descriptor.flat_code(dpl=0),                            # 1: 0x08
           Descriptor.flat_data(dpl=0),                            # 2: 0x10
           Descriptor.flat_code(dpl=3),                            # 3: 0x18
           Descriptor.flat_data(dpl=3),                            # 4: 0x20
           Descriptor(0x1000, 0xFFF, TYPE_WRITABLE, db=1),          # 5: 0x28, 4 KiB
           Descriptor(0x0, 0x0FFF, TYPE_WRITABLE | TYPE_EXPAND_DOWN, db=0),  # 6: 0x30
           Descriptor(0x0, 0xFFFF, TYPE_CODE),                     # 7: 0x38 execute-only
           Descriptor(0x0, 0xFFFF, TYPE_CODE | TYPE_CONFORMING | 2),  # 8: 0x40 conforming
           Descriptor(0x0, 0xFFFF, TYPE_WRITABLE, p=0),            # 9: 0x48 not present
           Descriptor(0x0, 0xFFFF, 0x2, s=0),                      # 10: 0x50 system (LDT)
           Descriptor(0x0, 0xFFFF, TYPE_WRITABLE | TYPE_ACCESSED, dpl=0)]  # 11: 0x58
    return Segmentation("protected", gdt=gdt + list(extra), cpl=cpl)


def fault(fn, *args, **kw):
    with pytest.raises(SegmentFault) as e:
        fn(*args, **kw)
    return e.value.vector, e.value.error_code


def test_protected_mode_loads_and_privilege_checks():
    seg = protected(cpl=0)
    seg.load("ds", 0x10)
    seg.load("ss", 0x10)
    assert seg.linear("ds", 0x1234) == 0x1234
    seg.load("es", 0x28)
    assert seg.linear("es", 0x10) == 0x1010
    assert fault(seg.load, "ds", 0x1000) == ("#GP", 0x1000)       # beyond the GDT
    assert fault(seg.load, "ds", 0x38) == ("#GP", 0x38)           # execute-only code
    assert fault(seg.load, "ds", 0x48) == ("#NP", 0x48)           # not present
    assert fault(seg.load, "ss", 0x48) == ("#SS", 0x48)           # stack not present
    assert fault(seg.load, "ds", 0x50) == ("#GP", 0x50)           # system descriptor
    assert fault(seg.load, "ss", 0x0) == ("#GP", 0)               # null SS
    assert fault(seg.load, "ss", 0x08) == ("#GP", 0x08)           # code segment in SS
    seg.load("ds", 0x0)                                            # null DS is fine...
    assert fault(seg.linear, "ds", 0) == ("#GP", 0)               # ...until used
    # user mode
    user = protected(cpl=3)
    assert fault(user.load, "ds", 0x13) == ("#GP", 0x10)          # DPL 0 < CPL 3; RPL cleared
    user.load("ds", 0x23)
    user.load("ss", 0x23)
    assert fault(user.load, "ss", 0x20) == ("#GP", 0x20)          # RPL 0 != CPL 3
    user.load("ds", 0x40)                                          # conforming code: readable
    # RPL raises the bar at CPL 0
    assert fault(seg.load, "ds", 0x13) == ("#GP", 0x10)           # RPL 3 > DPL 0
    # far jumps
    seg.far_jump(0x08)
    assert seg.regs["cs"].selector == 0x08
    assert fault(seg.far_jump, 0x18) == ("#GP", 0x18)             # DPL 3 != CPL 0
    assert fault(seg.far_jump, 0x10) == ("#GP", 0x10)             # data segment
    user.far_jump(0x40)                                            # conforming DPL 0 <= CPL 3
    assert user.regs["cs"].selector == 0x43


def test_limits_expand_up_and_down():
    seg = protected()
    seg.load("es", 0x28)                          # limit 0xFFF, byte granular
    assert seg.linear("es", 0xFFC, size=4) == 0x1FFC
    assert fault(seg.linear, "es", 0xFFD, size=4) == ("#GP", 0)
    seg.load("ss", 0x30)                          # expand-down, limit 0xFFF, upper 0xFFFF
    assert seg.linear("ss", 0x1000) == 0x1000
    assert seg.linear("ss", 0xFFFE, size=2) == 0xFFFE
    assert fault(seg.linear, "ss", 0xFFF) == ("#SS", 0)
    assert fault(seg.linear, "ss", 0xFFFF, size=2) == ("#SS", 0)
    # G: limit 0xFFFFF in 4 KiB units covers 4 GiB
    seg.load("ds", 0x10)
    assert seg.linear("ds", 0xFFFFFFFC, size=4) == 0xFFFFFFFC
    # writes to code, reads of execute-only
    seg.far_jump(0x38)
    assert fault(seg.linear, "cs", 0x0) == ("#GP", 0)
    assert seg.linear("cs", 0x10, access="exec") == 0x10
    seg.load("ds", 0x40)
    assert fault(seg.linear, "ds", 0x0, access="write") == ("#GP", 0)


def test_long_mode_flat_with_fs_gs_bases():
    seg = protected()
    seg.mode = "long"
    seg.load("ds", 0x28)                          # base 0x1000, limit 0xFFF: ignored
    assert seg.linear("ds", 0x7FFFFFFF0000) == 0x7FFFFFFF0000
    seg.fs_base = 0xFFFF800000001000
    assert seg.linear("fs", 0x10) == 0xFFFF800000001010
    seg.gs_base = 0x7FFFFFFFF000
    assert fault(seg.linear, "gs", 0x1000) == ("#GP", 0)          # non-canonical
    assert fault(seg.linear, "ss", 1 << 47) == ("#SS", 0)
    seg.load("fs", 0x28)                          # a load sets the base from the descriptor
    assert seg.fs_base == 0x1000
    seg.load("ss", 0x0)                           # null SS allowed at CPL < 3


def test_ldt_selectors():
    ldt = [Descriptor(0x20000, 0xFFFF, TYPE_WRITABLE, dpl=3)]
    seg = Segmentation("protected", gdt=[Descriptor(p=0, s=0)], ldt=ldt, cpl=3)
    seg.load("es", Selector(0, ti=1, rpl=3).value)          # 0x07: LDT entry 0
    assert seg.linear("es", 0x10) == 0x20010
    assert fault(seg.load, "es", Selector(1, ti=1, rpl=3).value) == ("#GP", 0x0C)
    with pytest.raises(ValueError, match="reg"):
        seg.load("cs", 0x07)
