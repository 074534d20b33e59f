"""User-space maps in native (ctypes) memory: `create_map(spec)` makes a live `pybpf.engine.Map`.

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

from dataclasses import replace

from pybpf.abi import MapType
from pybpf.maps.array import ArrayMap
from pybpf.maps.array_of_maps import ArrayOfMaps
from pybpf.maps.base import EINVAL, MemoryRegion, NativeMap, fail, map_by_id, possible_cpus
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
from pybpf.object.spec import MapSpec

MAP_CLASSES: dict[MapType, type[NativeMap]] = {
    MapType.ARRAY: ArrayMap,
    MapType.PERCPU_ARRAY: PercpuArrayMap,
    MapType.HASH: HashMap,
    MapType.PERCPU_HASH: PercpuHashMap,
    MapType.LRU_HASH: LruHashMap,
    MapType.LRU_PERCPU_HASH: LruPercpuHashMap,
    MapType.LPM_TRIE: LpmTrieMap,
    MapType.RINGBUF: RingBuffer,
    MapType.PERF_EVENT_ARRAY: PerfEventArray,
    MapType.PROG_ARRAY: ProgArrayMap,
    MapType.QUEUE: QueueMap,
    MapType.STACK: StackMap,
    MapType.ARRAY_OF_MAPS: ArrayOfMaps,
    MapType.HASH_OF_MAPS: HashOfMaps,
    MapType.DEVMAP: DevMap,
    MapType.DEVMAP_HASH: DevMapHash,
    MapType.CPUMAP: CpuMap,
    MapType.BLOOM_FILTER: BloomFilterMap,
    MapType.USER_RINGBUF: UserRingBuffer,
}

SUPPORTED_MAP_TYPES = frozenset(MAP_CLASSES)

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
    cls = MAP_CLASSES.get(map_type)
    if cls is None:
        raise fail(
            f"map {spec.name!r}: {map_type.name.lower()} maps are not available in the user-space runtime",
            EINVAL,
        )
    if map_type is MapType.PERF_EVENT_ARRAY and spec.max_entries == 0:
        spec = replace(spec, max_entries=possible_cpus())  # what libbpf does
        if spec.key_size == 0:
            spec = replace(spec, key_size=4, value_size=4)
    m = cls(spec)
    for key, value in spec.contents:
        m.update(key, value)
    if spec.frozen and freeze:
        m.freeze()
    return m
