"""Packet accesses the program's own bounds tests prove (pybpf.vm.jit.pktrange): which the
analysis accepts (read off the programs by hand), and the JIT against the interpreter where a
test covers less than the access, or a helper moves the packet after the test."""

from __future__ import annotations

from typing import Any

import pytest

from pybpf.abi import ProgramType
from pybpf.isa import assemble
from pybpf.isa.instruction import iter_slots
from pybpf.vm.jit.cfg import successors
from pybpf.vm.jit.pktrange import proven_packet_accesses
from testlib import run_outcomes

HEAD = """
    r2 = *(u32 *)(r1 + 4)
    r3 = *(u32 *)(r1 + 0)
    r4 = r3
    r4 += 14
"""


def proven(text: str) -> list[int]:
    slots = dict(iter_slots(list(assemble(text, syntax="llvm"))))
    return sorted(proven_packet_accesses(slots, lambda pc: successors(slots, pc), lambda pc, reg: False))


def test_accesses_inside_the_tested_bytes() -> None:
    # pc 5: the last two bytes below data + 14; pc 6: one byte past them; pc 7: before data
    assert proven(HEAD + """
        if r4 > r2 goto out
        r0 = *(u16 *)(r3 + 12)
        r0 = *(u16 *)(r3 + 13)
        r0 = *(u8 *)(r3 - 1)
    out:
        exit
    """) == [5]


def test_mirrored_and_inclusive_tests() -> None:
    # data_end < data + 14 fails on the fall-through; data + 14 <= data_end holds when taken
    assert proven(HEAD + "if r2 < r4 goto out\nr0 = *(u32 *)(r3 + 10)\nout:\nexit") == [5]
    assert proven(HEAD + "if r4 <= r2 goto in\nexit\nin:\nr0 = *(u32 *)(r3 + 10)\nexit") == [6]
    # the wrong side of the test proves nothing
    assert proven(HEAD + "if r4 > r2 goto bad\nexit\nbad:\nr0 = *(u8 *)(r3 + 0)\nexit") == []


def test_joined_paths_keep_the_smaller_range() -> None:
    # one path tests 14 bytes, the other 8: a read of bytes 8-11 is proven on one path only
    assert proven(HEAD + """
        if r1 == 0 goto short
        if r4 > r2 goto out
        goto read
    short:
        r4 = r3
        r4 += 8
        if r4 > r2 goto out
    read:
        r0 = *(u32 *)(r3 + 4)
        r0 = *(u32 *)(r3 + 8)
    out:
        exit
    """) == [10]  # bytes 4-7 on both paths; 8-11 only on the 14-byte one


def test_calls_and_context_stores_forget() -> None:
    assert proven(HEAD + "if r4 > r2 goto out\ncall 7\nr0 = *(u8 *)(r3 + 0)\nout:\nexit") == []
    slots = dict(iter_slots(list(assemble(
        HEAD + "if r4 > r2 goto out\n*(u32 *)(r1 + 0) = r2\nr0 = *(u8 *)(r3 + 0)\nout:\nexit",
        syntax="llvm"))))
    found = proven_packet_accesses(slots, lambda pc: successors(slots, pc), lambda pc, reg: reg == 1)
    assert found == frozenset()


def outcome(engine: str, text: str, data: bytes) -> Any:
    return run_outcomes(engine, text, ProgramType.XDP, [data])[0]


# The program tests 20 bytes, then reads and writes around the end of them; the packet is
# sometimes shorter than the test, sometimes shorter than the access.
EDGES = HEAD.replace("r4 += 14", "r4 += 20") + """
    if r4 > r2 goto out
    r0 = *(u32 *)(r3 + 16)
    *(u8 *)(r3 + 19) = r0
    r5 = *(u32 *)(r3 + 18)
    r0 += r5
out:
    exit
"""

# A helper moves the packet's start after the test: the old pointer is not trusted any more.
ADJUST = HEAD.replace("r4 += 14", "r4 += 24") + """
    if r4 > r2 goto out
    r6 = r3
    r2 = 16
    call 44
    r0 = *(u64 *)(r6 + 8)
out:
    exit
"""


@pytest.mark.parametrize("size", [14, 19, 20, 21, 22, 64])
def test_accesses_around_the_tested_bytes(size: int) -> None:
    data = bytes(range(7, 7 + size))
    expected = outcome("interp", EDGES, data)
    assert outcome("jit", EDGES, data) == expected
    assert (expected[0] == "fault") == (20 <= size < 22)


@pytest.mark.parametrize("size", [24, 40])
def test_a_helper_that_moves_the_packet(size: int) -> None:
    data = bytes(range(size))
    assert outcome("jit", ADJUST, data) == outcome("interp", ADJUST, data)


# A header length read from the packet (below 2**32: a byte, masked and scaled in 32 bits) moves
# the pointer by a variable; the test of that pointer proves bytes past it, for that variable.
VARIABLE = HEAD + """
    if r4 > r2 goto out
    r5 = *(u8 *)(r3 + 0)
    w5 <<= 2
    w5 &= 60
    r6 = r3
    r6 += r5
    r7 = r6
    r7 += 4
    if r7 > r2 goto out
    r0 = *(u16 *)(r6 + 2)
    r0 = *(u16 *)(r6 + 3)
    r0 = *(u8 *)(r6 - 1)
out:
    exit
"""


def test_a_variable_offset_keeps_its_own_bytes() -> None:
    # pc 13: the last two tested bytes past the variable; pc 14: one byte beyond; pc 15: before it
    # (the bytes proven for data itself say nothing about data + variable)
    assert proven(VARIABLE) == [5, 13]


def test_only_bounded_variables_move_a_packet_pointer() -> None:
    # a 64-bit shift may leave the scalar anywhere: data + it may wrap below data
    assert proven(VARIABLE.replace("w5 <<= 2\n    w5 &= 60", "r5 <<= 40\n    r5 |= 1")) == [5]
    # (a 32-bit operation after it bounds it again)
    assert proven(VARIABLE.replace("w5 <<= 2", "r5 <<= 40")) == [5, 13]
    # a second variable on a moved pointer is not followed
    assert proven(VARIABLE.replace("r6 = r3\n", "r6 = r3\n    r6 += r5\n")) == [5]


@pytest.mark.parametrize("size", [14, 16, 20, 21, 22, 23, 64])
@pytest.mark.parametrize("first", [0, 3, 5])
def test_variable_offsets_fault_like_the_interpreter(size: int, first: int) -> None:
    data = bytes([first]) + bytes(range(7, 6 + size))
    expected = outcome("interp", VARIABLE, data)
    assert outcome("jit", VARIABLE, data) == expected
