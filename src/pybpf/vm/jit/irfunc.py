"""Translate one eBPF function into an LLVM function: registers, basic blocks and the budget.

Registers live in allocas that LLVM promotes to SSA values; basic blocks start at jump targets
and after jumps and calls. The instruction budget is charged once per basic block; with
`dual_budget` a second, fast copy of the blocks compares it only at the entry, loop heads and
after calls (against the longest path to the next comparison), counting what it spends in
between as constants where every path agrees, and hands over to the exact copy when the budget
might run out before the next comparison. A fault stores a `FaultCode` in the JitContext and
unwinds by returning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from pybpf.isa.opcodes import EXIT, JA, JA32, STACK_SIZE, InsnClass
from pybpf.vm.jit.cfg import budget_regions, reachable, spent_on_entry, successors
from pybpf.vm.jit.ircalls import RET_TYPE, CallEmitter, load_slot, store_slot
from pybpf.vm.jit.ircombine import CheckPlan, plan_checks
from pybpf.vm.jit.irctx import EntryCtxEmitter
from pybpf.vm.jit.irinsn import InstructionEmitter
from pybpf.vm.jit.irmem import MemoryEmitter
from pybpf.vm.jit.irops import I64, UnsupportedInstruction, c64, cbranch_likely, cbranch_unlikely
from pybpf.vm.jit.layout import FaultCode, Slot

if TYPE_CHECKING:
    from pybpf.vm.jit.irgen import ModuleTranslator

_MEMORY_CLASSES = (InsnClass.LD, InsnClass.LDX, InsnClass.ST, InsnClass.STX)


class FunctionTranslator(CallEmitter, EntryCtxEmitter, MemoryEmitter, InstructionEmitter):
    """Emits one eBPF function."""

    def __init__(self, mt: ModuleTranslator, fn: ir.Function, entry_pc: int) -> None:
        self.mt = mt
        self.fn = fn
        self.entry_pc = entry_pc
        self.opt = mt.options
        self.jctx, self.fp, self.depth = fn.args[0], fn.args[1], fn.args[2]
        self.args = fn.args[3:13]
        self.pcs = reachable(mt.slots, entry_pc)
        self.blocks: dict[int, ir.Block] = {}
        self.bad_jump: dict[int, ir.Block] = {}
        self.plans: dict[int, CheckPlan | None] = {}

    # --- registers and budget -------------------------------------------------------------
    def get(self, b: ir.IRBuilder, reg: int) -> ir.Value:
        if reg > 10:
            raise UnsupportedInstruction(f"register r{reg}")
        return b.load(self.regs[reg])

    def set(self, b: ir.IRBuilder, reg: int, value: ir.Value) -> None:
        if reg > 10:
            raise UnsupportedInstruction(f"register r{reg}")
        b.store(value, self.regs[reg])

    def budget_left(self, b: ir.IRBuilder) -> ir.Value:
        """What is left of the budget here (the fast copy subtracts what it spent since the
        last checkpoint)."""
        left = b.load(self.budget)
        return b.sub(left, b.load(self.spent)) if self.mode == "fast" else left

    def save_budget(self, b: ir.IRBuilder) -> None:
        if self.opt.budget:
            store_slot(b, self.jctx, Slot.BUDGET, self.budget_left(b))

    def reload_budget(self, b: ir.IRBuilder) -> None:
        if self.opt.budget:
            b.store(load_slot(b, self.jctx, Slot.BUDGET), self.budget)
            if self.mode == "fast":
                b.store(c64(0), self.spent)

    def fault(self, b: ir.IRBuilder, code: int, pc: int, aux: ir.Value | None = None) -> None:
        """Record a fault and unwind (terminates the current block)."""
        store_slot(b, self.jctx, Slot.FAULT, c64(code))
        store_slot(b, self.jctx, Slot.FAULT_PC, c64(pc))
        if aux is not None:
            store_slot(b, self.jctx, Slot.FAULT_AUX, aux)
        b.branch(self.unwind)

    # --- structure ------------------------------------------------------------------------
    def _leaders(self) -> list[int]:
        slots = self.mt.slots
        leaders = {self.entry_pc}
        for pc in self.pcs:
            insn = slots[pc]
            succ = successors(slots, pc)
            cls = insn.opcode & 0x07
            if cls in (InsnClass.JMP, InsnClass.JMP32):
                leaders.update(s for s in succ if s in slots)
                if insn.opcode not in (EXIT, JA, JA32):
                    leaders.add(pc + insn.slots)
        pcset = set(self.pcs)
        return sorted(p for p in leaders if p in pcset)

    def build(self) -> None:
        b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.regs = [b.alloca(I64, name=f"r{i}") for i in range(11)]
        self.budget = b.alloca(I64, name="budget")
        self.spent = b.alloca(I64, name="spent")  # fast copy: spent since the last checkpoint
        b.store(c64(0), self.spent)
        self.mode = "exact"
        for i in range(11):
            b.store(c64(0), self.regs[i])
        for i, arg in enumerate(self.args):
            b.store(arg, self.regs[i])
        b.store(self.fp, self.regs[10])
        self.stack_low = b.sub(self.fp, c64(STACK_SIZE))
        if self.opt.ctx_kind:
            self.ctx_start = load_slot(b, self.jctx, Slot.CTX_START)
            self.ctx_len = load_slot(b, self.jctx, Slot.CTX_LEN)
            self.init_entry_ctx(b)
        if self.opt.checks:
            self.init_region_cache(b)
        if self.opt.budget:
            b.store(load_slot(b, self.jctx, Slot.BUDGET), self.budget)
        leaders = self._leaders()
        for pc in leaders:
            self.blocks[pc] = self.fn.append_basic_block(f"pc{pc}")
        self.unwind = self.fn.append_basic_block("unwind")
        ub = ir.IRBuilder(self.unwind)
        ub.ret(ir.Constant(RET_TYPE, None))
        pcset = set(self.pcs)
        bodies: dict[int, list[int]] = {}
        for index, start in enumerate(leaders):
            end = leaders[index + 1] if index + 1 < len(leaders) else None
            body: list[int] = []
            pc = start
            while pc in pcset and (end is None or pc < end):
                body.append(pc)
                insn = self.mt.slots[pc]
                if (insn.opcode & 0x07) in (InsnClass.JMP, InsnClass.JMP32):
                    break
                pc += insn.slots
            bodies[start] = body
        dual = self.opt.budget and self.opt.dual_budget
        if dual:
            checkpoints, maxpath = budget_regions(self.mt.slots, self.entry_pc, bodies)
            self.spent_in = spent_on_entry(self.mt.slots, bodies, checkpoints)
            # even without loops: one comparison at entry instead of one per block
        if dual:
            self.fast_blocks = {pc: self.fn.append_basic_block(f"fast{pc}") for pc in leaders}
            b.branch(self.fast_blocks[self.entry_pc])
        else:
            b.branch(self.blocks[self.entry_pc])
        self.mode = "exact"
        for start, body in bodies.items():
            self._emit_block(start, body)
        if dual:
            self.mode = "fast"
            for start, body in bodies.items():
                self._emit_fast_block(start, body, start in checkpoints, maxpath.get(start, 0))

    def target_block(self, pc: int) -> ir.Block:
        blocks = self.fast_blocks if self.mode == "fast" else self.blocks
        if pc in blocks:
            return blocks[pc]
        if pc not in self.bad_jump:
            block = self.fn.append_basic_block(f"bad{pc}")
            self.bad_jump[pc] = block
            self.fault(ir.IRBuilder(block), FaultCode.BAD_JUMP, pc)
        return self.bad_jump[pc]

    def _emit_fast_block(
        self, start: int, body: list[int], checkpoint: bool, maxpath: int
    ) -> None:
        """The fast copy of a block: the budget is only compared at checkpoints, against the
        longest path to the next checkpoint; when it might run out there, the exact copy
        (which compares in every block) takes over at this block.

        Between checkpoints the blocks only add to `spent`, which the checkpoint subtracts from
        the budget once: the value carried around a loop changes once per iteration, not in a
        chain through every block of its body (which would be the loop's critical path)."""
        b = ir.IRBuilder(self.fast_blocks[start])
        if checkpoint:
            left = b.sub(b.load(self.budget), b.load(self.spent))
            b.store(left, self.budget)
            b.store(c64(0), self.spent)
            cont = self.fn.append_basic_block()
            cbranch_unlikely(b, b.icmp_signed("<", left, c64(maxpath)), self.blocks[start], cont)
            b.position_at_end(cont)
            b.store(c64(len(body)), self.spent)
        elif start in self.spent_in:  # the same on every path here: a constant, not a sum
            b.store(c64(self.spent_in[start] + len(body)), self.spent)
        else:
            b.store(b.add(b.load(self.spent), c64(len(body))), self.spent)
        self._emit_body(b, start, body)

    def _emit_block(self, start: int, body: list[int]) -> None:
        b = ir.IRBuilder(self.blocks[start])
        if self.opt.budget:
            left = b.load(self.budget)
            after = b.sub(left, c64(len(body)))
            ok = self.fn.append_basic_block()
            out = self.fn.append_basic_block()
            cbranch_unlikely(b, b.icmp_signed("<", after, c64(0)), out, ok)
            self._emit_short_budget(out, start, body, left)
            b.position_at_end(ok)
            b.store(after, self.budget)
        self._emit_body(b, start, body)

    def _emit_short_budget(self, block: ir.Block, start: int, body: list[int], left: ir.Value) -> None:
        """The budget runs out inside this block: run exactly `left` of its instructions (their
        stores and faults are visible, as in the interpreter), then fault. A prefix without
        memory access has no visible effect, so such a block faults at once."""
        b = ir.IRBuilder(block)
        prefix = body[:-1]
        if not any(self.mt.slots[pc].opcode & 0x07 in _MEMORY_CLASSES for pc in prefix):
            self.fault(b, FaultCode.BUDGET, start, left)
            return
        b.store(c64(0), self.budget)
        for k, pc in enumerate(prefix):
            run = self.fn.append_basic_block()
            stop = self.fn.append_basic_block()
            b.cbranch(b.icmp_signed(">", left, c64(k)), run, stop)
            self.fault(ir.IRBuilder(stop), FaultCode.BUDGET, start, left)
            b.position_at_end(run)
            try:
                self._emit(b, pc, self.mt.slots[pc])
            except UnsupportedInstruction:
                self.fault(b, FaultCode.BAD_INSN, pc)
            if b.block.is_terminated:
                return
        self.fault(b, FaultCode.BUDGET, start, left)

    def _emit_body(self, b: ir.IRBuilder, start: int, body: list[int]) -> None:
        plan = None
        if self.opt.checks and self.opt.combine_checks:
            if start not in self.plans:  # the same for the exact and the fast copy
                self.plans[start] = plan_checks(self.mt.slots, body)
            plan = self.plans[start]
        if plan is None:
            self._emit_run(b, start, body, body)
            return
        if not self._emit_insns(b, body[: plan.at]):
            return
        fast = self.fn.append_basic_block()
        checked = self.fn.append_basic_block()
        cbranch_likely(b, self.span_checked(b, plan.groups), fast, checked)
        self.unchecked = plan.covered
        try:
            self._emit_run(ir.IRBuilder(fast), start, body, body[plan.at :])
        finally:
            self.unchecked = frozenset()
        self._emit_run(ir.IRBuilder(checked), start, body, body[plan.at :])

    def _emit_insns(self, b: ir.IRBuilder, pcs: list[int]) -> bool:
        """Emit `pcs`; False when the block ended (a jump, an exit or a fault)."""
        for pc in pcs:
            try:
                self._emit(b, pc, self.mt.slots[pc])
            except UnsupportedInstruction:
                self.fault(b, FaultCode.BAD_INSN, pc)
            if b.block.is_terminated:
                return False
        return True

    def _emit_run(self, b: ir.IRBuilder, start: int, body: list[int], pcs: list[int]) -> None:
        """Emit `pcs` (the tail of `body`), then fall through to the next block."""
        if not self._emit_insns(b, pcs):
            return
        last = body[-1] if body else start
        b.branch(self.target_block(last + self.mt.slots[last].slots if body else start))
