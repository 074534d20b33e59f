"""BPF_MAP_TYPE_HASH: a preallocated hash map in native memory (the table layout: pybpf.maps.hashtab).

Semantics follow the kernel's htab: update flags BPF_ANY / BPF_NOEXIST (EEXIST when present) /
BPF_EXIST (ENOENT when absent), E2BIG when inserting into a full map, ENOENT when deleting a
missing key, and get_next_key returning the first key when the given key is missing. The
value of `key` lives at `HashMap.value_address(key)` until the key is deleted; replacing a
value writes in place. `HashMap.table.base` is the native table the docstring of hashtab lays out.
"""

from __future__ import annotations

from pybpf.abi import MapFlags, MapType, UpdateFlags
from pybpf.errors import MapError
from pybpf.maps.base import (
    ACCESS_FLAGS,
    E2BIG,
    EEXIST,
    EINVAL,
    ENOENT,
    ENOMEM,
    ENOTSUPP,
    MemoryRegion,
    NativeMap,
    fail,
    read_mem,
    write_mem,
)
from pybpf.maps.hashtab import HashTable
from pybpf.maps.lru import KernelLru
from pybpf.object.spec import MapSpec

HTAB_CREATE_FLAGS = int(
    MapFlags.NO_PREALLOC | MapFlags.NO_COMMON_LRU | MapFlags.NUMA_NODE | ACCESS_FLAGS | MapFlags.ZERO_SEED
)
MAX_ENTRIES = 1 << 24  # refuse tables larger than this in host memory


class HashMap(NativeMap):
    """A hash map (and, through the class attributes, its per-CPU and LRU variants)."""

    map_types = (MapType.HASH,)
    lru = False

    def __init__(self, spec: MapSpec) -> None:
        super().__init__(spec)
        capacity = spec.max_entries
        if (
            self.lru and spec.flags & MapFlags.NO_COMMON_LRU
        ):  # the kernel gives every CPU as many nodes
            capacity = -(-capacity // self.ncpus) * self.ncpus
        self.table = HashTable(
            spec.key_size, spec.value_size, capacity, ncpus=self.ncpus if self.percpu else 0
        )
        self.syscall_cpu = 0  # the CPU bpf() calls "run on" (LRU free lists are per CPU)
        self.lru_state: KernelLru | None = None
        if self.lru:
            self.lru_state = KernelLru(
                capacity,
                self.ncpus,
                percpu=bool(spec.flags & MapFlags.NO_COMMON_LRU),
                delete_key=self._evict,
            )

    def _evict(self, slot: int) -> bool:
        """The LRU reclaims `slot`: drop its element from the table (False if it holds none)."""
        if not self.table.used[slot]:
            return False
        self.table.remove(slot)
        return True

    def validate(self) -> None:
        super().validate()
        s = self.spec
        if s.key_size <= 0 or s.value_size <= 0:
            raise fail(f"hash map {s.name!r}: key_size and value_size must be > 0", EINVAL)
        if s.flags & ~HTAB_CREATE_FLAGS:
            raise fail(f"hash map {s.name!r}: unsupported flags {s.flags:#x}", EINVAL)
        if s.flags & MapFlags.NO_COMMON_LRU and not self.lru:
            raise fail(f"hash map {s.name!r}: BPF_F_NO_COMMON_LRU is only for LRU maps", EINVAL)
        if self.lru and s.flags & MapFlags.NO_PREALLOC:
            raise fail(f"LRU map {s.name!r} cannot be BPF_F_NO_PREALLOC", ENOTSUPP)
        if s.max_entries > MAX_ENTRIES:
            raise fail(f"hash map {s.name!r}: max_entries {s.max_entries} is too large", E2BIG)

    # --- engine.Map ------------------------------------------------------------------------
    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        self.check_syscall_read()
        slot = self.table.find(self.check_key(key))
        if slot is None:
            return None
        if self.percpu:
            return [
                read_mem(self.table.value_address(slot, c), self.value_size)
                for c in range(self.ncpus)
            ]
        return read_mem(self.table.value_address(slot), self.value_size)

    def update(self, key: bytes, value: bytes | list[bytes], flags: int = UpdateFlags.ANY) -> None:
        self.check_syscall_write()
        flags = self.check_update_flags(flags)
        key = self.check_key(key)
        values = self.percpu_values(value) if self.percpu else [self.check_value(value)]
        if self.lru_state is not None:
            self._lru_update(key, values, flags, self.syscall_cpu, all_cpus=True)
            return
        slot = self._slot_for_update(key, flags)
        if self.percpu:
            for cpu, v in enumerate(values):
                write_mem(self.table.value_address(slot, cpu), v)
        else:
            write_mem(self.table.value_address(slot), values[0])

    def _slot_for_update(self, key: bytes, flags: int) -> int:
        """The slot to write `key`'s value to (inserting when the flags allow; hash maps only)."""
        table = self.table
        slot = table.find(key)
        if slot is not None:
            if flags == UpdateFlags.NOEXIST:
                raise fail("key exists (BPF_NOEXIST)", EEXIST)
            return slot
        if flags == UpdateFlags.EXIST:
            raise fail("key does not exist (BPF_EXIST)", ENOENT)
        new = table.insert(key)
        if new is None:
            raise fail(f"map {self.name!r} is full ({self.max_entries} entries)", E2BIG)
        table.clear_values(new, self.ncpus)
        return new

    def _lru_update(
        self, key: bytes, values: list[bytes], flags: int, cpu: int, *, all_cpus: bool
    ) -> None:
        """htab_lru_map_update_elem / htab_lru_percpu_map_update_elem, step for step."""
        lru, table = self.lru_state, self.table
        assert lru is not None
        node = None
        if not (self.percpu and flags == UpdateFlags.EXIST):
            node = lru.pop_free(cpu)  # may evict the least recently used elements
            if node is None:
                raise fail(f"LRU map {self.name!r} has no free element", ENOMEM)
        old = table.find(key)
        if (flags == UpdateFlags.NOEXIST and old is not None) or (
            flags == UpdateFlags.EXIST and old is None
        ):
            if node is not None:
                lru.push_free(node)
            if old is not None:
                raise fail("key exists (BPF_NOEXIST)", EEXIST)
            raise fail("key does not exist (BPF_EXIST)", ENOENT)
        if self.percpu:
            if old is not None:
                lru.set_ref(old)
                target = old
            else:
                assert node is not None
                table.insert_at(key, node)
                table.clear_values(node, self.ncpus)
                target, node = node, None
            self._write_values(target, values, cpu, all_cpus)
            if node is not None:
                lru.push_free(node)
            return
        assert node is not None
        if old is not None:
            table.remove(old)
        table.insert_at(key, node)
        write_mem(table.value_address(node), values[0])
        if old is not None:
            lru.set_ref(node)
            lru.push_free(old)

    def _write_values(self, slot: int, values: list[bytes], cpu: int, all_cpus: bool) -> None:
        if all_cpus:
            for c, v in enumerate(values):
                write_mem(self.table.value_address(slot, c), v)
        else:
            write_mem(self.table.value_address(slot, cpu), values[0])

    def lookup_and_delete(self, key: bytes | None = None) -> bytes | list[bytes] | None:
        """The value of `key` (None when absent), removed from the map."""
        if key is None:
            raise fail("lookup-and-delete on a hash map needs a key", EINVAL)
        value = self.lookup(key)
        if value is not None:
            self.delete(key)
        return value

    def delete(self, key: bytes) -> None:
        self.check_syscall_write()
        slot = self.table.find(self.check_key(key))
        if slot is None:
            raise fail("key does not exist", ENOENT)
        self.table.remove(slot)
        if self.lru_state is not None:
            self.lru_state.push_free(slot)

    def next_key(self, key: bytes | None) -> bytes | None:
        self.check_syscall_read()
        current = None if key is None else self.table.find(self.check_key(key))
        slot = self.table.next_slot(current)
        return None if slot is None else self.table.key_at(slot)

    def __len__(self) -> int:
        return self.table.count

    # --- program side ----------------------------------------------------------------------
    def value_address(self, key: bytes, cpu: int = 0) -> int | None:
        if len(key) != self.key_size:
            return None
        slot = self.table.find(bytes(key))
        if slot is None or (self.percpu and not 0 <= cpu < self.ncpus):
            return None
        return self.table.value_address(slot, cpu)

    def prog_lookup(self, key: bytes, cpu: int = 0) -> int | None:
        if len(key) != self.key_size:
            return None
        slot = self.table.find(bytes(key))
        if slot is None or (self.percpu and not 0 <= cpu < self.ncpus):
            return None
        if self.lru_state is not None:
            self.lru_state.set_ref(slot)  # a program lookup marks the element referenced
        return self.table.value_address(slot, cpu)

    def prog_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        if flags & ~UpdateFlags.LOCK > UpdateFlags.EXIST or flags < 0 or flags & UpdateFlags.LOCK:
            return -EINVAL
        if len(key) != self.key_size or len(value) < self.value_size:
            return -EINVAL
        if self.percpu and not 0 <= cpu < self.ncpus:
            return -EINVAL
        data = bytes(value[: self.value_size])
        if self.lru_state is not None:
            try:
                self._lru_update(bytes(key), [data], flags, cpu, all_cpus=False)
            except MapError as exc:
                return -exc.errno
            return 0
        try:
            slot = self._slot_for_update(bytes(key), flags)
        except MapError as exc:
            return -exc.errno
        if self.percpu:
            # a new element gets this CPU's value and zeroes elsewhere (cleared on insert)
            write_mem(self.table.value_address(slot, cpu), data)
        else:
            write_mem(self.table.value_address(slot), data)
        return 0

    def prog_delete(self, key: bytes) -> int:
        if len(key) != self.key_size:
            return -EINVAL
        slot = self.table.find(bytes(key))
        if slot is None:
            return -ENOENT
        self.table.remove(slot)
        if self.lru_state is not None:
            self.lru_state.push_free(slot)
        return 0

    def memory_regions(self) -> list[MemoryRegion]:
        w = self.prog_writable
        t = self.table
        regions = [
            MemoryRegion(
                t.base + t.entries_off, t.entry_size * t.max_entries, w, f"map {self.name}"
            )
        ]
        if self.percpu:
            regions = [
                MemoryRegion(t.percpu_base, t.percpu_size, w, f"map {self.name} (per-CPU values)")
            ]
        return regions

    def value_span(self, address: int) -> tuple[int, int] | None:
        t = self.table
        if self.percpu:
            offset = address - t.percpu_base
            if not 0 <= offset < t.percpu_size:
                return None
            slot = (offset % t.percpu_stride) // t.value_elem
            start = address - (offset % t.value_elem)
        else:
            offset = address - (t.base + t.entries_off)
            if not 0 <= offset < t.entry_size * t.max_entries:
                return None
            slot = offset // t.entry_size
            start = t.value_address(slot)
        if not t.used[slot] or not start <= address < start + self.value_size:
            return None
        return start, self.value_size
