"""Versioned loops over packet bytes the program's own test proved (pybpf.vm.jit.pktrange in the
loop guard, pybpf.vm.jit.irloop): what the analysis hands the guard, and the JIT against the
interpreter when the loop stays inside the tested bytes, runs past them, or past the packet."""

from __future__ import annotations

from typing import Any

import pytest

from pybpf.abi import ProgramType
from pybpf.isa import assemble
from pybpf.isa.instruction import iter_slots
from pybpf.vm.jit.cfg import successors
from pybpf.vm.jit.pktrange import packet_pointers_at, packet_states
from testlib import run_outcomes

# Tests 32 bytes from data (r3), then sums (and overwrites) LIMIT bytes from data + START.
LOOP = """
    r2 = *(u32 *)(r1 + 4)
    r3 = *(u32 *)(r1 + 0)
    r4 = r3
    r4 += 32
    if r4 > r2 goto out
    r0 = 0
    r5 = START
loop:
    r6 = r3
    r6 += r5
    r7 = *(u8 *)(r6 + 0)
    r0 += r7
    STORE
    r5 += 1
    if r5 < LIMIT goto loop
out:
    exit
"""
HEADER = 7  # pc of `loop:`


def program(start: int, limit: int, store: bool = False) -> str:
    text = LOOP.replace("START", str(start)).replace("LIMIT", str(limit))
    return text.replace("STORE", "*(u8 *)(r6 + 0) = r5" if store else "r8 = r7")


def test_the_guard_sees_the_tested_bytes_at_the_header() -> None:
    slots = dict(iter_slots(list(assemble(program(0, 32), syntax="llvm"))))
    states = packet_states(slots, lambda pc: successors(slots, pc), lambda pc, reg: False)
    # r3 is data on both ways into the header (entry and back edge), 32 bytes proven from it;
    # r4 = data + 32 has the same 32 bytes 32 below it; r6 is data + a scalar (not followed)
    assert packet_pointers_at(states, HEADER) == {3: (0, 32), 4: (32, 32)}
    # before the test nothing is proven
    assert packet_pointers_at(states, 4) == {}


def test_a_moved_pointer_keeps_its_offset() -> None:
    text = program(0, 32).replace("r0 = 0\n", "r0 = 0\n    r3 += 4\n")
    slots = dict(iter_slots(list(assemble(text, syntax="llvm"))))
    states = packet_states(slots, lambda pc: successors(slots, pc), lambda pc, reg: False)
    assert packet_pointers_at(states, HEADER + 1) == {3: (4, 32), 4: (32, 32)}


def outcome(engine: str, text: str, data: bytes) -> Any:
    return run_outcomes(engine, text, ProgramType.XDP, [data])[0]


@pytest.mark.parametrize("store", [False, True])
@pytest.mark.parametrize(("start", "limit"), [(0, 32), (0, 31), (4, 32), (0, 33), (0, 40), (30, 36)])
@pytest.mark.parametrize("size", [31, 32, 35, 40, 64])
def test_loops_fault_like_the_interpreter(start: int, limit: int, store: bool, size: int) -> None:
    text = program(start, limit, store)
    data = bytes(range(1, size + 1))
    expected = outcome("interp", text, data)
    assert outcome("jit", text, data) == expected
    # the loop faults exactly when it runs past the packet (a short packet skips it)
    assert (expected[0] == "fault") == (32 <= size < limit)
