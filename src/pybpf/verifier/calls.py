"""BPF_CALL: helper calls, bpf-to-bpf calls into new frames, and the combined stack depth of the call graph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pybpf.errors import VerifierError
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import CALL, MAX_CALL_FRAMES
from pybpf.verifier import global_funcs, helpers_check  # (helpers_check imports this module back)
from pybpf.verifier.state import NOT_INIT, Frame, Reg, RegType, State

TAIL_CALL = 12

if TYPE_CHECKING:
    from pybpf.verifier.checker import Checker, _Path


def call(ck: Checker, pc: int, insn: Instruction, st: State, path: _Path, work: list[_Path]) -> int | None:
    if insn.opcode != CALL:
        raise VerifierError("BPF_CALL uses reserved fields", insn=pc)
    if insn.src == 1:
        if insn.off or insn.dst:
            raise VerifierError("BPF_CALL uses reserved fields", insn=pc)
        target = pc + insn.imm + 1
        func = ck.globals.get(target)
        if func is not None:
            return global_funcs.call(ck, pc, func, st)
        return local_call(ck, pc, target, st)
    if insn.src == 2:
        from pybpf.verifier import kfuncs

        return kfuncs.call(ck, pc, insn.imm, insn.off, st)
    if insn.src or insn.off or insn.dst:
        raise VerifierError("BPF_CALL uses reserved fields", insn=pc)
    return helpers_check.helper_call(ck, pc, insn.imm, st, path, work)


def local_call(ck: Checker, pc: int, target: int, st: State, callback: Any = None) -> int:
    if len(st.frames) >= MAX_CALL_FRAMES:
        raise VerifierError(f"the call stack of {len(st.frames) + 1} frames is too deep !", insn=pc)
    caller = st.cur
    regs = [NOT_INIT] * 11
    for r in range(1, 6):
        regs[r] = caller.regs[r]
    regs[10] = Reg(RegType.PTR_TO_STACK, frameno=len(st.frames))
    st.frames.append(Frame(regs, {}, pc, target, 0, callback))
    ck.note = ("frame",)
    return target


def check_stack_depth(ck: Checker) -> None:
    """The kernel's check_max_stack_depth over the static call graph (rounded to 32 per frame)."""
    depths: dict[int, int] = {}
    for cps in ck.explored.values():
        for cp in cps:
            for f in cp.state.frames:
                depths[f.subprog] = max(depths.get(f.subprog, 0), f.depth)
    for sub, d in ck.frame_depths.items():
        depths[sub] = max(depths.get(sub, 0), d)
    ck.subprog_depth = depths
    calls: dict[int, set[int]] = {}
    for pc, insn in ck.prog.by_pc.items():
        if insn.opcode == CALL and insn.src == 1:
            calls.setdefault(ck.prog.subprog_of(pc), set()).add(pc + insn.imm + 1)

    def rounded(sub: int) -> int:
        d = depths.get(sub, 0)
        return (max(d, 1) + 31) // 32 * 32

    def walk(sub: int, total: int, nframes: int, seen: tuple[int, ...]) -> None:
        total += rounded(sub)
        if total > 512:
            raise VerifierError(f"combined stack size of {nframes} calls is {total}. Too large")
        for callee in calls.get(sub, ()):
            if callee in seen:
                continue
            walk(callee, total, nframes + 1, seen + (callee,))

    walk(0, 0, 1, (0,))


def check_tail_calls(ck: Checker) -> None:
    """Tail calls from sub-programs need BTF function info (the kernel's check_subprogs)."""
    if ck.func_infos or len(ck.prog.subprogs) == 1:  # (one: every pc is in sub-program 0)
        return
    for pc, insn in ck.prog.by_pc.items():
        if insn.opcode == CALL and insn.src == 0 and insn.imm == TAIL_CALL and ck.prog.subprog_of(pc) != 0:
            raise VerifierError("tail_call is not allowed in subprogs without BTF")
