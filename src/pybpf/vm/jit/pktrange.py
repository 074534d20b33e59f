"""Packet accesses the program's own bounds tests already prove in range (XDP).

A verified XDP program compares `data + k` against `data_end` before it touches the packet, and
the JIT would check the same bytes again. Registers are followed from the program's entry, where
r1 is the context: a load of ctx->data gives `data + 0`, of ctx->data_end `data_end`; constant
offsets move a packet pointer; a test of `data + k` against `data_end` teaches, on the edge where
it holds, that the first k bytes are in the packet. A load or store inside those bytes needs no
check. Every call (a helper may move the packet) and every store that may hit the context
forgets what was learnt. The JIT still tests once per run that r1 at entry is the context it
converts (an unverified program may be entered with anything in r1, e.g. by a tail call).

A packet pointer may also carry one variable part: `data + v + k` where v is a scalar below
2**32 (the result of a 32-bit operation or of a load of at most 4 bytes) added at one pc, its
tag (a header length, say). A test of `data + v + k` against data_end proves bytes for that tag;
when the add runs again (a loop), the pointers and bytes of its old value are forgotten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import CALL, CALLX, EXIT, JA, JA32, AluOp, InsnClass, JmpOp, Mode

# ("ctx", k, NONE): the context plus k; ("pkt", k, tag): ctx->data plus k, plus the variable
# added at pc `tag` (NONE: none); ("end", 0, NONE): ctx->data_end; ("u32", 0, NONE): a scalar
# known to be below 2**32
Value = tuple[str, int, int] | None
NONE = -1
Known = tuple[tuple[int, int], ...]  # (tag, k): data + v(tag) + k lies at or before data_end
State = tuple[tuple[Value, ...], Known]  # registers, the bytes proven for each tag
U32: Value = ("u32", 0, NONE)
PKT: Value = ("pkt", 0, NONE)
END: Value = ("end", 0, NONE)

XDP_DATA, XDP_DATA_END = 0, 4  # offsets of data and data_end in struct xdp_md
MAX_STATES = 16  # states kept apart per instruction (paths); more are joined into one
MAX_STEPS = 50_000


def _join(a: State, b: State) -> State:
    regs = tuple(x if x == y else None for x, y in zip(a[0], b[0], strict=True))
    theirs = dict(b[1])
    return regs, tuple((tag, min(k, theirs[tag])) for tag, k in a[1] if tag in theirs)


def _forget(state: State) -> State:
    """After a call or a store that may reach the context: no packet pointer survives."""
    regs = tuple(v if v is not None and v[0] in ("ctx", "u32") else None for v in state[0])
    return regs, ()


def _bytes(known: Known, tag: int) -> int:
    return dict(known).get(tag, 0)


def _with_bytes(known: Known, tag: int, k: int) -> Known:
    """`known` with at least k bytes proven for tag."""
    if k <= _bytes(known, tag):
        return known
    return tuple(sorted({**dict(known), tag: k}.items()))


def _alu(pc: int, insn: Instruction, regs: list[Value], known: Known) -> Known:
    """Apply `insn` to regs; returns the proven bytes (an add of a variable at pc renews its tag)."""
    op = insn.opcode & 0xF0
    wide = (insn.opcode & 0x07) == InsnClass.ALU64
    dst, src = regs[insn.dst], regs[insn.src]
    out: Value = None
    if not wide:  # 32-bit results are zero-extended (a byte swap of 64 bits is not one)
        out = U32 if op != AluOp.END or insn.imm in (16, 32) else None
    elif op == AluOp.MOV and insn.off == 0 and insn.opcode & 0x08:
        out = src
    elif op in (AluOp.MOV, AluOp.AND) and not insn.opcode & 0x08 and 0 <= insn.imm < 1 << 31:
        out = U32  # a constant, or below one
    elif op in (AluOp.ADD, AluOp.SUB) and not insn.opcode & 0x08 and dst is not None:
        if dst[0] in ("ctx", "pkt"):
            imm = ((insn.imm & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
            out = (dst[0], dst[1] + (imm if op == AluOp.ADD else -imm), dst[2])
    elif op == AluOp.ADD and insn.opcode & 0x08:
        pointer = dst if src == U32 else src if dst == U32 else None
        if pointer is not None and pointer[0] == "pkt" and pointer[2] == NONE:
            # a new value for this pc's tag: what was known of its old value goes
            regs[:] = [None if v is not None and v[2] == pc else v for v in regs]
            known = tuple((tag, k) for tag, k in known if tag != pc)
            out = ("pkt", pointer[1], pc)
    regs[insn.dst] = out
    return known


def _learn(insn: Instruction, regs: tuple[Value, ...], known: Known, taken: bool) -> Known:
    """The proven bytes on this edge of a conditional jump (a test of a packet pointer against
    data_end adds the bytes below it, for its tag)."""
    if (insn.opcode & 0x07) != InsnClass.JMP or not insn.opcode & 0x08:
        return known
    a, b = regs[insn.dst], regs[insn.src]
    op = insn.opcode & 0xF0
    if a is not None and a[0] == "pkt" and b == END:
        # data + k > end (JGT) / >= end (JGE) fails on the fall-through; < / <= holds when taken
        holds: dict[int, bool] = {
            JmpOp.JGT: not taken, JmpOp.JGE: not taken, JmpOp.JLT: taken, JmpOp.JLE: taken}
        return _with_bytes(known, a[2], a[1]) if holds.get(op, False) else known
    if b is not None and b[0] == "pkt" and a == END:
        holds = {
            JmpOp.JLT: not taken, JmpOp.JLE: not taken, JmpOp.JGT: taken, JmpOp.JGE: taken}
        return _with_bytes(known, b[2], b[1]) if holds.get(op, False) else known
    return known


def packet_states(
    slots: Mapping[int, Instruction], successors: Callable[[int], list[int]],
    may_hit_ctx: Callable[[int, int], bool],
) -> dict[int, set[State]]:
    """The states that reach each pc of the program at pc 0 (empty: none proven, the analysis
    gave up). `may_hit_ctx(pc, reg)`: whether reg at pc may point into the context."""
    start: State = (tuple(("ctx", 0, NONE) if r == 1 else None for r in range(11)), ())
    states: dict[int, set[State]] = {0: {start}}
    todo: list[tuple[int, State]] = [(0, start)]
    steps = 0
    while todo:
        steps += 1
        if steps > MAX_STEPS:
            return {}  # prove nothing rather than take long
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
    return states


def proven_packet_accesses(
    slots: Mapping[int, Instruction], successors: Callable[[int], list[int]],
    may_hit_ctx: Callable[[int, int], bool],
) -> frozenset[int]:
    """Pcs of the loads and stores of the program at pc 0 that lie in the bytes its tests proved
    (see the module docstring; arguments as for packet_states)."""
    return proven_in_states(slots, packet_states(slots, successors, may_hit_ctx))


def proven_in_states(slots: Mapping[int, Instruction], states: Mapping[int, set[State]]) -> frozenset[int]:
    """proven_packet_accesses from the states packet_states found. (Loads of ctx->data and
    ctx->data_end themselves: pybpf.vm.jit.irctx.)"""
    proven = {pc for pc, here in states.items()
              if here and all(_in_range(slots[pc], state) for state in here)}
    return frozenset(proven)


def packet_pointers_at(states: Mapping[int, set[State]], pc: int) -> dict[int, tuple[int, int]]:
    """reg -> (k, n) for the registers that hold, on every way to pc, a packet pointer p such
    that the n bytes from p - k lie in the packet (n > 0): what a loop guard at pc may trust."""
    here = list(states.get(pc, ()))
    if not here:
        return {}
    joined = here[0]
    for other in here[1:]:
        joined = _join(joined, other)
    regs, known = joined
    out = {}
    for reg, value in enumerate(regs):
        if value is not None and value[0] == "pkt":
            n = _bytes(known, value[2])
            if n > 0:
                out[reg] = (value[1], n)
    return out


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
    return low >= 0 and low + insn.size <= _bytes(known, base[2])
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
        known = _alu(pc, insn, regs, known)
    elif cls == InsnClass.LDX:
        base = regs[insn.src]
        value: Value = U32 if mode == Mode.MEM and insn.size <= 4 else None  # zero-extended
        if base is not None and base[0] == "ctx" and insn.size == 4 and mode == Mode.MEM:
            field = base[1] + insn.off
            value = PKT if field == XDP_DATA else END if field == XDP_DATA_END else value
        regs[insn.dst] = value
    elif cls == InsnClass.LD:
        if mode == Mode.IMM:
            regs[insn.dst] = None
        else:  # legacy packet loads clobber r0 (and, in the kernel, r1-r5)
            regs[:6] = [None] * 6
    elif cls in (InsnClass.ST, InsnClass.STX):
        if may_hit_ctx(pc, insn.dst):
            regs, known = list(_forget((tuple(regs), known))[0]), ()
        if cls == InsnClass.STX and mode == Mode.ATOMIC:
            regs[insn.src] = None
            regs[0] = None
    elif insn.opcode in (CALL, CALLX):
        forgotten = _forget((tuple(regs), known))
        regs, known = list(forgotten[0]), ()
        regs[:6] = [None] * 6
    out = (tuple(regs), known)
    if insn.opcode == EXIT:
        return []
    if cls in (InsnClass.JMP, InsnClass.JMP32) and insn.opcode not in (CALL, CALLX, JA, JA32):
        fall, taken = pc + insn.slots, pc + 1 + insn.off
        return [(taken, (out[0], _learn(insn, out[0], known, True))),
                (fall, (out[0], _learn(insn, out[0], known, False)))]
    return [(nxt, out) for nxt in successors(pc)]
