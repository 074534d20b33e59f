"""BPF_MAP_TYPE_HASH_OF_MAPS: a hash map whose values are inner maps (rules in pybpf.maps.map_in_map).

Stored as a hash map of u32 inner map ids (so user-space lookups return the id, as in the
kernel, with the hash map's update flags and errors); the inner maps are kept alive here.
"""

from __future__ import annotations

import struct
from typing import Any

from pybpf.abi import MapType, UpdateFlags
from pybpf.collection import KeyLike, Map
from pybpf.maps.base import NoProgramElements, map_by_id
from pybpf.maps.hash import HashMap
from pybpf.maps.map_in_map import check_template, inner_id, resolve_inner
from pybpf.object.spec import MapSpec

_U32 = struct.Struct("<I")


class HashOfMaps(NoProgramElements, HashMap):
    """A hash of maps: `m[key] = inner_map` (or its id); `m.inner(key)` is the map for key."""

    map_types = (MapType.HASH_OF_MAPS,)
    # programs reach inner maps by lookup only (the verifier refuses update/delete on map-in-map)

    def __init__(self, spec: MapSpec) -> None:
        super().__init__(spec)
        self._inner: dict[int, Map] = {}

    def validate(self) -> None:
        super().validate()
        check_template(self.spec)

    def update(self, key: bytes, value: Any, flags: int = UpdateFlags.ANY) -> None:
        inner = resolve_inner(self, value)
        mid = inner_id(inner)
        super().update(key, _U32.pack(mid), flags)
        self._inner[mid] = inner
        self._forget_unused()

    def __setitem__(self, key: KeyLike, value: Any) -> None:
        if isinstance(value, (bytes, bytearray, memoryview, int)) and not isinstance(value, bool):
            value = self._value(value)
        self.update(self._key(key), value)

    def delete(self, key: bytes) -> None:
        super().delete(key)
        self._forget_unused()

    def _forget_unused(self) -> None:
        live = {_U32.unpack(self.table.mem[a - self.table.base : a - self.table.base + 4])[0]
                for a in (self.table.value_address(s) for s in self.table.live_slots())}  # fmt: skip
        for mid in list(self._inner):
            if mid not in live:
                del self._inner[mid]

    def inner(self, key: bytes) -> Map | None:
        """The inner map for `key` (what a program's bpf_map_lookup_elem returns), or None."""
        address = self.value_address(key)
        if address is None:
            return None
        off = address - self.table.base
        mid = _U32.unpack(self.table.mem[off : off + 4])[0]
        return self._inner.get(mid) or map_by_id(mid)
