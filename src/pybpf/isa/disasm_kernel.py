"""Instructions as the Linux verifier log prints them (kernel/bpf/disasm.c wording): `r2 += -8`.

`kernel_log_line(pc, insn)` gives a whole log line, `12: (07) r2 += -8`. The LLVM-syntax assembler
reads these lines back (the `(18)` opcode tells it a small constant is an lddw).
"""

from __future__ import annotations

from collections.abc import Mapping

from pybpf.isa.asm_common import s32
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import (
    ALU_OP_STRINGS,
    FETCH,
    LDDW,
    SIZE_BYTES,
    AluOp,
    AtomicOp,
    CallSrc,
    InsnClass,
    JmpOp,
    Mode,
    PseudoSrc,
    Source,
)

SIGNED_ALU_STRINGS: dict[int, str] = {AluOp.DIV: "s/=", AluOp.MOD: "s%="}
JMP_STRINGS: dict[int, str] = {
    JmpOp.JEQ: "==", JmpOp.JGT: ">", JmpOp.JGE: ">=", JmpOp.JSET: "&", JmpOp.JNE: "!=",
    JmpOp.JSGT: "s>", JmpOp.JSGE: "s>=", JmpOp.JLT: "<", JmpOp.JLE: "<=", JmpOp.JSLT: "s<",
    JmpOp.JSLE: "s<=",
}  # fmt: skip
ATOMIC_NAMES: dict[int, str] = {
    AtomicOp.ADD: "add", AtomicOp.OR: "or", AtomicOp.AND: "and", AtomicOp.XOR: "xor",
}  # fmt: skip
UNSIGNED_TYPES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}
SIGNED_TYPES = {1: "s8", 2: "s16", 4: "s32"}


def _address(reg: int, off: int) -> str:
    return f"(r{reg} {off:+d})"


def format_kernel(insn: Instruction, helper_names: Mapping[int, str] | None = None) -> str:
    """The text after `(op) ` in a verifier log line; insn must be well-formed (see field_problem)."""
    opcode, cls = insn.opcode, insn.opcode & 0x07
    imm = s32(insn.imm)
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        reg = "w" if cls == InsnClass.ALU else "r"
        op = opcode & 0xF0
        if op == AluOp.END:
            name = "bswap" if cls == InsnClass.ALU64 else ("be" if opcode & Source.X else "le")
            return f"r{insn.dst} = {name}{imm} r{insn.dst}"
        if op == AluOp.NEG:
            return f"{reg}{insn.dst} = -{reg}{insn.dst}"
        text = (
            SIGNED_ALU_STRINGS[op]
            if insn.off == 1 and op in SIGNED_ALU_STRINGS
            else ALU_OP_STRINGS[op]
        )
        if opcode & Source.X:
            cast = f"(s{insn.off})" if op == AluOp.MOV and insn.off else ""
            return f"{reg}{insn.dst} {text} {cast}{reg}{insn.src}"
        return f"{reg}{insn.dst} {text} {imm}"
    if cls in (InsnClass.JMP, InsnClass.JMP32):
        return _jump(insn, imm, helper_names)
    if opcode == LDDW:
        return f"r{insn.dst} = {_lddw_operand(insn)}"
    size = SIZE_BYTES[opcode & 0x18]
    mode = opcode & 0xE0
    if cls == InsnClass.LD:
        if mode == Mode.ABS:
            return f"r0 = *({UNSIGNED_TYPES[size]} *)skb[{imm}]"
        return f"r0 = *({UNSIGNED_TYPES[size]} *)skb[r{insn.src} + {imm}]"
    if cls == InsnClass.LDX:
        kind = SIGNED_TYPES[size] if mode == Mode.MEMSX else UNSIGNED_TYPES[size]
        return f"r{insn.dst} = *({kind} *){_address(insn.src, insn.off)}"
    memory = f"({UNSIGNED_TYPES[size]} *){_address(insn.dst, insn.off)}"
    if cls == InsnClass.ST:
        return f"*{memory} = {imm}"
    if mode == Mode.MEM:
        return f"*{memory} = r{insn.src}"
    width = "64" if size == 8 else ""
    if imm in ATOMIC_NAMES:
        return f"lock *{memory} {ALU_OP_STRINGS[imm]} r{insn.src}"
    if (
        imm & ~FETCH in ATOMIC_NAMES
        and imm & FETCH
        and imm not in (AtomicOp.XCHG, AtomicOp.CMPXCHG)
    ):
        name = ATOMIC_NAMES[imm & ~FETCH]
        return f"r{insn.src} = atomic{width}_fetch_{name}({memory}, r{insn.src})"
    if imm == AtomicOp.XCHG:
        return f"r{insn.src} = atomic{width}_xchg({memory}, r{insn.src})"
    return f"r0 = atomic{width}_cmpxchg({memory}, r0, r{insn.src})"


def _lddw_operand(insn: Instruction) -> str:
    value = insn.imm & 0xFFFFFFFFFFFFFFFF
    low, high = value & 0xFFFFFFFF, value >> 32
    if insn.src == PseudoSrc.MAP_FD:
        return f"map[fd:{low}]"
    if insn.src == PseudoSrc.MAP_VALUE:
        return f"map[fd:{low}][0]+{high}"
    if insn.src == PseudoSrc.MAP_IDX:
        return f"map[idx:{low}]"
    if insn.src == PseudoSrc.MAP_IDX_VALUE:
        return f"map[idx:{low}][0]+{high}"
    if insn.src == PseudoSrc.BTF_ID:
        return f"btf_id({low})"
    if insn.src == PseudoSrc.FUNC:
        return f"func({s32(low):+d})"
    return f"{value:#x}"


def _jump(insn: Instruction, imm: int, helper_names: Mapping[int, str] | None) -> str:
    opcode, op = insn.opcode, insn.opcode & 0xF0
    if op == JmpOp.EXIT:
        return "exit"
    if op == JmpOp.JA:
        return f"gotol pc{imm:+d}" if opcode & 0x07 == InsnClass.JMP32 else f"goto pc{insn.off:+d}"
    if op == JmpOp.CALL:
        if opcode & Source.X:
            return f"callx r{insn.dst}"
        if insn.src == CallSrc.LOCAL:
            return f"call pc{imm:+d}"
        if insn.src == CallSrc.KFUNC:
            return f"call kfunc {imm}"
        name = (helper_names or {}).get(imm, "unknown")
        return f"call {name}#{imm}"
    reg = "w" if opcode & 0x07 == InsnClass.JMP32 else "r"
    operand = f"{reg}{insn.src}" if opcode & Source.X else f"{imm & 0xFFFFFFFF:#x}"
    return f"if {reg}{insn.dst} {JMP_STRINGS[op]} {operand} goto pc{insn.off:+d}"
