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

from pybpf.isa.opcodes import STACK_SIZE, InsnClass
from pybpf.vm.jit.cfg import (
    block_bodies,
    block_leaders,
    budget_regions,
    reachable,
    shortest_on_entry,
    successors,
)
from pybpf.vm.jit.ircalls import RET_BUDGET, RET_TYPE, CallEmitter, load_slot, store_slot
from pybpf.vm.jit.ircombine import CheckPlan, plan_checks
from pybpf.vm.jit.irctx import EntryCtxEmitter
from pybpf.vm.jit.irinsn import InstructionEmitter
from pybpf.vm.jit.irloop import LoopGuardEmitter
from pybpf.vm.jit.irmem import MemoryEmitter
from pybpf.vm.jit.irops import I64, UnsupportedInstruction, c64, cbranch_likely, cbranch_unlikely
from pybpf.vm.jit.layout import FaultCode, Slot
from pybpf.vm.jit.loopver import LoopPlan, plan_loops
from pybpf.vm.jit.pktrange import packet_states, proven_in_states

if TYPE_CHECKING:
    from pybpf.vm.jit.irgen import ModuleTranslator

_MEMORY_CLASSES = (InsnClass.LD, InsnClass.LDX, InsnClass.ST, InsnClass.STX)


class FunctionTranslator(CallEmitter, EntryCtxEmitter, MemoryEmitter, InstructionEmitter, LoopGuardEmitter):
    """Emits one eBPF function."""

    def __init__(self, mt: ModuleTranslator, fn: ir.Function, entry_pc: int,
                 assume_entry_ctx: bool | None = None) -> None:
        self.mt = mt
        self.fn = fn
        self.entry_pc = entry_pc
        self.assume_entry_ctx = assume_entry_ctx
        self.opt = mt.options
        self.jctx, self.fp, self.depth = fn.args[0], fn.args[1], fn.args[2]
        self.args = fn.args[3:13]
        self.pcs = reachable(mt.slots, entry_pc)
        self.blocks: dict[int, ir.Block] = {}
        self.bad_jump: dict[int, ir.Block] = {}
        self.plans: dict[int, CheckPlan | None] = {}
        self.loops: dict[int, LoopPlan] = {}  # versioned loops by header (pybpf.vm.jit.loopver)
        self.guards: dict[int, ir.Block] = {}  # their entry tests, made when first jumped to
        self.free_blocks: dict[int, dict[int, ir.Block]] = {}  # their check-free copies
        self.loop: LoopPlan | None = None  # the loop whose check-free copy is being emitted
        self.source = -1  # the block being emitted
        self.shortest: dict[int, int] = {}
        self.bodies: dict[int, list[int]] = {}
        self.checkpoints: set[int] = set()
        self.edges: dict[tuple[str, int, int, int], ir.Block] = {}  # fast copy's counting edges

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
        """What is left of the budget here, after the current block (the fast copy subtracts
        what it spent since the last checkpoint: the shortest way here, its block and the
        excess over that way)."""
        left = b.load(self.budget)
        if self.mode == "exact":
            return left
        return b.sub(left, b.add(b.load(self.spent), c64(self._base())))

    def _base(self) -> int:
        """The instructions the fast copy counts as spent by the end of the current block
        without adding them to `spent`: the shortest way to it from the last checkpoint and
        its own length."""
        return self.shortest.get(self.source, 0) + len(self.bodies.get(self.source, ()))

    def save_budget(self, b: ir.IRBuilder) -> None:
        if self.opt.budget:
            store_slot(b, self.jctx, Slot.BUDGET, self.budget_left(b))
            self.mt.budget_stored = True

    def reload_budget(self, b: ir.IRBuilder, value: ir.Value | None = None) -> None:
        """After a call: the budget is `value` (a callee's return) or the slot (a helper's)."""
        if self.opt.budget:
            b.store(load_slot(b, self.jctx, Slot.BUDGET) if value is None else value, self.budget)
            if self.mode != "exact":  # the reloaded budget counts the whole block already
                b.store(c64(-self._base()), self.spent)

    def fault(self, b: ir.IRBuilder, code: int, pc: int, aux: ir.Value | None = None) -> None:
        """Record a fault and unwind (terminates the current block)."""
        store_slot(b, self.jctx, Slot.FAULT, c64(code))
        store_slot(b, self.jctx, Slot.FAULT_PC, c64(pc))
        if aux is not None:
            store_slot(b, self.jctx, Slot.FAULT_AUX, aux)
        b.branch(self.unwind)

    # --- structure ------------------------------------------------------------------------
    def build(self) -> None:
        b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.regs = [b.alloca(I64, name=f"r{i}") for i in range(11)]
        self.budget = b.alloca(I64, name="budget")
        # fast copy: instructions run since the last checkpoint beyond the shortest way to the
        # current block (at a checkpoint: all of them)
        self.spent = b.alloca(I64, name="spent")
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
            if self.opt.ctx_kind == "xdp" and self.entry_pc == 0:
                # accesses the program's own tests keep in the packet, when r1 is the context
                taint = self.mt.ctx_taint
                self.packet_states = packet_states(
                    self.mt.slots, lambda pc: successors(self.mt.slots, pc),
                    lambda pc, reg: bool(taint.get(pc, -1) >> reg & 1))
                self.proven = proven_in_states(self.mt.slots, self.packet_states)
        if self.opt.budget:
            b.store(load_slot(b, self.jctx, Slot.BUDGET), self.budget)
        leaders = block_leaders(self.mt.slots, self.pcs, self.entry_pc)
        for pc in leaders:
            self.blocks[pc] = self.fn.append_basic_block(f"pc{pc}")
        self.unwind = self.fn.append_basic_block("unwind")
        ub = ir.IRBuilder(self.unwind)
        # a fault leaves the budget as last saved (before a call), as the slot holds it
        ub.ret(ub.insert_value(ir.Constant(RET_TYPE, None), load_slot(ub, self.jctx, Slot.BUDGET),
                               RET_BUDGET) if self.opt.budget else ir.Constant(RET_TYPE, None))
        bodies = block_bodies(self.mt.slots, self.pcs, leaders)
        dual = self.opt.budget and self.opt.dual_budget
        if dual:
            checkpoints, maxpath = budget_regions(self.mt.slots, self.entry_pc, bodies)
            self.shortest = shortest_on_entry(self.mt.slots, bodies, checkpoints)
            self.bodies, self.checkpoints = bodies, checkpoints
            # even without loops: one comparison at entry instead of one per block
        if dual:
            self.fast_blocks = {pc: self.fn.append_basic_block(f"fast{pc}") for pc in leaders}
            b.branch(self.fast_blocks[self.entry_pc])
            if self.opt.version_loops:
                self.loops = plan_loops(self.mt.slots, bodies, checkpoints, maxpath, self.entry_pc)
        else:
            b.branch(self.blocks[self.entry_pc])
        self.mode = "exact"
        for start, body in bodies.items():
            self.source = start
            self._emit_block(start, body)
        if dual:
            self.mode = "fast"
            for start, body in bodies.items():
                self.source = start
                self._emit_fast_block(start, body, start in checkpoints, maxpath.get(start, 0))
            self._emit_versioned_loops(bodies, maxpath)

    def _emit_versioned_loops(self, bodies: dict[int, list[int]], maxpath: dict[int, int]) -> None:
        """The check-free copy of every versioned loop that is entered, and its guard."""
        for header, block in list(self.guards.items()):
            plan = self.loops[header]
            self.free_blocks[header] = {
                pc: self.fn.append_basic_block(f"free{pc}") for pc in sorted(plan.blocks)}
            self.mode, self.source = "fast", -1  # the guard counts what came before the header
            self.emit_loop_guard(ir.IRBuilder(block), plan, self.free_blocks[header][header],
                                 self.fast_blocks[header])
            self.mode, self.loop = "free", plan
            self.unchecked = frozenset(a.pc for a in plan.accesses)
            try:
                for start in sorted(plan.blocks):
                    self.source = start
                    self._emit_fast_block(start, bodies[start], start == header,
                                          maxpath.get(start, 0), compare=False)
            finally:
                self.mode, self.loop, self.unchecked = "fast", None, frozenset()

    def target_block(self, pc: int) -> ir.Block:
        block = self._target_block(pc)
        cost = self._edge_cost(pc) if self.mode != "exact" else 0
        if not cost:
            return block
        key = (self.mode, self.loop.header if self.loop is not None else -1, self.source, pc)
        if key not in self.edges:  # an edge block LLVM folds into a select where it can
            edge = self.fn.append_basic_block(f"edge{self.source}_{pc}")
            eb = ir.IRBuilder(edge)
            eb.store(eb.add(eb.load(self.spent), c64(cost)), self.spent)
            eb.branch(block)
            self.edges[key] = edge
        return self.edges[key]

    def _target_block(self, pc: int) -> ir.Block:
        if self.mode == "free" and self.loop is not None and pc in self.loop.blocks:
            return self.free_blocks[self.loop.header][pc]
        if self.mode != "exact" and pc in self.loops and self.source not in self.loops[pc].blocks:
            if pc not in self.guards:  # entering a versioned loop: its guard decides the copy
                self.guards[pc] = self.fn.append_basic_block(f"guard{pc}")
            return self.guards[pc]
        blocks = self.fast_blocks if self.mode != "exact" else self.blocks
        if pc in blocks:
            return blocks[pc]
        if pc not in self.bad_jump:
            block = self.fn.append_basic_block(f"bad{pc}")
            self.bad_jump[pc] = block
            self.fault(ir.IRBuilder(block), FaultCode.BAD_JUMP, pc)
        return self.bad_jump[pc]

    def _emit_fast_block(
        self, start: int, body: list[int], checkpoint: bool, maxpath: int, *, compare: bool = True
    ) -> None:
        """The fast copy of a block: the budget is only compared at checkpoints, against the
        longest path to the next checkpoint; when it might run out there, the exact copy
        (which compares in every block) takes over at this block. Without `compare` (the copy
        of a versioned loop, whose guard covered every iteration) the checkpoint only
        counts (it settles spent into the budget: a sum restarted every iteration keeps the
        count off the loop's critical path).

        Between checkpoints the blocks only add to `spent`, which the checkpoint subtracts from
        the budget once: the value carried around a loop changes once per iteration, not in a
        chain through every block of its body (which would be the loop's critical path)."""
        blocks = self.free_blocks[self.loop.header] if self.loop is not None else self.fast_blocks
        b = ir.IRBuilder(blocks[start])
        if checkpoint:
            left = b.sub(b.load(self.budget), b.load(self.spent))
            b.store(left, self.budget)
            b.store(c64(0), self.spent)
            if compare:
                cont = self.fn.append_basic_block()
                cbranch_unlikely(b, b.icmp_signed("<", left, c64(maxpath)), self.blocks[start], cont)
                b.position_at_end(cont)
        self._emit_body(b, start, body)

    def _edge_cost(self, target: int) -> int:
        """What the fast copy adds to `spent` on the edge from the current block to `target`:
        how far this edge is off the shortest way to target (at a checkpoint: the whole count
        since the last one)."""
        body = self.bodies.get(self.source)
        if not body or target not in self.bodies:
            return 0
        here = self.shortest.get(self.source, 0) + len(body)
        if target in self.checkpoints:
            return here
        return here - self.shortest.get(target, 0)

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
        if self.opt.checks and self.opt.combine_checks and self.mode != "free":
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
