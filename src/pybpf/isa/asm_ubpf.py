"""The uBPF / bpf_conformance assembly syntax (`mov %r0, 1`, `ldxw %r0, [%r1+4]`): table and parser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from pybpf.isa.asm_common import (
    LABEL_RE,
    Pending,
    Program,
    imm32,
    imm64,
    is_register,
    lookup_helper,
    offset16,
    pseudo_lddw,
    raw_insn,
    register,
    s32,
    target,
)
from pybpf.isa.lexer import Cursor, Tok, Token
from pybpf.isa.opcodes import (
    FETCH,
    LDDW,
    AluOp,
    AtomicOp,
    CallSrc,
    InsnClass,
    JmpOp,
    Mode,
    Size,
    Source,
)


class Shape(Enum):
    """The operands a mnemonic takes."""

    ALU = "dst, src|imm"  # K opcode in the table; a register operand sets the X bit
    ALU_REG = "dst, src"  # movsx
    UNARY = "dst"  # neg, le/be/bswap
    JA = "target"  # offset field
    JA32 = "target32"  # imm field
    JCC = "dst, src|imm, target"
    LDX = "dst, [src+off]"
    ST = "[dst+off], imm"
    STX = "[dst+off], src"
    ATOMIC = "[dst+off], src"
    LDDW = "dst, imm64"
    LDABS = "imm"
    LDIND = "src, imm"
    EXIT = ""
    CALL = "helper N | local target | runtime N | %rN"


@dataclass(frozen=True, slots=True)
class Form:
    """One mnemonic: its (K-form) opcode, operand shape, and fields it fixes (off, imm)."""

    name: str
    opcode: int
    shape: Shape
    off: int | None = None
    imm: int | None = None


ALU_NAMES: dict[str, AluOp] = {
    "add": AluOp.ADD, "sub": AluOp.SUB, "mul": AluOp.MUL, "div": AluOp.DIV, "or": AluOp.OR,
    "and": AluOp.AND, "lsh": AluOp.LSH, "rsh": AluOp.RSH, "mod": AluOp.MOD, "xor": AluOp.XOR,
    "mov": AluOp.MOV, "arsh": AluOp.ARSH,
}  # fmt: skip
JCC_NAMES: dict[str, JmpOp] = {
    "jeq": JmpOp.JEQ, "jgt": JmpOp.JGT, "jge": JmpOp.JGE, "jset": JmpOp.JSET, "jne": JmpOp.JNE,
    "jsgt": JmpOp.JSGT, "jsge": JmpOp.JSGE, "jlt": JmpOp.JLT, "jle": JmpOp.JLE,
    "jslt": JmpOp.JSLT, "jsle": JmpOp.JSLE,
}  # fmt: skip
SIZE_SUFFIX: dict[str, Size] = {"b": Size.B, "h": Size.H, "w": Size.W, "dw": Size.DW}
ATOMIC_NAMES: dict[str, int] = {
    "add": AtomicOp.ADD, "or": AtomicOp.OR, "and": AtomicOp.AND, "xor": AtomicOp.XOR,
}  # fmt: skip


def _build_forms() -> list[Form]:
    """Every mnemonic; when several spell one encoding, the first listed is what disasm prints."""
    forms: list[Form] = []
    widths = (("", InsnClass.ALU64), ("32", InsnClass.ALU), ("64", InsnClass.ALU64))
    for suffix, cls in widths:
        for name, op in ALU_NAMES.items():
            forms.append(Form(name + suffix, cls | op, Shape.ALU))
        forms.append(Form("sdiv" + suffix, cls | AluOp.DIV, Shape.ALU, off=1))
        forms.append(Form("smod" + suffix, cls | AluOp.MOD, Shape.ALU, off=1))
        forms.append(Form("neg" + suffix, cls | AluOp.NEG, Shape.UNARY))
    for bits in (8, 16, 32):
        for width, cls in (("32", InsnClass.ALU), ("64", InsnClass.ALU64)):
            if bits == 32 and cls == InsnClass.ALU:
                continue
            forms.append(
                Form(f"movsx{bits}{width}", cls | Source.X | AluOp.MOV, Shape.ALU_REG, off=bits)
            )
    for bits in (16, 32, 64):
        forms.append(Form(f"le{bits}", InsnClass.ALU | Source.K | AluOp.END, Shape.UNARY, imm=bits))
        forms.append(Form(f"be{bits}", InsnClass.ALU | Source.X | AluOp.END, Shape.UNARY, imm=bits))
        for name in ("bswap", "swap"):
            forms.append(Form(f"{name}{bits}", InsnClass.ALU64 | AluOp.END, Shape.UNARY, imm=bits))
    forms.append(Form("ja", InsnClass.JMP | JmpOp.JA, Shape.JA))
    forms.append(Form("ja32", InsnClass.JMP32 | JmpOp.JA, Shape.JA32))
    for suffix, cls in (("", InsnClass.JMP), ("32", InsnClass.JMP32), ("64", InsnClass.JMP)):
        for name, jop in JCC_NAMES.items():
            forms.append(Form(name + suffix, cls | jop, Shape.JCC))
    forms.append(Form("exit", InsnClass.JMP | JmpOp.EXIT, Shape.EXIT))
    forms.append(Form("call", InsnClass.JMP | JmpOp.CALL, Shape.CALL))
    forms.append(Form("lddw", LDDW, Shape.LDDW))
    for suffix, size in SIZE_SUFFIX.items():
        forms.append(Form("ldx" + suffix, InsnClass.LDX | Mode.MEM | size, Shape.LDX))
        forms.append(Form("st" + suffix, InsnClass.ST | Mode.MEM | size, Shape.ST))
        forms.append(Form("stx" + suffix, InsnClass.STX | Mode.MEM | size, Shape.STX))
        if size != Size.DW:
            forms.append(Form("ldxs" + suffix, InsnClass.LDX | Mode.MEMSX | size, Shape.LDX))
            forms.append(Form("ldabs" + suffix, InsnClass.LD | Mode.ABS | size, Shape.LDABS))
            forms.append(Form("ldind" + suffix, InsnClass.LD | Mode.IND | size, Shape.LDIND))
    for suffix, size in (("", Size.DW), ("32", Size.W), ("64", Size.DW)):
        opcode = InsnClass.STX | Mode.ATOMIC | size
        for name, aop in ATOMIC_NAMES.items():
            forms.append(Form(f"lock {name}{suffix}", opcode, Shape.ATOMIC, imm=aop))
            forms.append(Form(f"lock fetch {name}{suffix}", opcode, Shape.ATOMIC, imm=aop | FETCH))
        forms.append(Form(f"lock xchg{suffix}", opcode, Shape.ATOMIC, imm=AtomicOp.XCHG))
        forms.append(Form(f"lock cmpxchg{suffix}", opcode, Shape.ATOMIC, imm=AtomicOp.CMPXCHG))
        # `lock fetch xchg` is accepted too: xchg always fetches.
        forms.append(Form(f"lock fetch xchg{suffix}", opcode, Shape.ATOMIC, imm=AtomicOp.XCHG))
        forms.append(
            Form(f"lock fetch cmpxchg{suffix}", opcode, Shape.ATOMIC, imm=AtomicOp.CMPXCHG)
        )
    return forms


FORMS: dict[str, Form] = {}
for _form in _build_forms():
    FORMS.setdefault(_form.name, _form)


def _memory(cursor: Cursor) -> tuple[int, int]:
    """`[%rN]`, `[%rN+off]` or `[%rN-off]` -> (register, offset)."""
    cursor.expect("[", "a memory operand like [%r1+4]")
    reg, _, _ = register(cursor)
    off = 0
    if cursor.peek.text in ("+", "-"):
        value, first = cursor.signed_number("a memory offset")
        off = offset16(cursor, value, first)
    cursor.expect("]")
    return reg, off


def _comma(cursor: Cursor) -> None:
    """Operands are separated by a comma and/or spaces (upstream splits on whitespace)."""
    cursor.accept(",")


def _mnemonic(cursor: Cursor) -> tuple[str, Token]:
    """Read the mnemonic; `lock [fetch] op` is one mnemonic of several words."""
    token = cursor.next()
    name = token.text.lower()
    if name == "lock":
        words = [name]
        if cursor.accept("fetch"):
            words.append("fetch")
        op = cursor.next()
        if op.kind is not Tok.IDENT:
            raise cursor.error(
                f"expected an atomic operation after 'lock', got {op.describe()}", op
            )
        words.append(op.text.lower())
        name = " ".join(words)
        if name not in FORMS:
            raise cursor.error(f"unknown atomic operation {op.text!r}", op)
    return name, token


def parse_line(cursor: Cursor, program: Program, helper_ids: Mapping[str, int] | None) -> None:
    """Parse one line (labels and at most one instruction) into program."""
    while (
        cursor.peek.kind is Tok.IDENT
        and cursor.peek_at(1).text == ":"
        and not is_register(cursor.peek)
    ):
        label = cursor.next()
        cursor.next()
        program.define_label(label.text, cursor, label)
    if cursor.at_end():
        return
    first = cursor.peek
    if first.kind is Tok.IDENT and first.text.lower() == ".insn":
        cursor.next()
        item = raw_insn(cursor)
    else:
        if first.kind is not Tok.IDENT:
            raise cursor.error(f"expected a mnemonic, got {first.describe()}")
        name, token = _mnemonic(cursor)
        form = FORMS.get(name)
        if form is None:
            hint = " (this line looks like LLVM syntax)" if is_register(token) else ""
            raise cursor.error(f"unknown mnemonic {token.text!r}{hint}", token)
        item = _operands(cursor, form, helper_ids)
    item.line = cursor.lineno
    cursor.expect_end()
    program.items.append(item)


def _operands(cursor: Cursor, form: Form, helper_ids: Mapping[str, int] | None) -> Pending:
    item = Pending(form.opcode, off=form.off or 0, imm=form.imm or 0)
    shape = form.shape
    if shape is Shape.ALU or shape is Shape.JCC:
        item.dst = register(cursor)[0]
        _comma(cursor)
        if is_register(cursor.peek):
            item.src = register(cursor)[0]
            item.opcode |= Source.X
        else:
            item.imm = imm32(cursor, "a register or an immediate")
        if shape is Shape.JCC:
            _comma(cursor)
            item.target = target(cursor)
    elif shape is Shape.ALU_REG:
        item.dst = register(cursor)[0]
        _comma(cursor)
        item.src = register(cursor, what="a source register")[0]
    elif shape is Shape.UNARY:
        item.dst = register(cursor)[0]
    elif shape is Shape.JA:
        item.target = target(cursor)
    elif shape is Shape.JA32:
        item.target = target(cursor)
        item.target_field = "imm"
    elif shape is Shape.LDX:
        item.dst = register(cursor)[0]
        _comma(cursor)
        item.src, item.off = _memory(cursor)
    elif shape is Shape.ST:
        item.dst, item.off = _memory(cursor)
        _comma(cursor)
        item.imm = imm32(cursor)
    elif shape is Shape.STX or shape is Shape.ATOMIC:
        item.dst, item.off = _memory(cursor)
        _comma(cursor)
        item.src = register(cursor, what="a source register")[0]
    elif shape is Shape.LDDW:
        item.dst = register(cursor)[0]
        _comma(cursor)
        pseudo = pseudo_lddw(cursor, item.dst)
        token = cursor.peek
        if pseudo is not None:
            item = pseudo
        elif token.kind is Tok.IDENT and LABEL_RE.match(token.text) and not is_register(token):
            item.symbol = cursor.next()  # `lddw %r1, counts`: a relocation
        else:
            item.imm = imm64(cursor)
    elif shape is Shape.LDABS:
        item.imm = imm32(cursor)
    elif shape is Shape.LDIND:
        item.src = register(cursor)[0]
        _comma(cursor)
        item.imm = imm32(cursor)
    elif shape is Shape.CALL:
        _call(cursor, item, helper_ids)
    return item


def _call(cursor: Cursor, item: Pending, helper_ids: Mapping[str, int] | None) -> None:
    """`call N`, `call helper N`, `call local T`, `call runtime N`, `call %rN` (callx: reg in dst)."""
    if is_register(cursor.peek):
        item.opcode |= Source.X
        item.dst = register(cursor)[0]
        return
    kind = cursor.peek
    word = kind.text.lower() if kind.kind is Tok.IDENT else ""
    if word == "local":
        cursor.next()
        item.src = CallSrc.LOCAL
        item.target = target(cursor)
        item.target_field = "imm"
        return
    if word in ("helper", "runtime", "kfunc"):
        cursor.next()
        item.src = CallSrc.HELPER if word == "helper" else CallSrc.KFUNC
    elif kind.kind is Tok.IDENT:
        helper = lookup_helper(helper_ids, kind.text)
        if helper is None:
            raise cursor.error(
                "expected a helper number, 'local', 'helper', 'runtime' or a register,"
                f" got {kind.describe()}"
            )
        cursor.next()
        item.imm = s32(helper)
        return
    item.imm = s32(imm32(cursor, "a helper number"))
