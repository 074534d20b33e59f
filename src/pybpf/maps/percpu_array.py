"""BPF_MAP_TYPE_PERCPU_ARRAY: an array with one copy of every value per possible CPU.

Native layout: `ncpus` consecutive copies of the plain array layout (see pybpf.maps.array), CPU
major: the value of index i on CPU c is at `base + c * stride + i * elem_size` with
`elem_size = round_up(value_size, 8)` and `stride = max_entries * elem_size`. Programs see their
CPU's copy; user space reads and writes a list with one value per CPU.
"""

from __future__ import annotations

from pybpf.abi import MapFlags, MapType, UpdateFlags
from pybpf.maps.array import ArrayMap
from pybpf.maps.base import EINVAL, fail, read_mem, write_mem


class PercpuArrayMap(ArrayMap):
    """A per-CPU array: lookup returns a list of `ncpus` values; programs touch only their CPU's."""

    map_types = (MapType.PERCPU_ARRAY,)

    def validate(self) -> None:
        super().validate()
        if self.spec.flags & MapFlags.MMAPABLE:
            raise fail(f"per-CPU array {self.name!r} cannot be mmapable", EINVAL)

    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        self.check_syscall_read()
        i = self.index(key)
        if i >= self.max_entries:
            return None
        return [read_mem(self.address(i, cpu), self.value_size) for cpu in range(self.ncpus)]

    def update(self, key: bytes, value: bytes | list[bytes], flags: int = UpdateFlags.ANY) -> None:
        i = self._checked_index(key, flags)
        for cpu, v in enumerate(self.percpu_values(value)):
            write_mem(self.address(i, cpu), v)
