"""Packet accesses the program's own bounds tests already prove in range (XDP).

A verified XDP program compares `data + k` against `data_end` before it touches the packet, and
the JIT would check the same bytes again. Registers are followed from the program's entry, where
r1 is the context: a load of ctx->data gives `data + 0`, of ctx->data_end `data_end`; constant
offsets move a packet pointer; a test of `data + k` against `data_end` teaches, on the edge where
it holds, that the first k bytes are in the packet. A load or store inside those bytes needs no
check. Every call (a helper may move the packet) and every store that may hit the context
forgets what was learnt. The JIT still tests once per run that r1 at entry is the context it
converts (an unverified program may be entered with anything in r1, e.g. by a tail call).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import CALL, CALLX, EXIT, JA, JA32, AluOp, InsnClass, JmpOp, Mode

# ("ctx", k): the context plus k; ("pkt", k): ctx->data plus k; ("end", 0): ctx->data_end
Value = tuple[str, int] | None
State = tuple[tuple[Value, ...], int]  # registers, bytes from data known to lie before data_end

XDP_DATA, XDP_DATA_END = 0, 4  # offsets of data and data_end in struct xdp_md
MAX_STATES = 16  # states kept apart per instruction (paths); more are joined into one
MAX_STEPS = 50_000


def _join(a: State, b: State) -> State:
    regs = tuple(x if x == y else None for x, y in zip(a[0], b[0], strict=True))
    return regs, min(a[1], b[1])


def _forget(state: State) -> State:
    """After a call or a store that may reach the context: no packet pointer survives."""
    regs = tuple(v if v is not None and v[0] == "ctx" else None for v in state[0])
    return regs, 0


def _alu(insn: Instruction, regs: list[Value]) -> None:
    op = insn.opcode & 0xF0
    wide = (insn.opcode & 0x07) == InsnClass.ALU64
    dst = regs[insn.dst]
    out: Value = None
    if wide and op == AluOp.MOV and insn.off == 0 and insn.opcode & 0x08:
        out = regs[insn.src]
    elif wide and op in (AluOp.ADD, AluOp.SUB) and not insn.opcode & 0x08 and dst is not None:
        if dst[0] != "end":
            imm = ((insn.imm & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
            out = (dst[0], dst[1] + (imm if op == AluOp.ADD else -imm))
    regs[insn.dst] = out


def _learn(insn: Instruction, regs: tuple[Value, ...], taken: bool) -> int:
    """Bytes from data this edge of a conditional jump proves before data_end (0: none)."""
    if (insn.opcode & 0x07) != InsnClass.JMP or not insn.opcode & 0x08:
        return 0
    a, b = regs[insn.dst], regs[insn.src]
    op = insn.opcode & 0xF0
    if a is not None and a[0] == "pkt" and b == ("end", 0):
        # data + k > end (JGT) / >= end (JGE) fails on the fall-through; < / <= holds when taken
        holds: dict[int, bool] = {
            JmpOp.JGT: not taken, JmpOp.JGE: not taken, JmpOp.JLT: taken, JmpOp.JLE: taken}
        return max(a[1], 0) if holds.get(op, False) else 0
    if b is not None and b[0] == "pkt" and a == ("end", 0):
        holds = {
            JmpOp.JLT: not taken, JmpOp.JLE: not taken, JmpOp.JGT: taken, JmpOp.JGE: taken}
        return max(b[1], 0) if holds.get(op, False) else 0
    return 0


def proven_packet_accesses(
    slots: Mapping[int, Instruction], successors: Callable[[int], list[int]],
    may_hit_ctx: Callable[[int, int], bool],
) -> frozenset[int]:
    """Pcs of the loads and stores of the program at pc 0 that lie in the bytes its tests proved
    (see the module docstring). `may_hit_ctx(pc, reg)`: whether reg at pc may point into the context.
    (Loads of ctx->data and ctx->data_end themselves: pybpf.vm.jit.irctx.)"""
    start: State = (tuple(("ctx", 0) if r == 1 else None for r in range(11)), 0)
    states: dict[int, set[State]] = {0: {start}}
    todo: list[tuple[int, State]] = [(0, start)]
    steps = 0
    while todo:
        steps += 1
        if steps > MAX_STEPS:
            return frozenset()  # prove nothing rather than take long
        pc, state = todo.pop()
        if state not in states.get(pc, ()):
            continue  # merged away meanwhile
        for nxt, after in _step(slots, pc, state, successors, may_hit_ctx):
            if nxt not in slots:
                continue
            known = states.setdefault(nxt, set())
            if after in known:
                continue
            if len(known) >= MAX_STATES:  # too many paths here: one state for them all
                merged = after
                for other in known:
                    merged = _join(merged, other)
                if known == {merged}:
                    continue
                known.clear()
                after = merged
            known.add(after)
            todo.append((nxt, after))
    proven = {pc for pc, here in states.items()
              if here and all(_in_range(slots[pc], state) for state in here)}
    return frozenset(proven)


def _in_range(insn: Instruction, state: State) -> bool:
    """Whether the access `insn` lies in the bytes `state` knows to be in the packet."""
    regs, known = state
    cls = insn.opcode & 0x07
    mode = insn.opcode & 0xE0
    if cls == InsnClass.LDX and mode in (Mode.MEM, Mode.MEMSX):
        base = regs[insn.src]
    elif (cls == InsnClass.ST or cls == InsnClass.STX) and mode == Mode.MEM:
        base = regs[insn.dst]
    else:
        return False
    if base is None or base[0] != "pkt":
        return False
    low = base[1] + insn.off
    return low >= 0 and low + insn.size <= known
def _step(
    slots: Mapping[int, Instruction], pc: int, state: State,
    successors: Callable[[int], list[int]], may_hit_ctx: Callable[[int, int], bool],
) -> list[tuple[int, State]]:
    insn = slots[pc]
    cls = insn.opcode & 0x07
    mode = insn.opcode & 0xE0
    regs = list(state[0])
    known = state[1]
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        _alu(insn, regs)
    elif cls == InsnClass.LDX:
        base = regs[insn.src]
        value: Value = None
        if base is not None and base[0] == "ctx" and insn.size == 4 and mode == Mode.MEM:
            field = base[1] + insn.off
            value = ("pkt", 0) if field == XDP_DATA else ("end", 0) if field == XDP_DATA_END else None
        regs[insn.dst] = value
    elif cls == InsnClass.LD:
        if mode == Mode.IMM:
            regs[insn.dst] = None
        else:  # legacy packet loads clobber r0 (and, in the kernel, r1-r5)
            regs[:6] = [None] * 6
    elif cls in (InsnClass.ST, InsnClass.STX):
        if may_hit_ctx(pc, insn.dst):
            regs, known = list(_forget((tuple(regs), known))[0]), 0
        if cls == InsnClass.STX and mode == Mode.ATOMIC:
            regs[insn.src] = None
            regs[0] = None
    elif insn.opcode in (CALL, CALLX):
        forgotten = _forget((tuple(regs), known))
        regs, known = list(forgotten[0]), 0
        regs[:6] = [None] * 6
    out = (tuple(regs), known)
    if insn.opcode == EXIT:
        return []
    if cls in (InsnClass.JMP, InsnClass.JMP32) and insn.opcode not in (CALL, CALLX, JA, JA32):
        fall, taken = pc + insn.slots, pc + 1 + insn.off
        return [(taken, (out[0], max(known, _learn(insn, out[0], True)))),
                (fall, (out[0], max(known, _learn(insn, out[0], False))))]
    return [(nxt, out) for nxt in successors(pc)]
