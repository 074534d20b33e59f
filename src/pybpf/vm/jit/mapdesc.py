"""Native map descriptors: what JIT code needs to reach an array or hash map's storage.

`MapDescriptors(maps)` allocates one DESC_SIZE-byte descriptor per map in one ctypes block and
the engine registers each map with its descriptor's address as the map pointer programs see
(`RunEnv.register_map(m, pointer)`), so `map_from_pointer` keeps working for Python helpers
while native helpers validate the pointer (inside the block, on a descriptor boundary) and
read the layout from it. Maps without a native fast path get kind MAP_KIND_OTHER.

Descriptors sit at random odd slots of a block four times as large as needed; the slots around
each are empty (kind MAP_KIND_OTHER, never registered). So arithmetic on one map's pointer does
not name the next map (`&map_a + DESC_SIZE` is a hole, which the Python helper refuses as "not a
map pointer" exactly like the interpreter, whose map pointers are unrelated allocations).
"""

from __future__ import annotations

import ctypes
import random
from collections.abc import Sequence
from typing import Any

from pybpf.abi import MapType
from pybpf.collection import Map
from pybpf.vm.jit.layout import (
    DESC_SIZE,
    DESC_WORDS,
    MAP_KIND_ARRAY,
    MAP_KIND_HASH,
    MAP_KIND_HASH_EXT,
    MAP_KIND_OTHER,
    MAP_KIND_RINGBUF,
    REGION_WRITABLE,
    MapDesc,
)


def _ref_bytes(m: Map, keep: list[Any]) -> int | None:
    """Address of an LRU map's reference bytes (kept exported by `keep`), 0 without LRU, None
    when they are not in a bytearray native code can write."""
    lru = getattr(m, "lru_state", None)
    if lru is None:
        return 0
    ref = getattr(lru, "ref", None)
    if not isinstance(ref, bytearray) or not ref:
        return None
    view = (ctypes.c_char * len(ref)).from_buffer(ref)  # also pins the bytearray's size
    keep.append(view)
    return ctypes.addressof(view)


def _describe(m: Map, cpu: int = 0, keep: list[Any] | None = None) -> list[int]:
    words = [0] * DESC_WORDS
    words[MapDesc.KIND] = MAP_KIND_OTHER
    writable = REGION_WRITABLE if getattr(m, "prog_writable", True) else 0
    if m.type == MapType.ARRAY and all(hasattr(m, a) for a in ("base", "elem_size")):
        if getattr(m, "copies", 1) == 1:
            words[MapDesc.KIND] = MAP_KIND_ARRAY
            words[MapDesc.BASE] = int(m.base)  # type: ignore[attr-defined]
            words[MapDesc.ELEM_SIZE] = int(m.elem_size)  # type: ignore[attr-defined]
    elif m.type == MapType.PERCPU_ARRAY and all(hasattr(m, a) for a in ("base", "elem_size", "stride")):
        if 0 <= cpu < getattr(m, "copies", 0):  # the run's CPU copy is a plain array
            words[MapDesc.KIND] = MAP_KIND_ARRAY
            words[MapDesc.BASE] = int(m.base) + cpu * int(m.stride)  # type: ignore[attr-defined]
            words[MapDesc.ELEM_SIZE] = int(m.elem_size)  # type: ignore[attr-defined]
    elif m.type == MapType.HASH:
        table: Any = getattr(m, "table", None)
        if table is not None and not table.percpu and not getattr(m, "lru", False):
            _describe_table(words, MAP_KIND_HASH, table)
    if m.type in (MapType.HASH, MapType.LRU_HASH, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH) \
            and words[MapDesc.KIND] == MAP_KIND_OTHER:
        _describe_hash_ext(m, cpu, words, [] if keep is None else keep)
    elif m.type == MapType.RINGBUF and all(hasattr(m, a) for a in ("base", "mask", "data")):
        words[MapDesc.KIND] = MAP_KIND_RINGBUF
        words[MapDesc.BASE] = int(m.base)  # type: ignore[attr-defined]
        words[MapDesc.MASK] = int(m.mask)  # type: ignore[attr-defined]
    words[MapDesc.VALUE_SIZE] = m.value_size
    words[MapDesc.MAX_ENTRIES] = m.max_entries
    words[MapDesc.KEY_SIZE] = m.key_size
    words[MapDesc.FLAGS] = writable
    return words


def _describe_table(words: list[int], kind: int, table: Any) -> None:
    """The descriptor words of a hash table's layout, shared by the plain and the per-CPU/LRU kinds."""
    words[MapDesc.KIND] = kind
    words[MapDesc.BASE] = int(table.base)
    words[MapDesc.ELEM_SIZE] = int(table.entry_size)
    words[MapDesc.MASK] = int(table.mask)
    words[MapDesc.BUCKETS_OFF] = int(table.buckets_off)
    words[MapDesc.ENTRIES_OFF] = int(table.entries_off)
    words[MapDesc.KEY_OFF] = int(table.key_off)
    words[MapDesc.VALUE_OFF] = int(table.value_off)


def _describe_hash_ext(m: Map, cpu: int, words: list[int], keep: list[Any]) -> None:
    """Per-CPU and LRU hash maps: the table's layout, the run CPU's value block, the ref bits."""
    table: Any = getattr(m, "table", None)
    if table is None or not all(hasattr(table, a) for a in ("percpu_base", "percpu_stride", "value_elem")):
        return
    if table.percpu and not 0 <= cpu < int(getattr(m, "ncpus", 0)):
        return
    refs = _ref_bytes(m, keep)
    if refs is None:
        return
    _describe_table(words, MAP_KIND_HASH_EXT, table)
    if table.percpu:
        words[MapDesc.VALUE_BASE] = int(table.percpu_base) + cpu * int(table.percpu_stride)
        words[MapDesc.VALUE_ELEM] = int(table.value_elem)
    words[MapDesc.REF_BASE] = refs


class MapDescriptors:
    """The descriptor block of one collection's maps."""

    def __init__(self, maps: Sequence[Map], *, cpu: int = 0) -> None:
        self.maps = list(maps)
        slots = 4 * max(1, len(self.maps)) + 2
        self.block = (ctypes.c_uint64 * (DESC_WORDS * slots))()
        self.base = ctypes.addressof(self.block)
        self.size = DESC_SIZE * slots
        self._keep: list[Any] = []  # exported buffers native code writes (LRU reference bits)
        # odd slots only, so both neighbours of every descriptor are holes
        self.slots = [2 * k + 1 for k in random.SystemRandom().sample(range(slots // 2), len(self.maps))]
        for slot, m in zip(self.slots, self.maps, strict=True):
            for j, word in enumerate(_describe(m, cpu, self._keep)):
                self.block[slot * DESC_WORDS + j] = word & 0xFFFFFFFFFFFFFFFF

    def pointer(self, index: int) -> int:
        return self.base + self.slots[index] * DESC_SIZE
