"""Turn an eBPF ELF relocatable object into a CollectionSpec: programs, maps, global data, BTF."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path

from pybpf.btf.btf import Btf
from pybpf.btf.encode import fixup_datasecs
from pybpf.btf.ext import BtfExt, parse_btf_ext
from pybpf.btf.types import Kind
from pybpf.btf.vmlinux import load_vmlinux
from pybpf.errors import BpfError, ObjectError
from pybpf.isa.opcodes import CALL
from pybpf.object.elf import (
    SHN_UNDEF,
    SHT_REL,
    SHT_RELA,
    STB_LOCAL,
    STB_WEAK,
    STT_FUNC,
    STT_OBJECT,
    ElfFile,
    Relocation,
    Section,
)
from pybpf.object.kconfig import kconfig_map, system_kconfig
from pybpf.object.kconfig import layout as kconfig_layout
from pybpf.object.linker import CodeSection, Function, link
from pybpf.object.maps import (
    MapLayout,
    btf_maps,
    data_section_map,
    initial_slots,
    is_data_section,
    legacy_maps,
    resolve_legacy_inner_maps,
)
from pybpf.object.relocations import PSEUDO_CALL, CodeTarget, Resolver
from pybpf.object.sections import classify_section
from pybpf.object.spec import CollectionSpec, MapSpec, ProgramSpec
from pybpf.object.struct_ops import is_struct_ops_section, struct_ops_maps, struct_ops_slots

MAX_OBJECT_SIZE = 1 << 30
STV_INTERNAL = 1
STV_HIDDEN = 2


def load_file(path: str | Path, *, kconfig: Mapping[str, str] | None = None) -> CollectionSpec:
    """Load an ELF object file; ObjectError (or OSError for an unreadable file) on failure.

    `kconfig` gives the values of `extern ... __kconfig` variables ("y", "m", "n", numbers, quoted
    strings, as in a kernel .config); by default they come from the running kernel, and only
    when the object declares such externs.
    """
    p = Path(path)
    size = p.stat().st_size
    if size > MAX_OBJECT_SIZE:
        raise ObjectError(f"{p}: file too large for an eBPF object ({size} bytes)")
    return load_bytes(p.read_bytes(), name=str(p), kconfig=kconfig)


def load_bytes(data: bytes, name: str = "", *, kconfig: Mapping[str, str] | None = None) -> CollectionSpec:
    """Load an ELF object from bytes; every problem is an ObjectError saying what and where."""
    try:
        return _Loader(ElfFile(data, name), kconfig).load()
    except ObjectError:
        raise
    except BpfError as exc:
        raise ObjectError(f"{name or '<bytes>'}: {exc}") from None
    except (IndexError, KeyError, ValueError, struct.error, RecursionError, OverflowError,
            UnicodeDecodeError) as exc:
        # A safety net: the parsers check offsets explicitly, but never let garbage escape.
        raise ObjectError(f"{name or '<bytes>'}: malformed object ({type(exc).__name__}: {exc})") from None


class _Loader:
    def __init__(self, elf: ElfFile, kconfig: Mapping[str, str] | None = None) -> None:
        self.elf = elf
        self.btf: Btf | None = None
        self.ext: BtfExt | None = None
        self.kconfig = kconfig
        self.externs: dict[str, tuple[str, int]] = {}
        self.extern_sizes: dict[str, int] = {}
        self.ksym_vars: dict[str, int] = {}
        self.kfuncs: dict[str, int] = {}
        self.helper_calls: dict[str, int] = {}  # extern function named like a helper -> helper id
        self.program_at: dict[tuple[int, int], str] = {}  # (section, byte offset) -> program name

    def load(self) -> CollectionSpec:
        elf = self.elf
        self._load_btf()
        license_, version = self._license_and_version()
        maps: dict[str, MapSpec] = {}
        layouts: dict[int, list[MapLayout]] = {}
        data_sections: dict[int, str] = {}
        code: dict[int, CodeSection] = {}
        for sec in elf.sections:
            if sec.is_exec and sec.size:
                code[sec.index] = CodeSection.decode(sec, elf.section_data(sec), elf.name)
            elif sec.name == ".maps":
                specs, lays = btf_maps(elf, sec, self.btf)
                self._add_maps(maps, specs)
                layouts[sec.index] = lays
            elif sec.name == "maps" or sec.name.startswith("maps/"):
                specs, lays = legacy_maps(elf, sec)
                self._add_maps(maps, specs)
                layouts[sec.index] = lays
            elif is_struct_ops_section(sec) and sec.size:
                self._add_maps(maps, struct_ops_maps(elf, sec, self.btf))
            elif is_data_section(sec) and sec.size:
                spec = data_section_map(elf, sec, self.btf)
                self._add_maps(maps, [spec])
                data_sections[sec.index] = spec.name
        legacy = [lay for idx in sorted(layouts) if not self.elf.sections[idx].name == ".maps"
                  for lay in layouts[idx]]
        if legacy:
            maps = resolve_legacy_inner_maps(maps, legacy)
        self._kconfig_map(maps)
        self._fixup_btf()
        self._fix_map_sizes(layouts)
        self._find_functions(code)
        self._kernel_symbols(code)
        resolver = Resolver(elf, set(code), layouts, data_sections, self.externs, {**self.kfuncs, **self.ksym_vars})
        maps_relocs, ops_relocs = self._resolve_relocations(code, resolver)
        programs = self._programs(code, license_, version)
        if maps_relocs:
            btf_layouts = next((lays for i, lays in layouts.items() if elf.sections[i].name == ".maps"), [])
            names = {(f.section, f.start * 8): f.name for cs in code.values() for f in cs.functions}
            maps = initial_slots(elf, maps, btf_layouts, maps_relocs, names)
        if ops_relocs:
            maps = struct_ops_slots(elf, self.btf, maps, ops_relocs, self.program_at)
        for prog in programs.values():
            for ref in prog.map_references:
                if ref.map_name not in maps:
                    raise ObjectError(f"{elf.name}: program {prog.name!r} refers to unknown map {ref.map_name!r}")
        return CollectionSpec(programs=programs, maps=maps, license=license_, btf=self.btf)

    # -- pieces ---------------------------------------------------------------------------

    def _resolve_relocations(self, code: dict[int, CodeSection], resolver: Resolver
                             ) -> tuple[list[Relocation], list[tuple[Section, Relocation]]]:
        """Classify every relocation of the code sections; return those into `.maps` and `.struct_ops`."""
        elf = self.elf
        maps_relocs: list[Relocation] = []
        ops_relocs: list[tuple[Section, Relocation]] = []
        for rel_sec, target in elf.relocation_sections():
            if target.index in code:
                cs = code[target.index]
                for r in elf.relocations(rel_sec):
                    if r.offset >= target.size:
                        raise ObjectError(f"{elf.name}: relocation at {target.name}+{r.offset} is past the section end")
                    idx = cs.slot_index.get(r.offset // 8) if r.offset % 8 == 0 else None
                    t = resolver.resolve(target, r, cs.insns[idx] if idx is not None else None)
                    if t is not None:
                        cs.targets[r.offset // 8] = t
            elif target.name == ".maps":
                maps_relocs.extend(elf.relocations(rel_sec))
            elif is_struct_ops_section(target):
                ops_relocs.extend((target, r) for r in elf.relocations(rel_sec))
        return maps_relocs, ops_relocs

    def _load_btf(self) -> None:
        sec = self.elf.section_by_name(".BTF")
        if sec is None:
            return
        try:
            self.btf = Btf.parse(self.elf.section_data(sec), name=f"{self.elf.name}: .BTF")
            ext = self.elf.section_by_name(".BTF.ext")
            if ext is not None:
                self.ext = parse_btf_ext(self.elf.section_data(ext), self.btf)
        except ObjectError as exc:
            if str(exc).startswith(self.elf.name):
                raise
            raise ObjectError(f"{self.elf.name}: {exc}") from None

    def _kernel_symbols(self, code: dict[int, CodeSection]) -> None:
        """vmlinux BTF ids of `__ksym` externs (typed variables, kfuncs); helper-named extern calls."""
        self._helper_externs()
        if self.btf is None:
            return
        ksyms = self.btf.find(".ksyms", Kind.DATASEC)
        if ksyms is None:
            return
        wanted = [self.btf[i.type_id] for i in ksyms.secinfos]
        try:
            vmlinux = load_vmlinux()
        except ObjectError:
            return  # no kernel BTF here: the externs stay unresolved (and are reported when used)
        for t in wanted:
            if t.kind == Kind.VAR:
                found = vmlinux.find(t.name, Kind.VAR)
                if found is not None:
                    self.ksym_vars[t.name] = found.id
            elif t.kind == Kind.FUNC:
                # A kfunc the kernel lacks gets id 0: the kernel accepts such a call only in dead code.
                found = vmlinux.find(t.name, Kind.FUNC)
                self.kfuncs[t.name] = found.id if found is not None else 0

    def _helper_externs(self) -> None:
        """Calls to an undefined `bpf_<helper>` (a declared, not defined, helper) call that helper.

        Ids come from the running kernel's `enum bpf_func_id` (BPF_FUNC_<helper>), as its BTF says.
        """
        names = {s.name for s in self.elf.symbols
                 if s.shndx == SHN_UNDEF and s.name.startswith("bpf_") and s.bind != STB_LOCAL}
        if not names:
            return
        try:
            vmlinux = load_vmlinux()
        except ObjectError:
            return  # no kernel BTF: such calls stay unresolved (and are reported when reachable)
        func_id = vmlinux.find("bpf_func_id", Kind.ENUM)
        if func_id is None:
            return
        ids = {v.name: v.value for v in func_id.values}
        for name in names:
            value = ids.get("BPF_FUNC_" + name.removeprefix("bpf_"))
            if value:
                self.helper_calls[name] = value

    def _kconfig_map(self, maps: dict[str, MapSpec]) -> None:
        """The `.kconfig` map for `extern ... __kconfig` variables, when the object has any."""
        undefined = [s for s in self.elf.symbols if s.shndx == SHN_UNDEF and s.name and s.type != STT_FUNC]
        if not undefined or self.btf is None:
            return
        weak = {s.name for s in undefined if s.bind == STB_WEAK}
        variables = kconfig_layout(self.btf, weak)
        if not variables:
            return
        values = self.kconfig if self.kconfig is not None else system_kconfig()
        spec = kconfig_map(self.btf, variables, values)
        self._add_maps(maps, [spec])
        self.externs = {v.name: (spec.name, v.offset) for v in variables}
        self.extern_sizes = {spec.name: spec.value_size}

    def _fixup_btf(self) -> None:
        """DATASEC sizes and VAR offsets from the ELF sections and symbols (clang leaves them 0)."""
        if self.btf is None:
            return
        sizes = {sec.name: sec.size for sec in self.elf.sections if sec.name}
        sizes.update(self.extern_sizes)
        symbols: dict[str, tuple[int, bool]] = {name: (off, False) for name, (_, off) in self.externs.items()}
        for sym in self.elf.symbols:
            if sym.type == STT_OBJECT and sym.name and 0 < sym.shndx < len(self.elf.sections):
                symbols.setdefault(sym.name, (sym.value, sym.visibility in (STV_HIDDEN, STV_INTERNAL)))
        self.btf = fixup_datasecs(self.btf, sizes, symbols)

    def _fix_map_sizes(self, layouts: dict[int, list[MapLayout]]) -> None:
        """A map symbol's size covers initialised `values` slots past the BTF struct's flexible array."""
        for index, lays in layouts.items():
            sizes = {s.name: s.size for s in self.elf.symbols if s.shndx == index}
            for lay in lays:
                lay.size = max(lay.size, sizes.get(lay.name, 0))

    def _license_and_version(self) -> tuple[str, int]:
        license_ = ""
        version = 0
        sec = self.elf.section_by_name("license")
        if sec is not None:
            license_ = self.elf.section_data(sec).split(b"\0", 1)[0].decode("utf-8", "replace")
        sec = self.elf.section_by_name("version")
        if sec is not None:
            data = self.elf.section_data(sec)
            if len(data) != 4:
                raise ObjectError(f"{self.elf.name}: 'version' section is {len(data)} bytes, expected 4")
            (version,) = struct.unpack("<I", data)
        return license_, version

    def _add_maps(self, maps: dict[str, MapSpec], specs: list[MapSpec]) -> None:
        for spec in specs:
            if spec.name in maps:
                raise ObjectError(f"{self.elf.name}: map {spec.name!r} is defined twice")
            maps[spec.name] = spec

    def _find_functions(self, code: dict[int, CodeSection]) -> None:
        for sym in self.elf.symbols:
            if sym.type != STT_FUNC or sym.shndx not in code:
                continue
            cs = code[sym.shndx]
            if sym.value % 8 or sym.size % 8:
                raise ObjectError(f"{self.elf.name}: function {sym.name!r} is not instruction aligned")
            start, length = sym.value // 8, sym.size // 8
            if start + length > cs.nslots:
                raise ObjectError(
                    f"{self.elf.name}: function {sym.name!r} ({sym.value}+{sym.size}) runs past the end of "
                    f"{cs.section.name!r} ({cs.section.size} bytes)"
                )
            if length == 0:
                length = cs.nslots - start  # size unknown: up to the next function (trimmed below)
            cs.functions.append(Function(sym.name, sym.shndx, start, length, sym.bind != STB_LOCAL))
        for cs in code.values():
            cs.functions.sort(key=lambda f: (f.start, -f.length))
            dedup: list[Function] = []
            for f in cs.functions:
                if dedup and dedup[-1].start == f.start:
                    continue  # aliases of one function
                if dedup and dedup[-1].start + dedup[-1].length > f.start:
                    dedup[-1].length = f.start - dedup[-1].start
                dedup.append(f)
            cs.functions = dedup
            if not cs.functions:
                cs.functions = [Function(cs.section.name, cs.section.index, 0, cs.nslots)]

    def _programs(self, code: dict[int, CodeSection], license_: str, version: int) -> dict[str, ProgramSpec]:
        called: set[tuple[int, int]] = set()
        for cs in code.values():
            for t in cs.targets.values():
                if isinstance(t, CodeTarget):
                    called.add((t.section, t.slot))
            slot = 0
            for insn in cs.insns:  # pc-relative calls inside a section carry no relocation
                if insn.opcode == CALL and insn.src == PSEUDO_CALL and slot not in cs.targets:
                    called.add((cs.section.index, slot + insn.imm + 1))
                slot += insn.slots
        entries: list[tuple[CodeSection, Function]] = []
        others = [cs for cs in code.values() if cs.section.name != ".text"]
        for cs in others:
            # A static function called from its section is a sub-program, not an entry point.
            entries.extend((cs, f) for f in cs.functions
                           if f.is_global or (cs.section.index, f.start) not in called)
        if not others:  # an object of only .text functions: each uncalled function is a program
            for cs in code.values():
                entries.extend((cs, f) for f in cs.functions if (cs.section.index, f.start) not in called)
        programs: dict[str, ProgramSpec] = {}
        for cs, func in entries:
            info = classify_section(cs.section.name)
            linked = link(func, code, self.ext, self.elf.name, self.kfuncs, self.helper_calls)
            name = func.name
            n = 2
            while name in programs:
                name = f"{func.name}#{n}"
                n += 1
            self.program_at[(cs.section.index, func.start * 8)] = name
            programs[name] = ProgramSpec(
                name=name,
                instructions=tuple(linked.instructions),
                type=info.type,
                section=cs.section.name,
                attach_type=info.attach_type,
                attach_to=info.attach_to,
                license=license_,
                kernel_version=version,
                map_references=tuple(linked.map_references),
                btf=self.btf,
                func_infos=tuple(linked.func_infos),
                line_infos=tuple(linked.line_infos),
                core_relos=tuple(linked.core_relos),
                sleepable=info.sleepable,
                extern_calls=tuple(linked.extern_calls),
            )
        return programs


def relocation_section_names(elf: ElfFile) -> list[Section]:
    """The REL/RELA sections of an object (for `pybpf inspect`)."""
    return [s for s in elf.sections if s.type in (SHT_REL, SHT_RELA)]
