"""BPF_MAP_TYPE_PERF_EVENT_ARRAY: per-CPU event streams filled by bpf_perf_event_output.

In the kernel each slot holds a perf event (usually one per CPU, opened by the reader); here
every slot is open from the start, slot i bound to CPU i (slots past the CPU count take output
from any CPU). Output goes to slot `flags & BPF_F_INDEX_MASK`, or to the running CPU's slot with
BPF_F_CURRENT_CPU. Like the kernel: other flag bits are EINVAL, an index past max_entries is
E2BIG, a closed slot is ENOENT, and a slot bound to another CPU is EOPNOTSUPP. Samples are read
back as the kernel's perf buffer delivers them: the data zero-padded so that the u32 size field
and the data fill a multiple of 8 bytes (6 bytes come back as 12). Each slot keeps up to
`capacity` bytes of samples (perf's cost: 8-byte header + u32 size + data, padded to 8);
samples that do not fit are counted in `lost[slot]`, like PERF_RECORD_LOST. A max_entries of 0
means one slot per possible CPU (what libbpf sets). bpf() lookups are ENOTSUPP; update opens a
slot, delete closes it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from pybpf.abi import MapType
from pybpf.maps.base import E2BIG, EINVAL, ENOENT, ENOTSUPP, EOPNOTSUPP, fail, round8
from pybpf.maps.fd_array import FdArrayMap
from pybpf.object.spec import MapSpec

BPF_F_INDEX_MASK = 0xFFFFFFFF
BPF_F_CURRENT_CPU = BPF_F_INDEX_MASK
BPF_F_CTXLEN_MASK = 0xFFFFF << 32
DEFAULT_CAPACITY = 64 * 4096  # bytes of samples kept per slot (64 pages, libbpf's usual)


class PerfSlot:
    """An open slot: a perf event stream bound to a CPU."""

    __slots__ = ("cpu", "records", "used", "id")

    def __init__(self, cpu: int | None, slot_id: int) -> None:
        self.cpu = cpu
        self.records: deque[bytes] = deque()
        self.used = 0
        self.id = slot_id


class PerfEventArray(FdArrayMap):
    """A perf event array with an in-process reader."""

    map_types = (MapType.PERF_EVENT_ARRAY,)
    what = "perf event"

    def __init__(self, spec: MapSpec, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(spec)
        self.capacity = capacity
        self.lost: list[int] = [0] * spec.max_entries
        self.slots = [self._open(i) for i in range(spec.max_entries)]
        self.on_sample: Callable[[int, bytes], None] | None = None

    def _open(self, index: int) -> PerfSlot:
        return PerfSlot(index if index < self.ncpus else None, index + 1)

    @staticmethod
    def sample_cost(size: int) -> int:
        return 8 + round8(4 + size)

    # --- program side ----------------------------------------------------------------------
    def output(self, flags: int, data: bytes, cpu: int = 0) -> int:
        """bpf_perf_event_output: 0 or a negative errno."""
        if flags & ~(BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK):
            return -EINVAL
        index = flags & BPF_F_INDEX_MASK
        if index == BPF_F_CURRENT_CPU:
            index = cpu
        if index >= self.max_entries:
            return -E2BIG
        slot = self.slots[index]
        if slot is None:
            return -ENOENT
        if slot.cpu is not None and slot.cpu != cpu:
            return -EOPNOTSUPP
        cost = self.sample_cost(len(data))
        if slot.used + cost > self.capacity:
            self.lost[index] += 1
            return 0  # the kernel drops the sample silently and reports it as lost
        padded = bytes(data).ljust(round8(len(data) + 4) - 4, b"\0")
        slot.records.append(padded)
        slot.used += cost
        if self.on_sample is not None:
            self.on_sample(index, padded)
        return 0

    # --- reader ----------------------------------------------------------------------------
    def read(self, slot: int | None = None) -> list[tuple[int, bytes]]:
        """Take the waiting samples as (slot/CPU, data), of one slot or of all in slot order."""
        out: list[tuple[int, bytes]] = []
        indices = range(self.max_entries) if slot is None else [slot]
        for i in indices:
            s = self.slots[i]
            if s is None:
                continue
            while s.records:
                data = s.records.popleft()
                s.used -= 8 + len(data) + 4
                out.append((i, data))
        return out

    def read_available(self) -> list[bytes]:
        """The data of every waiting sample, slot by slot (the kernel PerfBuffer's name)."""
        return [data for _, data in self.read()]

    @property
    def lost_total(self) -> int:
        """Samples dropped because a slot was full, over all slots."""
        return sum(self.lost)

    def __iter__(self) -> Iterator[bytes]:
        """Consume and yield the data of every waiting sample."""
        for _, data in self.read():
            yield data

    def poll(self, callback: Callable[[int, bytes], object]) -> int:
        """Call `callback(cpu, data)` for each waiting sample; returns the count."""
        samples = self.read()
        for cpu, data in samples:
            callback(cpu, data)
        return len(samples)

    def pending(self, slot: int | None = None) -> int:
        """Samples waiting (in one slot or all)."""
        slots = self.slots if slot is None else [self.slots[slot]]
        return sum(len(s.records) for s in slots if s is not None)

    # --- engine.Map ------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, PerfSlot):
            return value
        return PerfSlot(None, 0)

    def set(self, key: Any, obj: Any, flags: int = 0) -> None:
        super().set(key, obj, flags)
        i = self.index(key)
        slot = self.slots[i]
        if isinstance(slot, PerfSlot) and slot.id == 0:
            self.slots[i] = self._open(i)

    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        self.check_open()
        raise fail("perf event arrays cannot be read by key (use read())", ENOTSUPP)
