"""Immutable specs: what an object or assembly file describes, before any engine makes it live."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pybpf.abi import AttachType, MapType, ProgramType
from pybpf.isa.instruction import Instruction


@dataclass(frozen=True, slots=True)
class MapReference:
    """An lddw at slot `pc` that must be patched with a map (fd) or a pointer into a map's value.

    kind is "fd" (BPF_PSEUDO_MAP_FD: the map itself) or "value" (BPF_PSEUDO_MAP_VALUE:
    the address of byte `offset` of the map's single value, used for global data).
    """

    pc: int
    map_name: str
    kind: str = "fd"
    offset: int = 0


@dataclass(frozen=True, slots=True)
class MapSpec:
    """A map as an object declares it; global data sections are single-entry arrays."""

    name: str
    type: MapType
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    pinning: int = 0  # 0 none, 1 LIBBPF_PIN_BY_NAME
    inner_map: MapSpec | None = None
    # Initial contents as (key, value) byte pairs; for global data one entry with key 0.
    contents: tuple[tuple[bytes, bytes], ...] = ()
    # True for .rodata-style maps that are frozen after being filled.
    frozen: bool = False
    # BTF type ids of key and value inside the object's BTF (0 when unknown).
    key_type_id: int = 0
    value_type_id: int = 0
    # The section the map came from (".maps", "maps", ".bss", ".rodata", ...).
    section: str = ""
    # For prog_array / map-in-map static initialisation: slot -> program or map name.
    initial_slots: tuple[tuple[int, str], ...] = ()
    # NUMA node to allocate on (BPF_F_NUMA_NODE) and map_extra (bloom filter hashes, arena address).
    numa_node: int = 0
    map_extra: int = 0


@dataclass(frozen=True, slots=True)
class ProgramSpec:
    """One program, linked with its bpf-to-bpf sub-programs, ready for an engine."""

    name: str
    instructions: tuple[Instruction, ...]
    type: ProgramType = ProgramType.UNSPEC
    section: str = ""
    attach_type: AttachType | None = None
    attach_to: str = ""
    license: str = "GPL"
    kernel_version: int = 0
    map_references: tuple[MapReference, ...] = ()
    # Optional BTF information carried from the object (types are pybpf.btf objects).
    btf: Any = None
    func_infos: tuple[Any, ...] = ()
    line_infos: tuple[Any, ...] = ()
    core_relos: tuple[Any, ...] = ()
    # Whether the program may sleep (".s" sections such as "uprobe.s/...").
    sleepable: bool = False
    # Calls to functions the object does not define (kfuncs, `extern ... __ksym`): (pc, symbol name).
    # The call instruction is left as compiled; an engine that supports kfuncs patches it.
    extern_calls: tuple[tuple[int, str], ...] = ()
    # Whether loading the collection loads this program (libbpf's autoload; off: left out).
    autoload: bool = True


@dataclass(frozen=True)
class CollectionSpec:
    """Programs and maps of one object or assembly file, keyed by name."""

    programs: Mapping[str, ProgramSpec] = field(default_factory=dict)
    maps: Mapping[str, MapSpec] = field(default_factory=dict)
    license: str = ""
    btf: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "programs", MappingProxyType(dict(self.programs)))
        object.__setattr__(self, "maps", MappingProxyType(dict(self.maps)))

    @classmethod
    def single(cls, program: ProgramSpec, maps: Mapping[str, MapSpec] | None = None) -> CollectionSpec:
        """A collection that holds one program (and the maps it references)."""
        return cls(programs={program.name: program}, maps=dict(maps or {}), license=program.license)

    # -- skeleton conveniences (each returns a modified copy; see pybpf.object.skeleton) ----------

    def with_map_size(self, name: str, max_entries: int) -> CollectionSpec:
        """A copy whose map `name` has `max_entries` entries (size maps from user space)."""
        from pybpf.object.skeleton import with_map_size

        return with_map_size(self, name, max_entries)

    def with_map_value_size(self, name: str, value_size: int) -> CollectionSpec:
        """A copy whose map `name` has `value_size`-byte values (e.g. a stack trace map's depth)."""
        from pybpf.object.skeleton import with_map_value_size

        return with_map_value_size(self, name, value_size)

    def with_autoload(self, name: str, enabled: bool) -> CollectionSpec:
        """A copy in which program `name` is (not) loaded (choose one of alternative programs)."""
        from pybpf.object.skeleton import with_autoload

        return with_autoload(self, name, enabled)

    def with_globals(self, values: Mapping[str, int | bytes]) -> CollectionSpec:
        """A copy whose .rodata/.data/.bss variables hold `values` (set read-only config before load)."""
        from pybpf.object.skeleton import with_globals

        return with_globals(self, values)
