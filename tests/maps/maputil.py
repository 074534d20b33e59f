"""Helpers for the map tests: spec builders and little-endian packing."""

from __future__ import annotations

import struct

from pybpf.abi import MapType
from pybpf.object.spec import MapSpec


def spec(
    map_type: MapType, key_size: int, value_size: int, max_entries: int, **kw: object
) -> MapSpec:
    return MapSpec(f"m_{map_type.name.lower()}", map_type, key_size, value_size, max_entries, **kw)  # type: ignore[arg-type]


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


def u64(n: int) -> bytes:
    return struct.pack("<Q", n)
