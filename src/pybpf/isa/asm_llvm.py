"""The LLVM / kernel verifier log assembly syntax (`r0 = 1`, `if r1 > 2 goto +3`): parser.

Lines arrive here without their listing decorations (see pybpf.isa.listing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from pybpf.isa.asm_common import (
    INT32_MIN,
    LABEL_RE,
    Pending,
    Program,
    Target,
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

# Compound assignments: operator -> (ALU operation, offset field).
ASSIGN_OPS: dict[str, tuple[AluOp, int]] = {
    "+=": (AluOp.ADD, 0), "-=": (AluOp.SUB, 0), "*=": (AluOp.MUL, 0), "/=": (AluOp.DIV, 0),
    "|=": (AluOp.OR, 0), "&=": (AluOp.AND, 0), "<<=": (AluOp.LSH, 0), ">>=": (AluOp.RSH, 0),
    "%=": (AluOp.MOD, 0), "^=": (AluOp.XOR, 0), "s>>=": (AluOp.ARSH, 0),
    "s/=": (AluOp.DIV, 1), "s%=": (AluOp.MOD, 1),
}  # fmt: skip
CMP_OPS: dict[str, JmpOp] = {
    "==": JmpOp.JEQ, "!=": JmpOp.JNE, ">": JmpOp.JGT, ">=": JmpOp.JGE, "<": JmpOp.JLT,
    "<=": JmpOp.JLE, "s>": JmpOp.JSGT, "s>=": JmpOp.JSGE, "s<": JmpOp.JSLT, "s<=": JmpOp.JSLE,
    "&": JmpOp.JSET,
}  # fmt: skip
# Memory access types: name -> (size, sign-extending).
MEM_TYPES: dict[str, tuple[Size, bool]] = {
    "u8": (Size.B, False), "u16": (Size.H, False), "u32": (Size.W, False), "u64": (Size.DW, False),
    "s8": (Size.B, True), "s16": (Size.H, True), "s32": (Size.W, True),
}  # fmt: skip
LOCK_OPS: dict[str, int] = {
    "+=": AtomicOp.ADD,
    "|=": AtomicOp.OR,
    "&=": AtomicOp.AND,
    "^=": AtomicOp.XOR,
}
FETCH_OPS: dict[str, int] = {
    "add": AtomicOp.ADD,
    "or": AtomicOp.OR,
    "and": AtomicOp.AND,
    "xor": AtomicOp.XOR,
}
ENDIAN_OPS: dict[str, int] = {
    "le": InsnClass.ALU | Source.K | AluOp.END,
    "be": InsnClass.ALU | Source.X | AluOp.END,
    "bswap": InsnClass.ALU64 | Source.K | AluOp.END,
}
MOVSX_TYPES: dict[str, int] = {"s8": 8, "s16": 16, "s32": 32}


def parse_line(cursor: Cursor, program: Program, helper_ids: Mapping[str, int] | None) -> None:
    """Parse one line (labels and at most one instruction) into program."""
    while cursor.peek.kind is Tok.IDENT and cursor.peek_at(1).text == ":":
        label = cursor.next()
        if is_register(label) or not LABEL_RE.match(label.text):
            raise cursor.error(f"{label.text!r} cannot be a label", label)
        cursor.next()
        program.define_label(label.text, cursor, label)
    if cursor.at_end():
        return
    first = cursor.peek
    word = first.text.lower() if first.kind is Tok.IDENT else ""
    item = _statement(cursor, first, word, helper_ids)
    item.line = cursor.lineno
    _skip_symbol(cursor)
    cursor.expect_end()
    program.items.append(item)


Keyword = Callable[[Cursor, Mapping[str, int] | None], Pending]


def _keywords() -> dict[str, Keyword]:
    """Statements that start with a keyword; the keyword is consumed before the handler runs."""

    def goto(cursor: Cursor, _: Mapping[str, int] | None) -> Pending:
        return Pending(InsnClass.JMP | JmpOp.JA, target=target(cursor, allow_pc=True))

    return {
        ".insn": lambda c, _: raw_insn(c),
        "exit": lambda c, _: Pending(InsnClass.JMP | JmpOp.EXIT),
        "goto": goto,
        "ja": goto,
        "gotol": lambda c, _: Pending(
            InsnClass.JMP32 | JmpOp.JA, target=target(c, allow_pc=True), target_field="imm"
        ),
        "call": _call,
        "callx": lambda c, _: Pending(InsnClass.JMP | Source.X | JmpOp.CALL, dst=register(c)[0]),
        "if": lambda c, _: _conditional(c),
        "lock": lambda c, _: _lock(c),
    }


def _statement(
    cursor: Cursor, first: Token, word: str, helper_ids: Mapping[str, int] | None
) -> Pending:
    handler = KEYWORDS.get(word)
    if handler is not None:
        cursor.next()
        return handler(cursor, helper_ids)
    if first.text == "*":
        return _store(cursor)
    if is_register(first):
        return _assignment(cursor)
    raise cursor.error(f"expected an instruction, got {first.describe()}")


def _skip_symbol(cursor: Cursor) -> None:
    """Drop llvm-objdump's trailing `<LBB0_3>` / `<func+0x10>` annotation."""
    if cursor.peek.text == "<":
        while not cursor.at_end() and cursor.next().text != ">":
            pass


def _call(cursor: Cursor, helper_ids: Mapping[str, int] | None) -> Pending:
    """`call N` (helper), `call pc+N`/`call +N`/`call -N` (local), `call NAME`, `call kfunc N`."""
    item = Pending(InsnClass.JMP | JmpOp.CALL)
    token = cursor.peek
    word = token.text.lower() if token.kind is Tok.IDENT else ""
    if token.kind is Tok.NUMBER:
        item.imm = imm32(cursor, "a helper number")
    elif word == "kfunc":
        cursor.next()
        item.src = CallSrc.KFUNC
        item.imm = imm32(cursor, "a kfunc BTF id")
    elif word == "helper":
        cursor.next()
        item.imm = imm32(cursor, "a helper number")
    elif word == "local":
        cursor.next()
        item.src, item.target, item.target_field = (
            CallSrc.LOCAL,
            target(cursor, allow_pc=True),
            "imm",
        )
    elif word == "pc" or token.text in ("+", "-"):
        item.src, item.target, item.target_field = (
            CallSrc.LOCAL,
            target(cursor, allow_pc=True),
            "imm",
        )
    elif token.kind is Tok.IDENT and LABEL_RE.match(token.text):
        cursor.next()
        # A label in this program makes it a local call; otherwise a helper by name.
        item.src, item.target, item.target_field = (
            CallSrc.LOCAL,
            Target(token.text, 0, token),
            "imm",
        )
        item.target.helper = lookup_helper(helper_ids, token.text)
        item.target.by_name = True
    else:
        raise cursor.error(f"expected a helper number or name, or pc+N, got {token.describe()}")
    return item


def _conditional(cursor: Cursor) -> Pending:
    """`if rA OP rB|imm goto T`; w registers make it a JMP32."""
    dst, kind, _ = register(cursor, "rw")
    op = cursor.next()
    if op.text not in CMP_OPS:
        raise cursor.error(
            f"expected a comparison (==, !=, >, s<, &, ...), got {op.describe()}", op
        )
    item = Pending((InsnClass.JMP32 if kind == "w" else InsnClass.JMP) | CMP_OPS[op.text], dst=dst)
    if is_register(cursor.peek):
        item.src = _same_width(cursor, kind)
        item.opcode |= Source.X
    else:
        item.imm = imm32(cursor, "a register or an immediate")
    cursor.expect("goto")
    item.target = target(cursor, allow_pc=True)
    return item


def _same_width(cursor: Cursor, kind: str) -> int:
    reg, other, token = register(cursor, "rw")
    if other != kind:
        raise cursor.error(f"{token.text!r} mixes {other}-registers with {kind}-registers", token)
    return reg


def _mem_type(cursor: Cursor) -> tuple[Size, bool, Token]:
    """`(u32 *)` -> (size, sign-extending, type token)."""
    cursor.expect("(", "'(' starting a type such as (u32 *)")
    token = cursor.next()
    if token.text.lower() not in MEM_TYPES:
        raise cursor.error(
            f"expected a type u8/u16/u32/u64/s8/s16/s32, got {token.describe()}", token
        )
    cursor.expect("*")
    cursor.expect(")")
    size, signed = MEM_TYPES[token.text.lower()]
    return size, signed, token


def _address(cursor: Cursor, *, parens: bool = True) -> tuple[int, int]:
    """`(rN + off)` / `(rN -8)` / `(rN)` -> (register, offset); without the parens for cmpxchg_64."""
    if parens:
        cursor.expect("(", "'(' starting an address such as (r1 + 4)")
    reg, _, _ = register(cursor, what="a base register")
    off = 0
    if cursor.peek.text in ("+", "-"):
        value, first = cursor.signed_number("an offset")
        off = offset16(cursor, value, first)
    if parens:
        cursor.expect(")")
    return reg, off


def _memory(cursor: Cursor) -> tuple[Size, bool, int, int, Token]:
    """`*(u32 *)(r1 + 4)` -> (size, signed, register, offset, type token)."""
    cursor.expect("*")
    size, signed, token = _mem_type(cursor)
    reg, off = _address(cursor)
    return size, signed, reg, off, token


def _store(cursor: Cursor) -> Pending:
    """`*(u64 *)(r10 - 8) = r1` (stx) or `= imm` (st)."""
    size, signed, dst, off, token = _memory(cursor)
    if signed:
        raise cursor.error(f"stores take an unsigned type, not {token.text!r}", token)
    cursor.expect("=")
    if is_register(cursor.peek):
        src = register(cursor, "rw")[0]
        return Pending(InsnClass.STX | Mode.MEM | size, dst=dst, src=src, off=off)
    return Pending(InsnClass.ST | Mode.MEM | size, dst=dst, off=off, imm=imm32(cursor))


def _lock(cursor: Cursor) -> Pending:
    """`lock *(u64 *)(r2 + 0) += r1` and its |=, &=, ^= siblings."""
    size, signed, dst, off, token = _memory(cursor)
    if signed or size not in (Size.W, Size.DW):
        raise cursor.error(f"atomic operations take u32 or u64, not {token.text!r}", token)
    op = cursor.next()
    if op.text not in LOCK_OPS:
        raise cursor.error(f"expected an atomic operator (+=, |=, &=, ^=), got {op.describe()}", op)
    src = register(cursor, "rw")[0]
    return Pending(
        InsnClass.STX | Mode.ATOMIC | size, dst=dst, src=src, off=off, imm=LOCK_OPS[op.text]
    )


def _assignment(cursor: Cursor) -> Pending:
    """Everything that starts with a register: moves, ALU ops, loads, atomics with a result."""
    dst, kind, dst_token = register(cursor, "rw")
    cls = InsnClass.ALU if kind == "w" else InsnClass.ALU64
    op = cursor.next()
    if op.text in ASSIGN_OPS:
        alu, off = ASSIGN_OPS[op.text]
        return _alu_operand(cursor, Pending(cls | alu, dst=dst, off=off), kind)
    if op.text != "=":
        raise cursor.error(
            f"expected '=' or an assignment operator such as '+=', got {op.describe()}", op
        )
    token = cursor.peek
    word = token.text.lower() if token.kind is Tok.IDENT else ""
    if token.text == "-" and is_register(cursor.peek_at(1)):  # r0 = -r0
        cursor.next()
        _expect_same_register(cursor, dst, kind)
        return Pending(cls | AluOp.NEG, dst=dst)
    if token.text == "(" and cursor.peek_at(1).text.lower() in MOVSX_TYPES:  # r0 = (s8)r1
        cursor.next()
        cast = cursor.next()
        bits = MOVSX_TYPES[cast.text.lower()]
        if bits == 32 and kind == "w":
            raise cursor.error(
                "(s32) sign-extends into 64 bits: the destination must be an r register", cast
            )
        cursor.expect(")")
        return Pending(cls | Source.X | AluOp.MOV, dst=dst, src=_same_width(cursor, kind), off=bits)
    if token.text == "*":
        return _load(cursor, dst, dst_token)
    endian = re.fullmatch(r"(le|be|bswap)(16|32|64)", word)
    if endian:
        cursor.next()
        _expect_same_register(cursor, dst, None)
        return Pending(ENDIAN_OPS[endian.group(1)], dst=dst, imm=int(endian.group(2)))
    if cursor.peek_at(1).text == "(" and word:
        atomic = _atomic_call(cursor, dst, dst_token)
        if atomic is not None:
            return atomic
    pseudo = pseudo_lddw(cursor, dst)
    if pseudo is not None:
        _require_r(cursor, kind, dst_token)
        cursor.accept("ll")
        return pseudo
    if is_register(token):
        return Pending(cls | Source.X | AluOp.MOV, dst=dst, src=_same_width(cursor, kind))
    if word and cursor.peek_at(1).text in ("(", "["):
        raise cursor.error(f"unknown function {token.text!r}")
    if word and LABEL_RE.match(token.text) and cursor.peek_at(1).text.lower() == "ll":
        _require_r(cursor, kind, dst_token)
        cursor.next()
        cursor.next()
        return Pending(LDDW, dst=dst, symbol=token)  # `r1 = counts ll`: a relocation
    return _move_immediate(cursor, dst, kind, dst_token)


def _move_immediate(cursor: Cursor, dst: int, kind: str, dst_token: Token) -> Pending:
    """`r0 = 1` (mov), `r0 = 0x1122334455667788 ll` or a value beyond 32 bits (lddw), `w0 = 1`."""
    start = cursor.pos
    value, first = cursor.signed_number("a register, an immediate or an expression")
    wide = cursor.accept("ll") is not None
    if kind == "r" and (wide or not INT32_MIN <= value <= 0x7FFFFFFF):
        cursor.pos = start
        imm = imm64(cursor)
        cursor.accept("ll")
        return Pending(LDDW, dst=dst, imm=imm)
    if wide:
        raise cursor.error("a 64-bit load ('ll') needs an r register", dst_token)
    cursor.pos = start
    cls = InsnClass.ALU if kind == "w" else InsnClass.ALU64
    return Pending(cls | Source.K | AluOp.MOV, dst=dst, imm=imm32(cursor))


def _alu_operand(cursor: Cursor, item: Pending, kind: str) -> Pending:
    if is_register(cursor.peek):
        item.src = _same_width(cursor, kind)
        item.opcode |= Source.X
    else:
        item.imm = imm32(cursor, "a register or an immediate")
    return item


def _expect_same_register(cursor: Cursor, dst: int, kind: str | None) -> None:
    reg, other, token = register(cursor, "rw")
    if reg != dst or (kind is not None and other != kind):
        raise cursor.error(
            f"this instruction works in place: expected the destination, got {token.text!r}", token
        )


def _require_r(cursor: Cursor, kind: str, token: Token) -> None:
    if kind != "r":
        raise cursor.error(f"a 64-bit load needs an r register, not {token.text!r}", token)


def _load(cursor: Cursor, dst: int, dst_token: Token) -> Pending:
    """`r0 = *(u32 *)(r1 + 4)`, `r0 = *(s8 *)(...)` (ldxs), `r0 = *(u8 *)skb[16]` (legacy ld)."""
    cursor.expect("*")
    size, signed, type_token = _mem_type(cursor)
    if cursor.peek.text.lower() == "skb":
        return _packet_load(cursor, dst, dst_token, size, signed, type_token)
    src, off = _address(cursor)
    if signed and size == Size.DW:
        raise cursor.error("there is no sign-extending 64-bit load", type_token)
    mode = Mode.MEMSX if signed else Mode.MEM
    return Pending(InsnClass.LDX | mode | size, dst=dst, src=src, off=off)


def _packet_load(
    cursor: Cursor, dst: int, dst_token: Token, size: Size, signed: bool, type_token: Token
) -> Pending:
    """Legacy `r0 = *(u16 *)skb[12]` (ld abs) and `r0 = *(u8 *)skb[r1 + 14]` (ld ind)."""
    if dst != 0:
        raise cursor.error("legacy packet loads always write r0", dst_token)
    if signed or size == Size.DW:
        raise cursor.error(
            f"legacy packet loads take u8/u16/u32, not {type_token.text!r}", type_token
        )
    cursor.next()
    cursor.expect("[")
    if is_register(cursor.peek):
        src = register(cursor)[0]
        imm = 0
        if cursor.accept("+"):
            imm = imm32(cursor, "a packet offset")  # the kernel log writes `skb[r1 + -2]`
        elif cursor.peek.text == "-":
            imm = imm32(cursor, "a packet offset")
        cursor.expect("]")
        return Pending(InsnClass.LD | Mode.IND | size, src=src, imm=imm)
    imm = imm32(cursor, "a packet offset")
    cursor.expect("]")
    return Pending(InsnClass.LD | Mode.ABS | size, imm=imm)


_ATOMIC_FN = re.compile(r"atomic(64)?_(fetch_(add|or|and|xor)|xchg|cmpxchg)")
_LLVM_XCHG_FN = re.compile(r"(xchg|cmpxchg)(32)?_(32|64)")


def _atomic_call(cursor: Cursor, dst: int, dst_token: Token) -> Pending | None:
    """`r0 = atomic_fetch_add((u64 *)(r1 + 0), r0)`, kernel `atomic64_xchg(...)`, `cmpxchg_64(r1 + 0, r0, r2)`."""
    name_token = cursor.peek
    name = name_token.text.lower()
    kernel = _ATOMIC_FN.fullmatch(name)
    llvm = _LLVM_XCHG_FN.fullmatch(name)
    if not kernel and not llvm:
        return None
    cursor.next()
    cursor.expect("(")
    if kernel:
        size, signed, type_token = _mem_type(cursor)
        if signed or size not in (Size.W, Size.DW):
            raise cursor.error(
                f"atomic operations take u32 or u64, not {type_token.text!r}", type_token
            )
        base, off = _address(cursor)
        operation = kernel.group(2)
        if operation.startswith("fetch_"):
            imm = FETCH_OPS[kernel.group(3)] | FETCH
        else:
            imm = AtomicOp.XCHG if operation == "xchg" else AtomicOp.CMPXCHG
    else:
        assert llvm is not None
        size = Size.DW if llvm.group(3) == "64" else Size.W
        base, off = _address(cursor, parens=False)
        imm = AtomicOp.XCHG if llvm.group(1) == "xchg" else AtomicOp.CMPXCHG
    cursor.expect(",")
    if imm == AtomicOp.CMPXCHG:
        if dst != 0:
            raise cursor.error("cmpxchg always returns in r0", dst_token)
        expected, _, token = register(cursor, "rw")
        if expected != 0:
            raise cursor.error(f"cmpxchg compares with r0, not {token.text!r}", token)
        cursor.expect(",")
        src = register(cursor, "rw")[0]
    else:
        src, _, token = register(cursor, "rw")
        if src != dst:
            raise cursor.error(
                f"the old value is returned in the source register: expected {dst_token.text!r}",
                token,
            )
    cursor.expect(")")
    return Pending(InsnClass.STX | Mode.ATOMIC | size, dst=base, src=src, off=off, imm=s32(imm))


KEYWORDS: dict[str, Keyword] = _keywords()
