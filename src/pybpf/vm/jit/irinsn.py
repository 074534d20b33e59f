"""LLVM IR for one eBPF instruction: ALU, loads and stores, legacy packet loads, lddw and jumps.

A mixin of FunctionTranslator (pybpf.vm.jit.irfunc): it dispatches on the instruction class and
leaves memory accesses to pybpf.vm.jit.irmem, calls to pybpf.vm.jit.ircalls and the arithmetic
itself to pybpf.vm.jit.irops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llvmlite import ir

from pybpf.isa.instruction import Instruction, func_pointer_target
from pybpf.isa.opcodes import (
    CALL,
    CALLX,
    EXIT,
    JA,
    JA32,
    LDDW,
    AluOp,
    InsnClass,
    JmpOp,
    Mode,
    PseudoSrc,
)
from pybpf.vm.jit.ircalls import load_slot
from pybpf.vm.jit.irops import (
    I64,
    UnsupportedInstruction,
    c64,
    emit_alu,
    emit_atomic,
    emit_byteswap,
    emit_condition,
    emit_load,
    sext_imm,
)
from pybpf.vm.jit.layout import FaultCode, Slot

if TYPE_CHECKING:
    from pybpf.vm.jit.irgen import ModuleTranslator

I64P = I64.as_pointer()


class InstructionEmitter:
    """Mixin of FunctionTranslator: the code of one instruction at a time."""

    mt: ModuleTranslator
    fn: ir.Function
    opt: Any
    jctx: ir.Value

    if TYPE_CHECKING:  # provided by FunctionTranslator and the other mixins
        def get(self, b: ir.IRBuilder, reg: int) -> ir.Value: ...
        def set(self, b: ir.IRBuilder, reg: int, value: ir.Value) -> None: ...
        def save_budget(self, b: ir.IRBuilder) -> None: ...
        def ret_regs(self, b: ir.IRBuilder) -> None: ...
        def fault(self, b: ir.IRBuilder, code: int, pc: int, aux: ir.Value | None = None) -> None: ...
        def target_block(self, pc: int) -> ir.Block: ...
        def emit_mem_load(self, b: ir.IRBuilder, pc: int, base: int, off: int, size: int, signed: bool) -> ir.Value: ...
        def emit_mem_store(self, b: ir.IRBuilder, pc: int, base: int, off: int, size: int, value: ir.Value) -> None: ...
        def atomic_address(self, b: ir.IRBuilder, pc: int, base: int, off: int, size: int) -> ir.Value: ...
        def _emit_call(self, b: ir.IRBuilder, pc: int, insn: Instruction) -> None: ...
        def _emit_callx(self, b: ir.IRBuilder, pc: int, insn: Instruction) -> None: ...

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
            self.ret_regs(b)  # with the budget left
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
