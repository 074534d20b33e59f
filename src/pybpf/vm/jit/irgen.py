"""Translate an eBPF program (with its bpf-to-bpf sub-programs) into an LLVM IR module.

Each function (the program at pc 0 and every local call target) becomes an LLVM function
`{r0..r5} bpf_fn_<pc>(i64* jctx, i64 fp, i64 depth, i64 r0..r9)`; registers live in allocas
that LLVM promotes to SSA values; basic blocks start at jump targets and after jumps and calls.
Memory accesses are emitted by pybpf.vm.jit.irmem (bounds checks unless `checks=False`,
context conversion), calls by pybpf.vm.jit.ircalls, native helpers by pybpf.vm.jit.natives.
The instruction budget is charged once per basic block. A fault stores a `FaultCode` in the
JitContext and unwinds by returning; the Python side turns it into the interpreter's fault.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from llvmlite import ir

from pybpf.isa.instruction import Instruction, func_pointer_target, iter_slots
from pybpf.isa.opcodes import (
    CALL,
    CALLX,
    EXIT,
    JA,
    JA32,
    LDDW,
    STACK_SIZE,
    AluOp,
    InsnClass,
    JmpOp,
    Mode,
    PseudoSrc,
)
from pybpf.vm.jit.batch import build_drivers
from pybpf.vm.jit.cfg import (
    budget_regions,
    find_functions,
    reachable,
    stack_bytes_used,
    static_max_depth,
    successors,
)
from pybpf.vm.jit.ctxflow import context_taint
from pybpf.vm.jit.ircalls import FN_TYPE, RET_TYPE, CallEmitter, load_slot, store_slot
from pybpf.vm.jit.irmem import CTX_CB_TYPE, MemoryEmitter
from pybpf.vm.jit.irops import (
    I1,
    I64,
    UnsupportedInstruction,
    c64,
    cbranch_unlikely,
    emit_alu,
    emit_atomic,
    emit_byteswap,
    emit_condition,
    emit_load,
    sext_imm,
)
from pybpf.vm.jit.layout import (
    CTX_POINTER_FIELDS,
    CTX_SPECIAL_RANGES,
    MAX_REGIONS,
    REGION_WRITABLE,
    FaultCode,
    Slot,
)

I64P = I64.as_pointer()
_MEMORY_CLASSES = (InsnClass.LD, InsnClass.LDX, InsnClass.ST, InsnClass.STX)
ENTRY_TYPE = ir.FunctionType(I64, [I64P, I64, I64])
RESOLVE_TYPE = ir.FunctionType(I64, [I64P, I64, I64, I64, I64])

# A native helper: fn(translator, builder, pc, (r1..r5)) -> r0, or None to use the trampoline.
NativeHelper = Callable[["FunctionTranslator", ir.IRBuilder, int, list[ir.Value]], ir.Value]


@dataclass(frozen=True)
class TranslateOptions:
    """What the generated code checks; part of the compile cache key."""

    checks: bool = True  # bounds-check every memory access
    budget: bool = True  # charge the instruction budget per basic block
    zero_stack: bool = True  # zero the stack frames at entry (deterministic like the interpreter)
    dual_budget: bool = True  # a fast copy of the code that compares the budget only at loops
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
        self.mem_slow = self._build_mem_slow()
        self.ctx_taint: dict[int, int] = {}
        if options.ctx_kind:
            bodies = {pc: reachable(self.slots, pc) for pc in self.functions_pcs}
            self.ctx_taint = context_taint(
                self.slots, bodies, lambda pc: successors(self.slots, pc)
            )
        self.ctx_loads: dict[int, ir.Function] = {}
        if options.ctx_kind:
            for size in (1, 2, 4, 8):
                self.ctx_loads[size] = self._build_ctx_load(size)

    def translate(self) -> ir.Module:
        for pc, fn in self.functions.items():
            FunctionTranslator(self, fn, pc).build()
        entry = self._build_entry()
        build_drivers(self.module, entry, xdp=self.options.ctx_kind == "xdp")
        return self.module

    # --- the out-of-line bounds check: region table scan, then the Python resolver ---------
    def _build_mem_slow(self) -> ir.Function:
        fn = ir.Function(self.module, ir.FunctionType(I1, [I64P, I64, I64, I64, I64]), "bpf_mem_slow")
        fn.linkage = "internal"
        fn.attributes.add("noinline")
        jctx, addr, size, write, pc = fn.args
        entry = fn.append_basic_block("entry")
        loop = fn.append_basic_block("loop")
        body = fn.append_basic_block("body")
        hit = fn.append_basic_block("hit")
        nxt = fn.append_basic_block("next")
        slow = fn.append_basic_block("slow")
        b = ir.IRBuilder(entry)
        table = b.inttoptr(load_slot(b, jctx, Slot.REGIONS), I64P)
        count = load_slot(b, jctx, Slot.NREGIONS)
        count = b.select(b.icmp_unsigned(">", count, c64(MAX_REGIONS)), c64(MAX_REGIONS), count)
        b.branch(loop)
        b.position_at_end(loop)
        i = b.phi(I64)
        i.add_incoming(c64(0), entry)
        b.cbranch(b.icmp_unsigned("<", i, count), body, slow)
        b.position_at_end(body)
        base = b.mul(i, c64(3))
        start = b.load(b.gep(table, [base]))
        end = b.load(b.gep(table, [b.add(base, c64(1))]))
        flags = b.load(b.gep(table, [b.add(base, c64(2))]))
        length = b.sub(end, start)
        off = b.sub(addr, start)
        inside = b.and_(
            b.icmp_unsigned("<", off, length), b.icmp_unsigned("<=", size, b.sub(length, off))
        )
        allowed = b.or_(
            b.icmp_unsigned("==", write, c64(0)),
            b.icmp_unsigned("!=", b.and_(flags, c64(REGION_WRITABLE)), c64(0)),
        )
        b.cbranch(b.and_(inside, allowed), hit, nxt)
        b.position_at_end(nxt)
        i.add_incoming(b.add(i, c64(1)), nxt)
        b.branch(loop)
        b.position_at_end(hit)
        store_slot(b, jctx, Slot.HIT_START, start)
        store_slot(b, jctx, Slot.HIT_END, end)
        store_slot(b, jctx, Slot.HIT_FLAGS, flags)
        b.ret(ir.Constant(I1, 1))
        b.position_at_end(slow)
        resolver = b.inttoptr(load_slot(b, jctx, Slot.RESOLVE), RESOLVE_TYPE.as_pointer())
        ok = b.call(resolver, [jctx, addr, size, write, pc])
        b.ret(b.icmp_unsigned("!=", ok, c64(0)))
        return fn

    def _build_ctx_load(self, size: int) -> ir.Function:
        """i64 ctx_load(jctx, addr, pc): a converted context load (Python for the unusual ones)."""
        kind = self.options.ctx_kind
        fn = ir.Function(self.module, ir.FunctionType(I64, [I64P, I64, I64]), f"bpf_ctx_load{size}")
        fn.linkage = "internal"
        fn.attributes.add("noinline")
        jctx, addr, pc = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        off = b.sub(addr, load_slot(b, jctx, Slot.CTX_START))
        slow = fn.append_basic_block("slow")
        if size == 4:
            for field_off, slot in CTX_POINTER_FIELDS[kind].items():
                hit = fn.append_basic_block()
                miss = fn.append_basic_block()
                b.cbranch(b.icmp_unsigned("==", off, c64(field_off)), hit, miss)
                hb = ir.IRBuilder(hit)
                hb.ret(load_slot(hb, jctx, slot))
                b.position_at_end(miss)
        length = load_slot(b, jctx, Slot.CTX_LEN)
        ok = b.and_(
            b.icmp_unsigned("<=", off, b.sub(length, c64(size))),
            b.icmp_unsigned("==", b.and_(off, c64(size - 1)), c64(0)),
        )
        for lo, hi in CTX_SPECIAL_RANGES[kind]:
            overlap = b.and_(
                b.icmp_unsigned("<", off, c64(hi)), b.icmp_unsigned(">", b.add(off, c64(size)), c64(lo))
            )
            ok = b.and_(ok, b.not_(overlap))
        raw = fn.append_basic_block("raw")
        b.cbranch(ok, raw, slow)
        rb = ir.IRBuilder(raw)
        rb.ret(emit_load(rb, addr, size, False))
        sb = ir.IRBuilder(slow)
        cb = sb.inttoptr(load_slot(sb, jctx, Slot.CTX_CB), CTX_CB_TYPE.as_pointer())
        flags = sb.shl(pc, c64(8))
        sb.ret(sb.call(cb, [jctx, addr, c64(size), c64(0), flags]))
        return fn

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
            used = stack_bytes_used(self.insns)
            for k in range(frames if used else 0):
                low = b.add(fp, c64(k * self.options.frame_stride - used))
                ptr = b.inttoptr(low, ir.IntType(8).as_pointer())
                b.call(memset, [ptr, ir.Constant(ir.IntType(8), 0), c64(used), ir.Constant(I1, 0)])
        if 0 in self.functions:
            args = [jctx, fp, c64(0), c64(0), r1, r2] + [c64(0)] * 7
            r = b.call(self.functions[0], args)
            b.ret(b.extract_value(r, 0))
        else:  # an empty program
            store_slot(b, jctx, Slot.FAULT, c64(FaultCode.BAD_JUMP))
            store_slot(b, jctx, Slot.FAULT_PC, c64(0))
            b.ret(c64(0))
        return fn


class FunctionTranslator(CallEmitter, MemoryEmitter):
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

    # --- registers and budget -------------------------------------------------------------
    def get(self, b: ir.IRBuilder, reg: int) -> ir.Value:
        if reg > 10:
            raise UnsupportedInstruction(f"register r{reg}")
        return b.load(self.regs[reg])

    def set(self, b: ir.IRBuilder, reg: int, value: ir.Value) -> None:
        if reg > 10:
            raise UnsupportedInstruction(f"register r{reg}")
        b.store(value, self.regs[reg])

    def save_budget(self, b: ir.IRBuilder) -> None:
        if self.opt.budget:
            store_slot(b, self.jctx, Slot.BUDGET, b.load(self.budget))

    def reload_budget(self, b: ir.IRBuilder) -> None:
        if self.opt.budget:
            b.store(load_slot(b, self.jctx, Slot.BUDGET), self.budget)

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
        for i in range(11):
            b.store(c64(0), self.regs[i])
        for i, arg in enumerate(self.args):
            b.store(arg, self.regs[i])
        b.store(self.fp, self.regs[10])
        self.stack_low = b.sub(self.fp, c64(STACK_SIZE))
        if self.opt.ctx_kind:
            self.ctx_start = load_slot(b, self.jctx, Slot.CTX_START)
            self.ctx_len = load_slot(b, self.jctx, Slot.CTX_LEN)
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
            dual = len(checkpoints) > 1  # worth a second copy only for loops and calls
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
        (which compares in every block) takes over at this block."""
        b = ir.IRBuilder(self.fast_blocks[start])
        left = b.load(self.budget)
        if checkpoint:
            cont = self.fn.append_basic_block()
            cbranch_unlikely(b, b.icmp_signed("<", left, c64(maxpath)), self.blocks[start], cont)
            b.position_at_end(cont)
        b.store(b.sub(left, c64(len(body))), self.budget)
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
        for pc in body:
            insn = self.mt.slots[pc]
            try:
                self._emit(b, pc, insn)
            except UnsupportedInstruction:
                self.fault(b, FaultCode.BAD_INSN, pc)
            if b.block.is_terminated:
                return
        last = body[-1] if body else start
        b.branch(self.target_block(last + self.mt.slots[last].slots if body else start))

    # --- one instruction -----------------------------------------------------------------
    def _emit(self, b: ir.IRBuilder, pc: int, insn: Instruction) -> None:
        cls = insn.opcode & 0x07
        if cls in (InsnClass.ALU, InsnClass.ALU64):
            self._emit_alu(b, insn)
        elif cls == InsnClass.LDX:
            mode = insn.opcode & 0xE0
            if mode not in (Mode.MEM, Mode.MEMSX) or (mode == Mode.MEMSX and insn.size == 8):
                raise UnsupportedInstruction("bad load mode")
            value = self.emit_mem_load(b, pc, insn.src, insn.off, insn.size, mode == Mode.MEMSX)
            self.set(b, insn.dst, value)
        elif cls in (InsnClass.ST, InsnClass.STX):
            self._emit_store(b, pc, insn)
        elif cls == InsnClass.LD:
            self._emit_ld(b, pc, insn)
        else:
            self._emit_jump(b, pc, insn)

    def _emit_alu(self, b: ir.IRBuilder, insn: Instruction) -> None:
        op = insn.opcode & 0xF0
        if op == AluOp.END:
            if insn.cls == InsnClass.ALU64 and insn.opcode & 0x08:
                raise UnsupportedInstruction("bswap with X source")
            self.set(b, insn.dst, emit_byteswap(b, insn, self.get(b, insn.dst)))
            return
        if insn.opcode & 0x08:
            y = self.get(b, insn.src)
        elif op == AluOp.NEG:
            y = c64(0)
        else:
            y = c64(sext_imm(insn.imm))
        x = self.get(b, insn.dst) if op != AluOp.MOV else c64(0)
        self.set(b, insn.dst, emit_alu(b, insn, x, y))

    def _emit_store(self, b: ir.IRBuilder, pc: int, insn: Instruction) -> None:
        mode = insn.opcode & 0xE0
        cls = insn.opcode & 0x07
        if cls == InsnClass.STX and mode == Mode.ATOMIC and insn.size in (4, 8):
            addr = self.atomic_address(b, pc, insn.dst, insn.off, insn.size)
            src, r0 = emit_atomic(b, insn, addr, self.get(b, insn.src), self.get(b, 0))
            if src is not None:
                self.set(b, insn.src, src)
            if r0 is not None:
                self.set(b, 0, r0)
            return
        if mode != Mode.MEM:
            raise UnsupportedInstruction("bad store mode")
        value = c64(sext_imm(insn.imm)) if cls == InsnClass.ST else self.get(b, insn.src)
        self.emit_mem_store(b, pc, insn.dst, insn.off, insn.size, value)

    def _emit_ld(self, b: ir.IRBuilder, pc: int, insn: Instruction) -> None:
        if insn.opcode == LDDW:
            if pc in self.mt.relocations:
                table = b.inttoptr(load_slot(b, self.jctx, Slot.RELOCS), I64P)
                value = b.load(b.gep(table, [c64(self.mt.relocations[pc])]))
            elif insn.src == PseudoSrc.FUNC:
                target = func_pointer_target(pc, insn)
                if target not in self.mt.functions:
                    raise UnsupportedInstruction("function pointer to a non-function")
                value = b.ptrtoint(self.mt.functions[target], I64)
            elif insn.src == PseudoSrc.IMM:
                value = c64(insn.imm)
            else:
                raise UnsupportedInstruction("unrelocated pseudo lddw")
            self.set(b, insn.dst, value)
            return
        mode = insn.opcode & 0xE0
        if mode not in (Mode.ABS, Mode.IND) or insn.size == 8:
            raise UnsupportedInstruction("bad ld mode")
        data = load_slot(b, self.jctx, Slot.PKT_DATA)
        have = self.fn.append_basic_block()
        none = self.fn.append_basic_block()
        b.cbranch(b.icmp_unsigned("==", data, c64(0)), none, have)
        self.fault(ir.IRBuilder(none), FaultCode.NO_PACKET, pc)
        b.position_at_end(have)
        off = c64(sext_imm(insn.imm))
        if mode == Mode.IND:
            off = b.add(off, b.sext(b.trunc(self.get(b, insn.src), ir.IntType(32)), I64))
        length = load_slot(b, self.jctx, Slot.PKT_LEN)
        size = insn.size
        inside = b.and_(
            b.icmp_signed(">=", off, c64(0)),
            b.icmp_signed("<=", b.add(off, c64(size)), length),
        )
        ok = self.fn.append_basic_block()
        out = self.fn.append_basic_block()
        b.cbranch(inside, ok, out)
        self.fault(ir.IRBuilder(out), FaultCode.LD_ABS, pc)
        b.position_at_end(ok)
        addr = b.add(data, off)
        value = emit_load(b, addr, size, False)
        if size > 1:
            narrow = b.trunc(value, ir.IntType(8 * size))
            value = b.zext(b.bswap(narrow), I64)
        self.set(b, 0, value)

    # --- control flow ------------------------------------------------------------------
    def _emit_jump(self, b: ir.IRBuilder, pc: int, insn: Instruction) -> None:
        op = insn.opcode & 0xF0
        cls = insn.opcode & 0x07
        if insn.opcode == EXIT:
            self.save_budget(b)
            self.ret_regs(b)
            return
        if insn.opcode == JA:
            b.branch(self.target_block(pc + 1 + insn.off))
            return
        if insn.opcode == JA32:
            b.branch(self.target_block(pc + 1 + insn.imm))
            return
        if insn.opcode == CALL:
            self._emit_call(b, pc, insn)
            return
        if insn.opcode == CALLX:
            self._emit_callx(b, pc, insn)
            return
        if cls == InsnClass.JMP32 and op in (JmpOp.CALL, JmpOp.EXIT):
            raise UnsupportedInstruction("call/exit in JMP32")
        x = self.get(b, insn.dst)
        y = self.get(b, insn.src) if insn.opcode & 0x08 else c64(sext_imm(insn.imm))
        cond = emit_condition(b, insn, x, y)
        b.cbranch(cond, self.target_block(pc + 1 + insn.off), self.target_block(pc + 1))
