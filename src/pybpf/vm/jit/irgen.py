"""Translate an eBPF program (with its bpf-to-bpf sub-programs) into an LLVM IR module.

Each function (the program at pc 0 and every local call target) becomes an LLVM function
`{r0..r5} bpf_fn_<pc>(i64* jctx, i64 fp, i64 depth, i64 r0..r9)` built by
pybpf.vm.jit.irfunc; `bpf_entry(jctx, r1, r2)` zeroes the stack and calls the program, and the
drivers of pybpf.vm.jit.batch call `bpf_entry`. Memory accesses are emitted by
pybpf.vm.jit.irmem (bounds checks unless `checks=False`, context conversion), calls by
pybpf.vm.jit.ircalls, native helpers by pybpf.vm.jit.natives. A fault stores a `FaultCode` in
the JitContext and unwinds by returning; the Python side turns it into the interpreter's fault.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from llvmlite import ir

from pybpf.isa.instruction import Instruction, iter_slots
from pybpf.isa.opcodes import STACK_SIZE
from pybpf.vm.jit.batch import build_drivers
from pybpf.vm.jit.cfg import (
    find_functions,
    has_backward_jump,
    reachable,
    static_max_depth,
    successors,
)
from pybpf.vm.jit.ctxflow import context_taint
from pybpf.vm.jit.framereach import frame_bytes_reached
from pybpf.vm.jit.ircalls import FN_TYPE, RET_BUDGET, load_slot, store_slot
from pybpf.vm.jit.irctx import split_entry_ctx, wants_split
from pybpf.vm.jit.irfunc import FunctionTranslator
from pybpf.vm.jit.irops import I1, I64, c64
from pybpf.vm.jit.irslow import build_ctx_load, build_mem_slow
from pybpf.vm.jit.layout import FaultCode, Slot

I64P = I64.as_pointer()
# bpf_entry(jctx, r1, r2) -> (r0, the budget left): its callers store the budget where it is read
ENTRY_RET = ir.LiteralStructType([I64, I64])
ENTRY_TYPE = ir.FunctionType(ENTRY_RET, [I64P, I64, I64])

# A native helper: fn(translator, builder, pc, (r1..r5)) -> r0, or None to use the trampoline.
NativeHelper = Callable[["FunctionTranslator", ir.IRBuilder, int, list[ir.Value]], ir.Value]


INLINE_LOOP_SLOTS = 64  # checked programs with loops up to this many instructions are inlined


@dataclass(frozen=True)
class TranslateOptions:
    """What the generated code checks; part of the compile cache key."""

    checks: bool = True  # bounds-check every memory access
    budget: bool = True  # charge the instruction budget per basic block
    zero_stack: bool = True  # zero the stack frames at entry (deterministic like the interpreter)
    dual_budget: bool = True  # a fast copy of the code that compares the budget only at loops
    combine_checks: bool = True  # one range check for a block's accesses off one base
    version_loops: bool = True  # a check-free copy of loops whose whole run a guard can check
    inline_main: bool = True  # inline the program (bpf_fn_0, also the tail-call target) into bpf_entry
    frame_stride: int = 2 * STACK_SIZE  # distance between the r10 of consecutive frames
    ctx_kind: str = ""  # "xdp" / "skb": convert context accesses like the kernel; "": none
    native_helpers: frozenset[int] = field(default_factory=frozenset)


class ModuleTranslator:
    """Builds the LLVM module of one program."""

    def __init__(
        self,
        insns: Sequence[Instruction],
        options: TranslateOptions,
        relocations: Mapping[int, int] | None = None,
        native_helpers: Mapping[int, NativeHelper] | None = None,
    ) -> None:
        self.insns = list(insns)
        self.slots: dict[int, Instruction] = dict(iter_slots(self.insns))
        self.options = options
        self.relocations = dict(relocations or {})  # lddw pc -> index in the relocation table
        self.native_helpers = dict(native_helpers or {})
        self.module = ir.Module(name="bpf")
        self.functions_pcs = find_functions(self.insns)
        self.functions: dict[int, ir.Function] = {}
        for pc in self.functions_pcs:
            fn = ir.Function(self.module, FN_TYPE, name=f"bpf_fn_{pc}")
            self.functions[pc] = fn
        self.mem_slow = build_mem_slow(self.module)
        self.budget_stored = False  # whether the code writes the budget slot (before a call)
        self.ctx_taint: dict[int, int] = {}
        if options.ctx_kind:
            bodies = {pc: reachable(self.slots, pc) for pc in self.functions_pcs}
            self.ctx_taint = context_taint(
                self.slots, bodies, lambda pc: successors(self.slots, pc)
            )
        self.ctx_loads: dict[int, ir.Function] = {}
        if options.ctx_kind:
            for size in (1, 2, 4, 8):
                self.ctx_loads[size] = build_ctx_load(self.module, options.ctx_kind, size)

    def translate(self) -> ir.Module:
        for pc, fn in self.functions.items():
            if wants_split(self, pc):
                split_entry_ctx(self, fn, self._translate_main_copy)
            else:
                FunctionTranslator(self, fn, pc).build()
        entry = self._build_entry()
        build_drivers(self.module, entry, xdp=self.options.ctx_kind == "xdp", budget=self.options.budget,
                      stored=self.budget_stored)
        return self.module

    def _translate_main_copy(self, fn: ir.Function, held: bool) -> None:
        """One copy of the main function, with the entry test's answer known (irctx)."""
        FunctionTranslator(self, fn, 0, assume_entry_ctx=held).build()

    def _inline_main(self) -> bool:
        """Whether the main function goes into bpf_entry (depth 0, r3-r9 = 0 fold in): it pays
        for short programs. Long loops gain nothing from it and LLVM lays them out worse inlined,
        but a small checked loop program pays more for the call than it saves: its slow copies
        make it too big for LLVM to inline by itself, as it does the unchecked one, and the
        call passes 7 registers on the stack and returns the register file through memory."""
        if not has_backward_jump(self.slots):
            return True
        return self.options.checks and len(self.slots) <= INLINE_LOOP_SLOTS

    # --- the out-of-line bounds check: region table scan, then the Python resolver ---------
    def _build_entry(self) -> ir.Function:
        fn = ir.Function(self.module, ENTRY_TYPE, name="bpf_entry")
        jctx, r1, r2 = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        fp = load_slot(b, jctx, Slot.STACK_TOP)
        if self.options.zero_stack:
            memset = self.module.declare_intrinsic(
                "llvm.memset", [ir.IntType(8).as_pointer(), I64]
            )
            frames = static_max_depth(self.insns, self.functions_pcs) + 1
            used = frame_bytes_reached(self.slots, self.functions_pcs)
            for k in range(frames if used else 0):
                low = b.add(fp, c64(k * self.options.frame_stride - used))
                ptr = b.inttoptr(low, ir.IntType(8).as_pointer())
                b.call(memset, [ptr, ir.Constant(ir.IntType(8), 0), c64(used), ir.Constant(I1, 0)])
        if 0 in self.functions:
            args = [jctx, fp, c64(0), c64(0), r1, r2] + [c64(0)] * 7
            if self.options.inline_main and self._inline_main():
                self.functions[0].attributes.add("alwaysinline")
            r = b.call(self.functions[0], args)
            out = b.insert_value(ir.Constant(ENTRY_RET, ir.Undefined), b.extract_value(r, 0), 0)
            if self.options.budget:
                out = b.insert_value(out, b.extract_value(r, RET_BUDGET), 1)
            b.ret(out)
        else:  # an empty program
            store_slot(b, jctx, Slot.FAULT, c64(FaultCode.BAD_JUMP))
            store_slot(b, jctx, Slot.FAULT_PC, c64(0))
            out = b.insert_value(ir.Constant(ENTRY_RET, None), c64(0), 0)
            b.ret(b.insert_value(out, load_slot(b, jctx, Slot.BUDGET), 1))
        return fn


__all__ = ["FunctionTranslator", "ModuleTranslator", "NativeHelper", "TranslateOptions"]
