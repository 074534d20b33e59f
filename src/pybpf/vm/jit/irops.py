"""LLVM IR for the data-flow instructions: ALU/ALU64, byte swaps, jumps' conditions, loads and atomics.

Everything here follows RFC 9669 exactly as the interpreter does: 32-bit operations zero-extend,
shift counts are masked, division by zero yields 0 and modulo by zero leaves the dividend
(truncated to 32 bits for the 32-bit forms), sdiv/smod of INT_MIN by -1 give INT_MIN and 0,
immediates are sign-extended to 64 bits.
"""

from __future__ import annotations

import weakref

from llvmlite import ir

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import AluOp, AtomicOp, InsnClass, JmpOp

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I16 = ir.IntType(16)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
I8P = I8.as_pointer()
INT_BY_SIZE = {1: I8, 2: I16, 4: I32, 8: I64}


def c64(value: int) -> ir.Constant:
    return ir.Constant(I64, value & 0xFFFFFFFFFFFFFFFF)


def c32(value: int) -> ir.Constant:
    return ir.Constant(I32, value & 0xFFFFFFFF)


def phi_at(b: ir.IRBuilder, join: ir.Block, incoming: list[tuple[ir.Value, ir.Block]],
           ty: ir.Type = I64) -> ir.Value:
    """Continue at `join`, where the values (i64 unless `ty`) flowing in from their blocks meet in one phi."""
    b.position_at_end(join)
    phi = b.phi(ty)
    for value, block in incoming:
        phi.add_incoming(value, block)
    return phi


def desc_word(b: ir.IRBuilder, desc: ir.Value, word: int) -> ir.Value:
    """Word `word` of a map descriptor (or any i64 table) at `desc`."""
    return b.load(b.gep(desc, [c64(word)]))


def extern_function(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    """The module's declaration of the external function `name`, made on first use."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, fnty, name)
    assert isinstance(fn, ir.Function)
    return fn


def sext_imm(imm: int) -> int:
    """The 32-bit immediate sign-extended to 64 bits (as an unsigned value)."""
    imm &= 0xFFFFFFFF
    return imm - (1 << 32) if imm & 0x80000000 else imm


# Each module's two branch-weight nodes, made once: add_metadata would build and hash the
# operands again for every branch (thousands in a checked program) to find the same node.
_WEIGHTS: weakref.WeakKeyDictionary[ir.Module, tuple[ir.MDValue, ir.MDValue]] = weakref.WeakKeyDictionary()


def _weights(module: ir.Module) -> tuple[ir.MDValue, ir.MDValue]:
    """The module's (hot first, hot second) branch_weights nodes."""
    nodes = _WEIGHTS.get(module)
    if nodes is None:
        nodes = (module.add_metadata(["branch_weights", I32(2000), I32(1)]),
                 module.add_metadata(["branch_weights", I32(1), I32(2000)]))
        _WEIGHTS[module] = nodes
    return nodes


def cbranch_likely(b: ir.IRBuilder, cond: ir.Value, likely: ir.Block, unlikely: ir.Block) -> None:
    """A conditional branch with weights telling LLVM which side is hot."""
    br = b.cbranch(cond, likely, unlikely)
    br.set_metadata("prof", _weights(b.module)[0])


def cbranch_unlikely(b: ir.IRBuilder, cond: ir.Value, unlikely: ir.Block, likely: ir.Block) -> None:
    br = b.cbranch(cond, unlikely, likely)
    br.set_metadata("prof", _weights(b.module)[1])


class UnsupportedInstruction(Exception):
    """Raised while translating an undefined instruction (the caller emits a run-time fault)."""


def _bswap(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    return b.bswap(value)


def emit_byteswap(b: ir.IRBuilder, insn: Instruction, x: ir.Value) -> ir.Value:
    """END (0xd4 to-le, 0xdc to-be) and ALU64 bswap (0xd7) of width imm; returns the 64-bit result."""
    width = insn.imm
    if width not in (16, 32, 64):
        raise UnsupportedInstruction(f"byte swap width {width}")
    narrow = {16: I16, 32: I32, 64: I64}[width]
    value = x if width == 64 else b.trunc(x, narrow)
    to_le = insn.cls == InsnClass.ALU and not insn.opcode & 0x08
    if not to_le:
        value = _bswap(b, value)
    return value if width == 64 else b.zext(value, I64)


def _safe_divisor(b: ir.IRBuilder, y: ir.Value, ty: ir.IntType) -> tuple[ir.Value, ir.Value]:
    zero = b.icmp_unsigned("==", y, ir.Constant(ty, 0))
    return zero, b.select(zero, ir.Constant(ty, 1), y)


def _urem_pow2_fast(b: ir.IRBuilder, x: ir.Value, d: ir.Value) -> ir.Value:
    """x % d (d != 0) with a mask instead of the division when d is a power of two: a division
    costs tens of cycles, and loops often try 2 first (the remainder is the same either way)."""
    ty = d.type
    fn = b.function
    mask = fn.append_basic_block()
    divide = fn.append_basic_block()
    join = fn.append_basic_block()
    low = b.sub(d, ir.Constant(ty, 1))
    b.cbranch(b.icmp_unsigned("==", b.and_(d, low), ir.Constant(ty, 0)), mask, divide)
    b.position_at_end(mask)
    masked = b.and_(x, low)
    b.branch(join)
    b.position_at_end(divide)
    divided = b.urem(x, d)
    b.branch(join)
    return phi_at(b, join, [(masked, mask), (divided, divide)], ty)


def emit_alu(b: ir.IRBuilder, insn: Instruction, x64: ir.Value, y64: ir.Value) -> ir.Value:
    """The 64-bit result of ALU/ALU64 operation `insn` on dst `x64` and source `y64`."""
    is64 = insn.cls == InsnClass.ALU64
    op = insn.opcode & 0xF0
    ty = I64 if is64 else I32
    bits = 64 if is64 else 32
    if op == AluOp.MOV:
        if insn.off in (8, 16, 32) and insn.opcode & 0x08:
            if insn.off == 32 and not is64:
                raise UnsupportedInstruction("movsx32 of 32 bits")
            narrow = b.trunc(y64, INT_BY_SIZE[insn.off // 8])
            wide = b.sext(narrow, ty)
            return wide if is64 else b.zext(wide, I64)
        if insn.off != 0:
            raise UnsupportedInstruction(f"mov with offset {insn.off}")
        return y64 if is64 else b.zext(b.trunc(y64, I32), I64)
    x = x64 if is64 else b.trunc(x64, I32)
    y = y64 if is64 else b.trunc(y64, I32)
    if op == AluOp.ADD:
        r = b.add(x, y)
    elif op == AluOp.SUB:
        r = b.sub(x, y)
    elif op == AluOp.MUL:
        r = b.mul(x, y)
    elif op == AluOp.OR:
        r = b.or_(x, y)
    elif op == AluOp.AND:
        r = b.and_(x, y)
    elif op == AluOp.XOR:
        r = b.xor(x, y)
    elif op == AluOp.LSH:
        r = b.shl(x, b.and_(y, ir.Constant(ty, bits - 1)))
    elif op == AluOp.RSH:
        r = b.lshr(x, b.and_(y, ir.Constant(ty, bits - 1)))
    elif op == AluOp.ARSH:
        r = b.ashr(x, b.and_(y, ir.Constant(ty, bits - 1)))
    elif op == AluOp.NEG:
        r = b.neg(x)
    elif op in (AluOp.DIV, AluOp.MOD):
        if insn.off not in (0, 1):
            raise UnsupportedInstruction(f"div/mod with offset {insn.off}")
        zero, d = _safe_divisor(b, y, ty)
        if insn.off == 1:
            int_min = ir.Constant(ty, 1 << (bits - 1))
            overflow = b.and_(
                b.icmp_unsigned("==", x, int_min), b.icmp_unsigned("==", y, ir.Constant(ty, -1))
            )
            d = b.select(overflow, ir.Constant(ty, 1), d)
            q = b.sdiv(x, d) if op == AluOp.DIV else b.srem(x, d)
        elif op == AluOp.MOD and not isinstance(y, ir.Constant):
            q = _urem_pow2_fast(b, x, d)
        else:
            q = b.udiv(x, d) if op == AluOp.DIV else b.urem(x, d)
        r = b.select(zero, ir.Constant(ty, 0) if op == AluOp.DIV else x, q)
    else:
        raise UnsupportedInstruction(f"ALU operation {op:#x}")
    return r if is64 else b.zext(r, I64)


_CONDITIONS = {
    JmpOp.JEQ: ("u", "=="),
    JmpOp.JNE: ("u", "!="),
    JmpOp.JGT: ("u", ">"),
    JmpOp.JGE: ("u", ">="),
    JmpOp.JLT: ("u", "<"),
    JmpOp.JLE: ("u", "<="),
    JmpOp.JSGT: ("s", ">"),
    JmpOp.JSGE: ("s", ">="),
    JmpOp.JSLT: ("s", "<"),
    JmpOp.JSLE: ("s", "<="),
}


def emit_condition(b: ir.IRBuilder, insn: Instruction, x64: ir.Value, y64: ir.Value) -> ir.Value:
    """The i1 condition of a conditional JMP/JMP32."""
    op = insn.opcode & 0xF0
    if insn.cls == InsnClass.JMP32:
        x, y = b.trunc(x64, I32), b.trunc(y64, I32)
    else:
        x, y = x64, y64
    if op == JmpOp.JSET:
        return b.icmp_unsigned("!=", b.and_(x, y), ir.Constant(x.type, 0))
    if op not in _CONDITIONS:
        raise UnsupportedInstruction(f"jump operation {op:#x}")
    kind, pred = _CONDITIONS[JmpOp(op)]
    return b.icmp_signed(pred, x, y) if kind == "s" else b.icmp_unsigned(pred, x, y)


def address_pointer(b: ir.IRBuilder, address: ir.Value, ty: ir.Type, frame: bool = False) -> ir.Value:
    """A typed pointer for an integer address. With `frame` (an r10 offset), `r10 + constant`
    becomes a byte GEP off r10, so LLVM folds the offset into the access's addressing mode
    instead of hoisting every frame address out of a loop into a register of its own (which
    spills when a function holds both budget copies of a large loop)."""
    if (frame and isinstance(address, ir.Instruction) and address.opname == "add"
            and isinstance(address.operands[1], ir.Constant)):
        base = b.inttoptr(address.operands[0], I8P)
        return b.bitcast(b.gep(base, [address.operands[1]]), ty.as_pointer())
    return b.inttoptr(address, ty.as_pointer())


def emit_load(b: ir.IRBuilder, address: ir.Value, size: int, signed: bool, *,
              frame: bool = False) -> ir.Value:
    """Load `size` bytes little-endian (unaligned) at an integer address; 64-bit result."""
    ty = INT_BY_SIZE[size]
    ptr = address_pointer(b, address, ty, frame)
    value = b.load(ptr, align=1)
    if size == 8:
        return value
    return b.sext(value, I64) if signed else b.zext(value, I64)


def emit_store(b: ir.IRBuilder, address: ir.Value, size: int, value64: ir.Value, *,
               frame: bool = False) -> None:
    ty = INT_BY_SIZE[size]
    ptr = address_pointer(b, address, ty, frame)
    value = value64 if size == 8 else b.trunc(value64, ty)
    b.store(value, ptr, align=1)


_RMW = {AtomicOp.ADD: "add", AtomicOp.OR: "or", AtomicOp.AND: "and", AtomicOp.XOR: "xor"}


def emit_atomic(
    b: ir.IRBuilder, insn: Instruction, address: ir.Value, src64: ir.Value, r0: ir.Value
) -> tuple[ir.Value | None, ir.Value | None]:
    """An atomic at `address`; returns (new src register or None, new r0 or None)."""
    size = insn.size
    ty = INT_BY_SIZE[size]
    ptr = b.inttoptr(address, ty.as_pointer())
    value = src64 if size == 8 else b.trunc(src64, ty)

    def widen(v: ir.Value) -> ir.Value:
        return v if size == 8 else b.zext(v, I64)

    imm = insn.imm
    if imm == AtomicOp.CMPXCHG:
        expected = r0 if size == 8 else b.trunc(r0, ty)
        pair = b.cmpxchg(ptr, expected, value, "seq_cst", "seq_cst")
        old = b.extract_value(pair, 0)
        return None, widen(old)
    if imm == AtomicOp.XCHG:
        old = b.atomic_rmw("xchg", ptr, value, "seq_cst")
        return widen(old), None
    fetch = bool(imm & 0x01)
    base = imm & ~0x01
    if base not in _RMW or imm & ~0xF1:
        raise UnsupportedInstruction(f"atomic operation {imm:#x}")
    old = b.atomic_rmw(_RMW[AtomicOp(base)], ptr, value, "seq_cst")
    return (widen(old) if fetch else None), None
