"""The shared base of arrays whose values are objects (programs, maps, perf readers): fd arrays.

In the kernel such maps hold file descriptors on update and object pointers inside; user space
writes an fd and reads back an id. pybpf's user-space versions hold the objects themselves and
take either the object or its u32 id; lookups from user space return the u32 id. Like the
kernel's fd arrays: key_size and value_size must be 4, updates take only BPF_ANY (EINVAL
otherwise), an index past max_entries is E2BIG, and deleting an empty slot is ENOENT.
"""

from __future__ import annotations

import struct
from typing import Any

from pybpf.abi import MapFlags, UpdateFlags
from pybpf.collection import KeyLike
from pybpf.maps.base import (
    ACCESS_FLAGS,
    E2BIG,
    EINVAL,
    ENOENT,
    NativeMap,
    fail,
    next_array_key,
)
from pybpf.object.spec import MapSpec

_U32 = struct.Struct("<I")
FD_ARRAY_CREATE_FLAGS = int(MapFlags.NUMA_NODE | ACCESS_FLAGS | MapFlags.PRESERVE_ELEMS)
MAX_ENTRIES = 1 << 22


class FdArrayMap(NativeMap):
    """Slots of objects indexed by a u32 key."""

    what = "object"

    def __init__(self, spec: MapSpec) -> None:
        super().__init__(spec)
        self.slots: list[Any] = [None] * spec.max_entries

    def validate(self) -> None:
        super().validate()
        s = self.spec
        if s.key_size != 4 or s.value_size != 4:
            raise fail(f"map {s.name!r}: key_size and value_size must be 4", EINVAL)
        if s.flags & ~FD_ARRAY_CREATE_FLAGS:
            raise fail(f"map {s.name!r}: unsupported flags {s.flags:#x}", EINVAL)
        if s.max_entries > MAX_ENTRIES:
            raise fail(f"map {s.name!r}: max_entries {s.max_entries} is too large", E2BIG)

    # --- subclass hooks --------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """The object a value (an object or u32 id bytes) stands for; MapError when invalid."""
        raise NotImplementedError

    def object_id(self, obj: Any) -> int:
        """The u32 id user space reads back for `obj`."""
        return int(getattr(obj, "id", 0))

    # --- slots -----------------------------------------------------------------------------
    def index(self, key: KeyLike) -> int:
        if isinstance(key, int):
            return key
        return int(_U32.unpack(self.check_key(bytes(key)))[0])

    def get(self, key: KeyLike, default: Any = None) -> Any:
        """The object in slot `key` (an index or key bytes), or `default`."""
        i = self.index(key)
        if not 0 <= i < self.max_entries or self.slots[i] is None:
            return default
        return self.slots[i]

    def set(self, key: KeyLike, obj: Any, flags: int = UpdateFlags.ANY) -> None:
        """Put `obj` (an object or its id) in slot `key`."""
        self.check_syscall_write()
        if flags != UpdateFlags.ANY:
            raise fail(f"{self.type.name.lower()} updates take only BPF_ANY", EINVAL)
        i = self.index(key)
        if not 0 <= i < self.max_entries:
            raise fail(f"index {i} is out of range (max_entries {self.max_entries})", E2BIG)
        self.slots[i] = self.resolve(obj)

    def __setitem__(self, key: KeyLike, value: Any) -> None:
        if isinstance(value, (bytes, bytearray, memoryview, int)) and not isinstance(value, bool):
            value = self._value(value)
        self.set(key, value)

    # --- engine.Map ------------------------------------------------------------------------
    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        self.check_syscall_read()
        obj = self.get(key)
        return None if obj is None else _U32.pack(self.object_id(obj))

    def update(self, key: bytes, value: Any, flags: int = UpdateFlags.ANY) -> None:
        self.set(key, value, flags)

    def delete(self, key: bytes) -> None:
        self.check_syscall_write()
        i = self.index(key)
        if not 0 <= i < self.max_entries:
            raise fail(f"index {i} is out of range (max_entries {self.max_entries})", E2BIG)
        if self.slots[i] is None:
            raise fail(f"slot {i} is empty", ENOENT)
        self.slots[i] = None

    def next_key(self, key: bytes | None) -> bytes | None:
        self.check_open()
        return next_array_key(None if key is None else self.index(key), self.max_entries)

    def __len__(self) -> int:
        return self.max_entries

    # --- program side ----------------------------------------------------------------------
    def prog_lookup(self, key: bytes, cpu: int = 0) -> int | None:
        return None  # the verifier refuses map_lookup_elem on these maps (map-in-map: see there)

    def prog_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        return -EINVAL

    def prog_delete(self, key: bytes) -> int:
        return -EINVAL
