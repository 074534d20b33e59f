"""BPF_MAP_TYPE_ARRAY_OF_MAPS: an fd array whose slots hold inner maps (rules in pybpf.maps.map_in_map)."""

from __future__ import annotations

from typing import Any

from pybpf.abi import MapType
from pybpf.collection import Map
from pybpf.maps.fd_array import FdArrayMap
from pybpf.maps.map_in_map import check_template, inner_id, resolve_inner
from pybpf.object.spec import MapSpec


class ArrayOfMaps(FdArrayMap):
    """An array of maps: `m[i] = inner_map` (or its id); `m.inner(i)` is the map in slot i."""

    map_types = (MapType.ARRAY_OF_MAPS,)
    what = "map"

    def __init__(self, spec: MapSpec) -> None:
        super().__init__(spec)

    def validate(self) -> None:
        super().validate()
        check_template(self.spec)

    def resolve(self, value: Any) -> Any:
        return resolve_inner(self, value)

    def object_id(self, obj: Any) -> int:
        return inner_id(obj)

    def inner(self, key: bytes | int) -> Map | None:
        """The inner map at `key` (what a program's bpf_map_lookup_elem returns), or None."""
        if isinstance(key, bytes) and len(key) != 4:
            return None
        found = self.get(key)
        return found if isinstance(found, Map) else None
