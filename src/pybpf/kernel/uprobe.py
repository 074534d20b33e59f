"""Uprobe targets: resolve BINARY:SYMBOL[+OFF] to a file offset from the ELF's symbols and segments."""

from __future__ import annotations

import glob
import os
import shutil
import struct
from dataclasses import dataclass

from pybpf.errors import LoadError

SHT_SYMTAB, SHT_DYNSYM = 2, 11
PT_LOAD = 1
STT_FUNC, STT_GNU_IFUNC = 2, 10
LIB_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")


@dataclass(frozen=True)
class Symbol:
    name: str
    address: int
    size: int
    type: int


def resolve_binary(name: str) -> str:
    """An absolute path for a binary or library given as a path, a command name or a library name."""
    if not name or name.strip() != name:
        raise LoadError(f"uprobe target binary {name!r} is empty or malformed (expected BINARY:SYMBOL)")
    if os.sep in name:
        if not os.path.exists(name):
            raise LoadError(f"uprobe target {name!r} does not exist")
        if not os.path.isfile(name):
            raise LoadError(f"uprobe target {name!r} is not a file")
        return os.path.realpath(name)
    found = shutil.which(name)
    if found:
        return os.path.realpath(found)
    stem = name if name.startswith("lib") else f"lib{name}"
    stem = stem.split(".so")[0]
    for d in LIB_DIRS:
        # the exact name, then the versioned shared object (libc.so is often a linker script)
        for pattern in (name, f"{stem}.so.*", f"{stem}.so"):
            for hit in sorted(glob.glob(os.path.join(d, pattern))):
                if os.path.isfile(hit) and _is_elf(hit):
                    return os.path.realpath(hit)
    raise LoadError(f"uprobe target {name!r} not found on PATH or in the library directories")


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


class ElfFile:
    """Just enough of a 64-bit little-endian ELF file: section headers, symbols, PT_LOAD segments."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path, "rb") as f:
                self.data = f.read()
        except OSError as exc:
            raise LoadError(f"cannot read {path}: {exc.strerror}") from None
        d = self.data
        if d[:4] != b"\x7fELF" or len(d) < 64:
            raise LoadError(f"{path} is not an ELF file")
        if d[4] != 2 or d[5] != 1:
            raise LoadError(f"{path}: only 64-bit little-endian ELF files are supported")
        try:
            (self.phoff, self.shoff) = struct.unpack_from("<QQ", d, 32)
            (_, self.phentsize, self.phnum, self.shentsize, self.shnum, self.shstrndx) = struct.unpack_from(
                "<HHHHHH", d, 52)
        except struct.error:
            raise LoadError(f"{path}: truncated ELF header") from None

    def _sections(self) -> list[tuple[int, int, int, int, int]]:
        """(type, offset, size, link, entsize) of each section."""
        out = []
        for i in range(self.shnum):
            base = self.shoff + i * self.shentsize
            try:
                _name, stype, _flags, _addr, off, size, link, _info, _align, entsize = struct.unpack_from(
                    "<IIQQQQIIQQ", self.data, base)
            except struct.error:
                raise LoadError(f"{self.path}: truncated section headers") from None
            out.append((stype, off, size, link, entsize))
        return out

    def symbols(self) -> list[Symbol]:
        """Defined symbols of .symtab and .dynsym."""
        secs = self._sections()
        out = []
        for stype, off, size, link, entsize in secs:
            if stype not in (SHT_SYMTAB, SHT_DYNSYM) or not entsize or link >= len(secs):
                continue
            stroff = secs[link][1]
            for j in range(size // entsize):
                try:
                    name_off, info, _other, shndx, value, ssize = struct.unpack_from(
                        "<IBBHQQ", self.data, off + j * entsize)
                except struct.error:
                    break
                if shndx == 0 or not name_off:
                    continue
                s = stroff + name_off
                end = self.data.find(b"\0", s)
                out.append(Symbol(self.data[s:end].decode(errors="replace"), value, ssize, info & 0xF))
        return out

    def segments(self) -> list[tuple[int, int, int, int]]:
        """(vaddr, memsz, offset, filesz) of each PT_LOAD segment."""
        out = []
        for i in range(self.phnum):
            try:
                ptype, _flags, off, vaddr, _paddr, filesz, memsz, _align = struct.unpack_from(
                    "<IIQQQQQQ", self.data, self.phoff + i * self.phentsize)
            except struct.error:
                break
            if ptype == PT_LOAD:
                out.append((vaddr, memsz, off, filesz))
        return out

    def address_to_offset(self, address: int) -> int:
        for vaddr, memsz, off, _ in self.segments():
            if vaddr <= address < vaddr + memsz:
                return address - vaddr + off
        raise LoadError(f"{self.path}: address {address:#x} is in no loadable segment")


def symbol_offset(binary: str, symbol: str) -> int:
    """The file offset of SYMBOL[+OFF] (or a 0x address) in `binary`, where a uprobe must be placed."""
    path = resolve_binary(binary)
    elf = ElfFile(path)
    name, _, extra = symbol.partition("+")
    add = int(extra, 0) if extra else 0
    if name.startswith("0x"):
        return elf.address_to_offset(int(name, 16)) + add
    matches = [s for s in elf.symbols() if s.name == name or s.name.split("@")[0] == name]
    funcs = [s for s in matches if s.type in (STT_FUNC, STT_GNU_IFUNC)] or matches
    if not funcs:
        raise LoadError(f"symbol {name!r} not found in {path}")
    return elf.address_to_offset(funcs[0].address) + add
