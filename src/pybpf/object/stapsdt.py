"""USDT probe notes: the `.note.stapsdt` of an executable or library, and their argument specs (x86-64, arm64).

Pure data, the one parser that both `pybpf trace` (bpftrace usdt probes) and the kernel engine's
libbpf-style USDT attach (`pybpf.kernel.usdt`) use. A note gives the probe's address, the address of
its semaphore (0 if none), provider, name and an argument string such as `-4@%eax 8@-16(%rbp) 4@$5`
(x86-64) or `-4@x0 8@[sp, 16] 4@5` (arm64): SIZE@OPERAND, a negative size for a signed argument.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from pybpf.errors import LoadError
from pybpf.object.elf import ElfFile

NT_STAPSDT = 3
SHT_NOTE = 7
EM_X86_64 = 62
EM_AARCH64 = 183
MACHINES = {EM_X86_64: "x86_64", EM_AARCH64: "aarch64"}

# struct pt_regs (x86-64): byte offsets of the 64-bit registers
PT_REGS_X86_64 = {
    "r15": 0, "r14": 8, "r13": 16, "r12": 24, "rbp": 32, "rbx": 40, "r11": 48, "r10": 56, "r9": 64, "r8": 72,
    "rax": 80, "rcx": 88, "rdx": 96, "rsi": 104, "rdi": 112, "orig_rax": 120, "rip": 128, "cs": 136,
    "eflags": 144, "rsp": 152, "ss": 160,
}
# struct pt_regs (arm64) begins with struct user_pt_regs: regs[31], sp, pc, pstate
PT_REGS_ARM64 = {**{f"x{n}": 8 * n for n in range(31)}, "sp": 248, "pc": 256, "pstate": 264}


def _x86_sub_registers() -> dict[str, tuple[str, int]]:
    """Every register name of AT&T syntax (eax, ax, al, r8d, r8w, r8b...) -> (64-bit register, size)."""
    out: dict[str, tuple[str, int]] = {}
    for base in ("ax", "bx", "cx", "dx"):
        full = "r" + base
        out.update({full: (full, 8), "e" + base: (full, 4), base: (full, 2), base[0] + "l": (full, 1)})
    for base in ("si", "di", "bp", "sp"):
        full = "r" + base
        out.update({full: (full, 8), "e" + base: (full, 4), base: (full, 2), base + "l": (full, 1)})
    for n in range(8, 16):
        full = f"r{n}"
        out.update({full: (full, 8), f"r{n}d": (full, 4), f"r{n}w": (full, 2), f"r{n}b": (full, 1)})
    out["rip"] = ("rip", 8)
    return out


X86_REGISTERS = _x86_sub_registers()


def pt_regs_register(name: str, machine: str = "x86_64") -> str | None:
    """The pt_regs register that an operand's register name reads (eax -> rax, w3 -> x3), None if unknown."""
    if machine == "aarch64":
        if name == "sp":
            return "sp"
        m = re.fullmatch(r"[xw](\d+)", name)
        return f"x{m.group(1)}" if m and int(m.group(1)) < 31 else None
    sub = X86_REGISTERS.get(name)
    return sub[0] if sub else None


def pt_regs_offset(register: str, machine: str = "x86_64") -> int:
    """The byte offset of a 64-bit register (as pt_regs_register names it) in struct pt_regs."""
    return (PT_REGS_ARM64 if machine == "aarch64" else PT_REGS_X86_64)[register]


@dataclass(frozen=True)
class UsdtArg:
    """One argument spec: a register (`-4@%edi`, `-4@x0`), memory at register + displacement
    (`8@-8(%rbp)`, `8@[sp, 16]`), memory at base + index << scale + displacement (`4@8(%rax,%rbx,4)`,
    kind "sib"), or a constant (`4@$5`, `4@5`)."""

    size: int
    signed: bool
    kind: str  # "reg", "mem", "sib" or "const"
    register: str = ""  # the pt_regs register (64-bit name) of the base
    offset: int = 0  # memory displacement, or the constant
    text: str = ""
    index_register: str = ""  # sib: the pt_regs register of the index
    scale: int = 1  # sib: 1, 2, 4 or 8
    machine: str = "x86_64"

    @property
    def pt_regs_offset(self) -> int:
        return pt_regs_offset(self.register, self.machine)

    @property
    def index_pt_regs_offset(self) -> int:
        return pt_regs_offset(self.index_register, self.machine)


@dataclass(frozen=True)
class UsdtNote:
    """One probe point of `.note.stapsdt`, with addresses as linked (adjusted for prelink by .stapsdt.base)."""

    provider: str
    name: str
    address: int  # virtual address of the probe's nop
    semaphore: int  # virtual address of the semaphore (a u16), 0 if none
    arg_text: str
    args: tuple[UsdtArg, ...]
    arg_error: str = ""  # why the argument string could not be read (args is then empty)

    def checked_args(self) -> tuple[UsdtArg, ...]:
        """The arguments; LoadError when the note's argument string is not one pybpf can read."""
        if self.arg_error:
            raise LoadError(f"USDT probe {self.provider}:{self.name}: {self.arg_error}")
        return self.args


_ARG_RE = re.compile(r"^(-?)(\d+)@(.+)$")
_NUM = r"-?(?:0x[0-9a-fA-F]+|\d+)"
_X86_MEM_RE = re.compile(rf"^({_NUM})?\(%(\w+)\)$")
_X86_SIB_RE = re.compile(rf"^({_NUM})?\(%(\w+),%(\w+)(?:,(\d))?\)$")
_ARM_MEM_RE = re.compile(rf"^\[\s*(\w+)\s*(?:,\s*#?({_NUM})\s*)?\]$")
# one SIZE@OPERAND of an argument string; arm64 memory operands contain a space: `8@[sp, 16]`
_ARG_TOKEN_RE = re.compile(r"-?\d+@(?:\[[^\]]*\]|\S+)")


def parse_arg(spec: str, machine: str = "x86_64") -> UsdtArg:
    """One `SIZE@OPERAND` of an argument string (LoadError when it is not one pybpf can read)."""
    m = _ARG_RE.match(spec)
    if not m:
        raise LoadError(f"USDT argument {spec!r}: expected SIZE@OPERAND")
    signed, size, operand = m.group(1) == "-", int(m.group(2)), m.group(3).strip()
    if size not in (1, 2, 4, 8):
        raise LoadError(f"USDT argument {spec!r}: size {size} is not 1, 2, 4 or 8")
    if machine == "aarch64":
        return _parse_arm64(spec, size, signed, operand)
    if machine != "x86_64":
        raise LoadError(f"USDT argument {spec!r}: argument specs of {machine} are not supported")
    return _parse_x86(spec, size, signed, operand)


def _register(spec: str, name: str, machine: str) -> str:
    reg = pt_regs_register(name, machine)
    if reg is None:
        raise LoadError(f"USDT argument {spec!r}: unknown register {name}")
    return reg


def _parse_x86(spec: str, size: int, signed: bool, operand: str) -> UsdtArg:
    if operand.startswith("$"):
        try:
            value = int(operand[1:], 0)
        except ValueError:
            raise LoadError(f"USDT argument {spec!r}: bad constant") from None
        return UsdtArg(size, signed, "const", offset=value, text=spec)
    if operand.startswith("%"):
        return UsdtArg(size, signed, "reg", _register(spec, operand[1:], "x86_64"), text=spec)
    mem = _X86_MEM_RE.match(operand)
    if mem:
        return UsdtArg(size, signed, "mem", _register(spec, mem.group(2), "x86_64"), int(mem.group(1) or "0", 0),
                       spec)
    sib = _X86_SIB_RE.match(operand)
    if sib:
        scale = int(sib.group(4) or "1")
        if scale not in (1, 2, 4, 8):
            raise LoadError(f"USDT argument {spec!r}: scale {scale} is not 1, 2, 4 or 8")
        return UsdtArg(size, signed, "sib", _register(spec, sib.group(2), "x86_64"), int(sib.group(1) or "0", 0),
                       spec, _register(spec, sib.group(3), "x86_64"), scale)
    raise LoadError(f"USDT argument {spec!r}: operand {operand!r} is not supported "
                    "(a symbol or an absolute address?)")


def _parse_arm64(spec: str, size: int, signed: bool, operand: str) -> UsdtArg:
    mem = _ARM_MEM_RE.match(operand)
    if mem:
        return UsdtArg(size, signed, "mem", _register(spec, mem.group(1), "aarch64"), int(mem.group(2) or "0", 0),
                       spec, machine="aarch64")
    if re.fullmatch(_NUM, operand):
        return UsdtArg(size, signed, "const", offset=int(operand, 0), text=spec, machine="aarch64")
    return UsdtArg(size, signed, "reg", _register(spec, operand, "aarch64"), text=spec, machine="aarch64")


def parse_args(text: str, machine: str = "x86_64") -> tuple[UsdtArg, ...]:
    """Every argument of a note's argument string, in order (LoadError on one pybpf cannot read)."""
    if not text.strip():
        return ()
    tokens = _ARG_TOKEN_RE.findall(text)
    if "".join(tokens).replace(" ", "") != text.replace(" ", "").replace("\t", ""):
        raise LoadError(f"USDT argument string {text!r}: expected SIZE@OPERAND arguments separated by spaces")
    if len(tokens) > 12:
        raise LoadError(f"USDT argument string {text!r}: {len(tokens)} arguments, at most 12")
    return tuple(parse_arg(t, machine) for t in tokens)


def _cstr(data: bytes, pos: int, end: int) -> tuple[str, int]:
    stop = data.find(b"\0", pos, end)
    if stop < 0:
        raise LoadError("truncated .note.stapsdt string")
    return data[pos:stop].decode(errors="replace"), stop + 1


def machine_of(elf: ElfFile) -> str:
    """The architecture name of an executable ("x86_64", "aarch64"), or "em<N>" for others."""
    return MACHINES.get(elf.e_machine, f"em{elf.e_machine}")


def read_notes(elf: ElfFile) -> list[UsdtNote]:
    """Every USDT probe declared in an executable or shared object (an empty list when it declares none)."""
    data = bytes(elf.data)
    machine = machine_of(elf)
    base_addr = None
    sections = []
    for sec in elf.sections:
        if sec.name == ".stapsdt.base":
            base_addr = sec.addr
        elif sec.name == ".note.stapsdt" and sec.type == SHT_NOTE:
            sections.append((sec.offset, sec.size))
    out: list[UsdtNote] = []
    for off, size in sections:
        pos, end = off, min(off + size, len(data))
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name_at = pos + 12
            desc_at = name_at + ((namesz + 3) & ~3)
            desc_end = desc_at + descsz
            pos = desc_at + ((descsz + 3) & ~3)
            if ntype != NT_STAPSDT or data[name_at:name_at + namesz].rstrip(b"\0") != b"stapsdt":
                continue
            if desc_end > end or descsz < 24:
                raise LoadError(f"{elf.name}: truncated .note.stapsdt note")
            pc, base, sem = struct.unpack_from("<QQQ", data, desc_at)
            provider, p = _cstr(data, desc_at + 24, desc_end)
            probe, p = _cstr(data, p, desc_end)
            argstr, p = _cstr(data, p, desc_end)
            if base_addr is not None and base:  # prelinked: adjust by how far .stapsdt.base moved
                pc += base_addr - base
                if sem:
                    sem += base_addr - base
            try:
                args, error = parse_args(argstr, machine), ""
            except LoadError as exc:  # one unreadable probe must not hide the others
                args, error = (), str(exc)
            out.append(UsdtNote(provider, probe, pc, sem, argstr, args, error))
    return out
