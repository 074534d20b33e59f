"""Function symbols of executables and shared objects, cached per build ID (falling back to .gnu_debuglink)."""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass

from pybpf.errors import ObjectError
from pybpf.object.elf import STT_FUNC, ElfFile

STT_GNU_IFUNC = 10
DEBUG_ROOT = "/usr/lib/debug"


@dataclass
class SymbolTable:
    """One ELF image: its build ID, PT_LOAD segments and sorted function symbols (by virtual address)."""

    path: str
    build_id: str
    segments: list[tuple[int, int, int, int]]  # (vaddr, memsz, offset, filesz)
    starts: list[int]
    ends: list[int]
    names: list[str]

    def offset_to_vaddr(self, file_offset: int) -> int | None:
        """The link-time virtual address of a file offset (what symbol values are in)."""
        for vaddr, memsz, off, filesz in self.segments:
            if off <= file_offset < off + max(filesz, memsz):
                return file_offset - off + vaddr
        return None

    @property
    def min_vaddr(self) -> int:
        return min((v - o for v, _, o, _ in self.segments), default=0)

    def lookup(self, vaddr: int) -> str | None:
        """The function containing `vaddr`, or None."""
        i = bisect.bisect_right(self.starts, vaddr) - 1
        if i >= 0 and (vaddr < self.ends[i] or self.ends[i] == self.starts[i]):
            return self.names[i]
        return None


_cache: dict[str, SymbolTable] = {}  # build ID (or path:size:mtime) -> table


def _functions(elf: ElfFile) -> list[tuple[int, int, str]]:
    seen: dict[int, tuple[int, int, str]] = {}
    for sym in (*elf.symbols, *elf.dynamic_symbols):
        if sym.type not in (STT_FUNC, STT_GNU_IFUNC) or not sym.value or not sym.name:
            continue
        old = seen.get(sym.value)
        if old is None or (old[2].startswith("_") and not sym.name.startswith("_")):
            seen[sym.value] = (sym.value, sym.value + sym.size, sym.name.split("@")[0])
    return sorted(seen.values())


def _debug_file(path: str, build_id: str, link: str) -> str | None:
    """The separate debug file of an image: by build ID, then next to it, then under /usr/lib/debug."""
    candidates = []
    if len(build_id) > 2:
        candidates.append(f"{DEBUG_ROOT}/.build-id/{build_id[:2]}/{build_id[2:]}.debug")
    if link:
        d = os.path.dirname(os.path.realpath(path))
        candidates += [os.path.join(d, link), os.path.join(d, ".debug", link), f"{DEBUG_ROOT}{d}/{link}"]
    return next((c for c in candidates if os.path.isfile(c)), None)


def load(path: str) -> SymbolTable | None:
    """The symbol table of the image at `path` (cached per build ID), or None if it is no readable ELF."""
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            data = f.read()
        elf = ElfFile(data, path, any_machine=True)
        build_id = elf.build_id()
    except (OSError, ObjectError):
        return None
    key = build_id or f"{path}:{st.st_size}:{st.st_mtime_ns}"
    if key in _cache:
        return _cache[key]
    try:
        funcs = _functions(elf)
        if not elf.symbols:  # stripped: separate debug symbols, where installed
            debug = _debug_file(path, build_id, elf.debuglink())
            if debug:
                with open(debug, "rb") as f:
                    funcs = sorted(set(funcs) | set(_functions(ElfFile(f.read(), debug, any_machine=True))))
        segments = elf.load_segments()
    except (OSError, ObjectError):
        return None
    table = SymbolTable(path, build_id, segments, [f[0] for f in funcs], [f[1] for f in funcs],
                        [f[2] for f in funcs])
    _cache[key] = table
    return table
