"""BPF_MAP_TYPE_BLOOM_FILTER: push values, then peek to ask "maybe present?".

Keys are empty (key_size 0). push takes only BPF_ANY (EINVAL otherwise); peek (bpf_map_peek_elem
from programs, lookup from user space with the value to test) is 0 when the value may have
been pushed and -ENOENT when it certainly was not; delete and get_next_key are EOPNOTSUPP, as
in the kernel. pybpf's filter is exact (a set of the pushed values): it never gives a false
positive, which a Bloom filter is allowed but not required to give. max_entries bounds the
number of distinct values kept; beyond it pushes still succeed (the kernel's filter never
fills) and the extra values are remembered too.
"""

from __future__ import annotations

from collections.abc import Iterator

from pybpf.abi import MapFlags, MapType, UpdateFlags
from pybpf.maps.base import (
    ACCESS_FLAGS,
    EINVAL,
    ENOENT,
    EOPNOTSUPP,
    NativeMap,
    NoProgramElements,
    fail,
)
from pybpf.object.spec import MapSpec

BLOOM_CREATE_FLAGS = int(MapFlags.NUMA_NODE | MapFlags.ZERO_SEED | ACCESS_FLAGS)


class BloomFilterMap(NoProgramElements, NativeMap):
    """A Bloom filter map (exact in user space)."""

    map_types = (MapType.BLOOM_FILTER,)

    def __init__(self, spec: MapSpec) -> None:
        super().__init__(spec)
        self.members: set[bytes] = set()

    def validate(self) -> None:
        super().validate()
        s = self.spec
        if s.key_size != 0 or s.value_size <= 0 or s.flags & ~BLOOM_CREATE_FLAGS:
            raise fail(f"bloom filter {s.name!r}: key_size must be 0 and value_size > 0", EINVAL)

    # program side (bpf_map_push_elem / bpf_map_peek_elem)
    def push_value(self, value: bytes, flags: int = 0) -> int:
        if flags != UpdateFlags.ANY or len(value) < self.value_size:
            return -EINVAL
        self.members.add(bytes(value[: self.value_size]))
        return 0

    def contains(self, value: bytes) -> bool:
        return bytes(value[: self.value_size]) in self.members

    def peek_check(self, value: bytes) -> int:
        """0 when `value` may be in the filter, -ENOENT when it is not."""
        return 0 if self.contains(value) else -ENOENT

    # user-space API
    def push(self, value: bytes | int) -> None:
        self.update(b"", self._value(value))

    def __contains__(self, value: object) -> bool:
        if isinstance(value, int):
            value = value.to_bytes(self.value_size, "little")
        return isinstance(value, (bytes, bytearray)) and self.contains(bytes(value))

    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        raise fail("a bloom filter is asked with contains(value) / peek from programs", EINVAL)

    def update(self, key: bytes, value: bytes | list[bytes], flags: int = UpdateFlags.ANY) -> None:
        self.check_syscall_write()
        if key:
            raise fail("bloom filters have no keys", EINVAL)
        err = self.push_value(self.check_value(value), flags)
        if err:
            raise fail(f"invalid push flags {flags:#x}", -err)

    def delete(self, key: bytes) -> None:
        self.check_open()
        raise fail("values cannot be removed from a bloom filter", EOPNOTSUPP)

    def next_key(self, key: bytes | None) -> bytes | None:
        self.check_open()
        raise fail("bloom filters cannot be iterated", EOPNOTSUPP)

    def keys(self) -> Iterator[bytes]:
        raise fail("bloom filters cannot be iterated", EOPNOTSUPP)

    def __len__(self) -> int:
        return len(self.members)
