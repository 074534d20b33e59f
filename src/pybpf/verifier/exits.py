"""BPF_EXIT: return from a sub-program or callback into its caller, or the program's return-value rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf.errors import VerifierError
from pybpf.isa.instruction import Instruction
from pybpf.verifier import btf_ctx, ctx_attach
from pybpf.verifier.context import RETURN_RANGES
from pybpf.verifier.state import NOT_INIT, Reg, State

if TYPE_CHECKING:
    from pybpf.verifier.checker import Checker, _Path


def exit(ck: Checker, pc: int, insn: Instruction, st: State, path: _Path, work: list[_Path]) -> int | None:
    if insn.src or insn.dst or insn.off or insn.imm:
        raise VerifierError("BPF_EXIT uses reserved fields", insn=pc)
    frame = st.cur
    if len(st.frames) > 1:
        if frame.callback is not None:
            return callback_exit(ck, pc, st, ck.read(st, pc, 0))
        # a static function returns whatever R0 holds (even nothing): the caller's reads decide
        st.frames.pop()
        caller = st.cur
        caller.regs[0] = frame.regs[0]
        for r in range(1, 6):
            caller.regs[r] = NOT_INIT
        return frame.callsite + 1
    if st.refs:
        ref = st.refs[0]
        raise VerifierError(f"Unreleased reference id={ref.id} alloc_insn={ref.insn}", insn=pc)
    r0 = ck.read(st, pc, 0)
    if ck.is_ptr_leak(r0):
        raise VerifierError("R0 leaks addr as return value", insn=pc)
    if ck.entry_global is not None:  # a global function verified on its own
        if not r0.is_scalar:
            raise VerifierError(f"At subprogram exit the register R0 is not a scalar value ({r0.type_str()})",
                                insn=pc)
        return None
    if ck.program_type in btf_ctx.BTF_CTX_TYPES:
        rng = btf_ctx.return_range(ck.program_type, ck.attach_type, ck.attach_to)
    else:
        rng = ctx_attach.return_range(ck.program_type, ck.attach_type) or RETURN_RANGES.get(ck.program_type)
    if rng is not None:
        if not r0.is_scalar:
            raise VerifierError(f"At program exit the register R0 is not a known value ({r0.type_str()})",
                                insn=pc)
        ck.mark_precise(st, [0])
        v = r0.var
        if v.smin < rng[0] or v.smax > rng[1]:
            raise VerifierError(f"At program exit the register R0 has smin={v.smin} smax={v.smax} should "
                                f"have been in [{rng[0]}, {rng[1]}]", insn=pc)
    return None


def callback_exit(ck: Checker, pc: int, st: State, r0: Reg) -> int:
    frame = st.cur
    ck.mark_all_precise()
    lo, hi = frame.callback
    if not r0.is_scalar:
        raise VerifierError(f"At callback return the register R0 is not a known value ({r0.type_str()})",
                            insn=pc)
    if r0.var.smin < lo or r0.var.smax > hi:
        raise VerifierError(f"At callback return the register R0 has smin={r0.var.smin} smax={r0.var.smax} "
                            f"should have been in [{lo}, {hi}]", insn=pc)
    st.frames.pop()
    st.callback_unroll += 1  # the next iteration's states are not the same loop as this one's
    # back to the helper call: it may call the callback again or return
    return frame.callsite
