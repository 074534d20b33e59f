"""RFC 9669 ALU and jump semantics as expression templates, compiled once into closure factories.

Each ALU/jump form is described by one Python expression over `a` (the destination's value)
and `b` (the source register's value or the immediate). The interpreter asks for a factory
per form (e.g. "ALU64 ADD, register source"); the factory is compiled from the template once
and then makes one small closure per instruction. Registers hold unsigned 64-bit ints.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from pybpf.isa.opcodes import ALU_OP_NAMES, M32, M64

S64 = 1 << 63
S32 = 1 << 31


def sdiv(a: int, b: int, bits: int) -> int:
    """Signed division truncating toward zero; by zero gives 0; INT_MIN / -1 = INT_MIN."""
    mask = (1 << bits) - 1
    sign = 1 << (bits - 1)
    if b == 0:
        return 0
    sa = (a ^ sign) - sign
    sb = (b ^ sign) - sign
    q = abs(sa) // abs(sb)
    if (sa < 0) != (sb < 0):
        q = -q
    return q & mask


def smod(a: int, b: int, bits: int) -> int:
    """Signed remainder with the dividend's sign; by zero leaves the dividend; INT_MIN % -1 = 0."""
    mask = (1 << bits) - 1
    sign = 1 << (bits - 1)
    if b == 0:
        return a & mask
    sa = (a ^ sign) - sign
    sb = (b ^ sign) - sign
    r = abs(sa) % abs(sb)
    if sa < 0:
        r = -r
    return r & mask


def sign_extend(value: int, bits: int) -> int:
    """The low `bits` bits of `value` as a signed Python int."""
    sign = 1 << (bits - 1)
    value &= (1 << bits) - 1
    return (value ^ sign) - sign


def bswap(value: int, bits: int) -> int:
    """Reverse the byte order of the low `bits` bits."""
    n = bits // 8
    return int.from_bytes((value & ((1 << bits) - 1)).to_bytes(n, "little"), "big")


# ALU operations: (64-bit expression, 32-bit expression). In the 32-bit form `a` and `b` are
# already the low 32 bits. Every expression yields the final unsigned register value.
ALU_EXPR: dict[str, tuple[str, str]] = {
    "add": ("(a + b) & M64", "(a + b) & M32"),
    "sub": ("(a - b) & M64", "(a - b) & M32"),
    "mul": ("(a * b) & M64", "(a * b) & M32"),
    "div": ("a // b if b else 0", "a // b if b else 0"),
    "sdiv": ("sdiv(a, b, 64)", "sdiv(a, b, 32)"),
    "or": ("a | b", "a | b"),
    "and": ("a & b", "a & b"),
    "lsh": ("(a << (b & 63)) & M64", "(a << (b & 31)) & M32"),
    "rsh": ("a >> (b & 63)", "a >> (b & 31)"),
    "neg": ("-a & M64", "-a & M32"),
    "mod": ("a % b if b else a", "a % b if b else a"),
    "smod": ("smod(a, b, 64)", "smod(a, b, 32)"),
    "xor": ("a ^ b", "a ^ b"),
    "mov": ("b", "b"),
    "movsx8": ("sign_extend(b, 8) & M64", "sign_extend(b, 8) & M32"),
    "movsx16": ("sign_extend(b, 16) & M64", "sign_extend(b, 16) & M32"),
    "movsx32": ("sign_extend(b, 32) & M64", "b"),
    "arsh": ("(((a ^ S64) - S64) >> (b & 63)) & M64", "(((a ^ S32) - S32) >> (b & 31)) & M32"),
}



def alu_name(opcode: int, off: int) -> tuple[str, bool]:
    """The ALU_EXPR name of a non-byte-swap ALU instruction and whether it reads a source register.

    The offset field picks the signed division/modulo (off 1) and the sign-extending moves; neg
    has no source operand.
    """
    op = opcode & 0xF0
    reg_source = bool(opcode & 0x08)
    name = ALU_OP_NAMES[op]
    if op == 0x30 and off == 1:
        name = "sdiv"
    elif op == 0x90 and off == 1:
        name = "smod"
    elif op == 0xB0 and off:
        name = f"movsx{off}"
    elif op == 0x80:
        reg_source = False
    return name, reg_source


# Jump conditions over `a` and `b`; signed conditions see both with the sign bit flipped,
# which maps signed order onto unsigned order.
JMP_EXPR: dict[int, tuple[str, bool]] = {
    0x10: ("a == b", False),
    0x20: ("a > b", False),
    0x30: ("a >= b", False),
    0x40: ("a & b", False),
    0x50: ("a != b", False),
    0x60: ("a > b", True),
    0x70: ("a >= b", True),
    0xA0: ("a < b", False),
    0xB0: ("a <= b", False),
    0xC0: ("a < b", True),
    0xD0: ("a <= b", True),
}

_GLOBALS: dict[str, Any] = {
    "M64": M64, "M32": M32, "S64": S64, "S32": S32,
    "sdiv": sdiv, "smod": smod, "sign_extend": sign_extend, "bswap": bswap,
}  # fmt: skip


def _compile(name: str, source: str) -> Callable[..., Callable[[], int]]:
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<pybpf.vm.ops {name}>", "exec"), dict(_GLOBALS), namespace)  # noqa: S102
    factory: Callable[..., Callable[[], int]] = namespace["make"]
    return factory


@cache
def alu_factory(name: str, wide: bool, reg_source: bool) -> Callable[..., Callable[[], int]]:
    """make(regs, d, s, k, nxt) -> closure executing `dst = dst OP src` and returning nxt."""
    expr = ALU_EXPR[name][0 if wide else 1]
    lines = []
    if re.search(r"\ba\b", expr):
        lines.append("a = regs[d]" if wide else "a = regs[d] & M32")
    if reg_source:
        lines.append("b = regs[s]" if wide else "b = regs[s] & M32")
    else:
        lines.append("b = k")
    if expr == "b" and not reg_source:
        lines = []
        expr = "k"
    body = "\n        ".join([*lines, f"regs[d] = {expr}"])
    source = f"""
def make(regs, d, s, k, nxt):
    def op():
        {body}
        return nxt
    return op
"""
    return _compile(f"alu {name} {'64' if wide else '32'} {'x' if reg_source else 'k'}", source)


@cache
def jmp_factory(op: int, wide: bool, reg_source: bool) -> Callable[..., Callable[[], int]]:
    """make(regs, d, s, k, nxt, target) -> closure returning target if the condition holds."""
    cond, signed = JMP_EXPR[op]
    flip = (" ^ S64" if wide else " ^ S32") if signed else ""
    a = "regs[d]" if wide else "(regs[d] & M32)"
    b = ("regs[s]" if wide else "(regs[s] & M32)") if reg_source else "k"
    if signed:
        a = f"({a}{flip})"
        if reg_source:
            b = f"({b}{flip})"
    # (for an immediate the caller passes k already flipped when the condition is signed)
    expr = f"{a} {cond.split()[1]} {b}"
    source = f"""
def make(regs, d, s, k, nxt, target):
    def jump():
        if {expr}:
            return target
        return nxt
    return jump
"""
    return _compile(f"jmp {op:#x}", source)
