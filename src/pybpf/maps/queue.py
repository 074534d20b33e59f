"""BPF_MAP_TYPE_QUEUE (FIFO) and, through `QueueStackMap`, the shared ring of the stack map.

Native layout: `max_entries + 1` value slots of `round_up(value_size, 8)` bytes at `base`; the
ring's head (next write) and tail (oldest element) indices are Python-side. Keys are empty
(key_size 0). push with BPF_EXIST on a full map overwrites the oldest element (both queue and
stack); without it a full map gives E2BIG. pop/peek on an empty map give ENOENT. From user
space: lookup = peek, `lookup_and_delete`/`pop` = pop, update = push, delete and get_next_key
are EINVAL, as in the kernel.
"""

from __future__ import annotations

from collections.abc import Iterator

from pybpf.abi import MapFlags, MapType, UpdateFlags
from pybpf.maps.base import (
    ACCESS_FLAGS,
    E2BIG,
    EINVAL,
    ENOENT,
    MemoryRegion,
    NativeMap,
    fail,
    read_mem,
    round8,
    write_mem,
)
from pybpf.object.spec import MapSpec

QUEUE_STACK_CREATE_FLAGS = int(MapFlags.NUMA_NODE | ACCESS_FLAGS)
MAX_ENTRIES = 1 << 24


class QueueStackMap(NativeMap):
    """The ring shared by queue and stack maps; `lifo` selects which end pop takes from."""

    lifo = False

    def __init__(self, spec: MapSpec) -> None:
        super().__init__(spec)
        self.size = spec.max_entries + 1  # one slot stays free to tell full from empty
        self.elem_size = round8(spec.value_size)
        self.base = self.allocate(self.size * self.elem_size)
        self.head = 0  # next slot to write
        self.tail = 0  # oldest element

    def validate(self) -> None:
        super().validate()
        s = self.spec
        if s.key_size != 0 or s.value_size <= 0:
            raise fail(
                f"{s.type.name.lower()} map {s.name!r}: key_size must be 0 and value_size > 0",
                EINVAL,
            )
        if s.flags & ~QUEUE_STACK_CREATE_FLAGS:
            raise fail(
                f"{s.type.name.lower()} map {s.name!r}: unsupported flags {s.flags:#x}", EINVAL
            )
        if s.max_entries > MAX_ENTRIES:
            raise fail(f"map {s.name!r}: max_entries {s.max_entries} is too large", E2BIG)

    # --- ring ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return (self.head - self.tail) % self.size

    @property
    def full(self) -> bool:
        return len(self) == self.max_entries

    def _addr(self, index: int) -> int:
        return self.base + index * self.elem_size

    def push_value(self, value: bytes, flags: int = UpdateFlags.ANY) -> int:
        """Push; 0 or a negative errno (program-side bpf_map_push_elem)."""
        if flags & UpdateFlags.NOEXIST or flags > UpdateFlags.EXIST or flags < 0:
            return -EINVAL
        if len(value) < self.value_size:
            return -EINVAL
        if self.full:
            if not flags & UpdateFlags.EXIST:
                return -E2BIG
            self.tail = (self.tail + 1) % self.size  # drop the oldest element
        write_mem(self._addr(self.head), bytes(value[: self.value_size]))
        self.head = (self.head + 1) % self.size
        return 0

    def _top_index(self) -> int:
        return (self.head - 1) % self.size if self.lifo else self.tail

    def peek_value(self) -> bytes | None:
        if len(self) == 0:
            return None
        return read_mem(self._addr(self._top_index()), self.value_size)

    def pop_value(self) -> bytes | None:
        value = self.peek_value()
        if value is None:
            return None
        if self.lifo:
            self.head = (self.head - 1) % self.size
        else:
            self.tail = (self.tail + 1) % self.size
        return value

    # --- user-facing API -------------------------------------------------------------------
    def push(self, value: bytes | int, flags: int = UpdateFlags.ANY) -> None:
        """Push a value (BPF_EXIST: overwrite the oldest element when full)."""
        self.update(b"", self._value(value), flags)

    def pop(self) -> bytes:
        """Remove and return the next value (MapError ENOENT when empty)."""
        self.check_syscall_write()
        value = self.pop_value()
        if value is None:
            raise fail(f"map {self.name!r} is empty", ENOENT)
        return value

    def peek(self) -> bytes:
        """The next value without removing it (MapError ENOENT when empty)."""
        self.check_syscall_read()
        value = self.peek_value()
        if value is None:
            raise fail(f"map {self.name!r} is empty", ENOENT)
        return value

    def lookup_and_delete(self, key: bytes | None = None) -> bytes | list[bytes] | None:
        """BPF_MAP_LOOKUP_AND_DELETE_ELEM: pop (None when empty, like the kernel engine's map)."""
        self.check_syscall_write()
        return self.pop_value()

    def drain(self) -> Iterator[bytes]:
        """Pop every value in order."""
        while len(self):
            value = self.pop_value()
            if value is None:
                break
            yield value

    # --- engine.Map ------------------------------------------------------------------------
    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        self.check_syscall_read()
        if key:
            raise fail("queue and stack maps have no keys", EINVAL)
        return self.peek_value()

    def update(self, key: bytes, value: bytes | list[bytes], flags: int = UpdateFlags.ANY) -> None:
        self.check_syscall_write()
        if key:
            raise fail("queue and stack maps have no keys", EINVAL)
        if flags & UpdateFlags.LOCK:
            raise fail("BPF_F_LOCK on a map without a bpf_spin_lock", EINVAL)
        err = self.push_value(self.check_value(value), flags)
        if err == -E2BIG:
            raise fail(f"map {self.name!r} is full ({self.max_entries} entries)", E2BIG)
        if err:
            raise fail(f"invalid push flags {flags:#x}", -err)

    def delete(self, key: bytes) -> None:
        self.check_syscall_write()
        raise fail("queue and stack maps do not support delete (use pop)", EINVAL)

    def next_key(self, key: bytes | None) -> bytes | None:
        self.check_open()
        raise fail("queue and stack maps cannot be iterated by key (use pop/drain)", EINVAL)

    def keys(self) -> Iterator[bytes]:
        raise fail("queue and stack maps have no keys (use pop/peek/drain)", EINVAL)

    # --- program side ----------------------------------------------------------------------
    def prog_lookup(self, key: bytes, cpu: int = 0) -> int | None:
        return None  # the verifier refuses map_lookup_elem on queue/stack maps

    def prog_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        return -EINVAL

    def prog_delete(self, key: bytes) -> int:
        return -EINVAL

    def memory_regions(self) -> list[MemoryRegion]:
        return []  # programs never get pointers into queue/stack storage


class QueueMap(QueueStackMap):
    """BPF_MAP_TYPE_QUEUE: pop and peek take the oldest value (FIFO)."""

    map_types = (MapType.QUEUE,)
    lifo = False
