"""Map definitions of an object: BTF-defined `.maps`, the legacy `maps` section, and global data sections."""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from pybpf.abi import MapFlags, MapType
from pybpf.btf.btf import Btf
from pybpf.btf.types import BtfType, Kind
from pybpf.errors import ObjectError
from pybpf.object.elf import STT_SECTION, ElfFile, Relocation, Section, Symbol
from pybpf.object.spec import MapSpec

_ELF_MAP_SIZE = 36
_LEGACY_DEF = struct.Struct("<IIIII")

DATA_PREFIXES = (".data", ".rodata", ".bss")


@dataclass
class MapLayout:
    """Where a map definition lives in its ELF section (to route relocations to it)."""

    name: str
    offset: int
    size: int
    values_offset: int = -1  # byte offset of the __array(values, ...) member, BTF maps only
    values_count: int = 0
    inner_index: int = -1  # legacy map-in-map: index of the inner map template among legacy maps


def is_data_section(sec: Section) -> bool:
    """Whether a section holds global variables that become a single-entry array map."""
    if not sec.flags & 0x2:  # SHF_ALLOC
        return False
    return any(sec.name == p or sec.name.startswith(p + ".") for p in DATA_PREFIXES)


def data_section_map(elf: ElfFile, sec: Section, btf: Btf | None) -> MapSpec:
    """The single-entry ARRAY map holding a global data section's contents."""
    value = elf.section_data(sec)
    value_type_id = 0
    if btf is not None:
        found = btf.find(sec.name, Kind.DATASEC)
        if found is not None:
            value_type_id = found.id
    return MapSpec(
        name=sec.name,
        type=MapType.ARRAY,
        key_size=4,
        value_size=len(value),
        max_entries=1,
        contents=((bytes(4), value),),
        frozen=sec.name.startswith(".rodata"),
        value_type_id=value_type_id,
        section=sec.name,
    )


# -- legacy `maps` section -----------------------------------------------------------------


def legacy_maps(elf: ElfFile, sec: Section) -> tuple[list[MapSpec], list[MapLayout]]:
    """Maps from a legacy `maps` section of struct bpf_map_def records (record size from the symbol count)."""
    syms = sorted(
        (s for s in elf.symbols if s.shndx == sec.index and s.type != STT_SECTION and s.name),
        key=lambda s: s.value,
    )
    if not syms:
        if sec.size:
            raise ObjectError(f"{elf.name}: legacy maps section {sec.name!r} has no map symbols")
        return [], []
    if sec.size % len(syms):
        raise ObjectError(
            f"{elf.name}: legacy maps section {sec.name!r} size {sec.size} is not a multiple of its "
            f"{len(syms)} map symbols"
        )
    rec = sec.size // len(syms)
    if rec < _LEGACY_DEF.size:
        raise ObjectError(
            f"{elf.name}: legacy map definitions in {sec.name!r} are {rec} bytes, need at least {_LEGACY_DEF.size}"
        )
    data = elf.section_data(sec)
    specs, layouts = [], []
    for sym in syms:
        if sym.value % rec or sym.value + rec > len(data):
            raise ObjectError(
                f"{elf.name}: legacy map symbol {sym.name!r} has invalid offset {sym.value}: not aligned to "
                f"{rec}-byte records or out of section bounds"
            )
        mtype, ksize, vsize, maxe, flags = _LEGACY_DEF.unpack_from(data, sym.value)
        numa = 0
        inner_idx = -1
        if rec == _ELF_MAP_SIZE:  # iproute2's struct bpf_elf_map: ..., id, pinning, inner_id, inner_idx
            inner_idx = struct.unpack_from("<I", data, sym.value + 32)[0]
        elif rec >= 28:  # libbpf's struct bpf_map_def: ..., inner_map_idx, numa_node
            inner_idx, numa = struct.unpack_from("<II", data, sym.value + 20)
            if not flags & MapFlags.NUMA_NODE:
                numa = 0
        spec = MapSpec(sym.name, _map_type(mtype, sym.name), ksize, vsize, maxe, flags, section=sec.name,
                       numa_node=numa)
        specs.append(spec)
        layouts.append(MapLayout(sym.name, sym.value, rec, inner_index=inner_idx))
    return specs, layouts


def resolve_legacy_inner_maps(maps: dict[str, MapSpec], layouts: list[MapLayout]) -> dict[str, MapSpec]:
    """Map-in-map templates of legacy definitions: inner_map_idx counts legacy maps in file order."""
    out = dict(maps)
    for lay in layouts:
        spec = out[lay.name]
        if spec.type not in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS) or lay.inner_index < 0:
            continue
        if lay.inner_index >= len(layouts) or layouts[lay.inner_index].name == lay.name:
            raise ObjectError(f"map {lay.name!r}: inner map index {lay.inner_index} does not name another legacy map")
        # The outer map's values are map fds: 4 bytes, even when the definition left value_size 0.
        out[lay.name] = replace(spec, inner_map=out[layouts[lay.inner_index].name], value_size=spec.value_size or 4)
    return out


def _map_type(value: int, name: str) -> MapType:
    try:
        return MapType(value)
    except ValueError:
        raise ObjectError(f"map {name!r}: unknown map type {value}") from None


# -- BTF-defined `.maps` ---------------------------------------------------------------------


def _uint_member(btf: Btf, map_name: str, member_name: str, type_id: int) -> int:
    """Value of a `__uint(name, N)` member (a pointer to an array of N ints) or `__ulong(name, N)` (an enum)."""
    t = btf.skip_modifiers(type_id)
    if t.kind in (Kind.ENUM, Kind.ENUM64) and len(t.values) == 1:
        return t.values[0].value & 0xFFFFFFFFFFFFFFFF
    if t.kind != Kind.PTR:
        raise ObjectError(f"map {map_name!r}: member {member_name!r} is not a __uint() (got {t.kind.name})")
    arr = btf.skip_modifiers(t.type_id)
    if arr.kind != Kind.ARRAY:
        raise ObjectError(f"map {map_name!r}: member {member_name!r} is not a __uint() pointer to an array")
    return arr.nelems


def _type_member(btf: Btf, map_name: str, member_name: str, type_id: int) -> tuple[int, int]:
    """(type id, size) of a `__type(name, T)` member: a pointer to T."""
    t = btf.skip_modifiers(type_id)
    if t.kind != Kind.PTR:
        raise ObjectError(f"map {map_name!r}: member {member_name!r} is not a __type() pointer")
    return t.type_id, btf.sizeof(t.type_id)


def btf_map_def(btf: Btf, name: str, struct_type: BtfType, depth: int = 0) -> tuple[MapSpec, int, int]:
    """Parse one BTF map definition struct. Returns (spec, values member byte offset or -1, values count)."""
    if struct_type.kind != Kind.STRUCT:
        raise ObjectError(f"map {name!r}: definition is a {struct_type.kind.name}, expected a struct")
    fields: dict[str, int] = {}
    key_id = value_id = 0
    key_size = value_size = None
    inner: MapSpec | None = None
    values_off, values_count = -1, 0
    for m in struct_type.members:
        if m.name in ("type", "max_entries", "map_flags", "numa_node", "pinning", "map_extra"):
            fields[m.name] = _uint_member(btf, name, m.name, m.type_id)
        elif m.name == "key_size":
            key_size = _uint_member(btf, name, m.name, m.type_id)
        elif m.name == "value_size":
            value_size = _uint_member(btf, name, m.name, m.type_id)
        elif m.name == "key":
            key_id, size = _type_member(btf, name, m.name, m.type_id)
            if key_size is not None and key_size != size:
                raise ObjectError(f"map {name!r}: key_size {key_size} conflicts with key type size {size}")
            key_size = size
        elif m.name == "value":
            value_id, size = _type_member(btf, name, m.name, m.type_id)
            if value_size is not None and value_size != size:
                raise ObjectError(f"map {name!r}: value_size {value_size} conflicts with value type size {size}")
            value_size = size
        elif m.name == "values":
            arr = btf.skip_modifiers(m.type_id)
            if arr.kind != Kind.ARRAY:
                raise ObjectError(f"map {name!r}: 'values' must be declared with __array()")
            ptr = btf.skip_modifiers(arr.elem_type)
            if ptr.kind != Kind.PTR:
                raise ObjectError(f"map {name!r}: 'values' array elements must be pointers")
            target = btf.skip_modifiers(ptr.type_id)
            if target.kind == Kind.STRUCT:
                if depth > 0:
                    raise ObjectError(f"map {name!r}: nested map-in-map definitions are not supported")
                inner, _, _ = btf_map_def(btf, name + ".inner", target, depth + 1)
            elif target.kind != Kind.FUNC_PROTO:
                raise ObjectError(f"map {name!r}: 'values' must point to a map definition or a function")
            if m.bit_offset % 8:
                raise ObjectError(f"map {name!r}: 'values' is not byte aligned")
            values_off, values_count = m.bit_offset // 8, arr.nelems
        else:
            raise ObjectError(f"map {name!r}: unknown map definition member {m.name!r}")
    if "type" not in fields:
        raise ObjectError(f"map {name!r}: definition has no 'type'")
    mtype = _map_type(fields["type"], name)
    if inner is not None:
        value_size = 4 if value_size is None else value_size
        if mtype not in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
            raise ObjectError(f"map {name!r}: inner map given for a {mtype.name} map")
    if values_off >= 0 and mtype == MapType.PROG_ARRAY:
        value_size = 4 if value_size is None else value_size
    if mtype in (MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS,
                 MapType.CGROUP_ARRAY) and key_size is None:
        key_size = 4
    if mtype in (MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY) and value_size is None:
        value_size = 4
    if mtype == MapType.PERF_EVENT_ARRAY:
        # The value is a perf event fd; a declared event struct only documents the records' layout.
        key_size, value_size = 4, 4
    elif mtype in (MapType.RINGBUF, MapType.USER_RINGBUF):
        # Ring buffers have neither keys nor values; a declared type documents the records.
        key_size, value_size = 0, 0
    spec = MapSpec(
        name=name,
        type=mtype,
        key_size=key_size or 0,
        value_size=value_size or 0,
        max_entries=fields.get("max_entries", 0),
        flags=fields.get("map_flags", 0),
        pinning=fields.get("pinning", 0),
        inner_map=inner,
        key_type_id=key_id,
        value_type_id=value_id,
        section=".maps",
        numa_node=fields.get("numa_node", 0),
        map_extra=fields.get("map_extra", 0),
    )
    return spec, values_off, values_count


def btf_maps(elf: ElfFile, sec: Section, btf: Btf | None) -> tuple[list[MapSpec], list[MapLayout]]:
    """Maps declared in the BTF-defined `.maps` section."""
    if btf is None:
        raise ObjectError(f"{elf.name}: section {sec.name!r} needs BTF to describe its maps, and there is no .BTF")
    datasec = btf.find(sec.name, Kind.DATASEC)
    if datasec is None:
        raise ObjectError(f"{elf.name}: no BTF DATASEC describes section {sec.name!r}")
    symbols = {s.name: s for s in elf.symbols if s.shndx == sec.index and s.type != STT_SECTION}
    specs, layouts = [], []
    for info in datasec.secinfos:
        var = btf.type(info.type_id)
        if var.kind != Kind.VAR:
            raise ObjectError(f"{elf.name}: {sec.name!r} DATASEC entry {info.type_id} is a {var.kind.name}, not a VAR")
        struct_type = btf.skip_modifiers(var.type_id)
        spec, values_off, values_count = btf_map_def(btf, var.name, struct_type)
        sym = symbols.get(var.name)
        offset = sym.value if sym is not None else info.offset
        size = btf.sizeof(var.type_id)
        specs.append(spec)
        layouts.append(MapLayout(var.name, offset, size, values_off, values_count))
    return specs, layouts


def initial_slots(
    elf: ElfFile, maps: dict[str, MapSpec], layouts: list[MapLayout], relocs: list[Relocation],
    program_names: dict[tuple[int, int], str],
) -> dict[str, MapSpec]:
    """Static initialisation of map-in-map and prog_array slots from relocations into `.maps`."""
    slots: dict[str, dict[int, str]] = {}
    for r in relocs:
        layout = next((m for m in layouts if m.offset <= r.offset < m.offset + m.size), None)
        if layout is None or layout.values_offset < 0:
            raise ObjectError(f"{elf.name}: relocation at .maps+{r.offset} is not inside a map's 'values'")
        rel = r.offset - layout.offset - layout.values_offset
        if rel < 0 or rel % 8:
            raise ObjectError(f"{elf.name}: relocation at .maps+{r.offset} is not on a 'values' slot")
        slot = rel // 8
        target = _slot_target(r.symbol, maps, program_names)
        if target is None:
            raise ObjectError(f"{elf.name}: .maps slot {slot} of {layout.name!r} refers to unknown {r.symbol.name!r}")
        slots.setdefault(layout.name, {})[slot] = target
    out = dict(maps)
    for name, table in slots.items():
        spec = out[name]
        max_entries = spec.max_entries or (max(table) + 1)
        if max(table) >= max_entries:
            raise ObjectError(f"map {name!r}: initial slot {max(table)} is beyond max_entries {max_entries}")
        out[name] = replace(spec, max_entries=max_entries, initial_slots=tuple(sorted(table.items())))
    return out


def _slot_target(sym: Symbol, maps: dict[str, MapSpec], program_names: dict[tuple[int, int], str]) -> str | None:
    if sym.name in maps:
        return sym.name
    return program_names.get((sym.shndx, sym.value))
