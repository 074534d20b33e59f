"""libbpf-skeleton conveniences on immutable specs: size maps, choose programs, set globals before load.

Each function returns a modified copy of the CollectionSpec; the original is never changed.

    spec = load_file("cpudist.bpf.o")
    spec = spec.with_map_size("start", 10240).with_autoload("handle_raw", False)
    spec = spec.with_globals({"targ_tgid": 42})      # .rodata / .data / .bss by variable name
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from pybpf.errors import LoadError
from pybpf.object.spec import CollectionSpec

# The kernel's cap on max_entries is the u32 range.
_MAX_ENTRIES = (1 << 32) - 1


def _rebuilt(spec: CollectionSpec, **changes: object) -> CollectionSpec:
    fields: dict[str, object] = {"programs": spec.programs, "maps": spec.maps, "license": spec.license,
                                 "btf": spec.btf}
    fields.update(changes)
    return CollectionSpec(**fields)  # type: ignore[arg-type]


def with_map_size(spec: CollectionSpec, name: str, max_entries: int) -> CollectionSpec:
    """A copy of `spec` whose map `name` holds `max_entries` entries (libbpf's set_max_entries)."""
    if name not in spec.maps:
        raise LoadError(f"no map {name!r} in the object (it has: {', '.join(spec.maps) or 'none'})")
    if not 0 < max_entries <= _MAX_ENTRIES:
        raise LoadError(f"map {name!r}: max_entries must be between 1 and {_MAX_ENTRIES}, not {max_entries}")
    maps = dict(spec.maps)
    maps[name] = replace(maps[name], max_entries=max_entries)
    return _rebuilt(spec, maps=maps)


def with_map_value_size(spec: CollectionSpec, name: str, value_size: int) -> CollectionSpec:
    """A copy whose map `name` has `value_size`-byte values (libbpf's set_value_size), e.g. the
    depth of a stack trace map's stacks."""
    if name not in spec.maps:
        raise LoadError(f"no map {name!r} in the object (it has: {', '.join(spec.maps) or 'none'})")
    if not 0 < value_size <= _MAX_ENTRIES:
        raise LoadError(f"map {name!r}: value_size must be between 1 and {_MAX_ENTRIES}, not {value_size}")
    maps = dict(spec.maps)
    maps[name] = replace(maps[name], value_size=value_size)
    return _rebuilt(spec, maps=maps)


def with_autoload(spec: CollectionSpec, name: str, enabled: bool) -> CollectionSpec:
    """A copy of `spec` in which program `name` is (not) loaded with the others (libbpf's set_autoload)."""
    if name not in spec.programs:
        raise LoadError(f"no program {name!r} in the object (it has: {', '.join(spec.programs) or 'none'})")
    programs = dict(spec.programs)
    programs[name] = replace(programs[name], autoload=enabled)
    return _rebuilt(spec, programs=programs)


def loadable(spec: CollectionSpec) -> CollectionSpec:
    """The programs to load: `spec` without those whose autoload is off (prog_array slots to them emptied)."""
    dropped = {name for name, p in spec.programs.items() if not p.autoload}
    if not dropped:
        return spec
    programs = {name: p for name, p in spec.programs.items() if name not in dropped}
    maps = dict(spec.maps)
    for name, m in spec.maps.items():
        if any(target in dropped for _, target in m.initial_slots):
            maps[name] = replace(m, initial_slots=tuple(s for s in m.initial_slots if s[1] not in dropped))
    return _rebuilt(spec, programs=programs, maps=maps)


def with_globals(spec: CollectionSpec, values: Mapping[str, int | bytes]) -> CollectionSpec:
    """A copy of `spec` whose global variables (.rodata/.data/.bss, found through BTF) hold `values`.

    This is how user space sets `const volatile` configuration before loading, as libbpf skeletons do.
    Integers are stored little-endian in the variable's size; bytes must have exactly that size.
    """
    if not values:
        return spec
    btf = spec.btf
    if btf is None or not hasattr(btf, "find"):
        raise LoadError("setting global variables needs the object's BTF")
    from pybpf.btf.types import Kind

    todo = dict(values)
    maps = dict(spec.maps)
    for name, mspec in spec.maps.items():
        sec = btf.find(mspec.section or name, Kind.DATASEC)
        if sec is None or not mspec.value_size:
            continue
        data = bytearray(mspec.contents[0][1] if mspec.contents else bytes(mspec.value_size))
        changed = False
        for info in sec.secinfos:
            var = btf.type(info.type_id).name
            if var not in todo:
                continue
            value = todo.pop(var)
            if isinstance(value, bytes):
                raw = value
            else:
                raw = (value & ((1 << (8 * info.size)) - 1)).to_bytes(info.size, "little")
            if len(raw) != info.size:
                raise LoadError(f"global {var!r} is {info.size} bytes, got {len(raw)}")
            data[info.offset:info.offset + info.size] = raw
            changed = True
        if changed:
            maps[name] = replace(mspec, contents=((bytes(mspec.key_size), bytes(data)),))
    if todo:
        raise LoadError(f"no global variable {', '.join(map(repr, todo))} in the object")
    return _rebuilt(spec, maps=maps)


def parse_assignments(items: Iterable[str], option: str) -> dict[str, int]:
    """NAME=NUMBER strings (as given on a command line) -> {NAME: number}; LoadError when malformed."""
    out: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise LoadError(f"{option} takes NAME=VALUE, not {item!r}")
        try:
            out[name] = int(value, 0)
        except ValueError:
            raise LoadError(f"{option} {name}: {value!r} is not an integer") from None
    return out


def configure(spec: CollectionSpec, *, globals: Mapping[str, int | bytes] | None = None,
              map_sizes: Mapping[str, int] | None = None, no_autoload: Iterable[str] = ()) -> CollectionSpec:
    """Apply every skeleton setting at once (what `--set`, `--map-size` and `--no-autoload` ask for)."""
    for name, size in (map_sizes or {}).items():
        spec = with_map_size(spec, name, size)
    for name in no_autoload:
        spec = with_autoload(spec, name, False)
    return with_globals(spec, globals or {})
