"""Precision tracking: which scalars an explored state's verification depended on (the kernel's
mark_chain_precision), so pruning may ignore the others.

Each path keeps the history of instructions it executed since its last checkpoint; when a scalar's
exact range matters (pointer arithmetic, a helper's size, a decided branch, a return range), the
history is walked backwards to the checkpoints, marking the registers and stack slots the value
came from. Anything this simple walk cannot follow (calls, frames, variable stack offsets, atomics)
marks every scalar of the affected checkpoints precise, which is always sound.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pybpf.isa.opcodes import CALL, EXIT, LDDW, InsnClass, Mode

if TYPE_CHECKING:
    from pybpf.isa.instruction import Instruction
    from pybpf.verifier.cfg import Program
    from pybpf.verifier.prune import Checkpoint

# A history entry: pc, or (pc, note) with note ("stack", frame, slot[, spill]), ("stackvar",), ("frame",) or
# ("linked", keys).
Entry = Any


_R0_R5 = 0b111111  # r0-r5 as a bit mask


class Fallback(Exception):
    """The walk cannot follow this instruction: mark everything precise."""


def _back_alu(insn: Instruction, note: Any, rm: int, slots: set[int], frame: int) -> int:
    d, s, op = insn.dst, insn.src, insn.opcode
    if not rm >> d & 1:
        return rm
    aop = op & 0xF0
    if aop == 0xB0:  # mov: the destination's value came from the source alone
        rm &= ~(1 << d)
        if op & 0x08:
            rm |= 1 << s
    elif op & 0x08 and aop not in (0x80, 0xD0):
        rm |= 1 << s
    return rm


def _back_ldx(insn: Instruction, note: Any, rm: int, slots: set[int], frame: int) -> int:
    d = insn.dst
    if not rm >> d & 1:
        return rm
    rm &= ~(1 << d)
    if note is not None:  # a fill from the stack: the slot is the source
        if note[0] != "stack" or note[1] != frame:
            raise Fallback
        slots.add(note[2])
    return rm


def _back_store(insn: Instruction, note: Any, rm: int, slots: set[int], frame: int) -> int:
    if insn.opcode & 0xE0 == Mode.ATOMIC:
        if note is not None or rm >> insn.src & 1 or (insn.imm == 0xF1 and rm & 1):
            raise Fallback
        return rm
    if note is None:
        return rm
    if note[0] != "stack" or note[1] != frame:
        if slots:
            raise Fallback
        return rm
    slot = note[2]
    if slot in slots:
        if insn.size == 8 or len(note) > 3:  # overwritten whole, or by a (narrower) spill
            slots.discard(slot)
        if insn.opcode & 0x07 == InsnClass.STX:
            rm |= 1 << insn.src
    return rm


def _back_jmp(insn: Instruction, note: Any, rm: int, slots: set[int], frame: int) -> int:
    op, s, d = insn.opcode, insn.src, insn.dst
    if op == EXIT or (op & 0xF7 == CALL and s == 1):
        raise Fallback
    if op & 0xF7 == CALL:  # a helper call clobbers r0-r5
        return rm & ~_R0_R5
    if op & 0xF0 == 0x00:
        return rm
    if note is None:  # no scalar linked to the compared ones: the comparison reads dst (and src)
        if op & 0x08 and (rm >> d & 1 or rm >> s & 1):
            rm |= (1 << d) | (1 << s)
        return rm
    linked: frozenset[Any] = note[1] if note[0] == "linked" else frozenset()
    if ("x", 0) in linked and (rm or slots):
        raise Fallback
    involved = (1 << d) | ((1 << s) if op & 0x08 else 0)
    group_regs = 0
    for k in linked:
        if k[0] == "r":
            group_regs |= 1 << k[1]
    group_slots = {k[1] for k in linked if k[0] == "s"}
    if involved & rm or group_regs & rm or group_slots & slots:
        rm |= involved | group_regs
        slots.update(group_slots)
    return rm


def _back_ld(insn: Instruction, note: Any, rm: int, slots: set[int], frame: int) -> int:
    if insn.opcode == LDDW:
        return rm & ~(1 << insn.dst)
    return rm & ~_R0_R5  # ld_abs / ld_ind clobber r0-r5


_BACK = {
    int(InsnClass.ALU): _back_alu, int(InsnClass.ALU64): _back_alu, int(InsnClass.LDX): _back_ldx,
    int(InsnClass.ST): _back_store, int(InsnClass.STX): _back_store, int(InsnClass.JMP): _back_jmp,
    int(InsnClass.JMP32): _back_jmp, int(InsnClass.LD): _back_ld,
}


_FALLBACK_NOTES = ("frame", "stackvar")
_ALWAYS = -1  # the gate of instructions the walk cannot step over (exit, a call into a function)


def _gate(insn: Instruction) -> int:
    """The registers whose tracking makes a step back over `insn` (without a note) change anything,
    as a bit mask; _ALWAYS when it always gives up."""
    op, cls, d, s = insn.opcode, insn.opcode & 0x07, insn.dst, insn.src
    if cls in (InsnClass.ALU, InsnClass.ALU64, InsnClass.LDX):
        return 1 << d
    if cls in (InsnClass.ST, InsnClass.STX):
        if op & 0xE0 == Mode.ATOMIC:
            return (1 << s) | (1 if insn.imm == 0xF1 else 0)
        return 0
    if cls == InsnClass.LD:
        return 1 << d if op == LDDW else _R0_R5
    if op == EXIT or (op & 0xF7 == CALL and s == 1):
        return _ALWAYS
    if op & 0xF7 == CALL:
        return _R0_R5
    if op & 0xF0 == 0x00 or not op & 0x08:
        return 0
    return (1 << d) | (1 << s)


def _table(prog: Program) -> tuple[list[Any], list[int]]:
    """Per pc: (step-back function, instruction), and the instruction's gate: with no note, an
    instruction whose gate holds no tracked register changes nothing."""
    if not prog.back:
        steps: list[Any] = [None] * prog.nslots
        gates = [0] * prog.nslots
        for pc, insn in prog.by_pc.items():
            steps[pc] = (_BACK[insn.opcode & 0x07], insn)
            gates[pc] = _gate(insn)
        prog.back.extend((steps, gates))
    return prog.back[0], prog.back[1]


_KEYS: dict[tuple[int, int], frozenset[tuple[int, int]]] = {}


def _reg_keys(frame: int, rm: int) -> frozenset[tuple[int, int]]:
    """The precision keys of the registers in bit mask `rm` of `frame` (a set: subset checks need no copy)."""
    keys = _KEYS.get((frame, rm))
    if keys is None:
        keys = _KEYS[(frame, rm)] = frozenset((frame, r) for r in range(11) if rm >> r & 1)
    return keys


_REGS = 0x7FF  # r0-r10
_SLOTS = 0x800  # in the tracked mask: some stack slots are tracked too (an _ALWAYS gate then stops the walk)


def _walk(steps: list[Any], gates: list[int], entries: Iterator[Entry], rm: int, sl: set[int], frame: int) -> int:
    """Step back over history entries (newest first) from the tracked registers `rm` and slots `sl`
    (updated in place): the registers tracked before them, 0 as soon as nothing is tracked."""
    for e in entries:
        if e.__class__ is int:
            if not gates[e] & rm:
                continue
            fn, insn = steps[e]
            rm = fn(insn, None, rm, sl, frame)
        else:
            pc, note = e
            if note[0] in _FALLBACK_NOTES:
                raise Fallback
            fn, insn = steps[pc]
            rm = fn(insn, note, rm, sl, frame)
        rm = rm | _SLOTS if sl else rm & _REGS
        if not rm:
            return 0
    return rm


_FELL_BACK: tuple[int, frozenset[int]] = (-1, frozenset())  # a walk that gave up


def backtrack(prog: Program, hist: list[Entry], parent: Checkpoint | None, regs: Iterable[int],
              slots: Iterable[int], frame: int, skip_last: bool) -> None:
    """Mark the sources of `regs`/`slots` (current frame) precise in every checkpoint up the path.

    History entries are a pc (no note) or (pc, note); tracked registers are a bit mask, with
    _SLOTS set while stack slots are tracked. A checkpoint's history (from its parent to it) no
    longer changes: the walk over it from registers alone is remembered by the checkpoint."""
    rm = 0
    for r in regs:
        rm |= 1 << r
    sl = set(slots) if slots else set()
    if sl:
        rm |= _SLOTS
    if not rm:
        return
    steps, gates = prog.back if prog.back else _table(prog)
    it = reversed(hist)
    if skip_last:
        next(it, None)
    cp = parent
    depth = frame + 1
    try:
        rm = _walk(steps, gates, it, rm, sl, frame)
        while rm and cp is not None:
            if len(cp.state.frames) != depth:
                raise Fallback
            if cp.all_precise:
                return
            precise = cp.precise
            keys = _KEYS.get((frame, rm & _REGS)) or _reg_keys(frame, rm & _REGS)
            if sl:
                keys = keys.union([(frame, -1 - slot) for slot in sl])
            if keys <= precise:
                return  # already marked here, and therefore above
            precise.update(keys)
            seen, segment = cp.walks, cp.hist
            cp = cp.parent
            if sl:
                rm = _walk(steps, gates, reversed(segment), rm, sl, frame)
                continue
            done = seen.get(rm)
            if done is None:
                out: set[int] = set()
                try:
                    done = (_walk(steps, gates, reversed(segment), rm, out, frame), frozenset(out))
                except Fallback:
                    done = _FELL_BACK
                seen[rm] = done
            if done is _FELL_BACK:
                raise Fallback
            rm = done[0]
            if done[1]:
                sl = set(done[1])
    except Fallback:
        while cp is not None:
            cp.all_precise = True
            cp = cp.parent
