"""Precision tracking: which scalars an explored state's verification depended on (the kernel's
mark_chain_precision), so pruning may ignore the others.

Each path keeps the history of instructions it executed since its last checkpoint; when a scalar's
exact range matters (pointer arithmetic, a helper's size, a decided branch, a return range), the
history is walked backwards to the checkpoints, marking the registers and stack slots the value
came from. Anything this simple walk cannot follow (calls, frames, variable stack offsets, atomics)
marks every scalar of the affected checkpoints precise, which is always sound.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pybpf.isa.opcodes import CALL, EXIT, LDDW, InsnClass, Mode

if TYPE_CHECKING:
    from pybpf.isa.instruction import Instruction
    from pybpf.verifier.cfg import Program
    from pybpf.verifier.prune import Checkpoint

# A history entry: (pc, note). note is None, ("stack", frame, slot), ("stackvar",) or ("linked", keys).
Entry = tuple[int, Any]


_R0_R5 = frozenset(range(6))


class Fallback(Exception):
    """The walk cannot follow this instruction: mark everything precise."""


def _back_alu(insn: Instruction, note: Any, regs: set[int], slots: set[int], frame: int) -> None:
    d, s, op = insn.dst, insn.src, insn.opcode
    if d not in regs:
        return
    aop = op & 0xF0
    if aop == 0xB0:  # mov: the destination's value came from the source alone
        regs.discard(d)
        if op & 0x08:
            regs.add(s)
    elif op & 0x08 and aop not in (0x80, 0xD0):
        regs.add(s)


def _back_ldx(insn: Instruction, note: Any, regs: set[int], slots: set[int], frame: int) -> None:
    if insn.dst not in regs:
        return
    regs.discard(insn.dst)
    if note is not None:  # a fill from the stack: the slot is the source
        if note[0] != "stack" or note[1] != frame:
            raise Fallback
        slots.add(note[2])


def _back_store(insn: Instruction, note: Any, regs: set[int], slots: set[int], frame: int) -> None:
    if insn.opcode & 0xE0 == Mode.ATOMIC:
        if note is not None or insn.src in regs or (insn.imm == 0xF1 and 0 in regs):
            raise Fallback
        return
    if note is None:
        return
    if note[0] != "stack" or note[1] != frame:
        if slots:
            raise Fallback
        return
    slot = note[2]
    if slot in slots:
        if insn.size == 8 or len(note) > 3:  # overwritten whole, or by a (narrower) spill
            slots.discard(slot)
        if insn.opcode & 0x07 == InsnClass.STX:
            regs.add(insn.src)


def _back_jmp(insn: Instruction, note: Any, regs: set[int], slots: set[int], frame: int) -> None:
    op, s = insn.opcode, insn.src
    if op == EXIT or (op & 0xF7 == CALL and s == 1):
        raise Fallback
    if op & 0xF7 == CALL:  # a helper call clobbers r0-r5
        regs.difference_update(_R0_R5)
        return
    if op & 0xF0 == 0x00:
        return
    if note is None:  # no scalar linked to the compared ones: the comparison reads dst (and src)
        d = insn.dst
        if op & 0x08:
            if d in regs or s in regs:
                regs.add(d)
                regs.add(s)
        elif d in regs:
            regs.add(d)
        return
    linked: frozenset[Any] = note[1] if note is not None and note[0] == "linked" else frozenset()
    if ("x", 0) in linked and (regs or slots):
        raise Fallback
    involved = {insn.dst} | ({s} if op & 0x08 else set())
    group_regs = {k[1] for k in linked if k[0] == "r"}
    group_slots = {k[1] for k in linked if k[0] == "s"}
    if involved & regs or group_regs & regs or group_slots & slots:
        regs.update(involved | group_regs)
        slots.update(group_slots)


def _back_ld(insn: Instruction, note: Any, regs: set[int], slots: set[int], frame: int) -> None:
    if insn.opcode == LDDW:
        regs.discard(insn.dst)
    else:  # ld_abs / ld_ind clobber r0-r5
        regs.difference_update(_R0_R5)


_BACK = {
    int(InsnClass.ALU): _back_alu, int(InsnClass.ALU64): _back_alu, int(InsnClass.LDX): _back_ldx,
    int(InsnClass.ST): _back_store, int(InsnClass.STX): _back_store, int(InsnClass.JMP): _back_jmp,
    int(InsnClass.JMP32): _back_jmp, int(InsnClass.LD): _back_ld,
}


_FALLBACK_NOTES = ("frame", "stackvar")


def _table(prog: Program) -> dict[int, tuple[Any, Instruction, int]]:
    """Per pc: (step-back function, instruction, gate): with no note, an ALU or LDX instruction
    whose destination (the gate) is not being tracked changes nothing (-1: always step)."""
    table = prog.back
    if not table:
        for pc, insn in prog.by_pc.items():
            cls = insn.opcode & 0x07
            gate = insn.dst if cls in (InsnClass.ALU, InsnClass.ALU64, InsnClass.LDX) else -1
            table[pc] = (_BACK[cls], insn, gate)
    return table


def backtrack(prog: Program, hist: list[Entry], parent: Checkpoint | None, regs: Iterable[int],
              slots: Iterable[int], frame: int, skip_last: bool) -> None:
    """Mark the sources of `regs`/`slots` (current frame) precise in every checkpoint up the path."""
    r, sl = set(regs), set(slots)
    table = _table(prog)
    last = len(hist) - 2 if skip_last else len(hist) - 1
    entries = hist
    cp = parent
    try:
        while True:
            for i in range(last, -1, -1):
                if not r and not sl:
                    return
                pc, note = entries[i]
                fn, insn, gate = table[pc]
                if note is None:
                    if gate < 0 or gate in r:
                        fn(insn, None, r, sl, frame)
                elif note[0] in _FALLBACK_NOTES:
                    raise Fallback
                else:
                    fn(insn, note, r, sl, frame)
            if cp is None or (not r and not sl):
                return
            if len(cp.state.frames) - 1 != frame:
                raise Fallback
            if cp.all_precise:
                return
            precise = cp.precise
            keys = [(frame, reg) for reg in r] + [(frame, -1 - slot) for slot in sl]
            if precise.issuperset(keys):
                return  # already marked here, and therefore above
            precise.update(keys)
            entries = cp.hist
            last = len(entries) - 1
            cp = cp.parent
    except Fallback:
        while cp is not None:
            cp.all_precise = True
            cp = cp.parent
