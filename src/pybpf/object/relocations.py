"""Relocations of program code: classify each one as a call, a function address, a map or a global-data pointer."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pybpf.errors import ObjectError
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import CALL, LDDW
from pybpf.object.elf import (
    R_BPF_64_32,
    R_BPF_64_64,
    R_BPF_NONE,
    SHN_LORESERVE,
    SHN_UNDEF,
    STB_WEAK,
    STT_FUNC,
    STT_SECTION,
    ElfFile,
    Relocation,
    Section,
)
from pybpf.object.maps import MapLayout

# lddw source kinds (BPF_PSEUDO_*) and call source kinds.
PSEUDO_MAP_FD = 1
PSEUDO_MAP_VALUE = 2
PSEUDO_BTF_ID = 3
PSEUDO_FUNC = 4
PSEUDO_CALL = 1
PSEUDO_KFUNC_CALL = 2

KNOWN_RELOCATION_TYPES = {0: "R_BPF_NONE", 1: "R_BPF_64_64", 2: "R_BPF_64_ABS64", 3: "R_BPF_64_ABS32",
                          4: "R_BPF_64_NODYLD32", 10: "R_BPF_64_32"}


@dataclass(frozen=True, slots=True)
class CodeTarget:
    """A call or function-address relocation: instruction slot `slot` of section `section`."""

    kind: str  # "call" or "func"
    section: int
    slot: int


@dataclass(frozen=True, slots=True)
class MapTarget:
    """An lddw of a map (kind "fd") or of a pointer into a map's value (kind "value")."""

    map_name: str
    kind: str
    offset: int = 0


@dataclass(frozen=True, slots=True)
class ExternCall:
    """A call to a function the object does not define (a kfunc or an unresolved library call)."""

    name: str


@dataclass(frozen=True, slots=True)
class KsymVar:
    """An lddw of a typed kernel variable (`extern T name __ksym`): BPF_PSEUDO_BTF_ID with its vmlinux id."""

    name: str
    btf_id: int


Target = CodeTarget | MapTarget | ExternCall | KsymVar


@dataclass
class Resolver:
    """What the object defines, for resolving relocations in its code sections."""

    elf: ElfFile
    code_sections: set[int]
    map_layouts: dict[int, list[MapLayout]]  # maps section index -> layouts
    data_sections: dict[int, str]  # data section index -> map name
    externs: dict[str, tuple[str, int]] = field(default_factory=dict)  # extern variable -> (map, offset)
    ksym_vars: dict[str, int] = field(default_factory=dict)  # typed __ksym variable -> vmlinux BTF id

    def resolve(self, code: Section, rel: Relocation, insn: Instruction | None) -> Target | None:
        """Classify one relocation applying to `insn` in `code`; ObjectError when it makes no sense."""
        where = f"{self.elf.name}: relocation at {code.name}+{rel.offset}"
        if rel.type not in KNOWN_RELOCATION_TYPES:
            raise ObjectError(f"{where}: unknown relocation type {rel.type}")
        if rel.type == R_BPF_NONE:
            # Old LLVM (objects with e_machine EM_NONE) typed every relocation R_BPF_NONE: on an lddw
            # or a call it still names the map or the callee, as loaders of that time read it.
            if rel.offset % 8 or insn is None or insn.opcode not in (LDDW, CALL):
                return None
            rel = replace(rel, type=R_BPF_64_64 if insn.opcode == LDDW else R_BPF_64_32)
        if rel.offset % 8:
            raise ObjectError(f"{where}: offset is not a multiple of 8")
        if insn is None:
            raise ObjectError(f"{where}: does not point at the start of an instruction")
        sym = rel.symbol
        if insn.opcode == CALL:
            if rel.type not in (R_BPF_64_32, R_BPF_64_64):
                raise ObjectError(f"{where}: {KNOWN_RELOCATION_TYPES[rel.type]} on a call")
            if sym.shndx == SHN_UNDEF:
                # An extern function (kfunc or an unresolved libc call such as memset): the call is
                # left as compiled and recorded; the verifier or the kernel rejects it if reachable.
                return ExternCall(sym.name)
            if sym.shndx not in self.code_sections:
                raise ObjectError(f"{where}: call target {sym.name!r} is not in a code section")
            if sym.value % 8:
                raise ObjectError(f"{where}: call target {sym.name!r} offset {sym.value} is not instruction aligned")
            if (sym.value + rel.addend) % 8:
                raise ObjectError(f"{where}: call target {sym.name!r}+{rel.addend} is not instruction aligned")
            if sym.type == STT_FUNC:
                # Against a function symbol the call targets that function (clang leaves imm = -1;
                # gcc 12 leaves other values there, which mean nothing once relocated).
                return CodeTarget("call", sym.shndx, (sym.value + rel.addend) // 8)
            # Against a section symbol, imm locates the (static) callee inside the section.
            return CodeTarget("call", sym.shndx, (sym.value + rel.addend) // 8 + insn.imm + 1)
        if insn.opcode != LDDW:
            raise ObjectError(f"{where}: relocation on an instruction that is neither lddw nor call (opcode {insn.opcode:#04x})")
        if rel.type != R_BPF_64_64:
            raise ObjectError(f"{where}: {KNOWN_RELOCATION_TYPES[rel.type]} on lddw (expected R_BPF_64_64)")
        if sym.shndx == SHN_UNDEF:
            if sym.name in self.externs:
                map_name, base = self.externs[sym.name]
                return MapTarget(map_name, "value", base + (insn.imm & 0xFFFFFFFF) + rel.addend)
            if sym.name in self.ksym_vars:
                return KsymVar(sym.name, self.ksym_vars[sym.name])
            if sym.bind == STB_WEAK:
                return KsymVar(sym.name, 0)  # a weak extern the kernel lacks: the address is 0
            raise ObjectError(
                f"{where}: reference to undefined symbol {sym.name!r} (only __kconfig externs and typed "
                f"__ksym variables known to the running kernel's BTF are supported)"
            )
        if sym.shndx >= SHN_LORESERVE:
            raise ObjectError(f"{where}: reference to special symbol {sym.name!r} (section {sym.shndx:#x})")
        imm = insn.imm & 0xFFFFFFFF
        if imm >= 1 << 31:
            imm -= 1 << 32
        imm += rel.addend  # RELA objects carry the addend in the entry, REL ones in the instruction
        if sym.shndx in self.code_sections:
            off = sym.value + imm
            if off % 8:
                raise ObjectError(f"{where}: function address {sym.name!r}+{imm} is not instruction aligned")
            return CodeTarget("func", sym.shndx, off // 8)
        if sym.shndx in self.map_layouts:
            layouts = self.map_layouts[sym.shndx]
            if sym.type == STT_SECTION or not sym.name:
                off = sym.value + imm
                found = next((m for m in layouts if m.offset == off), None)
            else:
                found = next((m for m in layouts if m.name == sym.name), None)
            if found is None:
                raise ObjectError(f"{where}: no map at {sym.name or 'section'}+{imm}")
            return MapTarget(found.name, "fd")
        if sym.shndx in self.data_sections:
            name = self.data_sections[sym.shndx]
            off = sym.value + imm
            size = self.elf.section(sym.shndx).size
            if not 0 <= off <= size:
                raise ObjectError(f"{where}: offset {off} is outside global data section {name!r} ({size} bytes)")
            return MapTarget(name, "value", off)
        target = self.elf.section(sym.shndx, "relocation target section")
        raise ObjectError(f"{where}: reference to {sym.name or target.name!r} in unsupported section {target.name!r}")
