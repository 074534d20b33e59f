"""LLVM IR for calls: helpers (trampoline into Python), bpf-to-bpf calls, callx and tail calls.

A mixin of FunctionTranslator. Functions return r0-r5 (the interpreter's callee leaves r1-r5
to its caller) and what is left of the instruction budget; each call checks the JitContext's
fault slot afterwards and unwinds on a fault. The budget is written to its slot before a call
(the callee starts from it) and taken from the callee's return value after it: an exit stores
nothing, so a run's last store (bpf_entry's caller) is only made where someone reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llvmlite import ir

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import MAX_CALL_FRAMES, CallSrc
from pybpf.vm.jit.irops import I64, UnsupportedInstruction, c64, cbranch_unlikely
from pybpf.vm.jit.layout import FaultCode, Slot

if TYPE_CHECKING:
    from pybpf.vm.jit.irgen import ModuleTranslator

I64P = I64.as_pointer()
# Functions return r0-r5 and the budget left (undefined when the code counts none; on a fault:
# the budget slot), and take (jctx, fp, depth, r0..r9): a callee starts with the caller's
# registers, r10 = its own frame.
RET_TYPE = ir.LiteralStructType([I64] * 7)
RET_BUDGET = 6  # the index of the budget left in RET_TYPE
FN_TYPE = ir.FunctionType(RET_TYPE, [I64P, I64, I64] + [I64] * 10)
HELPER_TYPE = ir.FunctionType(I64, [I64P, I64, I64, I64, I64, I64, I64])
TAIL_CALL_HELPER = 12


def load_slot(b: ir.IRBuilder, jctx: ir.Value, slot: int) -> ir.Value:
    return b.load(b.gep(jctx, [ir.Constant(I64, slot)]))


def store_slot(b: ir.IRBuilder, jctx: ir.Value, slot: int, value: ir.Value) -> None:
    b.store(value, b.gep(jctx, [ir.Constant(I64, slot)]))


class CallEmitter:
    """Mixin of FunctionTranslator: calls, exits and their bookkeeping."""

    mt: ModuleTranslator
    fn: ir.Function
    opt: Any
    jctx: ir.Value
    fp: ir.Value
    depth: ir.Value
    unwind: ir.Block


    if TYPE_CHECKING:  # provided by FunctionTranslator and the other mixin
        def get(self, b: ir.IRBuilder, reg: int) -> ir.Value: ...
        def set(self, b: ir.IRBuilder, reg: int, value: ir.Value) -> None: ...
        def save_budget(self, b: ir.IRBuilder) -> None: ...
        def reload_budget(self, b: ir.IRBuilder, value: ir.Value | None = None) -> None: ...
        def budget_left(self, b: ir.IRBuilder) -> ir.Value: ...
        def reload_region_cache(self, b: ir.IRBuilder) -> None: ...
        def fault(self, b: ir.IRBuilder, code: int, pc: int, aux: ir.Value | None = None) -> None: ...
        def target_block(self, pc: int) -> ir.Block: ...

    def check_fault_after_call(self, b: ir.IRBuilder) -> None:
        failed = b.icmp_unsigned("!=", load_slot(b, self.jctx, Slot.FAULT), c64(0))
        cont = self.fn.append_basic_block()
        cbranch_unlikely(b, failed, self.unwind, cont)
        b.position_at_end(cont)

    def ret_regs(self, b: ir.IRBuilder) -> None:
        """Return r0-r5 and the budget left."""
        out = ir.Constant(RET_TYPE, ir.Undefined)
        for r in range(6):
            out = b.insert_value(out, self.get(b, r), r)
        if self.opt.budget:
            out = b.insert_value(out, self.budget_left(b), RET_BUDGET)
        b.ret(out)

    def helper_args(self, b: ir.IRBuilder) -> list[ir.Value]:
        return [self.get(b, r) for r in range(1, 6)]

    def call_trampoline(self, b: ir.IRBuilder, pc: int, helper_id: ir.Value) -> ir.Value:
        """r0 = Python helper `helper_id`(r1..r5) through the trampoline."""
        store_slot(b, self.jctx, Slot.HELPER_PC, c64(pc))
        store_slot(b, self.jctx, Slot.HELPER_DEPTH, self.depth)
        store_slot(b, self.jctx, Slot.HELPER_FP, self.fp)
        self.save_budget(b)
        tramp = b.inttoptr(load_slot(b, self.jctx, Slot.HELPER), HELPER_TYPE.as_pointer())
        r0 = b.call(tramp, [self.jctx, helper_id, *self.helper_args(b)])
        self.check_fault_after_call(b)
        self.reload_budget(b)
        self.reload_region_cache(b)
        return r0

    def _emit_call(self, b: ir.IRBuilder, pc: int, insn: Instruction) -> None:
        if insn.src == CallSrc.LOCAL:
            target = pc + 1 + insn.imm
            if target not in self.mt.functions:
                self.fault(b, FaultCode.BAD_JUMP, pc)
                return
            self._call_function(b, pc, self.mt.functions[target])
        elif insn.src == CallSrc.HELPER:
            helper = insn.imm & 0xFFFFFFFF
            if helper == TAIL_CALL_HELPER:
                self._emit_tail_call(b, pc)
            elif helper in self.mt.native_helpers:
                store_slot(b, self.jctx, Slot.HELPER_PC, c64(pc))
                r0 = self.mt.native_helpers[helper](self, b, pc, self.helper_args(b))  # type: ignore[arg-type]
                self.set(b, 0, r0)
            else:
                self.set(b, 0, self.call_trampoline(b, pc, c64(helper)))
        else:
            raise UnsupportedInstruction("kfunc calls are not supported")
        b.branch(self.target_block(pc + 1))

    def _call_function(self, b: ir.IRBuilder, pc: int, callee: ir.Value) -> None:
        too_deep = b.icmp_unsigned(">=", self.depth, c64(MAX_CALL_FRAMES - 1))
        ok = self.fn.append_basic_block()
        out = self.fn.append_basic_block()
        cbranch_unlikely(b, too_deep, out, ok)
        self.fault(ir.IRBuilder(out), FaultCode.CALL_DEPTH, pc)
        b.position_at_end(ok)
        self.save_budget(b)
        fp = b.add(self.fp, c64(self.opt.frame_stride))
        depth = b.add(self.depth, c64(1))
        regs = [self.get(b, r) for r in range(10)]
        result = b.call(callee, [self.jctx, fp, depth, *regs])
        self.check_fault_after_call(b)
        self.reload_budget(b, b.extract_value(result, RET_BUDGET))
        self.reload_region_cache(b)
        for r in range(6):
            self.set(b, r, b.extract_value(result, r))

    def _emit_callx(self, b: ir.IRBuilder, pc: int, insn: Instruction) -> None:
        target = self.get(b, insn.dst)
        store_slot(b, self.jctx, Slot.HELPER_PC, c64(pc))
        done = self.fn.append_basic_block()
        for fpc, fn in self.mt.functions.items():
            hit = self.fn.append_basic_block(f"callx{pc}_{fpc}")
            miss = self.fn.append_basic_block()
            b.cbranch(b.icmp_unsigned("==", target, b.ptrtoint(fn, I64)), hit, miss)
            b.position_at_end(hit)
            self._call_function(b, pc, fn)
            b.branch(done)
            b.position_at_end(miss)
        # not a function of this program: the value names a helper (uBPF's callx convention)
        self.set(b, 0, self.call_trampoline(b, pc, target))
        b.branch(done)
        b.position_at_end(done)
        b.branch(self.target_block(pc + 1))

    def _emit_tail_call(self, b: ir.IRBuilder, pc: int) -> None:
        """bpf_tail_call through the Python helper; on success run the target and return its r0."""
        r1 = self.get(b, 1)
        r0 = self.call_trampoline(b, pc, c64(TAIL_CALL_HELPER))
        entry = load_slot(b, self.jctx, Slot.TAILCALL)
        go = self.fn.append_basic_block(f"tail{pc}")
        stay = self.fn.append_basic_block()
        b.cbranch(b.icmp_unsigned("!=", entry, c64(0)), go, stay)
        gb = ir.IRBuilder(go)
        store_slot(gb, self.jctx, Slot.TAILCALL, c64(0))
        target_ctx = gb.inttoptr(load_slot(gb, self.jctx, Slot.TAIL_JCTX), I64P)
        target = gb.inttoptr(entry, FN_TYPE.as_pointer())
        # the target replaces this frame (same r10) and counts its own calls from depth 0, as in the kernel
        args = [target_ctx, self.fp, c64(0), c64(0), r1] + [c64(0)] * 8
        result = gb.call(target, args)
        for slot in (Slot.FAULT, Slot.FAULT_PC, Slot.FAULT_AUX):
            store_slot(gb, self.jctx, slot, load_slot(gb, target_ctx, slot))
        out = gb.insert_value(ir.Constant(RET_TYPE, None), gb.extract_value(result, 0), 0)
        for r in range(1, 6):
            out = gb.insert_value(out, self.get(gb, r), r)
        # the target counted on from this program's budget (Python prepared it so)
        out = gb.insert_value(out, gb.extract_value(result, RET_BUDGET), RET_BUDGET)
        gb.ret(out)
        b.position_at_end(stay)
        self.set(b, 0, r0)
