"""Loop versioning facts: which loops can run a copy without per-iteration checks, and why.

For a call-free loop with one entry (its header) and no inner loop, registers are followed
symbolically through the body as affine functions of their values at the header. A register that
every back edge leaves at `header value + s` is an induction variable of stride s. An exit test on
every path around the loop that compares an induction variable with a loop-invariant value bounds
how many times the header can be reached from the registers at entry; a memory access whose
address is affine in induction variables touches, over all those iterations, one range computable
at entry. pybpf.vm.jit.irloop turns a `LoopPlan` into a guard at the loop's entry: when the budget
covers every possible iteration and every such range lies in one region, a copy without budget
comparisons or bounds checks runs; otherwise the ordinary checked copy does, and faults exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import CALL, CALLX, EXIT, JA, JA32, AluOp, InsnClass, JmpOp, Mode
from pybpf.vm.jit.cfg import successors

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
MAX_STRIDE = 1 << 16  # larger strides are not versioned (keeps the guard's products in 64 bits)
MAX_LOOP_SLOTS = 256  # larger loops are not copied a third time


@dataclass(frozen=True)
class Affine:
    """`sum(coeff * header value of reg) + const`, mod 2**64, or zero-extended mod 2**32 (w32)."""

    terms: tuple[tuple[int, int], ...]
    const: int
    w32: bool = False

    @staticmethod
    def make(terms: Mapping[int, int], const: int, w32: bool) -> Affine:
        mask = M32 if w32 else M64
        kept = tuple(sorted((r, c & mask) for r, c in terms.items() if c & mask))
        if w32 and not kept:  # a 32-bit constant is also a 64-bit one
            return Affine((), const & M32, False)
        return Affine(kept, const & mask, w32)

    def scaled(self, factor: int, w32: bool) -> Affine:
        return Affine.make({r: c * factor for r, c in self.terms}, self.const * factor, w32)

    def plus(self, other: Affine, sign: int, w32: bool) -> Affine:
        terms = dict(self.terms)
        for r, c in other.terms:
            terms[r] = terms.get(r, 0) + sign * c
        return Affine.make(terms, self.const + sign * other.const, w32)


Value = Affine | None  # None: not affine in the header's registers
IDENTITY = tuple(Affine(((r, 1),), 0) for r in range(11))


@dataclass(frozen=True)
class Access:
    """A load or store at `base + off` whose address moves by `stride` per iteration."""

    pc: int
    base: Affine
    off: int
    size: int
    write: bool
    stride: int


@dataclass(frozen=True)
class ExitTest:
    """The loop stays only while `x pred y` (x moves by `stride` per iteration, y is invariant)."""

    pc: int
    x: Affine
    y: Affine
    pred: str  # "<", "<=", ">", ">=", "!="
    signed: bool
    w32: bool
    stride: int


@dataclass(frozen=True)
class LoopPlan:
    """A loop the translator may version (see the module docstring)."""

    header: int
    blocks: frozenset[int]
    test: ExitTest
    accesses: tuple[Access, ...]
    cost: int  # instructions from one header visit to the next (or out), at most


_STAY = {JmpOp.JGT: (">", False), JmpOp.JGE: (">=", False), JmpOp.JLT: ("<", False),
         JmpOp.JLE: ("<=", False), JmpOp.JSGT: (">", True), JmpOp.JSGE: (">=", True),
         JmpOp.JSLT: ("<", True), JmpOp.JSLE: ("<=", True), JmpOp.JNE: ("!=", False),
         JmpOp.JEQ: ("==", False)}  # fmt: skip
_NEGATE = {"<": ">=", ">=": "<", ">": "<=", "<=": ">", "!=": "==", "==": "!="}
_MIRROR = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!=", "==": "=="}


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _sext(imm: int) -> int:
    return _signed(imm, 32) & M64


def _transfer(insn: Instruction, regs: list[Value]) -> None:
    """Update the symbolic registers for one non-jump instruction."""
    cls = insn.opcode & 0x07
    if cls not in (InsnClass.ALU, InsnClass.ALU64):
        if cls == InsnClass.LDX or cls == InsnClass.LD:
            regs[insn.dst] = None
        return
    w32 = cls == InsnClass.ALU
    op = insn.opcode & 0xF0
    use_reg = bool(insn.opcode & 0x08)
    src: Value = regs[insn.src] if use_reg else Affine((), _sext(insn.imm))
    dst = regs[insn.dst]
    out: Value = None
    if op == AluOp.MOV and insn.off == 0:
        out = None if src is None else Affine.make(dict(src.terms), src.const, w32)
    elif op in (AluOp.ADD, AluOp.SUB) and dst is not None and src is not None:
        if w32 or (not dst.w32 and not src.w32):
            out = dst.plus(src, 1 if op == AluOp.ADD else -1, w32)
    elif op == AluOp.MUL and not use_reg and dst is not None and (w32 or not dst.w32):
        out = dst.scaled(_sext(insn.imm), w32)
    elif op == AluOp.LSH and not use_reg and dst is not None and (w32 or not dst.w32):
        out = dst.scaled(1 << (insn.imm & (31 if w32 else 63)), w32)
    regs[insn.dst] = out


def _body_blocks(
    entry: int, header: int, preds: Mapping[int, list[int]], succ: Mapping[int, list[int]]
) -> tuple[set[int], list[int]] | None:
    """The natural loop of `header` (blocks, latches), or None when it has a second entry.
    Latches are the predecessors the header dominates (not reachable from the entry without
    passing the header)."""
    outside = _reachable_without(succ, entry, header)
    latches = [p for p in dict.fromkeys(preds.get(header, [])) if p not in outside]
    body = {header}
    todo = list(latches)
    while todo:
        node = todo.pop()
        if node not in body:
            body.add(node)
            todo.extend(preds.get(node, []))
    for node in body - {header}:
        if any(p not in body for p in preds.get(node, [])):
            return None
    return body, latches


def _reachable_without(succ: Mapping[int, list[int]], start: int, avoid: int) -> set[int]:
    if start == avoid:
        return set()
    seen = {start}
    todo = [start]
    while todo:
        node = todo.pop()
        for s in succ.get(node, []):
            if s not in seen and s != avoid:
                seen.add(s)
                todo.append(s)
    return seen


def _topological(header: int, body: set[int], succ: Mapping[int, list[int]]) -> list[int] | None:
    """Body blocks in an order where every forward edge goes later (None: an inner cycle)."""
    order: list[int] = []
    state: dict[int, int] = {}
    stack: list[tuple[int, int]] = [(header, 0)]
    state[header] = 1
    while stack:
        node, index = stack.pop()
        kids = [s for s in succ.get(node, []) if s in body and s != header]
        if index < len(kids):
            stack.append((node, index + 1))
            kid = kids[index]
            if state.get(kid) == 1:
                return None
            if kid not in state:
                state[kid] = 1
                stack.append((kid, 0))
        else:
            state[node] = 2
            order.append(node)
    order.reverse()
    return order


def _supported(insn: Instruction) -> bool:
    """Instructions a versioned loop may hold: no calls, no atomics, no legacy packet loads."""
    cls = insn.opcode & 0x07
    mode = insn.opcode & 0xE0
    if insn.opcode in (CALL, CALLX):
        return False
    if cls == InsnClass.LD:
        return mode == Mode.IMM
    if cls == InsnClass.STX:
        return mode == Mode.MEM
    return True


def plan_loops(
    slots: Mapping[int, Instruction],
    bodies: Mapping[int, Sequence[int]],
    checkpoints: set[int],
    maxpath: Mapping[int, int],
    entry: int,
) -> dict[int, LoopPlan]:
    """The versionable loops of the function starting at `entry`, by header."""
    succ: dict[int, list[int]] = {}
    preds: dict[int, list[int]] = {s: [] for s in bodies}
    for start, body in bodies.items():
        last = body[-1] if body else start
        succ[start] = [t for t in successors(slots, last) if t in bodies] if body else []
        for t in succ[start]:
            preds[t].append(start)
    plans: dict[int, LoopPlan] = {}
    for header in sorted(checkpoints):
        if header not in bodies or header not in maxpath:
            continue
        plan = _plan_loop(slots, bodies, succ, preds, checkpoints, entry, header, maxpath[header])
        if plan is not None:
            plans[header] = plan
    return plans


def _plan_loop(
    slots: Mapping[int, Instruction],
    bodies: Mapping[int, Sequence[int]],
    succ: Mapping[int, list[int]],
    preds: Mapping[int, list[int]],
    checkpoints: set[int],
    entry: int,
    header: int,
    cost: int,
) -> LoopPlan | None:
    found = _body_blocks(entry, header, preds, succ)
    if found is None:
        return None
    body, latches = found
    if not latches or any(b in checkpoints for b in body - {header}):
        return None
    pcs = [pc for b in body for pc in bodies[b]]
    if sum(slots[pc].slots for pc in pcs) > MAX_LOOP_SLOTS or not all(_supported(slots[pc]) for pc in pcs):
        return None
    order = _topological(header, body, succ)
    if order is None:
        return None
    out: dict[int, list[Value]] = {}
    candidates: list[tuple[int, Instruction, list[Value]]] = []
    raw_accesses: list[tuple[int, Value, Instruction, bool]] = []
    for block in order:
        if block == header:
            regs: list[Value] = list(IDENTITY)
        else:
            incoming = [out[p] for p in preds[block] if p in body]
            regs = [v if all(o[r] == v for o in incoming) else None
                    for r, v in enumerate(incoming[0])]
        for pc in bodies[block]:
            insn = slots[pc]
            cls = insn.opcode & 0x07
            if cls == InsnClass.LDX:
                raw_accesses.append((pc, regs[insn.src], insn, False))
            elif cls in (InsnClass.ST, InsnClass.STX):
                raw_accesses.append((pc, regs[insn.dst], insn, True))
            if cls in (InsnClass.JMP, InsnClass.JMP32) and insn.opcode not in (EXIT, JA, JA32):
                candidates.append((block, insn, list(regs)))
            _transfer(insn, regs)
        out[block] = regs
    strides = _strides(out, latches)
    test = None
    for block, insn, regs in candidates:
        last = bodies[block][-1]
        test = _exit_test(slots, block, last, insn, regs, body, strides, header, succ, latches)
        if test is not None:
            break
    if test is None:
        return None
    accesses = []
    for pc, base, insn, write in raw_accesses:
        stride = _stride(base, strides, w32=False)
        if base is None or base.w32 or stride is None or abs(stride) >= MAX_STRIDE:
            continue
        accesses.append(Access(pc, base, insn.off, insn.size, write, stride))
    return LoopPlan(header, frozenset(body), test, tuple(accesses), cost)


def _strides(out: Mapping[int, list[Value]], latches: list[int]) -> dict[int, tuple[int, bool]]:
    """Induction variables: reg -> (stride, 32-bit only), from the registers on every back edge."""
    strides: dict[int, tuple[int, bool]] = {}
    for r in range(11):
        forms = [out[latch][r] for latch in latches]
        if any(f is None or f.terms != ((r, 1),) for f in forms):
            continue
        consts = {f.const for f in forms if f is not None}
        wide = {f.w32 for f in forms if f is not None}
        if len(consts) == 1 and wide == {False}:
            strides[r] = (_signed(consts.pop(), 64), False)
        elif len({c & M32 for c in consts}) == 1:
            strides[r] = (_signed(consts.pop(), 32), True)
    return strides


def _stride(value: Value, strides: Mapping[int, tuple[int, bool]], *, w32: bool) -> int | None:
    """How much `value` moves per iteration (None: it depends on a register that is no
    induction variable, or on a 32-bit one where all 64 bits count)."""
    if value is None:
        return None
    total = 0
    for r, c in value.terms:
        if r not in strides or (strides[r][1] and not w32):
            return None
        total += c * strides[r][0]
    return _signed(total, 32 if w32 else 64)


def _exit_test(
    slots: Mapping[int, Instruction], block: int, pc: int, insn: Instruction,
    regs: list[Value], body: set[int], strides: Mapping[int, tuple[int, bool]], header: int,
    succ: Mapping[int, list[int]], latches: list[int],
) -> ExitTest | None:
    """The test at `pc` as a bound on the loop, if it leaves the loop on one side and every
    way around the loop passes it."""
    taken, fall = pc + 1 + insn.off, pc + slots[pc].slots
    if (taken in body) == (fall in body):
        return None
    if block != header and _reaches_latch_without(succ, header, block, body, latches):
        return None
    op = insn.opcode & 0xF0
    if op not in _STAY:
        return None
    pred, signed = _STAY[JmpOp(op)]
    if taken not in body:
        pred = _NEGATE[pred]
    w32 = (insn.opcode & 0x07) == InsnClass.JMP32
    x = regs[insn.dst]
    y = regs[insn.src] if insn.opcode & 0x08 else Affine((), _sext(insn.imm))
    sx, sy = _stride(x, strides, w32=w32), _stride(y, strides, w32=w32)
    if x is None or y is None or sx is None or sy is None:
        return None
    if sx == 0 and sy != 0:
        x, y, sx, sy, pred = y, x, sy, sx, _MIRROR[pred]
    if sy != 0 or sx == 0 or abs(sx) >= MAX_STRIDE:
        return None
    if pred == "==" or (pred == "!=" and abs(sx) != 1):
        return None
    if (pred in ("<", "<=") and sx < 0) or (pred in (">", ">=") and sx > 0):
        return None
    return ExitTest(pc, x, y, pred, signed, w32, sx)


def _reaches_latch_without(
    succ: Mapping[int, list[int]], header: int, skip: int, body: set[int], latches: list[int]
) -> bool:
    """Whether some way from the header to a back edge avoids block `skip`."""
    seen = {header}
    todo = [header]
    while todo:
        node = todo.pop()
        if node in latches:
            return True
        for s in succ.get(node, []):
            if s in body and s != header and s != skip and s not in seen:
                seen.add(s)
                todo.append(s)
    return False
