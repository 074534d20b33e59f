"""Pieces both assembly syntaxes share: pending instructions, operand parsers, label resolution."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pybpf.errors import AssemblyError
from pybpf.isa.instruction import Instruction
from pybpf.isa.lexer import Cursor, Tok, Token
from pybpf.isa.opcodes import EXIT, LDDW, PseudoSrc

# The register fields hold 4 bits: r11-r15 assemble (tests build invalid programs with them);
# loaders and the verifier reject them.
MAX_REG = 15
INT32_MIN, UINT32_MAX = -(1 << 31), (1 << 32) - 1
INT64_MIN, UINT64_MAX = -(1 << 63), (1 << 64) - 1

_REG_RE = re.compile(r"%?([rw])([0-9]+)$", re.IGNORECASE)
LABEL_RE = re.compile(r"[A-Za-z_.$][\w.$]*$")


@dataclass(slots=True)
class Target:
    """A jump or call target: a label to resolve, or a relative slot count already known."""

    label: str | None
    relative: int
    token: Token
    helper: int | None = None  # `call NAME`: the helper id to use when NAME is not a label
    by_name: bool = False  # `call NAME`: an undefined NAME is a helper name, not a missing label


@dataclass(slots=True)
class Pending:
    """An instruction being assembled; `target` (if any) is written into `target_field` later."""

    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    target: Target | None = None
    target_field: str = "off"  # "off" for jumps, "imm" for ja32 and local calls
    line: int = 0
    symbol: Token | None = None  # `r1 = counts ll`: an lddw of a symbol's address (a relocation)

    @property
    def slots(self) -> int:
        return 2 if self.opcode == LDDW else 1


@dataclass(slots=True)
class Program:
    """What a syntax front end produced: pending instructions and the labels (name -> index)."""

    items: list[Pending] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)

    def define_label(self, name: str, cursor: Cursor, token: Token) -> None:
        if name in self.labels:
            raise cursor.error(f"label {name!r} is defined twice", token)
        self.labels[name] = len(self.items)


def s32(value: int) -> int:
    """The signed 32-bit reading of the low 32 bits of value."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def register(cursor: Cursor, kinds: str = "r", what: str = "a register") -> tuple[int, str, Token]:
    """Parse a register token (`r1`, `%r1`, `w1` when 'w' is in kinds); returns (number, kind, token)."""
    token = cursor.next()
    number = parse_register_text(token.text) if token.kind is Tok.IDENT else None
    if number is None or number[1] not in kinds:
        raise cursor.error(f"expected {what}, got {token.describe()}", token)
    if number[0] > MAX_REG:
        raise cursor.error(f"no such register {token.text!r} (r0-r10 exist)", token)
    return number[0], number[1], token


def parse_register_text(text: str) -> tuple[int, str] | None:
    """(number, 'r' or 'w') when text names a register, else None."""
    match = _REG_RE.match(text)
    if not match:
        return None
    return int(match.group(2)), match.group(1).lower()


def is_register(token: Token) -> bool:
    return token.kind is Tok.IDENT and parse_register_text(token.text) is not None


def imm32(cursor: Cursor, what: str = "an immediate") -> int:
    """A 32-bit immediate: signed decimal, or any 32-bit pattern (hex); returns it sign-extended."""
    value, token = cursor.signed_number(what)
    if not INT32_MIN <= value <= UINT32_MAX:
        raise cursor.error(f"immediate {value} does not fit in 32 bits", token)
    return s32(value)


def imm64(cursor: Cursor, what: str = "a 64-bit immediate") -> int:
    """A 64-bit immediate, returned as its unsigned 64-bit pattern (how decode() presents lddw)."""
    value, token = cursor.signed_number(what)
    if not INT64_MIN <= value <= UINT64_MAX:
        raise cursor.error(f"immediate {value} does not fit in 64 bits", token)
    return value & UINT64_MAX


def offset16(cursor: Cursor, value: int, token: Token) -> int:
    if not -0x8000 <= value <= 0x7FFF:
        raise cursor.error(f"offset {value} does not fit in 16 bits", token)
    return value


def target(cursor: Cursor, *, allow_pc: bool = False) -> Target:
    """A jump target: `+N`/`-N` (slots relative to the next insn), a bare number, or a label."""
    token = cursor.peek
    if allow_pc and token.kind is Tok.IDENT and token.text.lower() == "pc":
        cursor.next()
        if cursor.peek.text not in ("+", "-"):
            raise cursor.error(f"expected '+' or '-' after 'pc', got {cursor.peek.describe()}")
    if cursor.peek.kind is Tok.NUMBER or cursor.peek.text in ("+", "-"):
        value, first = cursor.signed_number("a jump target")
        if not INT32_MIN <= value <= 0x7FFFFFFF:
            raise cursor.error(f"jump offset {value} is out of range", first)
        return Target(None, value, token)
    if token.kind is Tok.IDENT and LABEL_RE.match(token.text):
        cursor.next()
        return Target(token.text, 0, token)
    raise cursor.error(f"expected a jump target (label or +N/-N), got {token.describe()}", token)


PSEUDO_NAMES: dict[str, PseudoSrc] = {
    "map_fd": PseudoSrc.MAP_FD,
    "map_value": PseudoSrc.MAP_VALUE,
    "btf_id": PseudoSrc.BTF_ID,
    "func": PseudoSrc.FUNC,
    "map_idx": PseudoSrc.MAP_IDX,
    "map_idx_value": PseudoSrc.MAP_IDX_VALUE,
}
_TWO_ARG_PSEUDO = (PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX_VALUE)


def pseudo_lddw(cursor: Cursor, dst: int) -> Pending | None:
    """Parse `map_fd(N)`, `map_value(N, OFF)`, `func(LABEL)`, ..., or the kernel's `map[id:N]` /
    `map[id:N][0]+OFF` into an lddw with its pseudo source.

    Returns None (cursor unchanged) when the operand is not a pseudo load.
    """
    token = cursor.peek
    if token.kind is not Tok.IDENT:
        return None
    name = token.text.lower()
    if name == "map" and cursor.peek_at(1).text == "[":
        cursor.next()
        cursor.expect("[")
        kind = cursor.next()
        if kind.text.lower() not in ("id", "fd", "idx"):
            raise cursor.error(
                f"expected 'id', 'fd' or 'idx' in map[...], got {kind.describe()}", kind
            )
        cursor.expect(":")
        ident, _ = cursor.signed_number("a map id")
        cursor.expect("]")
        src = PseudoSrc.MAP_IDX if kind.text.lower() == "idx" else PseudoSrc.MAP_FD
        if cursor.accept("["):
            cursor.expect("0", "'0' (map value index)")
            cursor.expect("]")
            offset = 0
            if cursor.accept("+"):
                offset, _ = cursor.signed_number("a map value offset")
            src = PseudoSrc.MAP_IDX_VALUE if src == PseudoSrc.MAP_IDX else PseudoSrc.MAP_VALUE
            return Pending(LDDW, dst, src, imm=_pack_pseudo(cursor, ident, offset, token))
        return Pending(LDDW, dst, src, imm=_pack_pseudo(cursor, ident, 0, token))
    if name not in PSEUDO_NAMES or cursor.peek_at(1).text != "(":
        return None
    src = PSEUDO_NAMES[name]
    cursor.next()
    cursor.expect("(")
    if src == PseudoSrc.FUNC:  # the address of a function (a callback): a pc-relative target
        where = target(cursor, allow_pc=True)
        cursor.expect(")")
        if where.label is None:
            return Pending(LDDW, dst, src, imm=where.relative & 0xFFFFFFFF)
        return Pending(LDDW, dst, src, target=where, target_field="imm")
    first, _ = cursor.signed_number("a number")
    second = 0
    if src in _TWO_ARG_PSEUDO:
        cursor.expect(",")
        second, _ = cursor.signed_number("an offset")
    cursor.expect(")")
    return Pending(LDDW, dst, src, imm=_pack_pseudo(cursor, first, second, token))


def _pack_pseudo(cursor: Cursor, low: int, high: int, token: Token) -> int:
    if not (INT32_MIN <= low <= UINT32_MAX and INT32_MIN <= high <= UINT32_MAX):
        raise cursor.error("pseudo load operands must fit in 32 bits", token)
    return (low & 0xFFFFFFFF) | ((high & 0xFFFFFFFF) << 32)


@dataclass(frozen=True, slots=True)
class Relocation:
    """An lddw whose value is the address of a symbol (`r1 = counts ll`): a map or global data."""

    pc: int  # slot of the lddw
    symbol: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Assembly:
    """What assemble_program() returns: the instructions, label slots and symbol relocations."""

    instructions: list[Instruction]
    labels: dict[str, int]
    relocations: list[Relocation]


def resolve(program: Program) -> Assembly:
    """Compute slot pcs, resolve label targets (`exit` = first exit when undefined), build insns."""
    pcs: list[int] = []
    pc = 0
    for item in program.items:
        pcs.append(pc)
        pc += item.slots
    label_pcs = {
        name: (pcs[index] if index < len(pcs) else pc) for name, index in program.labels.items()
    }
    if "exit" not in label_pcs:
        first_exit = next((pcs[i] for i, it in enumerate(program.items) if it.opcode == EXIT), None)
        if first_exit is not None:
            label_pcs["exit"] = first_exit
    insns: list[Instruction] = []
    relocations: list[Relocation] = []
    for item, item_pc in zip(program.items, pcs, strict=True):
        if item.target is not None:
            _resolve_target(item, item_pc, label_pcs)
        if item.symbol is not None:
            relocations.append(Relocation(item_pc, item.symbol.text, item.line, item.symbol.column))
        insns.append(Instruction(int(item.opcode), item.dst, int(item.src), item.off, item.imm))
    return Assembly(insns, label_pcs, relocations)


def _resolve_target(item: Pending, pc: int, label_pcs: Mapping[str, int]) -> None:
    """Write the target of a jump or call into its off or imm field (or make it a helper call)."""
    tgt = item.target
    assert tgt is not None
    if tgt.label is None:
        relative = tgt.relative
    elif tgt.label in label_pcs:
        relative = label_pcs[tgt.label] - (pc + 1)
    elif tgt.by_name and tgt.helper is not None:  # `call NAME`: not a label, so a helper
        item.src, item.imm = 0, tgt.helper
        return
    else:
        what = "helper or label" if tgt.by_name else "label"
        raise AssemblyError(
            f"unknown {what} {tgt.label!r}", line=item.line, column=tgt.token.column
        )
    if item.target_field == "imm":
        item.imm = relative & 0xFFFFFFFF if item.opcode == LDDW else s32(relative)
    elif -0x8000 <= relative <= 0x7FFF:
        item.off = relative
    else:
        raise AssemblyError(
            f"jump offset {relative} does not fit in 16 bits (use ja32/gotol)",
            line=item.line,
            column=tgt.token.column,
        )


def raw_insn(cursor: Cursor) -> Pending:
    """The escape hatch both syntaxes accept: `.insn OPCODE, DST, SRC, OFF, IMM` (any field values)."""
    values: list[int] = []
    limits: Sequence[tuple[int, int, str]] = (
        (0, 0xFF, "opcode"), (0, 15, "dst"), (0, 15, "src"), (-0x8000, 0xFFFF, "off"),
        (INT64_MIN, UINT64_MAX, "imm"),
    )  # fmt: skip
    for index, (low, high, name) in enumerate(limits):
        if index:
            cursor.accept(",")
        value, token = cursor.signed_number(f"the {name} field")
        if not low <= value <= high:
            raise cursor.error(f"{name} {value} is out of range", token)
        values.append(value)
    opcode, dst, src, off, imm = values
    off = off - 0x10000 if off > 0x7FFF else off
    if opcode == LDDW:
        imm &= UINT64_MAX
    else:
        if not INT32_MIN <= imm <= UINT32_MAX:
            raise cursor.error(f"immediate {imm} does not fit in 32 bits")
        imm = s32(imm)
    return Pending(opcode, dst, src, off, imm)


def lookup_helper(helper_ids: Mapping[str, int] | None, name: str) -> int | None:
    """Resolve a helper name (with or without the `bpf_` prefix) through the caller's mapping."""
    if not helper_ids:
        return None
    for candidate in (name, f"bpf_{name}", name.removeprefix("bpf_")):
        if candidate in helper_ids:
            return helper_ids[candidate]
    return None
