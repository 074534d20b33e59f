"""`SEC(".struct_ops")` variables: STRUCT_OPS maps whose function-pointer members name the programs."""

from __future__ import annotations

from dataclasses import replace

from pybpf.abi import MapFlags, MapType
from pybpf.btf.btf import Btf
from pybpf.btf.types import Kind
from pybpf.errors import ObjectError
from pybpf.object.elf import STT_SECTION, ElfFile, Relocation, Section
from pybpf.object.spec import MapSpec

STRUCT_OPS_SECTIONS = (".struct_ops", ".struct_ops.link")


def is_struct_ops_section(sec: Section) -> bool:
    """Whether a section holds struct_ops variables (`.struct_ops`, `.struct_ops.link`)."""
    return sec.name in STRUCT_OPS_SECTIONS


def struct_ops_maps(elf: ElfFile, sec: Section, btf: Btf | None) -> list[MapSpec]:
    """One single-entry STRUCT_OPS map per variable of the section, holding the variable's bytes.

    The value type is the object's own definition of the kernel struct (value_type_id); an engine
    that loads it maps the members onto the kernel's layout by name, as libbpf does.
    """
    if btf is None:
        raise ObjectError(f"{elf.name}: section {sec.name!r} needs BTF to describe its struct_ops")
    datasec = btf.find(sec.name, Kind.DATASEC)
    if datasec is None:
        raise ObjectError(f"{elf.name}: no BTF DATASEC describes section {sec.name!r}")
    data = elf.section_data(sec)
    symbols = {s.name: s for s in elf.symbols if s.shndx == sec.index and s.type != STT_SECTION and s.name}
    out = []
    for info in datasec.secinfos:
        var = btf.type(info.type_id)
        if var.kind != Kind.VAR:
            raise ObjectError(f"{elf.name}: {sec.name!r} DATASEC entry {info.type_id} is not a VAR")
        struct_type = btf.skip_modifiers(var.type_id)
        if struct_type.kind != Kind.STRUCT:
            raise ObjectError(f"{elf.name}: struct_ops variable {var.name!r} is not a struct")
        sym = symbols.get(var.name)
        offset = sym.value if sym is not None else info.offset
        size = struct_type.size
        if offset + size > len(data):
            raise ObjectError(f"{elf.name}: struct_ops variable {var.name!r} runs past the end of {sec.name!r}")
        out.append(MapSpec(
            name=var.name,
            type=MapType.STRUCT_OPS,
            key_size=4,
            value_size=size,
            max_entries=1,
            flags=int(MapFlags.LINK) if sec.name.endswith(".link") else 0,
            contents=((bytes(4), data[offset : offset + size]),),
            value_type_id=struct_type.id,
            section=sec.name,
        ))
    return out


def struct_ops_slots(elf: ElfFile, btf: Btf | None, maps: dict[str, MapSpec],
                     relocs: list[tuple[Section, Relocation]],
                     program_names: dict[tuple[int, int], str]) -> dict[str, MapSpec]:
    """initial_slots of STRUCT_OPS maps: (member index, program name) for each function pointer set."""
    if btf is None or not relocs:
        return maps
    by_section: dict[str, list[MapSpec]] = {}
    for spec in maps.values():
        if spec.type == MapType.STRUCT_OPS:
            by_section.setdefault(spec.section, []).append(spec)
    starts = {s.name: s.value for s in elf.symbols if s.name in maps}
    slots: dict[str, dict[int, str]] = {}
    for sec, r in relocs:
        found = None
        for spec in by_section.get(sec.name, ()):
            start = starts.get(spec.name, -1)
            if 0 <= r.offset - start < spec.value_size:
                found = spec
                break
        if found is None:
            raise ObjectError(f"{elf.name}: relocation at {sec.name}+{r.offset} is not inside a struct_ops variable")
        member_off = 8 * (r.offset - starts[found.name])
        struct_type = btf.type(found.value_type_id)
        index = next((i for i, m in enumerate(struct_type.members) if m.bit_offset == member_off), None)
        target = program_names.get((r.symbol.shndx, r.symbol.value))
        if index is None or target is None:
            raise ObjectError(
                f"{elf.name}: struct_ops {found.name!r}: relocation at +{member_off // 8} does not set a "
                f"member to a program ({r.symbol.name!r})"
            )
        slots.setdefault(found.name, {})[index] = target
    out = dict(maps)
    for name, table in slots.items():
        out[name] = replace(out[name], initial_slots=tuple(sorted(table.items())))
    return out
