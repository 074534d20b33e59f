"""Uprobe targets: resolve BINARY:SYMBOL[+OFF] to a file offset from the ELF's symbols and segments.

The ELF file is read by `pybpf.object.elf` (any_machine mode); this module only adds the uprobe view.
"""

from __future__ import annotations

import glob
import os
import shutil

from pybpf.errors import LoadError, ObjectError
from pybpf.object.elf import STT_FUNC, ElfFile, Symbol, is_elf_file

STT_GNU_IFUNC = 10
LIB_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")


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
                if os.path.isfile(hit) and is_elf_file(hit):
                    return os.path.realpath(hit)
    raise LoadError(f"uprobe target {name!r} not found on PATH or in the library directories")


def open_elf(path: str) -> ElfFile:
    """The executable or shared object at `path`, parsed by the one ELF reader; LoadError if unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise LoadError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return ElfFile(data, path, any_machine=True)
    except ObjectError as exc:
        raise LoadError(str(exc)) from None


def defined_symbols(elf: ElfFile) -> list[Symbol]:
    """Defined, named symbols of .symtab and .dynsym."""
    try:
        return [s for s in (*elf.symbols, *elf.dynamic_symbols) if s.shndx and s.name]
    except ObjectError as exc:
        raise LoadError(str(exc)) from None


def address_to_offset(elf: ElfFile, address: int) -> int:
    """The file offset of a virtual address, from the PT_LOAD segment holding it."""
    for vaddr, memsz, off, _ in elf.load_segments():
        if vaddr <= address < vaddr + memsz:
            return address - vaddr + off
    raise LoadError(f"{elf.name}: address {address:#x} is in no loadable segment")


def symbol_offset(binary: str, symbol: str) -> int:
    """The file offset of SYMBOL[+OFF] (or a 0x address) in `binary`, where a uprobe must be placed."""
    path = resolve_binary(binary)
    elf = open_elf(path)
    name, _, extra = symbol.partition("+")
    add = int(extra, 0) if extra else 0
    if name.startswith("0x"):
        return address_to_offset(elf, int(name, 16)) + add
    matches = [s for s in defined_symbols(elf) if s.name == name or s.name.split("@")[0] == name]
    funcs = [s for s in matches if s.type in (STT_FUNC, STT_GNU_IFUNC)] or matches
    if not funcs:
        raise LoadError(f"symbol {name!r} not found in {path}")
    return address_to_offset(elf, funcs[0].value) + add
