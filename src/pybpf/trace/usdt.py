"""USDT probes for bpftrace scripts: the notes of a binary (the one parser, `pybpf.object.stapsdt`, read
through `pybpf.kernel.usdt` with file offsets) and the registers bpftrace's `reg()` names."""

from __future__ import annotations

from pybpf.kernel.usdt import UsdtProbe, find_probes
from pybpf.kernel.usdt import read_probes as read_notes
from pybpf.object.stapsdt import PT_REGS_X86_64 as PT_REGS
from pybpf.object.stapsdt import X86_REGISTERS as REGISTERS
from pybpf.object.stapsdt import UsdtArg, parse_arg

__all__ = ["PT_REGS", "REGISTERS", "UsdtArg", "UsdtProbe", "find_probes", "parse_arg", "read_notes", "reg_offset"]

# bpftrace's reg() names (without the r/e prefix) besides the full ones
REG_ALIASES = {"ip": "rip", "sp": "rsp", "bp": "rbp", "ax": "rax", "bx": "rbx", "cx": "rcx", "dx": "rdx",
               "si": "rsi", "di": "rdi", "flags": "eflags", "orig_ax": "orig_rax"}


def reg_offset(name: str) -> int | None:
    """The pt_regs offset of a register named like bpftrace's reg() ("ip", "sp", "di", "r8"...)."""
    name = REG_ALIASES.get(name, name)
    if name in PT_REGS:
        return PT_REGS[name]
    sub = REGISTERS.get(name)
    return PT_REGS[sub[0]] if sub else None
