"""The kernel-style verifier log: `pc: (op) insn ; R0_w=1` lines and the final statistics."""

from __future__ import annotations

from typing import Any

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import LDDW, InsnClass

_ALU = {0x00: "+=", 0x10: "-=", 0x20: "*=", 0x30: "/=", 0x40: "|=", 0x50: "&=", 0x60: "<<=", 0x70: ">>=",
        0x90: "%=", 0xA0: "^=", 0xB0: "=", 0xC0: "s>>="}
_JMP = {0x10: "==", 0x20: ">", 0x30: ">=", 0x40: "&", 0x50: "!=", 0x60: "s>", 0x70: "s>=", 0xA0: "<",
        0xB0: "<=", 0xC0: "s<", 0xD0: "s<="}
_SIZE = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}
_ATOMIC = {0x00: "+=", 0x40: "|=", 0x50: "&=", 0xA0: "^="}


def insn_text(insn: Instruction, pc: int = 0) -> str:
    """One instruction as the kernel's verifier log prints it."""
    op, cls = insn.opcode, insn.opcode & 0x07
    d, s = insn.dst, insn.src
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        r = "r" if cls == InsnClass.ALU64 else "w"
        aop = op & 0xF0
        src = f"{r}{s}" if op & 0x08 else str(insn.imm)
        if aop == 0x80:
            return f"{r}{d} = -{r}{d}"
        if aop == 0xD0:
            kind = "bswap" if cls == InsnClass.ALU64 else ("be" if op & 0x08 else "le")
            return f"r{d} = {kind}{insn.imm} r{d}"
        name = _ALU.get(aop, "?=")
        if insn.off == 1 and aop in (0x30, 0x90):
            name = "s" + name
        if aop == 0xB0 and insn.off and op & 0x08:
            return f"{r}{d} = (s{insn.off}){r}{s}"
        return f"{r}{d} {name} {src}"
    if op == LDDW:
        return f"r{d} = 0x{insn.imm & 0xFFFFFFFFFFFFFFFF:x}"
    if cls == InsnClass.LDX:
        sz = _SIZE[insn.size]
        if op & 0xE0 == 0x80:
            sz = "s" + sz[1:]
        return f"r{d} = *({sz} *)(r{s} {insn.off:+d})"
    if cls == InsnClass.ST:
        return f"*({_SIZE[insn.size]} *)(r{d} {insn.off:+d}) = {insn.imm}"
    if cls == InsnClass.STX:
        if op & 0xE0 == 0xC0:
            return f"lock *({_SIZE[insn.size]} *)(r{d} {insn.off:+d}) {_ATOMIC.get(insn.imm & ~1, 'atomic')} r{s}"
        return f"*({_SIZE[insn.size]} *)(r{d} {insn.off:+d}) = r{s}"
    if cls == InsnClass.LD:
        return f"r0 = *({_SIZE[insn.size]} *)skb[{insn.imm}]"
    if op == 0x95:
        return "exit"
    if op == 0x85:
        return f"call pc{insn.imm:+d}" if s == 1 else f"call {insn.imm}"
    if op & 0xF0 == 0x00:
        return f"goto pc{insn.off:+d}"
    r = "w" if cls == InsnClass.JMP32 else "r"
    src = f"{r}{s}" if op & 0x08 else f"0x{insn.imm & 0xFFFFFFFF:x}"
    return f"if {r}{d} {_JMP.get(op & 0xF0, '?')} {src} goto pc{insn.off:+d}"


class StateLog:
    """Collects the per-instruction log when enabled (kept cheap when disabled)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.lines: list[str] = []
        self.program: Any = None

    def insn(self, pc: int, insn: Instruction, state: Any) -> None:
        if not self.enabled:
            return
        regs = " ".join(f"R{i}={r.describe()}" for i, r in enumerate(state.cur.regs) if r.type.value != "?")
        self.lines.append(f"{pc}: ({insn.opcode:02x}) {insn_text(insn, pc)}".ljust(38) + f"; {regs}")
        if len(self.lines) > 200_000:
            del self.lines[:100_000]

    def line(self, text: str) -> None:
        if self.enabled:
            self.lines.append(text)

    def text(self, error: str | None) -> str:
        if not self.enabled:
            return error or ""
        out = list(self.lines)
        if error:
            out.append(error)
        return "\n".join(out) + "\n"
