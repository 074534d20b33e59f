"""How many bytes below r10 a program can reach, following copies of r10 through registers.

The entry zeroes that many bytes of every frame (the interpreter's stack starts zeroed), so the
tighter the bound the less a run pays up front. Every register holds either no frame pointer or
r10 plus one of a few known constants; a frame pointer may be moved, offset by constants, compared,
used as the base of a load or store, or passed to a helper, which only touches memory from the
pointer upwards. Anything else done with one (stored, combined with another value, passed to a
bpf-to-bpf call, returned, offset in a loop without bound) makes the answer the whole frame.
"""

from __future__ import annotations

from collections.abc import Mapping

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import CALL, CALLX, EXIT, STACK_SIZE, AluOp, CallSrc, InsnClass, Mode
from pybpf.vm.jit.cfg import reachable, successors

MAX_OFFSETS = 8  # more possible offsets in one register than this: give up
Offsets = frozenset[int] | None  # the offsets from r10 a register may hold (None: not a pointer)
State = tuple[Offsets, ...]


class _Escape(Exception):
    """A frame pointer is used in a way the analysis does not follow."""


def _join(a: State, b: State) -> State:
    out: list[Offsets] = []
    for x, y in zip(a, b, strict=True):
        if x is None or y is None:
            out.append(x if y is None else y)
        else:
            merged = x | y
            if len(merged) > MAX_OFFSETS:
                raise _Escape
            out.append(merged)
    return tuple(out)


def _step(insn: Instruction, regs: list[Offsets], reach: list[int]) -> None:
    """Apply one instruction; record in reach[0] the lowest offset touched; raise _Escape."""
    cls = insn.opcode & 0x07
    mode = insn.opcode & 0xE0
    if insn.dst == 10 and cls in (InsnClass.LDX, InsnClass.LD, InsnClass.ALU, InsnClass.ALU64):
        raise _Escape  # r10 itself rewritten (only unverified programs do that)

    def touch(offsets: Offsets, off: int) -> None:
        if offsets is not None:
            reach[0] = min(reach[0], min(offsets) + off)

    if cls == InsnClass.LDX:
        touch(regs[insn.src], insn.off)
        regs[insn.dst] = None
    elif cls == InsnClass.ST:
        touch(regs[insn.dst], insn.off)
    elif cls == InsnClass.STX:
        if regs[insn.src] is not None:
            raise _Escape  # a frame pointer stored to memory
        touch(regs[insn.dst], insn.off)
        if mode == Mode.ATOMIC:
            regs[insn.src] = None
            regs[0] = None  # cmpxchg's result
    elif cls == InsnClass.LD:
        regs[0 if mode in (Mode.ABS, Mode.IND) else insn.dst] = None
    elif cls in (InsnClass.ALU, InsnClass.ALU64):
        _alu(insn, regs)
    elif insn.opcode == CALL and insn.src == CallSrc.HELPER:
        for r in range(1, 6):
            touch(regs[r], 0)
        regs[0] = None
    elif insn.opcode in (CALL, CALLX):
        if any(regs[r] is not None for r in range(1, 6)) or insn.opcode == CALLX:
            raise _Escape  # the callee may do anything with a pointer into this frame
        regs[0] = None
    elif insn.opcode == EXIT and regs[0] is not None:
        raise _Escape


def _alu(insn: Instruction, regs: list[Offsets]) -> None:
    op = insn.opcode & 0xF0
    src = regs[insn.src] if insn.opcode & 0x08 else None
    dst = regs[insn.dst]
    wide = (insn.opcode & 0x07) == InsnClass.ALU64
    if op == AluOp.MOV and insn.off == 0:
        if src is not None and not wide:
            raise _Escape
        regs[insn.dst] = src
        return
    if src is not None:
        raise _Escape  # a frame pointer as an operand
    if dst is None:
        return
    if wide and op in (AluOp.ADD, AluOp.SUB) and not insn.opcode & 0x08:
        imm = ((insn.imm & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
        sign = 1 if op == AluOp.ADD else -1
        regs[insn.dst] = frozenset(o + sign * imm for o in dst)
        return
    raise _Escape


def frame_bytes_reached(slots: Mapping[int, Instruction], functions: list[int]) -> int:
    """Bytes below r10 any function of the program can touch (a multiple of 8, at most
    STACK_SIZE)."""
    reach = [0]
    try:
        for entry in functions:
            _function(slots, entry, reach)
    except _Escape:
        return STACK_SIZE
    need = max(0, -reach[0])
    return min((need + 7) // 8 * 8, STACK_SIZE)


def _function(slots: Mapping[int, Instruction], entry: int, reach: list[int]) -> None:
    start: State = tuple([None] * 10 + [frozenset({0})])
    states: dict[int, State] = {entry: start}
    todo = [entry]
    body = set(reachable(slots, entry))
    while todo:
        pc = todo.pop()
        regs = list(states[pc])
        _step(slots[pc], regs, reach)
        if reach[0] < -STACK_SIZE:
            raise _Escape
        after = tuple(regs)
        for nxt in successors(slots, pc):
            if nxt not in body:
                continue
            old = states.get(nxt)
            new = after if old is None else _join(old, after)
            if new != old:
                states[nxt] = new
                todo.append(nxt)
