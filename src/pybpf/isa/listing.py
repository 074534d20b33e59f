"""Listing input: llvm-objdump, kernel verifier log and `pybpf disasm` decorations, syntax hints."""

from __future__ import annotations

import re

from pybpf.isa.asm_common import LABEL_RE

_HEX8 = r"(?:[0-9a-fA-F]{2} ){7}[0-9a-fA-F]{2}"
_OBJDUMP_PREFIX = re.compile(rf"^\s*[0-9a-fA-F]+:\s+(?P<bytes>{_HEX8}(?: {_HEX8})?)(?=\s|$)")
_UNKNOWN = re.compile(r"\s*<unknown>\s*$")
_DIRECTIVE = re.compile(r"\s*(\.[\w.$]+)(\s*:)?")
# llvm-objdump --no-show-raw-insn: only the slot number (labels never start with a digit).
_ADDRESS_PREFIX = re.compile(r"^\s*\d+:(?=\s)")
# `12: (07) `; the "Live regs before insn" block adds a column of live registers: `12: .12..... (07) `.
_KERNEL_PREFIX = re.compile(r"^\s*\d+:\s*(?:[.0-9]{10,11}\s+)?\(([0-9a-fA-F]{2})\)")
# A kernel-log lddw of a small constant (`(18) r1 = 0x5`) would read as a mov without its `ll`.
_BARE_LDDW = re.compile(r"^(\s*r\d+\s*=\s*-?(?:0[xX][0-9a-fA-F]+|\d+))(?=\s*(?:$|;|#|//))")
_OBJDUMP_SYMBOL = re.compile(r"^\s*[0-9a-fA-F]+\s+<([^>]+)>:\s*$")
_KERNEL_CALL = re.compile(r"\bcall\s+[A-Za-z_]\w*#(-?\d+)")
_NOISE = re.compile(
    r"^\s*(Disassembly of section\b|.*\bfile format\b|\s*[0-9a-fA-F]+:\s+R_BPF_|func#\d|processed \d+ insns"
    r"|from \d+ to \d+:|\d+: R\d|\d+: \(\w\w\)\s*$|verification time|stack depth|Validating\b"
    r"|last_idx\b|regs=|mark_precise|Func#|\d+: frame\d|Live regs before insn)"
)


def _blank(line: str, start: int, end: int) -> str:
    """Replace line[start:end] by spaces so later columns stay where the user sees them."""
    return line[:start] + " " * (end - start) + line[end:]


def preprocess(line: str) -> str | None:
    """Strip llvm-objdump / kernel-log decorations from a line; None for lines that carry no code."""
    if _NOISE.match(line):
        return None
    directive = _DIRECTIVE.match(line)
    if directive and not directive.group(2) and directive.group(1).lower() != ".insn":
        return None  # an assembler directive (.text, .globl, .p2align ...): nothing to encode
    symbol = _OBJDUMP_SYMBOL.match(line)
    if symbol:
        name = symbol.group(1)
        return f"{name}:" if LABEL_RE.match(name) else None
    objdump = _OBJDUMP_PREFIX.match(line)
    if objdump and _UNKNOWN.match(line, objdump.end()):
        return _raw_insn(bytes.fromhex(objdump.group("bytes").replace(" ", "")))
    kernel = _KERNEL_PREFIX.match(line)
    line = strip_listing_prefix(line)
    if kernel and kernel.group(1) == "18":
        line = _BARE_LDDW.sub(r"\1 ll", line, count=1)
    call = _KERNEL_CALL.search(line)
    if call:
        replacement = f"call helper {call.group(1)}"
        line = (
            line[: call.start()] + replacement.ljust(call.end() - call.start()) + line[call.end() :]
        )
    return line


def _raw_insn(code: bytes) -> str:
    """`.insn ...` for the bytes llvm-objdump could not decode (it prints `<unknown>`)."""
    opcode, regs = code[0], code[1]
    off = int.from_bytes(code[2:4], "little", signed=True)
    imm = int.from_bytes(code[4:8], "little", signed=True)
    if len(code) == 16:
        imm = (imm & 0xFFFFFFFF) | int.from_bytes(code[12:16], "little") << 32
    return f".insn {opcode:#04x}, {regs & 0x0F}, {regs >> 4}, {off}, {imm}"


def strip_listing_prefix(line: str) -> str:
    """Blank out an llvm-objdump `N: <hex bytes>` or kernel-log/`pybpf disasm` `N: (op)` prefix."""
    for prefix in (_OBJDUMP_PREFIX, _KERNEL_PREFIX, _ADDRESS_PREFIX):
        match = prefix.match(line)
        if match:
            return _blank(line, 0, match.end())
    return line


def looks_like_llvm(line: str) -> bool:
    """Whether a line (its listing prefix already removed) has a shape only the LLVM syntax has."""
    if _OBJDUMP_PREFIX.match(line) or _OBJDUMP_SYMBOL.match(line):
        return True
    code = re.split(r"#|;|//", line, maxsplit=1)[0].strip()
    if re.match(r"(if|goto|gotol|callx)\b|lock\s*\*|\*\s*\(", code, re.IGNORECASE):
        return True
    if re.match(r"call\s+pc\s*[-+]", code, re.IGNORECASE):
        return True
    return bool(re.match(r"[rw]\d+\s*(s?[-+*/%&|^<>]*=|\s=)", code))


def calls_by_name(line: str) -> bool:
    """`call NAME` (a helper or function by name): LLVM style, though uBPF text may use it too."""
    code = re.split(r"#|;|//", line, maxsplit=1)[0].strip()
    call = re.match(r"call\s+([A-Za-z_][\w.$]*)", code, re.IGNORECASE)
    return call is not None and call.group(1).lower() not in ("local", "helper", "runtime")
