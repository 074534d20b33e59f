"""Bytecode encode/decode of the Instruction type."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf.errors import AssemblyError
from pybpf.isa import VALID_OPCODES, Instruction, decode, encode, iter_slots


def test_mov_imm_bytes() -> None:
    # b7 00 00 00 01 00 00 00 : mov r0, 1 (RFC 9669 layout: opcode, regs, off, imm)
    assert encode([Instruction(0xB7, 0, 0, 0, 1)]) == bytes.fromhex("b700000001000000")


def test_lddw_two_slots() -> None:
    code = bytes.fromhex("1800000088776655" "0000000044332211")
    (insn,) = decode(code)
    assert insn.imm == 0x1122334455667788 and insn.slots == 2
    assert encode([insn]) == code


def test_negative_fields_roundtrip() -> None:
    insn = Instruction(0x15, 1, 0, -3, -1)
    assert decode(encode([insn])) == [insn]


def test_slot_numbering() -> None:
    insns = [Instruction(0x18, 1, 0, 0, 5), Instruction(0x95)]
    assert [pc for pc, _ in iter_slots(insns)] == [0, 2]


@pytest.mark.parametrize(
    "code,index",
    [(b"\x95\x00\x00", 0), (bytes.fromhex("9500000000000000") + b"\x18" + bytes(7), 1)],
)
def test_truncated_bytecode_names_index(code: bytes, index: int) -> None:
    with pytest.raises(AssemblyError) as info:
        decode(code)
    assert info.value.index == index


def test_bad_lddw_second_slot() -> None:
    code = bytes.fromhex("1800000001000000" "b700000000000000")
    with pytest.raises(AssemblyError, match="second slot"):
        decode(code)


def test_field_overflow_rejected() -> None:
    with pytest.raises(AssemblyError):
        encode([Instruction(0xB7, 0, 0, 0x8000, 0)])


@given(
    opcode=st.sampled_from(sorted(VALID_OPCODES)),
    dst=st.integers(0, 10),
    src=st.integers(0, 10),
    off=st.integers(-0x8000, 0x7FFF),
    imm=st.integers(-(1 << 31), (1 << 31) - 1),
)
def test_roundtrip_random(opcode: int, dst: int, src: int, off: int, imm: int) -> None:
    insn = Instruction(opcode, dst, src, off, imm if opcode != 0x18 else imm & 0xFFFFFFFFFFFF)
    assert decode(encode([insn])) == [insn]
