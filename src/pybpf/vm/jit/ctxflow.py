"""Which registers may hold a context pointer: a may-analysis that spares most accesses the check.

Only a load or store whose base register may be derived from the context pointer needs the
run-time "is this the converted context?" test. Context pointers enter in r1 of the program
(and in every register of a sub-program or callback, conservatively), flow through moves and
arithmetic, and, if one is ever stored to memory, through every load. Everything else (packet
pointers read from the context, map values, the stack) is untainted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import CALL, CALLX, EXIT, LDDW, AluOp, AtomicOp, CallSrc, InsnClass, Mode

ALL = (1 << 10) - 1  # r0-r9 (r10 is the frame pointer, never the context)


def _bit(reg: int) -> int:
    return 1 << reg if reg < 10 else 0


def transfer(insn: Instruction, state: int, spilled: bool) -> tuple[int, bool]:
    """The state after `insn`, and whether it stores a possibly-tainted value to memory."""
    cls = insn.opcode & 0x07
    d, s = _bit(insn.dst), _bit(insn.src)
    loaded = ALL if spilled else 0
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        op = insn.opcode & 0xF0
        if op == AluOp.MOV:
            taint = state & s if insn.opcode & 0x08 else 0
            return (state & ~d) | (d if taint else 0), False
        if insn.opcode & 0x08 and op not in (AluOp.NEG, AluOp.END) and state & s:
            return state | d, False
        return state, False
    if cls == InsnClass.LDX:
        return (state & ~d) | (d & loaded), False
    if cls == InsnClass.STX:
        stores = bool(state & s)
        if insn.opcode & 0xE0 == Mode.ATOMIC:
            if insn.imm == AtomicOp.CMPXCHG:
                state = (state & ~1) | (1 & loaded)
            elif insn.imm & 0x01:  # fetch forms and xchg write the old value to src
                state = (state & ~s) | (s & loaded)
        return state, stores
    if cls == InsnClass.ST:
        return state, False
    if cls == InsnClass.LD:
        if insn.opcode == LDDW:
            return state & ~d, False
        return state & ~1, False  # ld_abs / ld_ind write r0
    if insn.opcode == CALL:
        if insn.src == CallSrc.LOCAL:
            return state | 0x3F, False  # the callee may leave anything in r0-r5
        return state & ~1, False  # helpers never return the context
    if insn.opcode == CALLX:
        return state | 0x3F, False
    if insn.opcode == EXIT:
        return state, False
    return state, False


def context_taint(
    slots: Mapping[int, Instruction],
    functions: Mapping[int, list[int]],
    successors: Callable[[int], list[int]],
) -> dict[int, int]:
    """For every pc of every function, the registers that may hold a context pointer before it."""
    spilled = False
    while True:
        result: dict[int, int] = {}
        spill_seen = False
        for entry, pcs in functions.items():
            members = set(pcs)
            state_in: dict[int, int] = {entry: _bit(1) if entry == 0 else ALL}
            work = [entry]
            while work:
                pc = work.pop()
                out, stores = transfer(slots[pc], state_in[pc], spilled)
                spill_seen |= stores
                for nxt in successors(pc):
                    if nxt not in members:
                        continue
                    merged = state_in.get(nxt, 0) | out
                    if nxt not in state_in or merged != state_in[nxt]:
                        state_in[nxt] = merged
                        work.append(nxt)
            for pc, value in state_in.items():
                result[pc] = result.get(pc, 0) | value
        if spill_seen and not spilled:
            spilled = True
            continue
        return result


def _entry_ctx_transfer(insn: Instruction, state: dict[int, int]) -> dict[int, int]:
    """The registers still known to be `r1 at entry + offset` after `insn` (see entry_ctx_offsets)."""
    cls = insn.opcode & 0x07
    out = dict(state)
    if cls == InsnClass.ALU64 and insn.opcode & 0xF0 in (AluOp.MOV, AluOp.ADD, AluOp.SUB):
        op, from_reg = insn.opcode & 0xF0, insn.opcode & 0x08
        out.pop(insn.dst, None)
        if op == AluOp.MOV and from_reg and insn.src in state and insn.off == 0:
            out[insn.dst] = state[insn.src]
        elif op != AluOp.MOV and not from_reg and insn.dst in state:
            imm = insn.imm - (1 << 32) if insn.imm & 0x80000000 else insn.imm
            out[insn.dst] = state[insn.dst] + (imm if op == AluOp.ADD else -imm)
        return out
    if cls in (InsnClass.ALU, InsnClass.ALU64, InsnClass.LDX):
        out.pop(insn.dst, None)
    elif cls == InsnClass.LD:
        for reg in (insn.dst,) if insn.opcode == LDDW else range(6):
            out.pop(reg, None)
    elif cls == InsnClass.STX and insn.opcode & 0xE0 == Mode.ATOMIC:
        out.pop(0, None)
        out.pop(insn.src, None)
    elif insn.opcode in (CALL, CALLX):
        for reg in range(6):
            out.pop(reg, None)
    return out


def entry_ctx_offsets(
    slots: Mapping[int, Instruction], pcs: list[int], successors: Callable[[int], list[int]]
) -> dict[int, dict[int, int]]:
    """For every pc of the program's main function: the registers that hold r1 as it was at
    entry plus a known constant on every path there (reg -> offset).

    A must-analysis (the intersection at joins): when the run started with r1 at the context,
    a load through such a register reads a known context field, and needs no classification."""
    members = set(pcs)
    state_in: dict[int, dict[int, int]] = {0: {1: 0}} if 0 in members else {}
    work = list(state_in)
    while work:
        pc = work.pop()
        out = _entry_ctx_transfer(slots[pc], state_in[pc])
        for nxt in successors(pc):
            if nxt not in members:
                continue
            old = state_in.get(nxt)
            merged = out if old is None else {
                r: v for r, v in old.items() if out.get(r) == v}
            if old is None or merged != old:
                state_in[nxt] = merged
                work.append(nxt)
    return state_in
