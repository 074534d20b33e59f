"""Load-time checks of bytecode for the user-space runtime: what can be refused before running.

These are structural checks (the verifier proves much more): valid opcodes and registers,
jumps inside their sub-program and never into the middle of an lddw, sub-programs that end
with exit or an unconditional jump, known helpers, resolved lddw pseudo sources.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence

from pybpf.errors import LoadError
from pybpf.isa.instruction import Instruction, is_valid_opcode
from pybpf.isa.instruction import func_pointer_target as isa_func_pointer_target
from pybpf.isa.opcodes import (
    CALL,
    CALLX,
    EXIT,
    JA,
    JA32,
    LDDW,
    AluOp,
    CallSrc,
    InsnClass,
    Mode,
    PseudoSrc,
)

DEFAULT_MAX_SLOTS = 1_000_000  # BPF_COMPLEXITY_LIMIT_INSNS: the kernel's limit for privileged loads

_ALU_CLASSES = (InsnClass.ALU, InsnClass.ALU64)
_JMP_CLASSES = (InsnClass.JMP, InsnClass.JMP32)


def slot_table(insns: Sequence[Instruction]) -> list[Instruction | None]:
    """Instructions by slot pc; the second slot of an lddw is None."""
    table: list[Instruction | None] = []
    for insn in insns:
        table.append(insn)
        if insn.opcode == LDDW:
            table.append(None)
    return table


def jump_target(pc: int, insn: Instruction) -> int | None:
    """The slot a jump (or local call) at `pc` goes to, or None if it is not one."""
    opcode = insn.opcode
    cls = opcode & 0x07
    if cls not in _JMP_CLASSES:
        return None
    if opcode == JA32:
        return pc + insn.imm + 1
    op = opcode & 0xF0
    if op in (0x80, 0x90):  # call / exit
        if opcode == CALL and insn.src == CallSrc.LOCAL:
            return pc + insn.imm + 1
        return None
    return pc + insn.off + 1


def func_pointer_target(pc: int, insn: Instruction) -> int | None:
    """The slot an `lddw rX, func` (BPF_PSEUDO_FUNC) at `pc` points to."""
    if insn.opcode == LDDW and insn.src == PseudoSrc.FUNC:
        return isa_func_pointer_target(pc, insn)
    return None


def subprogram_starts(table: Sequence[Instruction | None]) -> list[int]:
    """Sorted slot pcs where sub-programs begin (0, local call targets, func pointers)."""
    starts = {0}
    for pc, insn in enumerate(table):
        if insn is None:
            continue
        target = None
        if insn.opcode == CALL and insn.src == CallSrc.LOCAL:
            target = pc + insn.imm + 1
        elif insn.opcode == LDDW and insn.src == PseudoSrc.FUNC:
            target = func_pointer_target(pc, insn)
        if target is not None and 0 <= target < len(table):
            starts.add(target)
    return sorted(starts)


def check_program(
    insns: Sequence[Instruction],
    helpers: Container[int],
    *,
    max_slots: int = DEFAULT_MAX_SLOTS,
    helper_name: Callable[[int], str] | None = None,
) -> list[Instruction | None]:
    """Check `insns` for loading; returns the slot table or raises LoadError naming the pc."""
    table = slot_table(insns)
    if not table:
        raise LoadError("program has no instructions")
    if len(table) > max_slots:
        raise LoadError(f"too many instructions: {len(table)} (max {max_slots})")
    n = len(table)
    for pc, insn in enumerate(table):
        if insn is not None:
            _check_insn(pc, insn, table, helpers, helper_name)
    starts = subprogram_starts(table)
    bounds = starts[1:] + [n]
    for start, end in zip(starts, bounds, strict=True):
        last_pc = end - 1
        last = table[last_pc] if table[last_pc] is not None else table[last_pc - 1]
        if last is None or last.opcode not in (EXIT, JA, JA32):
            raise LoadError(
                f"sub-program at pc {start} does not end with exit or an unconditional jump"
                f" (pc {last_pc})"
            )
        for pc in range(start, end):
            insn = table[pc]
            if insn is None or (insn.opcode == CALL and insn.src == CallSrc.LOCAL):
                continue
            target = jump_target(pc, insn)
            if target is not None and not start <= target < end:
                raise LoadError(f"jump out of range from insn {pc} to {target}")
    return table


def _check_insn(
    pc: int,
    insn: Instruction,
    table: Sequence[Instruction | None],
    helpers: Container[int],
    helper_name: Callable[[int], str] | None,
) -> None:
    opcode = insn.opcode
    if not is_valid_opcode(opcode):
        raise LoadError(f"unknown opcode {opcode:#04x} at pc {pc}")
    if insn.dst > 10:
        raise LoadError(f"invalid destination register r{insn.dst} at pc {pc}")
    if insn.src > 10 and not (opcode == LDDW or opcode & 0x07 in _JMP_CLASSES):
        raise LoadError(f"invalid source register r{insn.src} at pc {pc}")
    cls = opcode & 0x07
    if cls in _ALU_CLASSES:
        _check_alu(pc, insn)
        if insn.dst == 10:
            raise LoadError(f"frame pointer r10 is read only (pc {pc})")
    elif cls in _JMP_CLASSES:
        _check_jump(pc, insn, table, helpers, helper_name)
    elif opcode == LDDW:
        if insn.dst == 10:
            raise LoadError(f"frame pointer r10 is read only (pc {pc})")
        if insn.src not in (PseudoSrc.IMM, PseudoSrc.FUNC):
            raise LoadError(
                f"lddw at pc {pc} has pseudo source {insn.src}"
                " (a map or BTF reference) that was not resolved"
            )
        target = func_pointer_target(pc, insn)
        if target is not None and not (0 <= target < len(table) and table[target] is not None):
            raise LoadError(f"function pointer at pc {pc} points out of the program ({target})")
    elif cls == InsnClass.LDX:
        if insn.dst == 10:
            raise LoadError(f"frame pointer r10 is read only (pc {pc})")
    elif cls == InsnClass.STX and opcode & 0xE0 == Mode.ATOMIC:
        if insn.imm not in (0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xA0, 0xA1, 0xE1, 0xF1):
            raise LoadError(f"unknown atomic operation {insn.imm:#x} at pc {pc}")
    elif cls == InsnClass.LD and insn.dst == 10:
        raise LoadError(f"frame pointer r10 is read only (pc {pc})")


def _check_alu(pc: int, insn: Instruction) -> None:
    op = insn.opcode & 0xF0
    if op == AluOp.END:
        if insn.imm not in (16, 32, 64):
            raise LoadError(f"invalid endian immediate {insn.imm} at pc {pc}")
    elif op in (AluOp.DIV, AluOp.MOD):
        if insn.off not in (0, 1):
            raise LoadError(f"invalid offset {insn.off} for division at pc {pc}")
    elif op == AluOp.MOV:
        allowed = (0, 8, 16, 32) if insn.opcode & 0x07 == InsnClass.ALU64 else (0, 8, 16)
        if insn.off not in allowed or (insn.off and insn.opcode & 0x08 == 0):
            raise LoadError(f"invalid offset {insn.off} for mov at pc {pc}")


def _check_jump(
    pc: int,
    insn: Instruction,
    table: Sequence[Instruction | None],
    helpers: Container[int],
    helper_name: Callable[[int], str] | None,
) -> None:
    opcode = insn.opcode
    if opcode == CALL:
        if insn.src == CallSrc.HELPER:
            if insn.imm not in helpers:
                name = helper_name(insn.imm) if helper_name else f"#{insn.imm}"
                raise LoadError(
                    f"program calls helper {name} at pc {pc}, which the user-space runtime"
                    " does not provide"
                )
            return
        if insn.src == CallSrc.KFUNC:
            raise LoadError(
                f"kfunc call (BTF id {insn.imm}) at pc {pc}: kernel functions are not"
                " available to the user-space runtime"
            )
        if insn.src != CallSrc.LOCAL:
            raise LoadError(f"unknown call kind (src={insn.src}) at pc {pc}")
    elif opcode == CALLX or opcode == EXIT:
        return
    elif insn.src > 10 and opcode & 0x08:
        raise LoadError(f"invalid source register r{insn.src} at pc {pc}")
    target = jump_target(pc, insn)
    if target is None:
        return
    if not 0 <= target < len(table):
        raise LoadError(f"jump out of range from insn {pc} to {target}")
    if table[target] is None:
        raise LoadError(f"jump into the middle of lddw from insn {pc} to {target}")
    if target == pc and opcode in (JA, JA32):
        raise LoadError(f"infinite loop at pc {pc}: the jump goes to itself")


def may_write_memory(insns: Sequence[Instruction]) -> bool:
    """Whether the program could write memory other than its own stack: a store or atomic whose
    base is not r10, or a call of a helper or kfunc (which may write through pointers it is
    given). bpf-to-bpf calls are covered by their instructions, part of `insns`. A program for
    which this is False leaves its input bytes as they were, so a run can use them in place."""
    for insn in insns:
        cls = insn.opcode & 0x07
        if cls in (InsnClass.ST, InsnClass.STX) and insn.dst != 10:
            return True
        if insn.opcode == CALLX or (insn.opcode == CALL and insn.src != CallSrc.LOCAL):
            return True
    return False
