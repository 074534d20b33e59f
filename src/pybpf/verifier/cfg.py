"""Static control-flow checks (the kernel's check_subprogs/check_cfg) and register liveness for pruning."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pybpf import helpers
from pybpf.errors import VerifierError
from pybpf.helpers import ArgType
from pybpf.isa.instruction import VALID_OPCODES, Instruction, func_pointer_target
from pybpf.isa.opcodes import CALL, EXIT, JA, JA32, LDDW, InsnClass, JmpOp, Mode, PseudoSrc

ALL_REGS = frozenset(range(11))
_PSEUDO_SRCS = frozenset(int(p) for p in PseudoSrc)


@dataclass
class Program:
    """A program indexed by slot pc, with its sub-programs and the facts the checker needs."""

    by_pc: dict[int, Instruction]
    order: list[int]  # slot pcs in order
    nslots: int
    subprogs: list[int] = field(default_factory=list)  # start pcs, sorted, first is 0
    prune_points: set[int] = field(default_factory=set)
    succ: dict[int, list[int]] = field(default_factory=dict)  # control-flow successors by pc
    live_in: dict[int, frozenset[int]] = field(default_factory=dict)
    back: list[Any] = field(default_factory=list)  # precision's step-back tables by pc, built on use

    def subprog_of(self, pc: int) -> int:
        start = 0
        for s in self.subprogs:
            if s <= pc:
                start = s
        return start

    def subprog_end(self, start: int) -> int:
        later = [s for s in self.subprogs if s > start]
        return later[0] if later else self.nslots


def is_cond_jump(insn: Instruction) -> bool:
    cls = insn.opcode & 0x07
    if cls not in (InsnClass.JMP, InsnClass.JMP32):
        return False
    return insn.opcode & 0xF0 not in (JmpOp.JA, JmpOp.CALL, JmpOp.EXIT)


def jump_target(pc: int, insn: Instruction) -> int:
    """Slot pc a jump goes to when taken."""
    if insn.opcode == JA32:
        return pc + insn.imm + 1
    return pc + insn.off + 1


def build(insns: Sequence[Instruction]) -> Program:
    """Index the program and run the kernel's static checks, raising VerifierError like the kernel."""
    by_pc: dict[int, Instruction] = {}
    order: list[int] = []
    pc = 0
    for insn in insns:
        by_pc[pc] = insn
        order.append(pc)
        pc += 2 if insn.opcode == LDDW else 1
    nslots = pc
    if nslots == 0:
        raise VerifierError("empty program")
    prog = Program(by_pc, order, nslots)
    # resolve_pseudo_ldimm64 and the opcode table come first in the kernel
    for pc, insn in by_pc.items():  # (in pc order)
        op = insn.opcode
        if op not in VALID_OPCODES:
            raise VerifierError(f"unknown opcode {op:02x}", insn=pc)
        if op == LDDW and insn.src not in _PSEUDO_SRCS:
            raise VerifierError("invalid bpf_ld_imm64 insn", insn=pc)
    subprogs = {0}
    for pc, insn in by_pc.items():
        op = insn.opcode
        if op != CALL and op != LDDW:
            continue
        target = None
        if op == CALL and insn.src == 1:
            target = pc + insn.imm + 1
        elif op == LDDW and insn.src == PseudoSrc.FUNC:
            target = func_pointer_target(pc, insn)  # insn[1].imm is not looked at, as in the kernel
        if target is not None:
            if target < 0 or target >= nslots:
                raise VerifierError("call to invalid destination", insn=pc)
            subprogs.add(target)
    prog.subprogs = sorted(subprogs)
    _check_subprogs(prog)
    _check_cfg(prog)
    prog.live_in = _liveness(prog)
    return prog


def _check_subprogs(prog: Program) -> None:
    order, by_pc = prog.order, prog.by_pc
    for start in prog.subprogs:
        end = prog.subprog_end(start)
        pcs = order[bisect_left(order, start):bisect_left(order, end)]  # (order is sorted)
        for pc in pcs:
            insn = by_pc[pc]
            cls = insn.opcode & 0x07
            if cls != _JMP and cls != _JMP32:
                continue
            if insn.opcode in (CALL, EXIT) or insn.opcode & 0xF0 in (JmpOp.CALL, JmpOp.EXIT):
                continue
            target = jump_target(pc, insn)
            if target < start or target >= end:
                raise VerifierError(f"jump out of range from insn {pc} to {target}", insn=pc)
        if pcs:
            last = prog.by_pc[pcs[-1]]
            if last.opcode not in (EXIT, JA, JA32):
                raise VerifierError("last insn is not an exit or jmp", insn=pcs[-1])
        else:
            raise VerifierError("last insn is not an exit or jmp", insn=start)


def successors(prog: Program, pc: int) -> list[int]:
    """Control-flow successors of the instruction at pc (calls fall through)."""
    insn = prog.by_pc[pc]
    op = insn.opcode
    if op == EXIT:
        return []
    if op == JA or op == JA32:
        return [jump_target(pc, insn)]
    nxt = pc + 2 if op == LDDW else pc + 1
    if _is_cond_jump_op(op):
        return [nxt, pc + insn.off + 1]
    return [nxt]


_COND_JUMP_OPS = frozenset(op for op in range(256) if op & 0x07 in (InsnClass.JMP, InsnClass.JMP32)
                           and op & 0xF0 not in (JmpOp.JA, JmpOp.CALL, JmpOp.EXIT))


def _is_cond_jump_op(op: int) -> bool:
    return op in _COND_JUMP_OPS


def _calls_back(helper_id: int) -> bool:
    proto = helpers.get(helper_id)
    return proto is not None and proto.callback is not None


def _mark_prune_points(prog: Program, pc: int, insn: Instruction, succ: list[int]) -> None:
    """Where the kernel looks for equivalent states (visit_insn): conditional jumps and jump targets,
    the instruction after a call, and calls that enter a function or a callback."""
    if _is_cond_jump_op(insn.opcode):
        prog.prune_points.add(pc)
        prog.prune_points.update(succ[1:])  # the branch target (push_insn of a BRANCH edge)
    elif insn.opcode in (JA, JA32):
        prog.prune_points.update(succ)
    elif insn.opcode == CALL:
        prog.prune_points.add(pc + 1)
        if insn.src == 1 or (insn.src == 0 and _calls_back(insn.imm)):
            prog.prune_points.add(pc)


def _check_cfg(prog: Program) -> None:
    """Depth-first walk from every entry: reachability, ldimm64 halves; marks prune points."""
    seen: set[int] = set()
    starts = [0] + [s for s in prog.subprogs if s != 0]
    for start in starts:
        work = [start]
        while work:
            pc = work.pop()
            if pc in seen:
                continue
            seen.add(pc)
            insn = prog.by_pc.get(pc)
            if insn is None:
                continue  # middle of an lddw, reported below
            op = insn.opcode
            if op & 0x07 == _JMP or op & 0x07 == _JMP32:
                succ = prog.succ[pc] = successors(prog, pc)
                _mark_prune_points(prog, pc, insn, succ)
            else:  # (falls through; no prune point)
                succ = prog.succ[pc] = [pc + 2 if op == LDDW else pc + 1]
            for s in succ:
                if s >= prog.nslots:
                    raise VerifierError(f"jump out of range from insn {pc} to {s}", insn=pc)
                work.append(s)
    if seen == prog.by_pc.keys():
        return  # every instruction reached, no jump into an lddw
    for pc in range(prog.nslots):
        if pc in prog.by_pc:
            if pc not in seen:
                raise VerifierError(f"unreachable insn {pc}", insn=pc)
        elif pc in seen:
            raise VerifierError(f"jump into the middle of ldimm64 insn {pc - 1}", insn=pc - 1)


_ALU, _ALU64, _JMP, _JMP32, _LDX, _ST = (int(InsnClass.ALU), int(InsnClass.ALU64), int(InsnClass.JMP),
                                        int(InsnClass.JMP32), int(InsnClass.LDX), int(InsnClass.ST))
_ARGS = [sum(1 << r for r in range(1, n + 1)) for n in range(6)]  # r1..rn as a bit mask
_R0_R5 = 0b111111


def _call_args(insn: Instruction) -> int:
    """The argument registers a call reads: a helper's by its prototype, r1-r5 for anything else."""
    if insn.src == 0:
        proto = helpers.get(insn.imm)
        if proto is not None and proto.known:
            n = max((i + 1 for i, a in enumerate(proto.args) if a is not ArgType.ARG_DONTCARE), default=0)
            return _ARGS[min(n, 5)]
    return _ARGS[5]


def uses_defs(insn: Instruction) -> tuple[int, int]:
    """Registers an instruction reads and writes, as bit masks (bit r for register r; helper and
    local calls: r1-r5 read, r0-r5 written)."""
    op, cls = insn.opcode, insn.opcode & 0x07
    dst, src = 1 << insn.dst, 1 << insn.src
    if cls == _ALU or cls == _ALU64:
        aop = op & 0xF0
        if aop == 0xD0:  # byte swap: reads and writes dst
            return dst, dst
        uses = src if op & 0x08 else 0
        if aop != 0xB0:  # mov does not read dst
            uses |= dst
        return uses, dst
    if op == EXIT:
        return 1, 0
    if op & 0xF7 == CALL:
        return _call_args(insn), _R0_R5
    if cls == _JMP or cls == _JMP32:
        if op & 0xF0 == JmpOp.JA:
            return 0, 0
        return dst | (src if op & 0x08 else 0), 0
    if op == LDDW:
        return 0, dst
    if cls == InsnClass.LD:  # ld_abs/ind
        return (1 << 6) | (src if op & 0xE0 == Mode.IND else 0), _R0_R5
    if cls == _LDX:
        return src, dst
    if cls == _ST:
        return dst, 0
    if op & 0xE0 == Mode.ATOMIC:
        if insn.imm == 0xF1:
            return dst | src | 1, 1
        return dst | src, src if insn.imm & 0x01 else 0
    return dst | src, 0


def _liveness(prog: Program) -> dict[int, frozenset[int]]:
    """Registers live on entry to each instruction (backward may-analysis, r10 always live)."""
    by_pc = prog.by_pc
    live = dict.fromkeys(prog.order, 0)
    nodes = []
    backward = False
    for pc in reversed(prog.order):
        uses, defs = uses_defs(by_pc[pc])
        succ = prog.succ[pc]  # (_check_cfg: every successor is an instruction's first slot)
        if succ and min(succ) <= pc:
            backward = True
        nodes.append((pc, succ, uses | (1 << 10), ~defs))
    changed = True
    while changed:
        changed = False
        for pc, succ, uses, keep in nodes:
            out = 0
            for s in succ:
                out |= live[s]
            new = uses | (out & keep)
            if new != live[pc]:
                live[pc] = new
                changed = True
        if not backward:
            break  # every successor came first (reverse order): the first pass is final
    sets: dict[int, frozenset[int]] = {}
    for mask in set(live.values()):
        sets[mask] = frozenset(r for r in range(11) if mask >> r & 1)
    return {pc: sets[mask] for pc, mask in live.items()}
