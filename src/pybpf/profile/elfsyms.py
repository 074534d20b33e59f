"""Function symbols of executables and shared objects, cached per build ID (falling back to .gnu_debuglink)."""

from __future__ import annotations

import bisect
import mmap
import os
import struct
from dataclasses import dataclass

from pybpf.errors import ObjectError
from pybpf.object.elf import SHT_DYNSYM, SHT_SYMTAB, STT_FUNC, ElfFile

STT_GNU_IFUNC = 10
DEBUG_ROOT = "/usr/lib/debug"


@dataclass
class SymbolTable:
    """One ELF image: its build ID, PT_LOAD segments and sorted function symbols (by virtual address).

    Names stay in the (memory-mapped) string tables until a lookup needs one.
    """

    path: str
    build_id: str
    segments: list[tuple[int, int, int, int]]  # (vaddr, memsz, offset, filesz)
    starts: list[int]
    ends: list[int]
    name_refs: list[tuple[bytes | mmap.mmap, int]]  # (image data, file offset of the NUL-terminated name)

    def offset_to_vaddr(self, file_offset: int) -> int | None:
        """The link-time virtual address of a file offset (what symbol values are in)."""
        for vaddr, memsz, off, filesz in self.segments:
            if off <= file_offset < off + max(filesz, memsz):
                return file_offset - off + vaddr
        return None

    def name(self, index: int) -> str:
        data, offset = self.name_refs[index]
        end = data.find(b"\0", offset)
        return bytes(data[offset:end if end >= 0 else offset + 256]).decode("utf-8", "replace").split("@")[0]

    @property
    def names(self) -> list[str]:
        return [self.name(i) for i in range(len(self.starts))]

    def lookup(self, vaddr: int) -> str | None:
        """The function containing `vaddr`, or None."""
        i = bisect.bisect_right(self.starts, vaddr) - 1
        if i >= 0 and (vaddr < self.ends[i] or self.ends[i] == self.starts[i]):
            return self.name(i)
        return None


_by_build_id: dict[str, SymbolTable] = {}
_by_file: dict[tuple[int, int, int, int], SymbolTable | None] = {}  # (dev, inode, size, mtime) -> table
_SYM = struct.Struct("<IBBHQQ")


def _functions(elf: ElfFile) -> list[tuple[int, int, bytes | mmap.mmap, int]]:
    """(start, end, data, name offset) of every defined function of .symtab and .dynsym."""
    rows = []
    for sec in elf.sections:
        if sec.type not in (SHT_SYMTAB, SHT_DYNSYM) or sec.entsize != _SYM.size or sec.link >= len(elf.sections):
            continue
        strtab = elf.sections[sec.link].offset
        data = elf.section_data(sec)
        for name_off, info, _other, shndx, value, size in _SYM.iter_unpack(data[:len(data) - len(data) % 24]):
            if info & 0xF in (STT_FUNC, STT_GNU_IFUNC) and value and shndx and name_off:
                rows.append((value, value + size, elf.data, strtab + name_off))
    rows.sort(key=lambda r: (r[0], -r[1]))
    return rows


def _debug_file(path: str, build_id: str, link: str) -> str | None:
    """The separate debug file of an image: by build ID, then next to it, then under /usr/lib/debug."""
    candidates = []
    if len(build_id) > 2:
        candidates.append(f"{DEBUG_ROOT}/.build-id/{build_id[:2]}/{build_id[2:]}.debug")
    if link:
        d = os.path.dirname(os.path.realpath(path))
        candidates += [os.path.join(d, link), os.path.join(d, ".debug", link), f"{DEBUG_ROOT}{d}/{link}"]
    return next((c for c in candidates if os.path.isfile(c)), None)


def _open(path: str) -> ElfFile:
    """The ELF image at `path`, memory-mapped: only the pages of the tables looked at are read."""
    with open(path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return ElfFile(data, path, any_machine=True)


def load(path: str) -> SymbolTable | None:
    """The symbol table of the image at `path` (cached per file and per build ID), or None if it is no ELF."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    file_key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if file_key in _by_file:
        return _by_file[file_key]
    _by_file[file_key] = table = _load(path)
    return table


def _load(path: str) -> SymbolTable | None:
    try:
        elf = _open(path)
        build_id = elf.build_id()
        if build_id and build_id in _by_build_id:
            return _by_build_id[build_id]
        funcs = _functions(elf)
        if not any(sec.type == SHT_SYMTAB for sec in elf.sections):  # stripped: separate debug symbols
            debug = _debug_file(path, build_id, elf.debuglink())
            if debug:
                funcs = sorted(funcs + _functions(_open(debug)), key=lambda r: (r[0], -r[1]))
        segments = elf.load_segments()
    except (OSError, ValueError, ObjectError):
        return None
    table = SymbolTable(path, build_id, segments, [f[0] for f in funcs], [f[1] for f in funcs],
                        [(f[2], f[3]) for f in funcs])
    if build_id:
        _by_build_id[build_id] = table
    return table
