"""Which fields each opcode uses and which values RFC 9669 allows: `field_problem(insn)`."""

from __future__ import annotations

from pybpf.isa.instruction import VALID_OPCODES, Instruction
from pybpf.isa.opcodes import (
    FETCH,
    LDDW,
    AluOp,
    AtomicOp,
    CallSrc,
    InsnClass,
    JmpOp,
    Mode,
    PseudoSrc,
    Source,
)

VALID_ATOMIC_IMMS = frozenset(
    {int(op) for op in (AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR)}
    | {int(op) | FETCH for op in (AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR)}
    | {int(AtomicOp.XCHG), int(AtomicOp.CMPXCHG)}
)
ALU_MOVSX_BITS = {InsnClass.ALU: (8, 16), InsnClass.ALU64: (8, 16, 32)}
# lddw pseudo sources whose 64-bit immediate is a single 32-bit number (high half must be zero).
SINGLE_WORD_PSEUDO = frozenset(
    {PseudoSrc.MAP_FD, PseudoSrc.BTF_ID, PseudoSrc.FUNC, PseudoSrc.MAP_IDX}
)


def _used_fields(insn: Instruction) -> tuple[set[str], str | None]:
    """The fields the opcode gives a meaning to, and a problem with their values (or None)."""
    opcode, cls = insn.opcode, insn.opcode & 0x07
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        op, reg_source = opcode & 0xF0, opcode & Source.X
        if op == AluOp.NEG:
            return {"dst"}, None
        if op == AluOp.END:
            return {"dst", "imm"}, (
                None if insn.imm in (16, 32, 64) else f"byte swap width {insn.imm} (16, 32, 64)"
            )
        fields = {"dst", "src"} if reg_source else {"dst", "imm"}
        if op in (AluOp.DIV, AluOp.MOD):
            fields.add("off")
            return fields, None if insn.off in (0, 1) else f"offset {insn.off} (0, or 1 = signed)"
        if op == AluOp.MOV and reg_source:
            fields.add("off")
            allowed = (0, *ALU_MOVSX_BITS[InsnClass(cls)])
            return fields, None if insn.off in allowed else f"movsx offset {insn.off} {allowed}"
        return fields, None
    if cls in (InsnClass.JMP, InsnClass.JMP32):
        op = opcode & 0xF0
        if op == JmpOp.JA:
            return ({"off"} if cls == InsnClass.JMP else {"imm"}), None
        if op == JmpOp.EXIT:
            return set(), None
        if op == JmpOp.CALL:
            if opcode & Source.X:
                return {"dst"}, None
            return {"src", "imm"}, (
                None if insn.src in tuple(CallSrc) else f"call source {insn.src} (0, 1, 2)"
            )
        return ({"dst", "src", "off"} if opcode & Source.X else {"dst", "imm", "off"}), None
    mode = opcode & 0xE0
    if opcode == LDDW:
        if insn.src not in tuple(PseudoSrc):
            return {"dst", "src", "imm"}, f"lddw source {insn.src} (0-6)"
        if insn.src in SINGLE_WORD_PSEUDO and insn.imm >> 32:
            return {"dst", "src", "imm"}, "pseudo lddw with a non-zero high word"
        return {"dst", "src", "imm"}, None
    if cls == InsnClass.LD:
        return ({"imm"} if mode == Mode.ABS else {"src", "imm"}), None
    if cls == InsnClass.LDX:
        return {"dst", "src", "off"}, None
    if cls == InsnClass.ST:
        return {"dst", "off", "imm"}, None
    if mode == Mode.ATOMIC:
        return {"dst", "src", "off", "imm"}, (
            None if insn.imm in VALID_ATOMIC_IMMS else f"atomic operation {insn.imm:#x}"
        )
    return {"dst", "src", "off"}, None


def field_problem(insn: Instruction) -> str | None:
    """Why insn is not a well-formed RFC 9669 instruction (None when it is).

    Checks the opcode, that reserved fields are zero and that fixed-meaning fields hold allowed
    values. Register numbers above 10 are not a field problem (the verifier rejects them).
    """
    if insn.opcode not in VALID_OPCODES:
        return f"invalid opcode {insn.opcode:#04x}"
    used, problem = _used_fields(insn)
    if problem is not None:
        return f"invalid {problem}"
    for name in ("dst", "src", "off", "imm"):
        value = getattr(insn, name)
        if name not in used and value != 0:
            return f"reserved field {name} is {value}, must be 0"
    return None
