"""Disassembler: Instructions to LLVM/kernel-style or uBPF-style text that assembles back identically."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pybpf.errors import AssemblyError
from pybpf.isa.asm_common import s32
from pybpf.isa.asm_llvm import ASSIGN_OPS, CMP_OPS, ENDIAN_OPS, FETCH_OPS, LOCK_OPS
from pybpf.isa.asm_ubpf import ALU_NAMES, ATOMIC_NAMES, JCC_NAMES, SIZE_SUFFIX
from pybpf.isa.disasm_kernel import UNSIGNED_TYPES, format_kernel
from pybpf.isa.encoding_rules import field_problem
from pybpf.isa.instruction import Instruction, iter_slots
from pybpf.isa.opcodes import (
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

DISASM_SYNTAXES = ("llvm", "ubpf", "kernel")

# Reverse tables, derived from the assemblers' tables so the two directions cannot drift apart.
_LLVM_ALU: dict[tuple[int, int], str] = {(int(op), off): t for t, (op, off) in ASSIGN_OPS.items()}
_LLVM_CMP = {int(op): text for text, op in CMP_OPS.items()}
_LLVM_ENDIAN = {opcode: name for name, opcode in ENDIAN_OPS.items()}
_LLVM_LOCK = {imm: text for text, imm in LOCK_OPS.items()}
_LLVM_FETCH = {imm | FETCH: name for name, imm in FETCH_OPS.items()}
_UBPF_ALU = {int(op): name for name, op in ALU_NAMES.items()}
_UBPF_JCC = {int(op): name for name, op in JCC_NAMES.items()}
_UBPF_SIZE = {int(size): suffix for suffix, size in SIZE_SUFFIX.items()}
_UBPF_ATOMIC = {imm: name for name, imm in ATOMIC_NAMES.items()}
_UBPF_ENDIAN = {
    InsnClass.ALU | Source.K | AluOp.END: "le",
    InsnClass.ALU | Source.X | AluOp.END: "be",
    InsnClass.ALU64 | Source.K | AluOp.END: "bswap",
}
_PSEUDO_NAMES = {
    PseudoSrc.MAP_FD: "map_fd",
    PseudoSrc.MAP_VALUE: "map_value",
    PseudoSrc.BTF_ID: "btf_id",
    PseudoSrc.FUNC: "func",
    PseudoSrc.MAP_IDX: "map_idx",
    PseudoSrc.MAP_IDX_VALUE: "map_idx_value",
}


@dataclass(frozen=True, slots=True)
class DisasmLine:
    """One disassembled instruction: slot pc, the instruction, its text, and its jump/call target."""

    pc: int
    insn: Instruction
    text: str
    target: int | None = None  # absolute slot pc of a jump or local call target
    label: str | None = None  # the label defined at this pc (disassembly(labels=True))

    @property
    def opcode_hex(self) -> str:
        return f"{self.insn.opcode:02x}"


def _hex(value: int) -> str:
    """Signed hex as llvm-objdump prints immediates: 0x1, -0x8."""
    return f"-{-value:#x}" if value < 0 else f"{value:#x}"


def _rel(value: int) -> str:
    return f"+{value}" if value >= 0 else str(value)


def jump_target(pc: int, insn: Instruction) -> int | None:
    """Absolute slot pc that a jump or local call at pc goes to (None for other instructions)."""
    cls, op = insn.opcode & 0x07, insn.opcode & 0xF0
    if insn.opcode == InsnClass.JMP32 | JmpOp.JA:
        return pc + 1 + s32(insn.imm)
    if insn.opcode == InsnClass.JMP | JmpOp.CALL and insn.src == CallSrc.LOCAL:
        return pc + 1 + s32(insn.imm)
    if insn.opcode == LDDW and insn.src == PseudoSrc.FUNC:  # a callback's address
        return pc + 1 + s32(insn.imm)
    if cls in (InsnClass.JMP, InsnClass.JMP32) and op not in (JmpOp.CALL, JmpOp.EXIT):
        return pc + 1 + insn.off
    return None


def format_instruction(
    insn: Instruction,
    pc: int = 0,
    syntax: str = "llvm",
    helper_names: Mapping[int, str] | None = None,
    labels: Mapping[int, str] | None = None,
) -> str:
    """One instruction as text; anything not well-formed becomes a `.insn` line with the reason.

    pc is the instruction's slot; with labels (slot -> name), a jump or local call whose target
    has a label names it (`goto LBL`) instead of a relative offset (llvm and ubpf syntaxes).
    """
    if syntax not in DISASM_SYNTAXES:
        raise AssemblyError(
            f"unknown disassembly syntax {syntax!r} (choose from {', '.join(DISASM_SYNTAXES)})"
        )
    problem = field_problem(insn)
    if problem is not None:
        return _raw(insn, problem, syntax)
    if syntax == "kernel":
        return format_kernel(insn, helper_names)
    target = jump_target(pc, insn) if labels else None
    label = labels.get(target) if labels and target is not None else None
    if syntax == "llvm":
        return _llvm(insn, helper_names, label)
    return _ubpf(insn, label)


def kernel_log_line(
    pc: int, insn: Instruction, helper_names: Mapping[int, str] | None = None
) -> str:
    """The line the kernel verifier log prints for insn: `12: (07) r2 += -8`."""
    return (
        f"{pc}: ({insn.opcode & 0xFF:02x}) {format_instruction(insn, pc, 'kernel', helper_names)}"
    )


def _raw(insn: Instruction, problem: str, syntax: str) -> str:
    imm = insn.imm & 0xFFFFFFFFFFFFFFFF if insn.opcode == LDDW else s32(insn.imm)
    comment = "#" if syntax == "ubpf" else ";"
    return (
        f".insn {insn.opcode:#04x}, {insn.dst}, {insn.src}, {insn.off}, {_hex(imm)}"
        f"  {comment} {problem}"
    )


def _llvm(insn: Instruction, helper_names: Mapping[int, str] | None, label: str | None) -> str:
    opcode, cls = insn.opcode, insn.opcode & 0x07
    imm = s32(insn.imm)
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        reg = "w" if cls == InsnClass.ALU else "r"
        dst, op = f"{reg}{insn.dst}", opcode & 0xF0
        operand = f"{reg}{insn.src}" if opcode & Source.X else _hex(imm)
        if op == AluOp.NEG:
            return f"{dst} = -{dst}"
        if op == AluOp.END:
            return f"r{insn.dst} = {_LLVM_ENDIAN[opcode]}{imm} r{insn.dst}"
        if op == AluOp.MOV:
            if insn.off:
                return f"{dst} = (s{insn.off}){operand}"
            return f"{dst} = {operand}"
        return f"{dst} {_LLVM_ALU[(op, insn.off)]} {operand}"
    if cls in (InsnClass.JMP, InsnClass.JMP32):
        return _llvm_jump(insn, imm, helper_names, label)
    if opcode == LDDW:
        return f"r{insn.dst} = {_pseudo(insn, label)}"
    size = SIZE_BYTES[opcode & 0x18]
    mode = opcode & 0xE0
    if cls == InsnClass.LD:
        sign = "-" if imm < 0 else "+"
        where = f"r{insn.src} {sign} {abs(imm):#x}" if mode == Mode.IND else _hex(imm)
        return f"r0 = *({UNSIGNED_TYPES[size]} *)skb[{where}]"
    address = _llvm_address(insn.dst if cls != InsnClass.LDX else insn.src, insn.off)
    if cls == InsnClass.LDX:
        sign = "s" if mode == Mode.MEMSX else "u"
        return f"r{insn.dst} = *({sign}{size * 8} *){address}"
    memory = f"*({UNSIGNED_TYPES[size]} *){address}"
    if cls == InsnClass.ST:
        return f"{memory} = {_hex(imm)}"
    if mode == Mode.MEM:
        return f"{memory} = r{insn.src}"
    return _llvm_atomic(insn, size, imm, memory)


def _llvm_address(reg: int, off: int) -> str:
    return f"(r{reg} - {-off:#x})" if off < 0 else f"(r{reg} + {off:#x})"


def _llvm_atomic(insn: Instruction, size: int, imm: int, memory: str) -> str:
    reg = "w" if size == 4 else "r"
    src = f"{reg}{insn.src}"
    if imm in _LLVM_LOCK:
        return f"lock {memory} {_LLVM_LOCK[imm]} {src}"
    if imm in _LLVM_FETCH:
        address = memory[1:]  # (u64 *)(r1 + 0x0)
        return f"{src} = atomic_fetch_{_LLVM_FETCH[imm]}({address}, {src})"
    address = _llvm_address(insn.dst, insn.off)[1:-1]
    suffix = "32_32" if size == 4 else "_64"
    if imm == AtomicOp.XCHG:
        return f"{src} = xchg{suffix}({address}, {src})"
    return f"{reg}0 = cmpxchg{suffix}({address}, {reg}0, {src})"


def _llvm_jump(
    insn: Instruction, imm: int, helper_names: Mapping[int, str] | None, label: str | None
) -> str:
    opcode, op = insn.opcode, insn.opcode & 0xF0
    if op == JmpOp.EXIT:
        return "exit"
    if op == JmpOp.JA:
        return (
            f"gotol {label or _rel(imm)}"
            if opcode & 0x07 == InsnClass.JMP32
            else f"goto {label or _rel(insn.off)}"
        )
    if op == JmpOp.CALL:
        if opcode & Source.X:
            return f"callx r{insn.dst}"
        if insn.src == CallSrc.LOCAL:
            return f"call {label}" if label else f"call pc{_rel(imm)}"
        if insn.src == CallSrc.KFUNC:
            return f"call kfunc {_hex(imm)}"
        name = helper_names.get(imm) if helper_names else None
        return (
            f"call {name}" if name else f"call {imm & 0xFFFFFFFF}"
        )  # a signed number is pc-relative
    reg = "w" if opcode & 0x07 == InsnClass.JMP32 else "r"
    operand = f"{reg}{insn.src}" if opcode & Source.X else _hex(imm)
    return f"if {reg}{insn.dst} {_LLVM_CMP[op]} {operand} goto {label or _rel(insn.off)}"


def _pseudo(insn: Instruction, label: str | None = None) -> str:
    value = insn.imm & 0xFFFFFFFFFFFFFFFF
    if insn.src == PseudoSrc.IMM:
        return f"{value:#x} ll"
    low, high = s32(value), s32(value >> 32)
    name = _PSEUDO_NAMES[PseudoSrc(insn.src)]
    if insn.src == PseudoSrc.FUNC:
        return f"{name}({label or _rel(low)})"
    if insn.src in (PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX_VALUE):
        return f"{name}({low}, {high})"
    return f"{name}({low})"


def _ubpf(insn: Instruction, label: str | None) -> str:
    opcode, cls = insn.opcode, insn.opcode & 0x07
    imm = s32(insn.imm)
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        width = "32" if cls == InsnClass.ALU else ""
        op = opcode & 0xF0
        dst = f"%r{insn.dst}"
        if op == AluOp.NEG:
            return f"neg{width} {dst}"
        if op == AluOp.END:
            return f"{_UBPF_ENDIAN[opcode]}{imm} {dst}"
        if op == AluOp.MOV and insn.off:
            return f"movsx{insn.off}{32 if width else 64} {dst}, %r{insn.src}"
        name = _UBPF_ALU[op]
        if insn.off == 1:
            name = "s" + name  # sdiv / smod
        operand = f"%r{insn.src}" if opcode & Source.X else _hex(imm)
        return f"{name}{width} {dst}, {operand}"
    if cls in (InsnClass.JMP, InsnClass.JMP32):
        return _ubpf_jump(insn, imm, label)
    if opcode == LDDW:
        value = insn.imm & 0xFFFFFFFFFFFFFFFF
        operand = f"{value:#x}" if insn.src == PseudoSrc.IMM else _pseudo(insn, label)
        return f"lddw %r{insn.dst}, {operand}"
    suffix = _UBPF_SIZE[opcode & 0x18]
    mode = opcode & 0xE0
    if cls == InsnClass.LD:
        if mode == Mode.ABS:
            return f"ldabs{suffix} {_hex(imm)}"
        return f"ldind{suffix} %r{insn.src}, {_hex(imm)}"
    if cls == InsnClass.LDX:
        sign = "s" if mode == Mode.MEMSX else ""
        return f"ldx{sign}{suffix} %r{insn.dst}, {_ubpf_memory(insn.src, insn.off)}"
    memory = _ubpf_memory(insn.dst, insn.off)
    if cls == InsnClass.ST:
        return f"st{suffix} {memory}, {_hex(imm)}"
    if mode == Mode.MEM:
        return f"stx{suffix} {memory}, %r{insn.src}"
    width = "32" if suffix == "w" else ""
    if imm == AtomicOp.XCHG:
        name = "xchg"
    elif imm == AtomicOp.CMPXCHG:
        name = "cmpxchg"
    else:
        name = ("fetch " if imm & FETCH else "") + _UBPF_ATOMIC[imm & ~FETCH]
    return f"lock {name}{width} {memory}, %r{insn.src}"


def _ubpf_memory(reg: int, off: int) -> str:
    return f"[%r{reg}{_rel(off)}]" if off else f"[%r{reg}]"


def _ubpf_jump(insn: Instruction, imm: int, label: str | None) -> str:
    opcode, op = insn.opcode, insn.opcode & 0xF0
    if op == JmpOp.EXIT:
        return "exit"
    if op == JmpOp.JA:
        if opcode & 0x07 == InsnClass.JMP32:
            return f"ja32 {label or _rel(imm)}"
        return f"ja {label or _rel(insn.off)}"
    if op == JmpOp.CALL:
        if opcode & Source.X:
            return f"call %r{insn.dst}"
        if insn.src == CallSrc.LOCAL:
            return f"call local {label or _rel(imm)}"
        if insn.src == CallSrc.KFUNC:
            return f"call runtime {imm}"
        return f"call {imm}"
    width = "32" if opcode & 0x07 == InsnClass.JMP32 else ""
    operand = f"%r{insn.src}" if opcode & Source.X else _hex(imm)
    return f"{_UBPF_JCC[op]}{width} %r{insn.dst}, {operand}, {label or _rel(insn.off)}"


def branch_labels(insns: Sequence[Instruction]) -> dict[int, str]:
    """A label (`L<slot>`) for every slot that a jump or local call lands on.

    Only instruction starts and the slot just past the end get one; a target outside the program
    or inside an lddw keeps its relative offset.
    """
    starts = {pc for pc, _ in iter_slots(insns)}
    starts.add(sum(insn.slots for insn in insns))
    targets = {jump_target(pc, insn) for pc, insn in iter_slots(insns)}
    return {pc: f"L{pc}" for pc in sorted(t for t in targets if t in starts)}


def disassembly(
    insns: Iterable[Instruction],
    syntax: str = "llvm",
    helper_names: Mapping[int, str] | None = None,
    *,
    labels: bool = False,
) -> list[DisasmLine]:
    """The data behind a listing: one DisasmLine (pc, insn, text, target, label) per instruction.

    With labels=True (llvm and ubpf syntaxes), branch targets get `L<slot>` labels (see
    branch_labels) and the branches name them.
    """
    program: Sequence[Instruction] = list(insns)
    names = branch_labels(program) if labels and syntax != "kernel" else {}
    return [
        DisasmLine(
            pc,
            insn,
            format_instruction(insn, pc, syntax, helper_names, names),
            jump_target(pc, insn),
            names.get(pc),
        )
        for pc, insn in iter_slots(program)
    ]


def disassemble(
    insns: Iterable[Instruction],
    syntax: str = "llvm",
    helper_names: Mapping[int, str] | None = None,
    *,
    labels: bool = False,
) -> str:
    """The program as text, one instruction per line, that assemble() turns back into the same bytes.

    syntax "llvm" prints what llvm-objdump prints (`r0 = 0x1`); "kernel" the verifier log's
    wording (`r0 = 1`, `goto pc+2`); "ubpf" the uBPF / bpf_conformance style (`mov %r0, 0x1`).
    helper_names (id -> name) makes helper calls read `call bpf_map_lookup_elem`; pass the
    reverse mapping to assemble() to read them back. labels=True writes branch targets as
    `L<slot>:` labels instead of relative offsets.
    """
    program = list(insns)
    lines = disassembly(program, syntax, helper_names, labels=labels)
    out = []
    for line in lines:
        if line.label:
            out.append(f"{line.label}:\n")
        out.append(line.text + "\n")
    end = sum(insn.slots for insn in program)
    if labels and syntax != "kernel" and end in branch_labels(program):
        out.append(f"L{end}:\n")
    return "".join(out)
