"""Translate an eBPF program (with its bpf-to-bpf sub-programs) into an LLVM IR module.

Each function (the program at pc 0 and every local call target) becomes an LLVM function
`i64 bpf_fn_<pc>(i64* jctx, i64 fp, i64 depth, i64 r1..r5)`; registers live in allocas that
LLVM promotes to SSA values; basic blocks start at jump targets and after jumps and calls.
Unless `checks=False`, every load and store is bounds-checked: first against the current
stack frame (folds away for constant r10 offsets), then against the native region table,
then through the Python resolver which knows every region of the interpreter's memory model.
The instruction budget is charged once per basic block. A fault stores a `FaultCode` in the
JitContext and unwinds by returning; the Python side turns it into the interpreter's fault.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from llvmlite import ir

from pybpf.isa.instruction import Instruction, iter_slots
from pybpf.isa.opcodes import (
    CALL,
    CALLX,
    EXIT,
    JA,
    JA32,
    LDDW,
    MAX_CALL_FRAMES,
    STACK_SIZE,
    AluOp,
    CallSrc,
    InsnClass,
    JmpOp,
    Mode,
    PseudoSrc,
)
from pybpf.vm.jit.batch import build_drivers
from pybpf.vm.jit.ctxflow import context_taint
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
# Functions return r0-r5 (the interpreter's callee leaves r1-r5 to its caller) and take
# (jctx, fp, depth, r0..r9): a callee starts with the caller's registers, r10 = its frame.
RET_TYPE = ir.LiteralStructType([I64] * 6)
FN_TYPE = ir.FunctionType(RET_TYPE, [I64P, I64, I64] + [I64] * 10)
ENTRY_TYPE = ir.FunctionType(I64, [I64P, I64, I64])
HELPER_TYPE = ir.FunctionType(I64, [I64P, I64, I64, I64, I64, I64, I64])
RESOLVE_TYPE = ir.FunctionType(I64, [I64P, I64, I64, I64, I64])

TAIL_CALL_HELPER = 12
# A native helper: fn(translator, builder, pc, (r1..r5)) -> r0, or None to use the trampoline.
NativeHelper = Callable[["FunctionTranslator", ir.IRBuilder, int, list[ir.Value]], ir.Value]


@dataclass(frozen=True)
class TranslateOptions:
    """What the generated code checks; part of the compile cache key."""

    checks: bool = True  # bounds-check every memory access
    budget: bool = True  # charge the instruction budget per basic block
    zero_stack: bool = True  # zero the stack frames at entry (deterministic like the interpreter)
    frame_stride: int = 2 * STACK_SIZE  # distance between the r10 of consecutive frames
    ctx_kind: str = ""  # "xdp" / "skb": convert context accesses like the kernel; "": none
    native_helpers: frozenset[int] = field(default_factory=frozenset)


def jctx_slot(b: ir.IRBuilder, jctx: ir.Value, slot: int) -> ir.Value:
    return b.gep(jctx, [ir.Constant(I64, slot)])


def load_slot(b: ir.IRBuilder, jctx: ir.Value, slot: int) -> ir.Value:
    return b.load(jctx_slot(b, jctx, slot))


def store_slot(b: ir.IRBuilder, jctx: ir.Value, slot: int, value: ir.Value) -> None:
    b.store(value, jctx_slot(b, jctx, slot))


def find_functions(insns: Sequence[Instruction]) -> list[int]:
    """Slot pcs of every function: 0 and each local call / function-pointer target, sorted."""
    targets = {0}
    for pc, insn in iter_slots(insns):
        if insn.opcode == CALL and insn.src == CallSrc.LOCAL:
            targets.add(pc + 1 + insn.imm)
        elif insn.opcode == LDDW and insn.src == PseudoSrc.FUNC:
            targets.add(pc + 1 + (insn.imm & 0xFFFFFFFF if insn.imm < 1 << 31 else insn.imm))
    by_pc = {pc for pc, _ in iter_slots(insns)}
    return sorted(t for t in targets if t in by_pc)


def static_max_depth(insns: Sequence[Instruction], functions: Sequence[int]) -> int:
    """Deepest frame index a run can reach (MAX_CALL_FRAMES - 1 with recursion or callx)."""
    slots = dict(iter_slots(insns))
    edges: dict[int, set[int]] = {f: set() for f in functions}
    fset = set(functions)
    for f in functions:
        for pc in _reachable(slots, f):
            insn = slots[pc]
            if insn.opcode == CALLX:
                return MAX_CALL_FRAMES - 1
            if insn.opcode == CALL and insn.src == CallSrc.LOCAL:
                target = pc + 1 + insn.imm
                if target in fset:
                    edges[f].add(target)
    depth: dict[int, int] = {}

    def visit(f: int, seen: frozenset[int]) -> int:
        if f in seen:
            return MAX_CALL_FRAMES
        if f not in depth:
            depth[f] = max((1 + visit(g, seen | {f}) for g in edges[f]), default=0)
        return depth[f]

    return min(visit(0, frozenset()) if 0 in fset else 0, MAX_CALL_FRAMES - 1)


def stack_bytes_used(insns: Sequence[Instruction]) -> int:
    """How many bytes below r10 the program can reach: 0 without r10, STACK_SIZE if r10 escapes.

    r10 used only as the base of loads/stores with constant offsets reaches max(-off) bytes;
    any other use (copied, compared, stored, passed) may reach the whole frame.
    """
    need = 0
    for insn in insns:
        cls = insn.opcode & 0x07
        if cls == InsnClass.LDX and insn.src == 10:
            need = max(need, -insn.off)
            continue
        if cls in (InsnClass.ST, InsnClass.STX) and insn.dst == 10:
            if cls == InsnClass.STX and insn.src == 10:
                return STACK_SIZE
            need = max(need, -insn.off)
            continue
        if insn.opcode in (CALL, EXIT, JA, JA32) or insn.opcode == LDDW:
            if insn.dst == 10 and insn.opcode == LDDW:
                return STACK_SIZE
            continue
        reads_src = cls in (InsnClass.ALU, InsnClass.ALU64, InsnClass.JMP, InsnClass.JMP32, InsnClass.STX)
        if insn.dst == 10 or (reads_src and insn.opcode & 0x08 and insn.src == 10):
            return STACK_SIZE
    return min((need + 7) // 8 * 8, STACK_SIZE)


def _successors(slots: Mapping[int, Instruction], pc: int) -> list[int]:
    insn = slots[pc]
    nxt = pc + insn.slots
    cls = insn.opcode & 0x07
    if insn.opcode == EXIT:
        return []
    if insn.opcode == JA:
        return [pc + 1 + insn.off]
    if insn.opcode == JA32:
        return [pc + 1 + insn.imm]
    if cls in (InsnClass.JMP, InsnClass.JMP32) and insn.opcode not in (CALL, CALLX):
        return [nxt, pc + 1 + insn.off]
    return [nxt]


def _reachable(slots: Mapping[int, Instruction], entry: int) -> list[int]:
    seen: set[int] = set()
    todo = [entry]
    while todo:
        pc = todo.pop()
        if pc in seen or pc not in slots:
            continue
        seen.add(pc)
        todo.extend(_successors(slots, pc))
    return sorted(seen)


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
            bodies = {pc: _reachable(self.slots, pc) for pc in self.functions_pcs}
            self.ctx_taint = context_taint(
                self.slots, bodies, lambda pc: _successors(self.slots, pc)
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


class FunctionTranslator(MemoryEmitter):
    """Emits one eBPF function."""

    def __init__(self, mt: ModuleTranslator, fn: ir.Function, entry_pc: int) -> None:
        self.mt = mt
        self.fn = fn
        self.entry_pc = entry_pc
        self.opt = mt.options
        self.jctx, self.fp, self.depth = fn.args[0], fn.args[1], fn.args[2]
        self.args = fn.args[3:13]
        self.pcs = _reachable(mt.slots, entry_pc)
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

    def check_fault_after_call(self, b: ir.IRBuilder) -> None:
        failed = b.icmp_unsigned("!=", load_slot(b, self.jctx, Slot.FAULT), c64(0))
        cont = self.fn.append_basic_block()
        cbranch_unlikely(b, failed, self.unwind, cont)
        b.position_at_end(cont)

    # --- structure ------------------------------------------------------------------------
    def _leaders(self) -> list[int]:
        slots = self.mt.slots
        leaders = {self.entry_pc}
        for pc in self.pcs:
            insn = slots[pc]
            succ = _successors(slots, pc)
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
        b.branch(self.blocks[self.entry_pc])
        pcset = set(self.pcs)
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
            self._emit_block(start, body)

    def target_block(self, pc: int) -> ir.Block:
        if pc in self.blocks:
            return self.blocks[pc]
        if pc not in self.bad_jump:
            block = self.fn.append_basic_block(f"bad{pc}")
            self.bad_jump[pc] = block
            self.fault(ir.IRBuilder(block), FaultCode.BAD_JUMP, pc)
        return self.bad_jump[pc]

    def _emit_block(self, start: int, body: list[int]) -> None:
        b = ir.IRBuilder(self.blocks[start])
        if self.opt.budget:
            left = b.load(self.budget)
            after = b.sub(left, c64(len(body)))
            ok = self.fn.append_basic_block()
            out = self.fn.append_basic_block()
            cbranch_unlikely(b, b.icmp_signed("<", after, c64(0)), out, ok)
            self.fault(ir.IRBuilder(out), FaultCode.BUDGET, start, left)
            b.position_at_end(ok)
            b.store(after, self.budget)
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
                target = pc + 1 + (insn.imm if insn.imm < 1 << 31 else insn.imm - (1 << 64))
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

    def ret_regs(self, b: ir.IRBuilder) -> None:
        out = ir.Constant(RET_TYPE, None)
        for r in range(6):
            out = b.insert_value(out, self.get(b, r), r)
        b.ret(out)

    def helper_args(self, b: ir.IRBuilder) -> list[ir.Value]:
        return [self.get(b, r) for r in range(1, 6)]

    def call_trampoline(self, b: ir.IRBuilder, pc: int, helper_id: ir.Value) -> ir.Value:
        """r0 = Python helper `helper_id`(r1..r5) through the trampoline."""
        store_slot(b, self.jctx, Slot.HELPER_PC, c64(pc))
        store_slot(b, self.jctx, Slot.HELPER_DEPTH, self.depth)
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
                r0 = self.mt.native_helpers[helper](self, b, pc, self.helper_args(b))
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
        self.reload_budget(b)
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
        args = [target_ctx, self.fp, self.depth, c64(0), r1] + [c64(0)] * 8
        result = gb.call(target, args)
        for slot in (Slot.BUDGET, Slot.FAULT, Slot.FAULT_PC, Slot.FAULT_AUX):
            store_slot(gb, self.jctx, slot, load_slot(gb, target_ctx, slot))
        out = gb.insert_value(ir.Constant(RET_TYPE, None), gb.extract_value(result, 0), 0)
        for r in range(1, 6):
            out = gb.insert_value(out, self.get(gb, r), r)
        gb.ret(out)
        b.position_at_end(stay)
        self.set(b, 0, r0)
