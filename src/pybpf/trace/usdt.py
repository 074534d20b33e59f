"""USDT probes: the `.note.stapsdt` notes of an ELF file (probe address, semaphore, argument specs) and
the x86-64 registers that argument specs and `reg()` name (their offsets in struct pt_regs)."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from pybpf.errors import LoadError
from pybpf.object.elf import ElfFile

NT_STAPSDT = 3
SHT_NOTE = 7

# struct pt_regs (x86-64) offsets of the 64-bit registers
PT_REGS = {
    "r15": 0, "r14": 8, "r13": 16, "r12": 24, "rbp": 32, "rbx": 40, "r11": 48, "r10": 56, "r9": 64, "r8": 72,
    "rax": 80, "rcx": 88, "rdx": 96, "rsi": 104, "rdi": 112, "orig_rax": 120, "rip": 128, "cs": 136,
    "eflags": 144, "rsp": 152, "ss": 160,
}
# bpftrace's reg() names (without the r/e prefix) besides the full ones
REG_ALIASES = {"ip": "rip", "sp": "rsp", "bp": "rbp", "ax": "rax", "bx": "rbx", "cx": "rcx", "dx": "rdx",
               "si": "rsi", "di": "rdi", "flags": "eflags", "orig_ax": "orig_rax"}


def _sub_registers() -> dict[str, tuple[str, int]]:
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


REGISTERS = _sub_registers()


def reg_offset(name: str) -> int | None:
    """The pt_regs offset of a register named like bpftrace's reg() ("ip", "sp", "di", "r8"...)."""
    name = REG_ALIASES.get(name, name)
    if name in PT_REGS:
        return PT_REGS[name]
    sub = REGISTERS.get(name)
    return PT_REGS[sub[0]] if sub else None


@dataclass(frozen=True)
class UsdtArg:
    """One argument spec: `-4@%edi` (register), `8@-8(%rbp)` (memory), `4@$5` (constant)."""

    size: int
    signed: bool
    kind: str  # "reg", "mem" or "const"
    register: str = ""  # the 64-bit register (pt_regs name)
    offset: int = 0  # memory displacement, or the constant
    text: str = ""

    @property
    def pt_regs_offset(self) -> int:
        return PT_REGS[self.register]


@dataclass(frozen=True)
class UsdtProbe:
    """A probe point of `.note.stapsdt`: where it is (file offset), its semaphore (file offset, 0 if none)."""

    provider: str
    name: str
    offset: int
    semaphore: int
    args: tuple[UsdtArg, ...]


ARG_RE = re.compile(r"^(-?)(\d+)@(.+)$")
MEM_RE = re.compile(r"^(-?(?:0x[0-9a-fA-F]+|\d+))?\(%(\w+)\)$")


def parse_arg(spec: str) -> UsdtArg:
    """One `SIZE@OPERAND` of an argument string (LoadError when it is not one pybpf can read)."""
    m = ARG_RE.match(spec)
    if not m:
        raise LoadError(f"USDT argument {spec!r}: expected SIZE@OPERAND")
    signed, size, operand = m.group(1) == "-", int(m.group(2)), m.group(3)
    if size not in (1, 2, 4, 8):
        raise LoadError(f"USDT argument {spec!r}: size {size} is not 1, 2, 4 or 8")
    if operand.startswith("$"):
        try:
            value = int(operand[1:], 0)
        except ValueError:
            raise LoadError(f"USDT argument {spec!r}: bad constant") from None
        return UsdtArg(size, signed, "const", offset=value, text=spec)
    if operand.startswith("%"):
        sub = REGISTERS.get(operand[1:])
        if sub is None:
            raise LoadError(f"USDT argument {spec!r}: unknown register {operand}")
        return UsdtArg(size, signed, "reg", sub[0], text=spec)
    mem = MEM_RE.match(operand)
    if mem:
        sub = REGISTERS.get(mem.group(2))
        if sub is None:
            raise LoadError(f"USDT argument {spec!r}: unknown register %{mem.group(2)}")
        return UsdtArg(size, signed, "mem", sub[0], int(mem.group(1) or "0", 0), spec)
    raise LoadError(f"USDT argument {spec!r}: operand {operand!r} is not supported (indexed addressing?)")


def _cstr(data: bytes, pos: int) -> tuple[str, int]:
    end = data.find(b"\0", pos)
    if end < 0:
        raise LoadError("truncated .note.stapsdt string")
    return data[pos:end].decode(errors="replace"), end + 1


def read_notes(path: str) -> list[UsdtProbe]:
    """Every USDT probe declared in the ELF file `path` (an empty list when it declares none)."""
    from pybpf.kernel.uprobe import address_to_offset, open_elf

    elf = open_elf(path)
    data = bytes(elf.data)  # open_elf reads the whole file: already bytes
    base_addr = None
    notes = []
    for sec in elf.sections:
        if sec.name == ".stapsdt.base":
            base_addr = sec.addr
        elif sec.name == ".note.stapsdt" and sec.type == SHT_NOTE:
            notes.append((sec.offset, sec.size))
    out: list[UsdtProbe] = []
    for off, size in notes:
        pos, end = off, off + size
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name_at = pos + 12
            desc_at = name_at + ((namesz + 3) & ~3)
            pos = desc_at + ((descsz + 3) & ~3)
            if ntype != NT_STAPSDT or data[name_at:name_at + namesz].rstrip(b"\0") != b"stapsdt":
                continue
            pc, base, sem = struct.unpack_from("<QQQ", data, desc_at)
            provider, p = _cstr(data, desc_at + 24)
            probe, p = _cstr(data, p)
            argstr, p = _cstr(data, p)
            if base_addr is not None and base:  # prelinked: adjust by how far .stapsdt.base moved
                pc += base_addr - base
                if sem:
                    sem += base_addr - base
            args = tuple(parse_arg(a) for a in argstr.split()) if argstr.strip() else ()
            out.append(UsdtProbe(provider, probe, address_to_offset(elf, pc),
                                 _data_offset(elf, sem) if sem else 0, args))
    return out


def _data_offset(elf: ElfFile, address: int) -> int:
    """The file offset of a semaphore's address (in a PT_LOAD segment; .probes or .data)."""
    for vaddr, memsz, off, _filesz in elf.load_segments():
        if vaddr <= address < vaddr + memsz:
            return address - vaddr + off
    raise LoadError(f"USDT semaphore address {address:#x} is in no loadable segment")


def find_probes(path: str, provider: str, name: str) -> list[UsdtProbe]:
    """Probes of `path` matching provider and name (fnmatch wildcards; provider "" or "*" matches any)."""
    import fnmatch

    return [p for p in read_notes(path)
            if (not provider or fnmatch.fnmatchcase(p.provider, provider)) and fnmatch.fnmatchcase(p.name, name)]
