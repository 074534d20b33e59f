"""BPF_MAP_TYPE_DEVMAP and DEVMAP_HASH: network devices (by ifindex) for bpf_redirect_map.

Values are `struct bpf_devmap_val { u32 ifindex; u32 bpf_prog_fd_or_id; }` (value_size 8) or a
bare u32 ifindex (value_size 4). The ifindex must name an interface of this host (EINVAL
otherwise, like the kernel); a program attached to an entry (non-zero fd) is not supported in
user space (EINVAL). Programs see values read-only (the kernel forces BPF_F_RDONLY_PROG).
DEVMAP is a sparse array: an empty slot is ENOENT on lookup, writing ifindex 0 empties it,
delete always succeeds in range (EINVAL past it), BPF_NOEXIST is always EEXIST and BPF_EXIST
is accepted on empty slots. DEVMAP_HASH keeps the hash map's errors except that ifindex 0 is
EINVAL and BPF_EXIST is not checked. Both store values in native memory like the array/hash maps.
"""

from __future__ import annotations

import socket
import struct

from pybpf.abi import MapFlags, MapType, UpdateFlags
from pybpf.maps.base import (
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
from pybpf.maps.hash import HashMap
from pybpf.object.spec import MapSpec

DEV_CREATE_FLAGS = int(MapFlags.NUMA_NODE | MapFlags.RDONLY | MapFlags.WRONLY)
_U32 = struct.Struct("<I")


def check_devmap_spec(spec: MapSpec) -> None:
    if spec.key_size != 4 or spec.value_size not in (4, 8) or spec.flags & ~DEV_CREATE_FLAGS:
        raise fail(
            f"devmap {spec.name!r}: key_size 4, value_size 4 or 8, flags NUMA/RDONLY/WRONLY only",
            EINVAL,
        )


def check_device_value(value: bytes, *, allow_empty: bool) -> bool:
    """Validate a devmap value; returns False for ifindex 0 (an empty slot)."""
    ifindex = _U32.unpack_from(value)[0]
    prog = _U32.unpack_from(value, 4)[0] if len(value) >= 8 else 0
    if prog:
        raise fail("programs on devmap entries are not supported in user space", EINVAL)
    if ifindex == 0:
        if not allow_empty:
            raise fail("ifindex 0 is not a device", EINVAL)
        return False
    try:
        socket.if_indextoname(ifindex)
    except OSError:
        raise fail(f"no network device with ifindex {ifindex}", EINVAL) from None
    return True


class DevMap(NativeMap):
    """BPF_MAP_TYPE_DEVMAP: a sparse array of devices indexed by a u32 key."""

    map_types = (MapType.DEVMAP,)
    _kind = "devmap"  # how update errors name the map type and a key
    _key_word = "index"

    def __init__(self, spec: MapSpec) -> None:
        super().__init__(spec)
        self.elem_size = round8(spec.value_size)
        self.base = self.allocate(self.elem_size * spec.max_entries)
        self.present = bytearray(spec.max_entries)

    def validate(self) -> None:
        super().validate()
        check_devmap_spec(self.spec)
        if self.spec.max_entries > 1 << 24:
            raise fail(f"devmap {self.name!r} is too large", E2BIG)

    @property
    def prog_writable(self) -> bool:
        return False

    def index(self, key: bytes) -> int:
        return int(_U32.unpack(self.check_key(key))[0])

    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        self.check_syscall_read()
        i = self.index(key)
        if i >= self.max_entries or not self.present[i]:
            return None
        return read_mem(self.base + i * self.elem_size, self.value_size)

    def update(self, key: bytes, value: bytes | list[bytes], flags: int = UpdateFlags.ANY) -> None:
        i, data = self._checked_slot(key, value, flags)
        self._store(i, data, check_device_value(data, allow_empty=True))

    def _checked_slot(self, key: bytes, value: bytes | list[bytes], flags: int) -> tuple[int, bytes]:
        """The checks every slot update starts with: access, flags, value, index in range, no NOEXIST."""
        self.check_syscall_write()
        flags = self.check_update_flags(flags)
        data = self.check_value(value)
        i = self.index(key)
        if i >= self.max_entries:
            raise fail(f"{self._key_word} {i} is out of range (max_entries {self.max_entries})", E2BIG)
        if flags == UpdateFlags.NOEXIST:
            raise fail(f"{self._kind} slots always exist (BPF_NOEXIST)", EEXIST)
        return i, data

    def _store(self, i: int, value: bytes, live: bool) -> None:
        """Put `value` in slot i, or empty the slot (zeroed) when not live."""
        write_mem(self.base + i * self.elem_size, value if live else bytes(self.value_size))
        self.present[i] = 1 if live else 0

    def delete(self, key: bytes) -> None:
        self.check_syscall_write()
        i = self.index(key)
        if i >= self.max_entries:
            raise fail(f"index {i} is out of range (max_entries {self.max_entries})", EINVAL)
        self.present[i] = 0

    def next_key(self, key: bytes | None) -> bytes | None:
        self.check_open()
        return next_array_key(None if key is None else self.index(key), self.max_entries)

    def items(self):
        for i in range(self.max_entries):
            if self.present[i]:
                yield _U32.pack(i), read_mem(self.base + i * self.elem_size, self.value_size)

    def __len__(self) -> int:
        return sum(self.present)

    def value_address(self, key: bytes, cpu: int = 0) -> int | None:
        if len(key) != 4:
            return None
        i = _U32.unpack(key)[0]
        if i >= self.max_entries or not self.present[i]:
            return None
        return self.base + i * self.elem_size

    def prog_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        return -EINVAL  # the verifier refuses updates of device maps from programs

    def prog_delete(self, key: bytes) -> int:
        return -EINVAL

    def memory_regions(self) -> list[MemoryRegion]:
        return [
            MemoryRegion(self.base, self.elem_size * self.max_entries, False, f"devmap {self.name}")
        ]

    def value_span(self, address: int) -> tuple[int, int] | None:
        offset = address - self.base
        if not 0 <= offset < self.elem_size * self.max_entries:
            return None
        i = offset // self.elem_size
        start = self.base + i * self.elem_size
        if not self.present[i] or address >= start + self.value_size:
            return None
        return start, self.value_size


class DevMapHash(HashMap):
    """BPF_MAP_TYPE_DEVMAP_HASH: devices keyed by any u32."""

    map_types = (MapType.DEVMAP_HASH,)

    def validate(self) -> None:
        super().validate()
        check_devmap_spec(self.spec)

    @property
    def prog_writable(self) -> bool:
        return False

    def update(self, key: bytes, value: bytes | list[bytes], flags: int = UpdateFlags.ANY) -> None:
        self.check_syscall_write()
        flags = self.check_update_flags(flags)
        check_device_value(self.check_value(value), allow_empty=False)
        # the kernel's devmap hash checks BPF_NOEXIST only: BPF_EXIST inserts like BPF_ANY
        super().update(key, value, UpdateFlags.ANY if flags == UpdateFlags.EXIST else flags)

    def prog_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        return -EINVAL

    def prog_delete(self, key: bytes) -> int:
        return -EINVAL
