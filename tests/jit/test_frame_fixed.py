"""Frame accesses off r10 skip the bounds check only while r10 keeps the frame pointer.

The interpreter refuses a program that writes r10 at load; the JIT's compiler still meets one
(compile_program takes raw instructions), and there r10+off is just an address to check."""

from __future__ import annotations

import pytest

from pybpf.isa.instruction import Instruction as I
from pybpf.isa.opcodes import AtomicOp
from pybpf.vm.jit.irmem import frame_pointer_fixed

from .test_differential import run_jit

EXIT = I(0x95)


def test_a_load_off_a_rewritten_r10_is_checked() -> None:
    # r10 = r1 + 72; r0 = *(u64 *)(r10 - 8): the 8 bytes just past the 64-byte buffer
    prog = [I(0xBF, 10, 1), I(0x07, 10, 0, 0, 72), I(0x79, 0, 10, -8), EXIT]
    outcome, _, _ = run_jit(prog, bytes(64), 1000)
    assert isinstance(outcome, tuple) and outcome[0] == "fault", outcome
    assert outcome[2:] == (2, 64, 8)  # at pc 2, buffer offset 64, 8 bytes


def test_frame_accesses_still_work_and_fault_outside_the_frame() -> None:
    store = I(0x7A, 10, 0, -8, 0x42)  # *(u64 *)(r10 - 8) = 0x42
    load = I(0x79, 0, 10, -8)
    assert run_jit([store, load, EXIT], bytes(64), 1000)[0] == 0x42
    outside = run_jit([I(0x79, 0, 10, 0), EXIT], bytes(64), 1000)[0]  # r10 + 0 is above the frame
    assert isinstance(outside, tuple) and outside[0] == "fault" and outside[2] == 0


@pytest.mark.parametrize(("insn", "fixed"), [
    (I(0xBF, 10, 1), False),  # mov r10, r1
    (I(0x07, 10, 0, 0, 8), False),  # r10 += 8
    (I(0x79, 10, 1, 0), False),  # r10 = *(u64 *)(r1 + 0)
    (I(0x18, 10, 0, 0, 1), False),  # lddw r10
    (I(0xDB, 1, 10, 0, AtomicOp.ADD | 0x01), False),  # r10 = atomic_fetch_add(r1, r10)
    (I(0xDB, 1, 10, 0, AtomicOp.ADD), True),  # no fetch: r10 only read
    (I(0x7B, 10, 1, -8), True),  # *(u64 *)(r10 - 8) = r1
    (I(0xBF, 1, 10), True),  # r1 = r10
])
def test_frame_pointer_fixed_sees_every_write_of_r10(insn: I, fixed: bool) -> None:
    assert frame_pointer_fixed({0: insn, 1: EXIT}, [0, 1]) is fixed
