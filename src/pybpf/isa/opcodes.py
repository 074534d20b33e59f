"""RFC 9669 opcode constants: instruction classes, ALU/JMP operations, sizes, modes, pseudo sources."""

from __future__ import annotations

from enum import IntEnum


class InsnClass(IntEnum):
    """The 3-bit instruction class (opcode & 0x07)."""

    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    JMP32 = 0x06
    ALU64 = 0x07


class Source(IntEnum):
    """The source bit of ALU/JMP opcodes (opcode & 0x08): immediate (K) or register (X)."""

    K = 0x00
    X = 0x08


class AluOp(IntEnum):
    """Arithmetic operations (opcode & 0xf0) for ALU and ALU64."""

    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30  # off=1: SDIV
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90  # off=1: SMOD
    XOR = 0xA0
    MOV = 0xB0  # off=8/16/32: MOVSX
    ARSH = 0xC0
    END = 0xD0  # byte swap: ALU|K = to LE, ALU|X = to BE, ALU64|K = unconditional bswap


# Operation names (the verifier's and the interpreter's vocabulary) and the kernel's bpf_alu_string.
ALU_OP_NAMES: dict[int, str] = {
    AluOp.ADD: "add", AluOp.SUB: "sub", AluOp.MUL: "mul", AluOp.DIV: "div", AluOp.OR: "or",
    AluOp.AND: "and", AluOp.LSH: "lsh", AluOp.RSH: "rsh", AluOp.NEG: "neg", AluOp.MOD: "mod",
    AluOp.XOR: "xor", AluOp.MOV: "mov", AluOp.ARSH: "arsh", AluOp.END: "end",
}  # fmt: skip
ALU_OP_STRINGS: dict[int, str] = {
    AluOp.ADD: "+=", AluOp.SUB: "-=", AluOp.MUL: "*=", AluOp.DIV: "/=", AluOp.OR: "|=",
    AluOp.AND: "&=", AluOp.LSH: "<<=", AluOp.RSH: ">>=", AluOp.NEG: "neg", AluOp.MOD: "%=",
    AluOp.XOR: "^=", AluOp.MOV: "=", AluOp.ARSH: "s>>=", AluOp.END: "endian",
}  # fmt: skip


class JmpOp(IntEnum):
    """Jump operations (opcode & 0xf0) for JMP and JMP32."""

    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0


class Size(IntEnum):
    """Access size of load/store instructions (opcode & 0x18)."""

    W = 0x00
    H = 0x08
    B = 0x10
    DW = 0x18


SIZE_BYTES: dict[int, int] = {Size.W: 4, Size.H: 2, Size.B: 1, Size.DW: 8}
BYTES_SIZE: dict[int, int] = {v: k for k, v in SIZE_BYTES.items()}


class Mode(IntEnum):
    """Addressing mode of load/store instructions (opcode & 0xe0)."""

    IMM = 0x00  # lddw (with Size.DW)
    ABS = 0x20  # legacy packet load
    IND = 0x40  # legacy packet load
    MEM = 0x60
    MEMSX = 0x80  # sign-extending load
    ATOMIC = 0xC0


class AtomicOp(IntEnum):
    """The imm field of an atomic instruction (BPF_FETCH = 0x01 may be or-ed in)."""

    ADD = 0x00
    OR = 0x40
    AND = 0x50
    XOR = 0xA0
    XCHG = 0xE0 | 0x01
    CMPXCHG = 0xF0 | 0x01


FETCH = 0x01


class PseudoSrc(IntEnum):
    """The src field of lddw: what the 64-bit immediate means (kernel BPF_PSEUDO_*)."""

    IMM = 0
    MAP_FD = 1
    MAP_VALUE = 2
    BTF_ID = 3
    FUNC = 4
    MAP_IDX = 5
    MAP_IDX_VALUE = 6


class CallSrc(IntEnum):
    """The src field of a call: helper by id, local (bpf-to-bpf) call, or kfunc by BTF id."""

    HELPER = 0
    LOCAL = 1  # BPF_PSEUDO_CALL
    KFUNC = 2  # BPF_PSEUDO_KFUNC_CALL


# Full opcodes that appear often enough to be worth a name.
LDDW = InsnClass.LD | Size.DW | Mode.IMM  # 0x18
CALL = InsnClass.JMP | JmpOp.CALL  # 0x85
CALLX = InsnClass.JMP | Source.X | JmpOp.CALL  # 0x8d
EXIT = InsnClass.JMP | JmpOp.EXIT  # 0x95
JA = InsnClass.JMP | JmpOp.JA  # 0x05
JA32 = InsnClass.JMP32 | JmpOp.JA  # 0x06 (gotol: target in imm)

MAX_REGISTER = 10
FRAME_POINTER = 10
STACK_SIZE = 512
MAX_CALL_FRAMES = 8
MAX_TAIL_CALL_CNT = 33  # tail calls one run may take (the kernel's MAX_TAIL_CALL_CNT)
# A tail call from a sub-program replaces that frame and the target may nest MAX_CALL_FRAMES - 1
# calls of its own, so a chain of tail calls reaches at most this many frames at once.
MAX_CHAIN_FRAMES = MAX_CALL_FRAMES + MAX_TAIL_CALL_CNT * (MAX_CALL_FRAMES - 1)

M32 = 0xFFFFFFFF  # mask of a 32-bit register half
M64 = 0xFFFFFFFFFFFFFFFF  # mask of a 64-bit register
