"""The immutable Instruction type and bytecode decode/encode (lddw occupies two 8-byte slots)."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from pybpf.errors import AssemblyError
from pybpf.isa.opcodes import (
    LDDW,
    SIZE_BYTES,
    AluOp,
    InsnClass,
    JmpOp,
    Mode,
    Size,
    Source,
)

SLOT = 8
_SLOT_STRUCT = struct.Struct("<BBhi")


@dataclass(frozen=True, slots=True)
class Instruction:
    """One eBPF instruction; for lddw, `imm` holds the full 64-bit value and the insn spans 2 slots."""

    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    @property
    def cls(self) -> InsnClass:
        """The instruction class (low 3 bits of the opcode)."""
        return InsnClass(self.opcode & 0x07)

    @property
    def is_wide(self) -> bool:
        """True for the 16-byte lddw instruction."""
        return self.opcode == LDDW

    @property
    def slots(self) -> int:
        """How many 8-byte slots this instruction occupies."""
        return 2 if self.opcode == LDDW else 1

    @property
    def is_alu(self) -> bool:
        return self.opcode & 0x07 in (InsnClass.ALU, InsnClass.ALU64)

    @property
    def is_jump(self) -> bool:
        return self.opcode & 0x07 in (InsnClass.JMP, InsnClass.JMP32)

    @property
    def is_load(self) -> bool:
        return self.opcode & 0x07 in (InsnClass.LD, InsnClass.LDX)

    @property
    def is_store(self) -> bool:
        return self.opcode & 0x07 in (InsnClass.ST, InsnClass.STX)

    @property
    def op(self) -> int:
        """The operation bits (opcode & 0xf0) for ALU/JMP, the mode bits (& 0xe0) for loads/stores."""
        if self.is_alu or self.is_jump:
            return self.opcode & 0xF0
        return self.opcode & 0xE0

    @property
    def source(self) -> Source:
        return Source(self.opcode & 0x08)

    @property
    def size(self) -> int:
        """Access size in bytes of a load or store."""
        return SIZE_BYTES[self.opcode & 0x18]

    @property
    def is_exit(self) -> bool:
        return self.opcode == InsnClass.JMP | JmpOp.EXIT

    @property
    def is_call(self) -> bool:
        return self.opcode & 0xF7 == InsnClass.JMP | JmpOp.CALL

    def encode(self) -> bytes:
        """The instruction as little-endian bytecode (8 or 16 bytes)."""
        return encode_instruction(self)

    def replace(self, **changes: int) -> Instruction:
        """A copy with some fields changed."""
        fields = {f: getattr(self, f) for f in ("opcode", "dst", "src", "off", "imm")}
        fields.update(changes)
        return Instruction(**fields)


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def encode_instruction(insn: Instruction) -> bytes:
    """Encode one instruction; raise AssemblyError if a field does not fit."""
    if not 0 <= insn.opcode <= 0xFF:
        raise AssemblyError(f"opcode {insn.opcode:#x} out of range")
    if not (0 <= insn.dst <= 15 and 0 <= insn.src <= 15):
        raise AssemblyError(f"register out of range (dst={insn.dst}, src={insn.src})")
    if not -0x8000 <= insn.off <= 0x7FFF:
        raise AssemblyError(f"offset {insn.off} does not fit in 16 bits")
    regs = (insn.src << 4) | insn.dst
    if insn.opcode == LDDW:
        if not -(1 << 63) <= insn.imm < (1 << 64):
            raise AssemblyError(f"immediate {insn.imm} does not fit in 64 bits")
        imm = insn.imm & 0xFFFFFFFFFFFFFFFF
        lo, hi = _s32(imm), _s32(imm >> 32)
        return _SLOT_STRUCT.pack(insn.opcode, regs, insn.off, lo) + _SLOT_STRUCT.pack(0, 0, 0, hi)
    if not -(1 << 31) <= insn.imm < (1 << 32):
        raise AssemblyError(f"immediate {insn.imm} does not fit in 32 bits")
    return _SLOT_STRUCT.pack(insn.opcode, regs, insn.off, _s32(insn.imm))


def encode(insns: Iterable[Instruction]) -> bytes:
    """Encode a sequence of instructions to bytecode."""
    out = bytearray()
    for index, insn in enumerate(insns):
        try:
            out += encode_instruction(insn)
        except AssemblyError as exc:
            raise AssemblyError(exc.reason, index=index) from None
    return bytes(out)


def decode(code: bytes) -> list[Instruction]:
    """Decode bytecode into instructions (lddw merged into one); AssemblyError names the slot."""
    if len(code) % SLOT:
        raise AssemblyError(
            f"bytecode length {len(code)} is not a multiple of {SLOT}", index=len(code) // SLOT
        )
    insns: list[Instruction] = []
    nslots = len(code) // SLOT
    slot = 0
    while slot < nslots:
        opcode, regs, off, imm = _SLOT_STRUCT.unpack_from(code, slot * SLOT)
        dst, src = regs & 0x0F, regs >> 4
        if opcode == LDDW:
            if slot + 1 >= nslots:
                raise AssemblyError("lddw is missing its second slot", index=slot)
            op2, regs2, off2, imm2 = _SLOT_STRUCT.unpack_from(code, (slot + 1) * SLOT)
            if op2 != 0 or regs2 != 0 or off2 != 0:
                raise AssemblyError("invalid second slot of lddw", index=slot + 1)
            value = (imm & 0xFFFFFFFF) | ((imm2 & 0xFFFFFFFF) << 32)
            insns.append(Instruction(opcode, dst, src, off, value))
            slot += 2
        else:
            insns.append(Instruction(opcode, dst, src, off, imm))
            slot += 1
    return insns


def iter_slots(insns: Sequence[Instruction]) -> Iterator[tuple[int, Instruction]]:
    """Yield (slot index, instruction): the pc numbering jumps, the kernel and its log use."""
    pc = 0
    for insn in insns:
        yield pc, insn
        pc += insn.slots


def func_pointer_target(pc: int, insn: Instruction) -> int:
    """The slot an `lddw rX, func` (BPF_PSEUDO_FUNC) at `pc` points to: imm's low 32 bits are a signed offset."""
    return pc + 1 + _s32(insn.imm & 0xFFFFFFFF)


def slot_count(insns: Iterable[Instruction]) -> int:
    """Total number of 8-byte slots the instructions occupy."""
    return sum(i.slots for i in insns)


def is_valid_opcode(opcode: int) -> bool:
    """Whether an opcode is defined by RFC 9669 (the field values are checked elsewhere)."""
    return opcode in VALID_OPCODES


def _valid_opcodes() -> frozenset[int]:
    ops: set[int] = set()
    for cls in (InsnClass.ALU, InsnClass.ALU64):
        for op in AluOp:
            if op == AluOp.END:
                continue
            for src in Source:
                if op == AluOp.NEG and src == Source.X:
                    continue
                ops.add(cls | src | op)
    ops.update({InsnClass.ALU | AluOp.END | Source.K, InsnClass.ALU | AluOp.END | Source.X})
    ops.add(InsnClass.ALU64 | AluOp.END | Source.K)
    for cls in (InsnClass.JMP, InsnClass.JMP32):
        for jop in JmpOp:
            if jop in (JmpOp.CALL, JmpOp.EXIT):
                continue
            if jop == JmpOp.JA:
                ops.add(cls | jop)
                continue
            for src in Source:
                ops.add(cls | src | jop)
    ops.update({InsnClass.JMP | JmpOp.CALL, InsnClass.JMP | JmpOp.CALL | Source.X})
    ops.add(InsnClass.JMP | JmpOp.EXIT)
    ops.add(LDDW)
    for size in (Size.W, Size.H, Size.B):
        ops.add(InsnClass.LD | Mode.ABS | size)
        ops.add(InsnClass.LD | Mode.IND | size)
    for size in Size:
        ops.add(InsnClass.LDX | Mode.MEM | size)
        ops.add(InsnClass.ST | Mode.MEM | size)
        ops.add(InsnClass.STX | Mode.MEM | size)
    for size in (Size.W, Size.H, Size.B):
        ops.add(InsnClass.LDX | Mode.MEMSX | size)
    ops.add(InsnClass.STX | Mode.ATOMIC | Size.W)
    ops.add(InsnClass.STX | Mode.ATOMIC | Size.DW)
    return frozenset(int(o) for o in ops)


VALID_OPCODES: frozenset[int] = _valid_opcodes()
