"""Map-in-map support shared by array_of_maps and hash_of_maps: inner maps by object or id.

The outer map's spec carries the inner map template (`MapSpec.inner_map`). An inner map must
match it like the kernel's map_meta_equal: same type, key_size, value_size and map_flags, and
for array inner maps the same max_entries unless the flags include BPF_F_INNER_MAP; map-in-map
and program arrays cannot be inner maps. Mismatches are EINVAL. User-space lookups return the inner map's u32 id;
a program's bpf_map_lookup_elem gets the inner map itself (`inner(key)`).
"""

from __future__ import annotations

import struct
from typing import Any

from pybpf.abi import MapFlags, MapType
from pybpf.collection import Map
from pybpf.maps.base import EBADF, EINVAL, NativeMap, fail, map_by_id
from pybpf.object.spec import MapSpec

_U32 = struct.Struct("<I")
NOT_INNER = frozenset({MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS, MapType.PROG_ARRAY})


def check_template(outer: MapSpec) -> MapSpec:
    """The inner map template of `outer` (EINVAL when missing or of a forbidden type)."""
    template = outer.inner_map
    if template is None:
        raise fail(f"map-in-map {outer.name!r} needs an inner map template", EINVAL)
    if template.type in NOT_INNER:
        raise fail(
            f"map-in-map {outer.name!r}: a {template.type.name.lower()} cannot be an inner map",
            EINVAL,
        )
    if outer.value_size != 4:
        raise fail(f"map-in-map {outer.name!r}: value_size must be 4", EINVAL)
    return template


def resolve_inner(outer: NativeMap, value: Any) -> Map:
    """The inner map a value stands for (a Map, or u32 id bytes/int), checked against the template."""
    if isinstance(value, Map):
        inner = value
    else:
        if isinstance(value, int):
            map_id = value
        elif isinstance(value, (bytes, bytearray, memoryview)) and len(value) == 4:
            map_id = _U32.unpack(bytes(value))[0]
        else:
            raise fail("an inner map is given as a map object or its u32 id", EINVAL)
        found = map_by_id(map_id)
        if found is None:
            raise fail(f"no map with id {map_id}", EBADF)
        inner = found
    template = outer.spec.inner_map
    assert template is not None
    same = (
        inner.type == template.type
        and inner.key_size == template.key_size
        and inner.value_size == template.value_size
        and inner.spec.flags == template.flags
    )
    if not same:
        raise fail(
            f"inner map {inner.name!r} does not match the template of {outer.name!r}"
            f" (type/key_size/value_size/flags)",
            EINVAL,
        )
    is_array = template.type in (MapType.ARRAY, MapType.PERCPU_ARRAY)
    if (
        is_array
        and inner.max_entries != template.max_entries
        and not template.flags & MapFlags.INNER_MAP
    ):
        raise fail(
            f"inner map {inner.name!r} has max_entries {inner.max_entries}, the template"
            f" {template.max_entries} (set BPF_F_INNER_MAP to allow any)",
            EINVAL,
        )
    return inner


def inner_id(inner: Map) -> int:
    return int(getattr(inner, "id", 0))
