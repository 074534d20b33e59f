"""Typed views of maps: keys and values as Python data decoded and encoded with BTF.

    >>> stats = TypedMap(collection.maps["port_stats"], spec.btf)       # doctest: +SKIP
    >>> stats[{"port": 80, "proto": 6, "pad": 0}]                        # doctest: +SKIP
    {'packets': 3, 'bytes': 180}

Integers are ints, structs and unions dicts by member name, arrays lists, char arrays strings,
enums their enumerator names (as pybpf.btf.decode_value gives them). Per-CPU maps give a list
with one decoded value per CPU. A key or value given as bytes or an int is used as is, so a typed
view also accepts everything the raw map does. The view works over any engine's Map.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pybpf.abi import UpdateFlags
from pybpf.btf import Btf, decode_value, encode_value
from pybpf.collection import Map, to_bytes
from pybpf.errors import BpfError, MapError, ObjectError
from pybpf.maps.base import possible_cpus


class TypedMap:
    """A dict-like view of `m` whose keys and values are decoded/encoded with BTF types."""

    def __init__(
        self, m: Map, btf: Btf, key_type_id: int | None = None, value_type_id: int | None = None
    ) -> None:
        self.map = m
        self.btf = btf
        self.key_type_id = m.spec.key_type_id if key_type_id is None else key_type_id
        self.value_type_id = m.spec.value_type_id if value_type_id is None else value_type_id
        for what, type_id, size in (
            ("key", self.key_type_id, m.key_size),
            ("value", self.value_type_id, m.value_size),
        ):
            if type_id and btf.sizeof(type_id) != size:
                raise BpfError(
                    f"map {m.name!r}: BTF {what} type {type_id} is {btf.sizeof(type_id)} bytes, not {size}"
                )

    # --- conversions ---------------------------------------------------------------------
    def encode_key(self, key: Any) -> bytes:
        return self._encode(key, self.key_type_id, self.map.key_size, "key")

    def encode_value(self, value: Any) -> bytes:
        return self._encode(value, self.value_type_id, self.map.value_size, "value")

    def _encode(self, data: Any, type_id: int, size: int, what: str) -> bytes:
        if isinstance(data, (bytes, bytearray, memoryview, int)) and not isinstance(data, bool):
            return to_bytes(data, size, what)
        if not type_id:
            raise BpfError(f"map {self.map.name!r} has no BTF {what} type: give bytes or an int")
        try:
            return encode_value(self.btf, type_id, data)
        except ObjectError as exc:
            raise BpfError(f"map {self.map.name!r}: cannot encode {what} {data!r}: {exc}") from None

    def decode_key(self, raw: bytes) -> Any:
        return decode_value(self.btf, self.key_type_id, raw) if self.key_type_id else raw

    def decode_value(self, raw: bytes | list[bytes]) -> Any:
        if isinstance(raw, list):
            return [self.decode_value(v) for v in raw]
        return decode_value(self.btf, self.value_type_id, raw) if self.value_type_id else raw

    # --- dict API --------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        raw = self.map.lookup(self.encode_key(key))
        if raw is None:
            raise KeyError(key)
        return self.decode_value(raw)

    def get(self, key: Any, default: Any = None) -> Any:
        raw = self.map.lookup(self.encode_key(key))
        return default if raw is None else self.decode_value(raw)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, value)

    def update(self, key: Any, value: Any, flags: int = UpdateFlags.ANY) -> None:
        """Insert or replace; a list of values sets each CPU's copy of a per-CPU map."""
        raw: bytes | list[bytes]
        if self.map.percpu and isinstance(value, list):
            raw = [self.encode_value(v) for v in value]
        elif self.map.percpu:  # one value for every CPU
            raw = [self.encode_value(value)] * int(getattr(self.map, "ncpus", 0) or possible_cpus())
        else:
            raw = self.encode_value(value)
        self.map.update(self.encode_key(key), raw, flags)

    def __delitem__(self, key: Any) -> None:
        try:
            self.map.delete(self.encode_key(key))
        except MapError as exc:
            raise KeyError(key) from exc

    def __contains__(self, key: Any) -> bool:
        try:
            return self.map.lookup(self.encode_key(key)) is not None
        except BpfError:
            return False

    def keys(self) -> Iterator[Any]:
        for raw in self.map.keys():
            yield self.decode_key(raw)

    def __iter__(self) -> Iterator[Any]:
        return self.keys()

    def items(self) -> Iterator[tuple[Any, Any]]:
        for raw_key, raw_value in self.map.items():
            yield self.decode_key(raw_key), self.decode_value(raw_value)

    def values(self) -> Iterator[Any]:
        for _, value in self.items():
            yield value

    def __len__(self) -> int:
        return len(self.map)

    def __repr__(self) -> str:
        return f"<TypedMap {self.map.name!r}>"
