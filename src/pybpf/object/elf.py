"""A dependency-free ELF64 little-endian parser, every offset checked: eBPF objects (EM_BPF), and executables.

`ElfFile(data)` accepts relocatable eBPF objects only; `ElfFile(data, any_machine=True)` also reads
executables and shared objects of any machine (the profiler's symbol tables, build IDs, segments).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from functools import cached_property

from pybpf.errors import ObjectError

ELF_MAGIC = b"\x7fELF"
EM_BPF = 247
EM_NONE = 0
ET_REL = 1

# Section types.
SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_RELA = 4
SHT_NOTE = 7
SHT_NOBITS = 8
SHT_REL = 9
SHT_DYNSYM = 11
PT_LOAD = 1
NT_GNU_BUILD_ID = 3

# Section flags.
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4

# Special section indices.
SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2
SHN_XINDEX = 0xFFFF

# Symbol bindings and types.
STB_LOCAL = 0
STB_GLOBAL = 1
STB_WEAK = 2
STT_NOTYPE = 0
STT_OBJECT = 1
STT_FUNC = 2
STT_SECTION = 3
STT_FILE = 4

# eBPF relocation types (llvm/BinaryFormat/ELFRelocs/BPF.def).
R_BPF_NONE = 0
R_BPF_64_64 = 1
R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4
R_BPF_64_32 = 10

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
_PHDR = struct.Struct("<IIQQQQQQ")
_REL = struct.Struct("<QQ")
_RELA = struct.Struct("<QQq")

MAX_SECTIONS = 1 << 16
MAX_NOBITS = 1 << 28  # zero-filled sections (.bss) larger than this are refused, not allocated


@dataclass(frozen=True, slots=True)
class Section:
    """One section header, with its name resolved."""

    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int
    addr: int = 0  # sh_addr: where an executable's section is loaded (0 in relocatable objects)

    @property
    def is_exec(self) -> bool:
        return self.type == SHT_PROGBITS and bool(self.flags & SHF_EXECINSTR)

    @property
    def is_nobits(self) -> bool:
        return self.type == SHT_NOBITS


@dataclass(frozen=True, slots=True)
class Symbol:
    """One symbol table entry."""

    index: int
    name: str
    value: int
    size: int
    bind: int
    type: int
    other: int
    shndx: int

    @property
    def visibility(self) -> int:
        return self.other & 0x3


@dataclass(frozen=True, slots=True)
class Relocation:
    """One REL/RELA entry of a relocation section, applying to `offset` in the target section."""

    offset: int
    type: int
    symbol: Symbol
    addend: int = 0


def is_elf_file(path: str) -> bool:
    """Whether `path` is a readable file that starts with the ELF magic."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == ELF_MAGIC
    except OSError:
        return False


def _cstr(table: bytes, offset: int, what: str) -> str:
    if offset >= len(table) and offset != 0:
        raise ObjectError(f"{what}: string offset {offset} is outside the string table ({len(table)} bytes)")
    if offset == 0 and not table:
        return ""
    end = table.find(b"\0", offset)
    if end < 0:
        raise ObjectError(f"{what}: string at offset {offset} is not NUL-terminated")
    return table[offset:end].decode("utf-8", "replace")


class ElfFile:
    """A parsed ELF64 LE relocatable file for EM_BPF: sections, symbols and relocations."""

    def __init__(self, data: bytes | mmap.mmap, name: str = "", *, any_machine: bool = False) -> None:
        # an mmap of a large executable is read lazily: only the headers and tables looked at
        self.data: bytes | mmap.mmap = data if isinstance(data, (bytes, mmap.mmap)) else bytes(data)
        self.name = name or "<bytes>"
        self.any_machine = any_machine
        self.sections: list[Section] = []
        self._parse_header()
        self._parse_sections()

    # -- header and section table -------------------------------------------------

    def _parse_header(self) -> None:
        data = self.data
        if data[:4] != ELF_MAGIC:
            raise ObjectError(f"{self.name}: not an ELF file (bad magic at offset 0)")
        if len(data) < _EHDR.size:
            raise ObjectError(
                f"{self.name}: truncated ELF header ({len(data)} bytes, need {_EHDR.size})"
            )
        ident = data[:16]
        if ident[4] != 2:
            raise ObjectError(f"{self.name}: not a 64-bit ELF file (EI_CLASS={ident[4]} at offset 4)")
        if ident[5] != 1:
            what = "big-endian" if ident[5] == 2 else f"EI_DATA={ident[5]}"
            raise ObjectError(
                f"{self.name}: {what} ELF file; only little-endian eBPF objects are supported (offset 5)"
            )
        (_, e_type, e_machine, _, _, e_phoff, e_shoff, _, _, e_phentsize, e_phnum, e_shentsize, e_shnum,
         e_shstrndx) = _EHDR.unpack_from(data, 0)
        self.e_type, self.e_machine = e_type, e_machine
        self._phoff, self._phnum = e_phoff, (e_phnum if e_phentsize == _PHDR.size else 0)
        if self.any_machine:
            pass
        elif e_machine not in (EM_BPF, EM_NONE):  # EM_NONE: objects from very old LLVM BPF back-ends
            raise ObjectError(
                f"{self.name}: e_machine is {e_machine}, not EM_BPF ({EM_BPF}) (offset 18)"
            )
        if e_type != ET_REL and not self.any_machine:
            raise ObjectError(f"{self.name}: e_type is {e_type}, not a relocatable object (ET_REL=1)")
        if e_shoff == 0:
            raise ObjectError(f"{self.name}: no section header table (e_shoff is 0)")
        if e_shentsize != _SHDR.size:
            raise ObjectError(
                f"{self.name}: section header entry size is {e_shentsize}, expected {_SHDR.size}"
            )
        if e_shoff + _SHDR.size > len(data):
            raise ObjectError(
                f"{self.name}: section header table at offset {e_shoff} is past the end of the file "
                f"({len(data)} bytes)"
            )
        if e_shnum == 0:  # extended numbering: the count lives in section 0's sh_size
            e_shnum = _SHDR.unpack_from(data, e_shoff)[5]
        if e_shstrndx == SHN_XINDEX:
            e_shstrndx = _SHDR.unpack_from(data, e_shoff)[6]
        if e_shnum > MAX_SECTIONS:
            raise ObjectError(f"{self.name}: too many sections ({e_shnum})")
        end = e_shoff + e_shnum * _SHDR.size
        if end > len(data):
            raise ObjectError(
                f"{self.name}: section header table ({e_shnum} entries at offset {e_shoff}) runs past "
                f"the end of the file ({len(data)} bytes)"
            )
        if e_shnum and e_shstrndx >= e_shnum:
            raise ObjectError(
                f"{self.name}: section name table index {e_shstrndx} out of range ({e_shnum} sections)"
            )
        self._shoff = e_shoff
        self._shnum = e_shnum
        self._shstrndx = e_shstrndx

    def _parse_sections(self) -> None:
        raw = [_SHDR.unpack_from(self.data, self._shoff + i * _SHDR.size) for i in range(self._shnum)]
        for i, hdr in enumerate(raw):
            sh_type, sh_offset, sh_size = hdr[1], hdr[4], hdr[5]
            if sh_type not in (SHT_NOBITS, SHT_NULL) and sh_offset + sh_size > len(self.data):
                raise ObjectError(
                    f"{self.name}: section {i} (offset {sh_offset}, size {sh_size}) runs past the end "
                    f"of the file ({len(self.data)} bytes)"
                )
        names = b""
        if self._shnum:
            sh = raw[self._shstrndx]
            if sh[1] != SHT_STRTAB:
                raise ObjectError(f"{self.name}: section {self._shstrndx} named as the name table is not a STRTAB")
            names = self.data[sh[4] : sh[4] + sh[5]]
        for i, hdr in enumerate(raw):
            name = _cstr(names, hdr[0], f"{self.name}: name of section {i}")
            self.sections.append(
                Section(i, name, hdr[1], hdr[2], hdr[4], hdr[5], hdr[6], hdr[7], hdr[8], hdr[9], hdr[3])
            )

    # -- accessors ------------------------------------------------------------------

    def section_data(self, section: Section) -> bytes:
        """The bytes of a section (zeros for NOBITS such as .bss)."""
        if section.is_nobits:
            if section.size > MAX_NOBITS:
                raise ObjectError(
                    f"{self.name}: section {section.index} {section.name!r} is implausibly large "
                    f"({section.size} bytes of zeros)"
                )
            return bytes(section.size)
        return self.data[section.offset : section.offset + section.size]

    def section(self, index: int, what: str = "section") -> Section:
        """The section with this index; ObjectError if out of range."""
        if not 0 <= index < len(self.sections):
            raise ObjectError(f"{self.name}: {what} index {index} out of range ({len(self.sections)} sections)")
        return self.sections[index]

    def section_by_name(self, name: str) -> Section | None:
        """The first section with this name, or None."""
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None

    @cached_property
    def symtab(self) -> Section | None:
        """The (single) symbol table section, or None."""
        tabs = [s for s in self.sections if s.type == SHT_SYMTAB]
        if len(tabs) > 1:
            raise ObjectError(f"{self.name}: more than one symbol table")
        return tabs[0] if tabs else None

    @cached_property
    def symbols(self) -> list[Symbol]:
        """Every symbol of the symbol table (index 0 is the null symbol)."""
        return self.symbols_of(self.symtab)

    @cached_property
    def dynamic_symbols(self) -> list[Symbol]:
        """Every symbol of the dynamic symbol table (.dynsym) of an executable or shared object."""
        tabs = [s for s in self.sections if s.type == SHT_DYNSYM]
        return self.symbols_of(tabs[0]) if tabs else []

    def symbols_of(self, tab: Section | None) -> list[Symbol]:
        """The entries of one symbol table section (SHT_SYMTAB or SHT_DYNSYM)."""
        if tab is None:
            return []
        if tab.entsize != _SYM.size:
            raise ObjectError(
                f"{self.name}: symbol table entry size is {tab.entsize}, expected {_SYM.size} "
                f"(section {tab.index} {tab.name!r})"
            )
        if tab.size % _SYM.size:
            raise ObjectError(
                f"{self.name}: symbol table size {tab.size} is not a multiple of {_SYM.size}"
            )
        strtab = self.section(tab.link, "symbol string table")
        if strtab.type != SHT_STRTAB:
            raise ObjectError(f"{self.name}: symbol table's string table (section {tab.link}) is not a STRTAB")
        strings = self.section_data(strtab)
        data = self.section_data(tab)
        out = []
        for i in range(tab.size // _SYM.size):
            st_name, st_info, st_other, st_shndx, st_value, st_size = _SYM.unpack_from(data, i * _SYM.size)
            name = _cstr(strings, st_name, f"{self.name}: name of symbol {i}")
            out.append(Symbol(i, name, st_value, st_size, st_info >> 4, st_info & 0xF, st_other, st_shndx))
        return out

    def load_segments(self) -> list[tuple[int, int, int, int]]:
        """(vaddr, memsz, offset, filesz) of each PT_LOAD program header."""
        out = []
        for i in range(self._phnum):
            base = self._phoff + i * _PHDR.size
            if base + _PHDR.size > len(self.data):
                raise ObjectError(f"{self.name}: program header {i} runs past the end of the file")
            ptype, _flags, off, vaddr, _paddr, filesz, memsz, _align = _PHDR.unpack_from(self.data, base)
            if ptype == PT_LOAD:
                out.append((vaddr, memsz, off, filesz))
        return out

    def build_id(self) -> str:
        """The GNU build ID (hex) from the NT_GNU_BUILD_ID note, or "" when there is none."""
        for sec in self.sections:
            if sec.type != SHT_NOTE:
                continue
            data, pos = self.section_data(sec), 0
            while pos + 12 <= len(data):
                namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
                name_end = pos + 12 + ((namesz + 3) & ~3)
                desc = data[name_end:name_end + descsz]
                if ntype == NT_GNU_BUILD_ID and data[pos + 12:pos + 12 + namesz].rstrip(b"\0") == b"GNU":
                    return desc.hex()
                pos = name_end + ((descsz + 3) & ~3)
        return ""

    def debuglink(self) -> str:
        """The file name in .gnu_debuglink (separate debug symbols), or ""."""
        sec = self.section_by_name(".gnu_debuglink")
        if sec is None or sec.is_nobits:
            return ""
        data = self.section_data(sec)
        return data.split(b"\0", 1)[0].decode("utf-8", "replace")

    def symbol(self, index: int, where: str) -> Symbol:
        """Symbol by index; ObjectError naming `where` if out of range."""
        syms = self.symbols
        if not 0 <= index < len(syms):
            raise ObjectError(f"{self.name}: {where}: symbol index {index} out of range ({len(syms)} symbols)")
        return syms[index]

    def relocation_sections(self) -> list[tuple[Section, Section]]:
        """(relocation section, section it applies to) for every REL/RELA section."""
        out = []
        for sec in self.sections:
            if sec.type not in (SHT_REL, SHT_RELA):
                continue
            target = self.section(sec.info, f"target of relocation section {sec.name!r}")
            out.append((sec, target))
        return out

    def relocations(self, rel: Section) -> list[Relocation]:
        """The entries of one REL/RELA section."""
        layout = _RELA if rel.type == SHT_RELA else _REL
        if rel.entsize not in (0, layout.size):
            raise ObjectError(
                f"{self.name}: relocation section {rel.name!r} has entry size {rel.entsize}, "
                f"expected {layout.size}"
            )
        if rel.size % layout.size:
            raise ObjectError(
                f"{self.name}: relocation section {rel.name!r} size {rel.size} is not a multiple "
                f"of {layout.size}"
            )
        data = self.section_data(rel)
        out = []
        for i in range(rel.size // layout.size):
            fields = layout.unpack_from(data, i * layout.size)
            offset, info = fields[0], fields[1]
            addend = fields[2] if len(fields) > 2 else 0
            sym = self.symbol(info >> 32, f"relocation {i} of {rel.name!r}")
            out.append(Relocation(offset, info & 0xFFFFFFFF, sym, addend))
        return out
