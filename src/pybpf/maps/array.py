"""BPF_MAP_TYPE_ARRAY in native memory: preallocated, zero-filled values indexed by a u32 key.

Native layout (what a JIT may rely on): one contiguous block of `max_entries` elements of
`elem_size = round_up(value_size, 8)` bytes; the value of index i is at
`base + i * elem_size` (`ArrayMap.base`), its first `value_size` bytes being the value. Index i is
valid iff `i < max_entries`; there is no header and no per-element state (every element exists).
"""

from __future__ import annotations

import errno
import struct

from pybpf.abi import MapFlags, MapType, UpdateFlags
from pybpf.maps.base import (
    ACCESS_FLAGS,
    E2BIG,
    EEXIST,
    EINVAL,
    MemoryRegion,
    NativeMap,
    fail,
    next_array_key,
    read_mem,
    round8,
    write_mem,
)
from pybpf.object.spec import MapSpec

ARRAY_CREATE_FLAGS = int(
    MapFlags.NUMA_NODE | MapFlags.MMAPABLE | ACCESS_FLAGS | MapFlags.PRESERVE_ELEMS | MapFlags.INNER_MAP
)
MAX_BYTES = 1 << 31  # refuse arrays larger than 2 GiB of host memory

_U32 = struct.Struct("<I")


class ArrayMap(NativeMap):
    """An array map: every index in [0, max_entries) always exists; delete is EINVAL."""

    map_types = (MapType.ARRAY,)

    def __init__(self, spec: MapSpec) -> None:
        super().__init__(spec)
        self.copies = self.ncpus if self.percpu else 1  # value copies per index
        self.elem_size = round8(self.value_size)
        self.stride = self.max_entries * self.elem_size  # bytes of one CPU's copy
        self.base = self.allocate(self.stride * self.copies)

    def validate(self) -> None:
        super().validate()
        s = self.spec
        if s.key_size != 4:
            raise fail(f"array map {s.name!r}: key_size must be 4, not {s.key_size}", EINVAL)
        if s.value_size <= 0:
            raise fail(f"array map {s.name!r}: value_size must be > 0", EINVAL)
        if s.flags & ~ARRAY_CREATE_FLAGS:
            raise fail(f"array map {s.name!r}: unsupported flags {s.flags:#x}", EINVAL)
        if round8(s.value_size) * s.max_entries * (self.ncpus if self.percpu else 1) > MAX_BYTES:
            raise fail(f"array map {s.name!r} is too large", errno.ENOMEM)

    # --- indexing --------------------------------------------------------------------------
    def index(self, key: bytes) -> int:
        return int(_U32.unpack(self.check_key(key))[0])

    def address(self, index: int, cpu: int = 0) -> int:
        return self.base + cpu * self.stride + index * self.elem_size

    # --- engine.Map ------------------------------------------------------------------------
    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        self.check_syscall_read()
        i = self.index(key)
        if i >= self.max_entries:
            return None
        return read_mem(self.address(i), self.value_size)

    def _checked_index(self, key: bytes, flags: int) -> int:
        self.check_syscall_write()
        self.check_update_flags(flags)
        i = self.index(key)
        if i >= self.max_entries:
            raise fail(f"index {i} is out of range (max_entries {self.max_entries})", E2BIG)
        if flags == UpdateFlags.NOEXIST:
            raise fail(f"index {i} exists (array elements always exist)", EEXIST)
        return i

    def update(self, key: bytes, value: bytes | list[bytes], flags: int = UpdateFlags.ANY) -> None:
        i = self._checked_index(key, flags)
        write_mem(self.address(i), self.check_value(value))

    def delete(self, key: bytes) -> None:
        self.check_syscall_write()
        self.check_key(key)
        raise fail("array elements cannot be deleted", EINVAL)

    def next_key(self, key: bytes | None) -> bytes | None:
        self.check_open()
        return next_array_key(None if key is None else self.index(key), self.max_entries)

    def __len__(self) -> int:
        return self.max_entries

    # --- program side ----------------------------------------------------------------------
    def value_address(self, key: bytes, cpu: int = 0) -> int | None:
        if len(key) != 4:
            return None
        i = _U32.unpack(key)[0]
        if i >= self.max_entries or not 0 <= cpu < self.copies:
            return None
        return self.address(i, cpu)

    def prog_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        if flags & ~UpdateFlags.LOCK > UpdateFlags.EXIST or flags < 0:
            return -EINVAL
        if len(key) != 4 or len(value) < self.value_size or not 0 <= cpu < self.copies:
            return -EINVAL
        i = _U32.unpack(key)[0]
        if i >= self.max_entries:
            return -E2BIG
        if flags & UpdateFlags.NOEXIST:
            return -EEXIST
        if flags & UpdateFlags.LOCK:
            return -EINVAL
        write_mem(self.address(i, cpu if self.copies > 1 else 0), bytes(value[: self.value_size]))
        return 0

    def prog_delete(self, key: bytes) -> int:
        return -EINVAL

    def memory_regions(self) -> list[MemoryRegion]:
        return [
            MemoryRegion(
                self.base, self.stride * self.copies, self.prog_writable, f"map {self.name}"
            )
        ]

    def value_span(self, address: int) -> tuple[int, int] | None:
        offset = address - self.base
        if not 0 <= offset < self.stride * self.copies:
            return None
        start = address - (offset % self.elem_size)
        if address >= start + self.value_size:
            return None  # in the padding after a value
        return start, self.value_size

    @property
    def value_offset_of_entry0(self) -> int:
        """Address of entry 0's value: the target of BPF_PSEUDO_MAP_VALUE (global data) references."""
        return self.base
