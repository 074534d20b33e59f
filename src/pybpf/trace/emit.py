"""Instruction emitter for the code generator: registers, labels resolved to slot offsets, map references."""

from __future__ import annotations

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import CALL, EXIT, LDDW, AluOp, InsnClass, JmpOp, Mode, Size, Source
from pybpf.object.spec import MapReference

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, FP = range(11)
SIZES = {1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW}
ALU_OPS = {"+": AluOp.ADD, "-": AluOp.SUB, "*": AluOp.MUL, "/": AluOp.DIV, "%": AluOp.MOD, "|": AluOp.OR,
           "&": AluOp.AND, "^": AluOp.XOR, "<<": AluOp.LSH, ">>": AluOp.RSH}
# comparison -> (unsigned jump, signed jump)
JUMPS = {"==": (JmpOp.JEQ, JmpOp.JEQ), "!=": (JmpOp.JNE, JmpOp.JNE), ">": (JmpOp.JGT, JmpOp.JSGT),
         ">=": (JmpOp.JGE, JmpOp.JSGE), "<": (JmpOp.JLT, JmpOp.JSLT), "<=": (JmpOp.JLE, JmpOp.JSLE)}
PSEUDO_FUNC = 4  # src of an lddw that loads a sub-program's address
S32_MIN, S32_MAX = -(1 << 31), (1 << 31) - 1


def fits32(v: int) -> bool:
    return S32_MIN <= v <= S32_MAX


class Emitter:
    """Accumulates instructions; jumps name labels that `finish()` turns into slot offsets."""

    def __init__(self) -> None:
        self.insns: list[Instruction] = []
        self._labels: dict[int, int] = {}
        self._fixups: list[tuple[int, int]] = []
        self._maps: list[tuple[int, str]] = []
        self._funcs: list[tuple[int, int]] = []
        self._next_label = 0

    def label(self) -> int:
        self._next_label += 1
        return self._next_label

    def used(self, label: int) -> bool:
        """True when a jump already targets `label`."""
        return any(target == label for _, target in self._fixups)

    def place(self, label: int) -> None:
        self._labels[label] = len(self.insns)

    def add(self, insn: Instruction) -> None:
        self.insns.append(insn)

    # -- ALU ---------------------------------------------------------------------------------
    def mov(self, dst: int, value: int) -> None:
        """dst = 64-bit constant."""
        if fits32(value):
            self.add(Instruction(InsnClass.ALU64 | AluOp.MOV | Source.K, dst, 0, 0, value))
        else:
            self.add(Instruction(LDDW, dst, 0, 0, value & 0xFFFFFFFFFFFFFFFF))

    def movr(self, dst: int, src: int) -> None:
        self.add(Instruction(InsnClass.ALU64 | AluOp.MOV | Source.X, dst, src))

    def mov32(self, dst: int, src: int) -> None:
        """dst = (u32)src."""
        self.add(Instruction(InsnClass.ALU | AluOp.MOV | Source.X, dst, src))

    def alu(self, op: str, dst: int, src: int, *, signed: bool = False) -> None:
        code = AluOp.ARSH if op == ">>" and signed else ALU_OPS[op]
        # division and modulo are unsigned, as in bpftrace (it warns about signed operands)
        self.add(Instruction(InsnClass.ALU64 | code | Source.X, dst, src, 0, 0))

    def alui(self, op: str, dst: int, imm: int, *, signed: bool = False) -> None:
        if not fits32(imm):
            self.mov(R5, imm)
            self.alu(op, dst, R5, signed=signed)
            return
        code = AluOp.ARSH if op == ">>" and signed else ALU_OPS[op]
        self.add(Instruction(InsnClass.ALU64 | code | Source.K, dst, 0, 0, imm))

    def neg(self, dst: int) -> None:
        self.add(Instruction(InsnClass.ALU64 | AluOp.NEG | Source.K, dst))

    def bswap(self, dst: int, bits: int) -> None:
        """Swap the bytes of the low `bits` of dst (to big endian on this little-endian machine), zero the rest."""
        self.add(Instruction(InsnClass.ALU | AluOp.END | Source.X, dst, 0, 0, bits))

    # -- memory ------------------------------------------------------------------------------
    def ldx(self, size: int, dst: int, src: int, off: int) -> None:
        self.add(Instruction(InsnClass.LDX | Mode.MEM | SIZES[size], dst, src, off))

    def stx(self, size: int, dst: int, off: int, src: int) -> None:
        self.add(Instruction(InsnClass.STX | Mode.MEM | SIZES[size], dst, src, off))

    def st(self, size: int, dst: int, off: int, imm: int) -> None:
        self.add(Instruction(InsnClass.ST | Mode.MEM | SIZES[size], dst, 0, off, imm))

    def ld_map(self, dst: int, map_name: str) -> None:
        self._maps.append((len(self.insns), map_name))
        self.add(Instruction(LDDW, dst, 0, 0, 0))

    def ld_func(self, dst: int, label: int) -> None:
        """dst = address of the sub-program at `label` (BPF_PSEUDO_FUNC), for callback helpers."""
        self._funcs.append((len(self.insns), label))
        self.add(Instruction(LDDW, dst, PSEUDO_FUNC, 0, 0))

    def stack_ptr(self, dst: int, off: int) -> None:
        self.movr(dst, FP)
        self.alui("+", dst, off)

    # -- control -----------------------------------------------------------------------------
    def jmp(self, label: int) -> None:
        self._fixups.append((len(self.insns), label))
        self.add(Instruction(InsnClass.JMP | JmpOp.JA))

    def jcc(self, op: str, dst: int, src: int, label: int, *, signed: bool = False) -> None:
        code = JUMPS[op][1 if signed else 0]
        self._fixups.append((len(self.insns), label))
        self.add(Instruction(InsnClass.JMP | code | Source.X, dst, src))

    def jcci(self, op: str, dst: int, imm: int, label: int, *, signed: bool = False) -> None:
        if not fits32(imm):
            self.mov(R5, imm)
            self.jcc(op, dst, R5, label, signed=signed)
            return
        code = JUMPS[op][1 if signed else 0]
        self._fixups.append((len(self.insns), label))
        self.add(Instruction(InsnClass.JMP | code | Source.K, dst, 0, 0, imm))

    def call(self, helper: int) -> None:
        self.add(Instruction(CALL, 0, 0, 0, helper))

    def exit(self) -> None:
        self.add(Instruction(EXIT))

    def finish(self) -> tuple[tuple[Instruction, ...], tuple[MapReference, ...]]:
        """Resolve labels (offsets in 8-byte slots) and map references (slot pcs)."""
        slots = []
        pc = 0
        for insn in self.insns:
            slots.append(pc)
            pc += insn.slots
        slots.append(pc)
        out = list(self.insns)
        for index, label in self._fixups:
            target = slots[self._labels[label]]
            out[index] = out[index].replace(off=target - slots[index] - 1)
        for index, label in self._funcs:
            out[index] = out[index].replace(imm=(slots[self._labels[label]] - slots[index] - 1) & 0xFFFFFFFF)
        refs = tuple(MapReference(slots[i], name) for i, name in self._maps)
        return tuple(out), refs
