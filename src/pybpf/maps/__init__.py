"""User-space maps in native (ctypes) memory: `create_map(spec)` makes a live `pybpf.collection.Map`.

    >>> from pybpf.abi import MapType
    >>> from pybpf.object.spec import MapSpec
    >>> counts = create_map(MapSpec("counts", MapType.HASH, key_size=4, value_size=8, max_entries=16))
    >>> counts[1] = 5
    >>> counts[1]
    b'\\x05\\x00\\x00\\x00\\x00\\x00\\x00\\x00'

Every map follows the kernel's bpf() semantics and errno values (MapError.errno) and exposes to
the runtime a stable native address per value (`value_address`), its storage regions
(`memory_regions`) and the program-side operations the helpers use. One module per map family:
array, percpu_array, hash, percpu_hash, lru_hash, lru_percpu_hash, lpm_trie, ringbuf,
perf_event_array, prog_array, queue, stack, array_of_maps, hash_of_maps, devmap (and
devmap_hash), cpumap, bloom_filter, user_ringbuf.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pybpf.abi import MapType
from pybpf.maps.base import EINVAL, ENOMEM, MemoryRegion, NativeMap, fail, map_by_id, possible_cpus
from pybpf.object.spec import MapSpec

# Each map family is imported when a map of its type is first created (or its class first named,
# PEP 562): a program with one array map does not pay for the LPM trie, the rings and the typed view.
if TYPE_CHECKING:
    from pybpf.maps.array import ArrayMap
    from pybpf.maps.array_of_maps import ArrayOfMaps
    from pybpf.maps.bloom_filter import BloomFilterMap
    from pybpf.maps.cpumap import CpuMap
    from pybpf.maps.devmap import DevMap, DevMapHash
    from pybpf.maps.hash import HashMap
    from pybpf.maps.hash_of_maps import HashOfMaps
    from pybpf.maps.lpm_trie import LpmTrieMap
    from pybpf.maps.lru_hash import LruHashMap
    from pybpf.maps.lru_percpu_hash import LruPercpuHashMap
    from pybpf.maps.percpu_array import PercpuArrayMap
    from pybpf.maps.percpu_hash import PercpuHashMap
    from pybpf.maps.perf_event_array import PerfEventArray
    from pybpf.maps.prog_array import ProgArrayMap, program_by_id, register_program
    from pybpf.maps.queue import QueueMap
    from pybpf.maps.ringbuf import RingBuffer
    from pybpf.maps.stack import StackMap
    from pybpf.maps.typed import TypedMap
    from pybpf.maps.user_ringbuf import UserRingBuffer

    MAP_CLASSES: dict[MapType, type[NativeMap]]

# map type -> (submodule, class name)
_MAP_CLASS_NAMES: dict[MapType, tuple[str, str]] = {
    MapType.ARRAY: ("array", "ArrayMap"),
    MapType.PERCPU_ARRAY: ("percpu_array", "PercpuArrayMap"),
    MapType.HASH: ("hash", "HashMap"),
    MapType.PERCPU_HASH: ("percpu_hash", "PercpuHashMap"),
    MapType.LRU_HASH: ("lru_hash", "LruHashMap"),
    MapType.LRU_PERCPU_HASH: ("lru_percpu_hash", "LruPercpuHashMap"),
    MapType.LPM_TRIE: ("lpm_trie", "LpmTrieMap"),
    MapType.RINGBUF: ("ringbuf", "RingBuffer"),
    MapType.PERF_EVENT_ARRAY: ("perf_event_array", "PerfEventArray"),
    MapType.PROG_ARRAY: ("prog_array", "ProgArrayMap"),
    MapType.QUEUE: ("queue", "QueueMap"),
    MapType.STACK: ("stack", "StackMap"),
    MapType.ARRAY_OF_MAPS: ("array_of_maps", "ArrayOfMaps"),
    MapType.HASH_OF_MAPS: ("hash_of_maps", "HashOfMaps"),
    MapType.DEVMAP: ("devmap", "DevMap"),
    MapType.DEVMAP_HASH: ("devmap", "DevMapHash"),
    MapType.CPUMAP: ("cpumap", "CpuMap"),
    MapType.BLOOM_FILTER: ("bloom_filter", "BloomFilterMap"),
    MapType.USER_RINGBUF: ("user_ringbuf", "UserRingBuffer"),
}

# exported name -> submodule, for the names that are not in the table above
_LAZY: dict[str, str] = {name: module for module, name in _MAP_CLASS_NAMES.values()}
_LAZY.update({"program_by_id": "prog_array", "register_program": "prog_array", "TypedMap": "typed"})

SUPPORTED_MAP_TYPES = frozenset(_MAP_CLASS_NAMES)

__all__ = [
    "MAP_CLASSES",
    "SUPPORTED_MAP_TYPES",
    "ArrayMap",
    "ArrayOfMaps",
    "BloomFilterMap",
    "CpuMap",
    "DevMap",
    "DevMapHash",
    "HashMap",
    "HashOfMaps",
    "LpmTrieMap",
    "LruHashMap",
    "LruPercpuHashMap",
    "MemoryRegion",
    "NativeMap",
    "PercpuArrayMap",
    "PercpuHashMap",
    "PerfEventArray",
    "ProgArrayMap",
    "QueueMap",
    "RingBuffer",
    "StackMap",
    "TypedMap",
    "UserRingBuffer",
    "create_map",
    "map_by_id",
    "possible_cpus",
    "program_by_id",
    "register_program",
]


def _map_class(map_type: MapType) -> type[NativeMap] | None:
    """The class of `map_type`'s maps (MAP_CLASSES, once built, may have been extended), or None."""
    classes: dict[MapType, type[NativeMap]] | None = globals().get("MAP_CLASSES")
    if classes is not None:
        return classes.get(map_type)
    entry = _MAP_CLASS_NAMES.get(map_type)
    if entry is None:
        return None
    cls: type[NativeMap] = __getattr__(entry[1])
    return cls


def __getattr__(name: str) -> Any:
    if name == "MAP_CLASSES":
        value: Any = {t: __getattr__(cls_name) for t, (_module, cls_name) in _MAP_CLASS_NAMES.items()}
    else:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def create_map(spec: MapSpec, *, freeze: bool = True) -> NativeMap:
    """A live user-space map for `spec`, filled with `spec.contents` (and frozen if `spec.frozen`).

    Raises MapError with the kernel's errno for a spec BPF_MAP_CREATE would refuse (EINVAL),
    and for map types pybpf's user-space runtime does not provide. With freeze=False a
    `.rodata`-style map stays writable until the caller's `m.freeze()` (to set globals first).
    """
    try:
        map_type = MapType(spec.type)
    except ValueError:
        raise fail(f"map {spec.name!r}: unknown map type {spec.type}", EINVAL) from None
    cls = _map_class(map_type)
    if cls is None:
        raise fail(
            f"map {spec.name!r}: {map_type.name.lower()} maps are not available in the user-space runtime",
            EINVAL,
        )
    if map_type is MapType.PERF_EVENT_ARRAY and spec.max_entries == 0:
        spec = replace(spec, max_entries=possible_cpus())  # what libbpf does
        if spec.key_size == 0:
            spec = replace(spec, key_size=4, value_size=4)
    try:
        m = cls(spec)
    except (MemoryError, OverflowError):
        raise fail(f"map {spec.name!r}: not enough memory for {spec.max_entries} entries", ENOMEM) from None
    for key, value in spec.contents:
        m.update(key, value)
    if spec.frozen and freeze:
        m.freeze()
    return m
