"""ALU instructions: scalar arithmetic through bounds, moves with id links, pointer arithmetic rules (adjust_reg_min_max_vals)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pybpf.errors import VerifierError
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import ALU_OP_NAMES, ALU_OP_STRINGS, InsnClass
from pybpf.verifier import bounds, tnum
from pybpf.verifier.bounds import MASK32, S64_MIN, Scalar, s64
from pybpf.verifier.state import (
    NOT_INIT,
    PACKET_TYPES,
    UNKNOWN_SCALAR,
    Reg,
    RegType,
    State,
    const,
    scalar,
)

if TYPE_CHECKING:
    from pybpf.verifier.checker import Checker

MAX_VAR_OFF = 1 << 29


_SCALAR = RegType.SCALAR
_NOT_INIT = RegType.NOT_INIT
_ALU64 = int(InsnClass.ALU64)


def alu(ck: Checker, pc: int, insn: Instruction, st: State) -> None:
    opcode = insn.opcode
    op = opcode & 0xF0
    is64 = opcode & 0x07 == _ALU64
    srcx = bool(opcode & 0x08)
    regs = st.frames[-1].regs
    name = ALU_OP_NAMES.get(op)
    if name is None:
        raise VerifierError(f"invalid BPF_ALU opcode {op:x}", insn=pc)
    if name == "end":
        if insn.src or insn.off or insn.imm not in (16, 32, 64) or (is64 and srcx):
            raise VerifierError("BPF_END uses reserved fields", insn=pc)
        dst = ck.read(st, pc, insn.dst)
        ck.check_dst(st, pc, insn.dst)
        regs[insn.dst] = scalar(bswap(ck, dst, insn, is64)) if dst.is_scalar else UNKNOWN_SCALAR
        return
    if name == "neg":
        if srcx or insn.src or insn.off or insn.imm:
            raise VerifierError("BPF_NEG uses reserved fields", insn=pc)
        dst = ck.read(st, pc, insn.dst)
        if ck.is_ptr_leak(dst):
            raise VerifierError(f"R{insn.dst} pointer arithmetic prohibited", insn=pc)
        ck.check_dst(st, pc, insn.dst)
        if dst.is_scalar and dst.var.is_const():
            v = -dst.var.value
            regs[insn.dst] = const(v if is64 else v & MASK32)
        else:
            regs[insn.dst] = scalar(bounds.UNKNOWN if is64 else bounds.zext32(bounds.UNKNOWN))
        return
    if name == "mov":
        mov(ck, pc, insn, st, is64, srcx)
        return
    # reserved fields
    if srcx:
        if insn.imm or (insn.off and not (name in ("div", "mod") and insn.off == 1)):
            raise VerifierError("BPF_ALU uses reserved fields", insn=pc)
    elif insn.src or (insn.off and not (name in ("div", "mod") and insn.off == 1)):
        raise VerifierError("BPF_ALU uses reserved fields", insn=pc)
    if srcx:
        s = insn.src
        src = regs[s] if s <= 10 else NOT_INIT  # (ck.read, in short; it raises the errors)
        if src.type is _NOT_INIT:
            src = ck.read(st, pc, s)
    else:
        src = const(insn.imm & (0xFFFFFFFFFFFFFFFF if is64 else MASK32))
        if name in ("div", "mod") and insn.imm == 0:
            raise VerifierError("div by zero", insn=pc)
        if name in ("lsh", "rsh", "arsh") and not 0 <= insn.imm < (64 if is64 else 32):
            raise VerifierError(f"invalid shift {insn.imm}", insn=pc)
    d = insn.dst
    dst = regs[d] if d <= 10 else NOT_INIT
    if dst.type is _NOT_INIT:
        dst = ck.read(st, pc, d)
    if d == 10:
        ck.check_dst(st, pc, d)
    if dst.type is not _SCALAR or src.type is not _SCALAR:  # (read registers are initialised)
        regs[d] = pointer_alu(ck, pc, insn, st, name, op, dst, src, is64, srcx)
        return
    if insn.off == 1:
        name = "s" + name
    if (name == "and" or name == "or") and src.var.var.mask == 0:
        dst = fork_sign_mask(ck, pc, d, dst, st)
    regs[d] = scalar(bounds.alu(name, dst.var, src.var, is64))


def fork_sign_mask(ck: Checker, pc: int, d: int, dst: Reg, st: State) -> Reg:
    """The kernel's maybe_fork_scalars: a scalar in [-1, 0] (from `x s>>= 63`) masked with a constant
    is explored as two states, 0 (pushed, re-running this instruction) and -1 (this path)."""
    v = dst.var
    if v.smin == -1 and v.smax == 0:
        zero, ones = const(0), const(-1)
    elif v.s32min == -1 and v.s32max == 0:
        zero, ones = dst.with_var(_low32_known(v, 0)), dst.with_var(_low32_known(v, MASK32))
    else:
        return dst
    other = st.copy()
    other.cur.regs[d] = zero
    ck.push(ck.cur_work, pc, other, ck.cur_path)
    st.cur.regs[d] = ones
    return ones


def _low32_known(v: Scalar, imm: int) -> Scalar:
    lo = bounds.s32(imm)
    x = Scalar(tnum.with_subreg(v.var, tnum.const(imm)), v.umin, v.umax, v.smin, v.smax, imm, imm, lo, lo)
    return bounds.sync(x) or x


def bswap(ck: Checker, dst: Reg, insn: Instruction, is64: bool) -> Scalar:
    bits = insn.imm
    v = dst.var
    to_le = not (insn.opcode & 0x08) and not is64
    if to_le:
        return bounds.truncate(v, bits // 8) if bits < 64 else v
    if v.is_const():
        raw = (v.value & ((1 << bits) - 1)).to_bytes(bits // 8, "little")
        return bounds.known(int.from_bytes(raw, "big"))
    return bounds.unsigned_range(0, (1 << bits) - 1) if bits < 64 else bounds.UNKNOWN


def mov(ck: Checker, pc: int, insn: Instruction, st: State, is64: bool, srcx: bool) -> None:
    regs = st.cur.regs
    if srcx:
        if insn.imm or insn.off not in (0, 8, 16, 32) or (not is64 and insn.off == 32):
            raise VerifierError("BPF_MOV uses reserved fields", insn=pc)
        s = insn.src
        src = regs[s] if s <= 10 else NOT_INIT
        if src.type is _NOT_INIT:
            src = ck.read(st, pc, s)
        ck.check_dst(st, pc, insn.dst)
        if insn.off:
            if src.is_pointer:
                if not ck.privileged:
                    raise VerifierError(f"R{insn.src} sign-extension part of pointer", insn=pc)
                regs[insn.dst] = UNKNOWN_SCALAR
                return
            regs[insn.dst] = scalar(bounds.sign_extend(src.var, insn.off, is64))
            return
        if is64:
            if src.is_scalar and not src.var.is_const() and src.id == 0:
                src = src.with_id(st.new_id())
                regs[insn.src] = src
            regs[insn.dst] = src
            return
        if src.is_pointer:
            if not ck.privileged:
                raise VerifierError(f"R{insn.src} partial copy of pointer", insn=pc)
            regs[insn.dst] = scalar(bounds.zext32(bounds.UNKNOWN))
            return
        z = bounds.zext32(src.var)
        if src.var.umax <= MASK32 and not src.var.is_const():
            if src.id == 0:
                src = src.with_id(st.new_id())
                regs[insn.src] = src
            regs[insn.dst] = scalar(z).with_id(src.id)
        else:
            regs[insn.dst] = scalar(z)
        return
    if insn.src or insn.off:
        raise VerifierError("BPF_MOV uses reserved fields", insn=pc)
    ck.check_dst(st, pc, insn.dst)
    regs[insn.dst] = const(insn.imm if is64 else insn.imm & MASK32)


def pointer_alu(ck: Checker, pc: int, insn: Instruction, st: State, name: str, op: int, dst: Reg, src: Reg,
                is64: bool, srcx: bool) -> Reg:
    d = insn.dst
    if dst.is_pointer and src.is_pointer:
        if name == "sub" and ck.privileged:
            return UNKNOWN_SCALAR
        raise VerifierError(f"R{d} pointer {ALU_OP_STRINGS[op]} pointer prohibited", insn=pc)
    if src.is_pointer:
        if name == "sub" and is64:
            raise VerifierError(f"R{d} tried to subtract pointer from scalar", insn=pc)
        ptr, off = src, dst
        ck.mark_precise(st, [insn.dst])
    else:
        ptr, off = dst, src
        if srcx:
            ck.mark_precise(st, [insn.src])
    if not is64:
        if name == "sub" and ck.privileged:
            return scalar(bounds.zext32(bounds.UNKNOWN))
        raise VerifierError(f"R{d} 32-bit pointer arithmetic prohibited", insn=pc)
    if ptr.maybe_null:
        raise VerifierError(f"R{d} pointer arithmetic on {ptr.type_str()} prohibited, null-check it first",
                            insn=pc)
    known = off.var.is_const()
    t = ptr.type
    allowed = t in (RegType.PTR_TO_CTX, RegType.PTR_TO_MAP_VALUE, RegType.PTR_TO_MAP_KEY,
                    RegType.PTR_TO_STACK, RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META,
                    RegType.PTR_TO_BTF_ID, RegType.PTR_TO_MEM, RegType.PTR_TO_FUNC)
    if t is RegType.PTR_TO_FLOW_KEYS and known:
        allowed = True
    if t is RegType.CONST_PTR_TO_MAP and known and off.var.smin == 0 and name == "add":
        allowed = True
    if not allowed:
        raise VerifierError(f"R{d} pointer arithmetic on {ptr.type_str()} prohibited", insn=pc)
    sane_offset(ck, pc, off, ptr)
    sane_offset(ck, pc, ptr, ptr)
    smin = off.var.smin
    if name == "add":
        if known and -(1 << 31) <= ptr.off + smin < (1 << 31):
            out = ptr.with_(off=ptr.off + smin)
        else:
            var = bounds.alu("add", ptr.var, off.var, True)
            out = ptr.with_var(var)
            if t in PACKET_TYPES:
                out = out.with_(id=st.new_id(), range=0)
    elif name == "sub":
        if t is RegType.PTR_TO_STACK:
            raise VerifierError(f"R{d} subtraction from stack pointer prohibited", insn=pc)
        if known and -(1 << 31) <= ptr.off - smin < (1 << 31):
            out = ptr.with_(off=ptr.off - smin)
        else:
            var = bounds.alu("sub", ptr.var, off.var, True)
            out = ptr.with_var(var)
            if t in PACKET_TYPES:
                out = out.with_(id=st.new_id(), range=ptr.range if smin >= 0 else 0)
    elif name in ("and", "or", "xor"):
        raise VerifierError(f"R{d} bitwise operator {ALU_OP_STRINGS[op]} on pointer prohibited", insn=pc)
    else:
        raise VerifierError(f"R{d} pointer arithmetic with {ALU_OP_STRINGS[op]} operator prohibited", insn=pc)
    sane_offset(ck, pc, out, ptr)
    if not ck.privileged:
        unpriv_pointer_bounds(ck, pc, d, out)
    return out


def sane_offset(ck: Checker, pc: int, reg: Reg, ptr: Reg) -> None:
    """The kernel's check_reg_sane_offset for `reg`, an operand or result of arithmetic on `ptr`."""
    v = reg.var
    if v.var.mask == 0:
        if not -MAX_VAR_OFF < s64(v.var.value) < MAX_VAR_OFF:
            raise VerifierError(f"math between {ptr.type_str()} pointer and {s64(v.value)} is not allowed", insn=pc)
    if not -MAX_VAR_OFF < reg.off < MAX_VAR_OFF:
        raise VerifierError(f"{ptr.type_str()} pointer offset {reg.off} is not allowed", insn=pc)
    smin = v.smin
    if smin == S64_MIN:
        raise VerifierError(f"math between {ptr.type_str()} pointer and register with unbounded min value is "
                            "not allowed", insn=pc)
    if not -MAX_VAR_OFF < smin < MAX_VAR_OFF:
        raise VerifierError(f"value {smin} makes {ptr.type_str()} pointer be out of bounds", insn=pc)


def unpriv_pointer_bounds(ck: Checker, pc: int, d: int, out: Reg) -> None:
    if out.type is RegType.PTR_TO_STACK:
        if not out.var.is_const():
            raise VerifierError(f"R{d} variable stack access prohibited for !root, var_off={out.var.var} "
                                f"off={out.off}", insn=pc)
        o = out.off + s64(out.var.value)
        if o < -512 or o >= 0:
            raise VerifierError(f"R{d} stack pointer arithmetic goes out of range, prohibited for !root",
                                insn=pc)
    elif out.type is RegType.PTR_TO_MAP_VALUE:
        if out.off + out.var.smin < 0 or out.off + out.var.umax >= out.map.value_size:
            raise VerifierError(f"R{d} pointer arithmetic of map value goes out of range, prohibited for !root",
                                insn=pc)


# ---- fast paths -------------------------------------------------------------------------------
# The commonest ALU instructions on scalars, decoded once per program (a plan per pc): moves of a
# constant or a register, arithmetic with a constant or a scalar register. A plan exists only for an
# instruction whose reserved fields are valid and that writes r0-r9, so the fast path never has an
# error to report; when its operands are not the plain scalars it handles, `fast` declines (before
# changing anything) and the general `alu` runs.

MOV_K, MOV_R64, MOV_R32, OP_K, OP_R, OP_KP = range(6)  # OP_KP: OP_K that also moves a pointer (privileged)
_FAST_OPS = frozenset({"add", "sub", "mul", "or", "and", "lsh", "rsh", "xor", "arsh"})
Plan = tuple[int, int, int, str, bool, Any, dict[Scalar, Reg]]  # ..., constant operand, results by value


def plan(insn: Instruction, privileged: bool) -> Plan | None:
    """The fast-path plan of an ALU/ALU64 instruction, or None when only `alu` handles it."""
    opcode = insn.opcode
    name = ALU_OP_NAMES.get(opcode & 0xF0)
    is64 = opcode & 0x07 == _ALU64
    srcx = bool(opcode & 0x08)
    d, s = insn.dst, insn.src
    if name is None or d >= 10 or insn.off:
        return None
    if name == "mov":
        if not srcx:
            return None if s else (MOV_K, d, 0, name, is64, const(insn.imm if is64 else insn.imm & MASK32), {})
        if insn.imm or s > 10:
            return None
        return (MOV_R64 if is64 else MOV_R32, d, s, name, is64, None, {})
    if name not in _FAST_OPS:
        return None
    if srcx:
        return None if insn.imm or s > 10 else (OP_R, d, s, name, is64, None, {})
    if s or (name in ("lsh", "rsh", "arsh") and not 0 <= insn.imm < (64 if is64 else 32)):
        return None
    kind = OP_KP if privileged and is64 and name in ("add", "sub") else OP_K
    return (kind, d, 0, name, is64, bounds.known(insn.imm & (0xFFFFFFFFFFFFFFFF if is64 else MASK32)), {})


_CONST_MOVABLE = frozenset({RegType.PTR_TO_CTX, RegType.PTR_TO_MAP_VALUE, RegType.PTR_TO_MAP_KEY, RegType.PTR_TO_STACK,
                            RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META, RegType.PTR_TO_BTF_ID,
                            RegType.PTR_TO_MEM, RegType.PTR_TO_FUNC})


def _moved_pointer(ptr: Reg, name: str, k: Scalar) -> Reg | None:
    """pointer_alu of a (privileged, 64-bit) pointer plus or minus the constant `k` when it only moves
    the fixed offset and every sane_offset check holds; None otherwise (pointer_alu decides)."""
    t = ptr.type
    if t not in _CONST_MOVABLE or ptr.maybe_null or (name == "sub" and t is RegType.PTR_TO_STACK):
        return None
    smin = k.smin  # (the constant, signed)
    v = ptr.var
    off = ptr.off
    if not (-MAX_VAR_OFF < smin < MAX_VAR_OFF and -MAX_VAR_OFF < off < MAX_VAR_OFF and v.smin != S64_MIN
            and -MAX_VAR_OFF < v.smin < MAX_VAR_OFF
            and (v.var.mask or -MAX_VAR_OFF < s64(v.var.value) < MAX_VAR_OFF)):
        return None
    off = off + smin if name == "add" else off - smin
    if not -MAX_VAR_OFF < off < MAX_VAR_OFF:  # (also inside the 32-bit fixed offset)
        return None
    return ptr.with_(off=off)


def _sign_mask(v: Scalar) -> bool:
    """Whether and/or with a constant forks this value (fork_sign_mask)."""
    return (v.smin == -1 and v.smax == 0) or (v.s32min == -1 and v.s32max == 0)


def fast(p: Plan, st: State) -> bool:
    """Apply plan `p` when its operands are plain scalars (what `alu` would do); False when it cannot."""
    kind, d, s, name, is64, k, results = p
    regs = st.frames[-1].regs
    if kind == MOV_K:
        regs[d] = k
        return True
    if kind == OP_K or kind == OP_KP:
        dst = regs[d]
        if dst.type is not _SCALAR:
            if kind == OP_K or dst.type is _NOT_INIT:
                return False
            moved = _moved_pointer(dst, name, k)
            if moved is None:
                return False
            regs[d] = moved
            return True
        if (name == "and" or name == "or") and _sign_mask(dst.var):
            return False
        v = dst.var
        out = results.get(v)  # (one lookup by value instead of two cached calls)
        if out is None:
            if len(results) >= 4096:
                results.clear()
            out = results[v] = scalar(bounds.alu(name, v, k, is64))
        regs[d] = out
        return True
    src = regs[s]
    if src.type is not _SCALAR:
        if kind == MOV_R64 and src.type is not _NOT_INIT:  # a pointer copy
            regs[d] = src
            return True
        return False
    if kind == MOV_R64:
        if src.id == 0 and src.var.var.mask != 0:
            src = src.with_id(st.new_id())
            regs[s] = src
        regs[d] = src
        return True
    if kind == MOV_R32:
        v = src.var
        z = bounds.zext32(v)
        if v.umax <= MASK32 and v.var.mask != 0:
            if src.id == 0:
                src = src.with_id(st.new_id())
                regs[s] = src
            regs[d] = scalar(z).with_id(src.id)
        else:
            regs[d] = scalar(z)
        return True
    dst = regs[d]
    if dst.type is not _SCALAR or ((name == "and" or name == "or") and src.var.var.mask == 0
                                   and _sign_mask(dst.var)):
        return False
    regs[d] = scalar(bounds.alu(name, dst.var, src.var, is64))
    return True
