"""BPF_MAP_TYPE_LPM_TRIE: longest-prefix-match lookups on keys of (u32 prefixlen, data bytes).

The key is `struct bpf_lpm_trie_key_u8 { __u32 prefixlen; __u8 data[]; }` (prefixlen in host
order, data in network order, bits numbered from the most significant bit of data[0]).
A lookup returns the value of the stored prefix with the largest prefixlen p <= the key's
prefixlen whose first p bits equal the key's. Like the kernel: creation needs
BPF_F_NO_PREALLOC, 1..256 data bytes; update of a prefixlen above 8*data_size is EINVAL, a
full trie gives ENOSPC, delete needs the exact prefix (ENOENT otherwise); get_next_key walks
in post-order (more specific prefixes first, 0 bits before 1 bits) and restarts from the first
key when the given key is missing.

Native layout: values in `max_entries` slots of round_up(value_size, 8) bytes at `base`; the
prefix index is Python-side (a JIT calls back for lookups).
"""

from __future__ import annotations

import struct

from pybpf.abi import MapFlags, MapType, UpdateFlags
from pybpf.errors import MapError
from pybpf.maps.base import (
    ACCESS_FLAGS,
    EEXIST,
    EINVAL,
    ENOENT,
    ENOSPC,
    MemoryRegion,
    NativeMap,
    fail,
    read_mem,
    round8,
    write_mem,
)
from pybpf.object.spec import MapSpec

LPM_CREATE_FLAGS = int(MapFlags.NO_PREALLOC | MapFlags.NUMA_NODE | ACCESS_FLAGS)
LPM_DATA_SIZE_MAX = 256
MAX_ENTRIES = 1 << 24


def mask_prefix(data: bytes, prefixlen: int) -> bytes:
    """`data` with every bit after the first `prefixlen` cleared."""
    full, rest = divmod(prefixlen, 8)
    if full >= len(data):
        return bytes(data)
    tail = bytes(len(data) - full - (1 if rest else 0))
    if rest:
        return data[:full] + bytes((data[full] & (0xFF << (8 - rest)) & 0xFF,)) + tail
    return data[:full] + tail


def postorder_key(prefixlen: int, data: bytes) -> str:
    """Sort key giving the kernel's get_next_key order: children before parents, 0 before 1."""
    bits = "".join(f"{b:08b}" for b in data)[:prefixlen]
    return bits + "2"


class LpmTrieMap(NativeMap):
    """An LPM trie map."""

    map_types = (MapType.LPM_TRIE,)

    def __init__(self, spec: MapSpec) -> None:
        super().__init__(spec)
        self.data_size = spec.key_size - 4
        self.max_prefixlen = 8 * self.data_size
        self.elem_size = round8(spec.value_size)
        self.base = self.allocate(self.elem_size * spec.max_entries)
        self._free = list(range(spec.max_entries - 1, -1, -1))
        # (prefixlen, masked data) -> (slot, the key bytes as last written)
        self._entries: dict[tuple[int, bytes], tuple[int, bytes]] = {}
        self._plens: dict[int, int] = {}  # prefixlen -> number of entries with it
        self._plens_desc: list[int] = []  # the prefix lengths in use, longest first
        self._order: list[tuple[int, bytes]] | None = None  # cached post-order
        self._position: dict[tuple[int, bytes], int] = {}
        self._live: set[int] = set()

    def validate(self) -> None:
        super().validate()
        s = self.spec
        if not s.flags & MapFlags.NO_PREALLOC:
            raise fail(f"LPM trie {s.name!r} must be created with BPF_F_NO_PREALLOC", EINVAL)
        if s.flags & ~LPM_CREATE_FLAGS:
            raise fail(f"LPM trie {s.name!r}: unsupported flags {s.flags:#x}", EINVAL)
        if not 5 <= s.key_size <= 4 + LPM_DATA_SIZE_MAX:
            raise fail(
                f"LPM trie {s.name!r}: key_size must be 5..260 (u32 prefixlen + data)", EINVAL
            )
        if s.value_size <= 0:
            raise fail(f"LPM trie {s.name!r}: value_size must be > 0", EINVAL)
        if s.max_entries > MAX_ENTRIES:
            raise fail(f"LPM trie {s.name!r}: max_entries {s.max_entries} is too large", EINVAL)

    # --- key handling ------------------------------------------------------------------------
    def _split(self, key: bytes) -> tuple[int, bytes]:
        prefixlen = struct.unpack_from("<I", key)[0]
        return prefixlen, bytes(key[4:])

    def _match(self, key: bytes) -> tuple[int, bytes] | None:
        """The stored entry index (prefixlen, masked) that is the longest match for `key`."""
        prefixlen, data = self._split(key)
        if prefixlen > self.max_prefixlen:
            return None  # the kernel finds nothing for an over-long lookup key
        entries = self._entries
        for plen in self._plens_desc:
            if plen > prefixlen:
                continue
            index = (plen, mask_prefix(data, plen))
            if index in entries:
                return index
        return None

    # --- engine.Map ------------------------------------------------------------------------
    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        self.check_syscall_read()
        index = self._match(self.check_key(key))
        if index is None:
            return None
        return read_mem(self._addr(self._entries[index][0]), self.value_size)

    def _addr(self, slot: int) -> int:
        return self.base + slot * self.elem_size

    def _update(self, key: bytes, value: bytes, flags: int) -> None:
        if flags < 0 or flags > UpdateFlags.EXIST:
            raise fail(f"invalid update flags {flags:#x}", EINVAL)
        prefixlen, data = self._split(key)
        if prefixlen > self.max_prefixlen:
            raise fail(f"prefixlen {prefixlen} exceeds {self.max_prefixlen}", EINVAL)
        index = (prefixlen, mask_prefix(data, prefixlen))
        found = self._entries.get(index)
        if found is not None:
            if flags == UpdateFlags.NOEXIST:
                raise fail("prefix exists (BPF_NOEXIST)", EEXIST)
            slot = found[0]
        else:
            if flags == UpdateFlags.EXIST:
                raise fail("prefix does not exist (BPF_EXIST)", ENOENT)
            if not self._free:
                raise fail(f"LPM trie {self.name!r} is full ({self.max_entries} entries)", ENOSPC)
            slot = self._free.pop()
            self._plens[prefixlen] = self._plens.get(prefixlen, 0) + 1
            self._plens_desc = sorted(self._plens, reverse=True)
            self._live.add(slot)
            self._order = None
        self._entries[index] = (slot, bytes(key))
        write_mem(self._addr(slot), value)

    def update(self, key: bytes, value: bytes | list[bytes], flags: int = UpdateFlags.ANY) -> None:
        self.check_syscall_write()
        if flags & UpdateFlags.LOCK:
            raise fail("BPF_F_LOCK on a map without a bpf_spin_lock", EINVAL)
        self._update(self.check_key(key), self.check_value(value), flags)

    def _delete(self, key: bytes) -> None:
        prefixlen, data = self._split(key)
        if prefixlen > self.max_prefixlen:
            raise fail(f"prefixlen {prefixlen} exceeds {self.max_prefixlen}", EINVAL)
        index = (prefixlen, mask_prefix(data, prefixlen))
        found = self._entries.pop(index, None)
        if found is None:
            raise fail("prefix does not exist", ENOENT)
        self._free.append(found[0])
        self._live.discard(found[0])
        self._plens[prefixlen] -= 1
        if not self._plens[prefixlen]:
            del self._plens[prefixlen]
            self._plens_desc = sorted(self._plens, reverse=True)
        self._order = None

    def delete(self, key: bytes) -> None:
        self.check_syscall_write()
        self._delete(self.check_key(key))

    def _postorder(self) -> list[tuple[int, bytes]]:
        if self._order is None:
            self._order = sorted(self._entries, key=lambda i: postorder_key(i[0], i[1]))
            self._position = {index: n for n, index in enumerate(self._order)}
        return self._order

    def next_key(self, key: bytes | None) -> bytes | None:
        self.check_syscall_read()
        order = self._postorder()
        if not order:
            return None
        position = -1
        if key is not None:
            prefixlen, data = self._split(self.check_key(key))
            if prefixlen <= self.max_prefixlen:
                index = (prefixlen, mask_prefix(data, prefixlen))
                if index in self._entries:
                    position = self._position[index]
        if position + 1 >= len(order):
            return None
        return self._entries[order[position + 1]][1]

    def __len__(self) -> int:
        return len(self._entries)

    # --- program side ----------------------------------------------------------------------
    def value_address(self, key: bytes, cpu: int = 0) -> int | None:
        if len(key) != self.key_size:
            return None
        index = self._match(bytes(key))
        return None if index is None else self._addr(self._entries[index][0])

    def prog_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        if len(key) != self.key_size or len(value) < self.value_size:
            return -EINVAL
        try:
            self._update(bytes(key), bytes(value[: self.value_size]), flags)
        except MapError as exc:
            return -exc.errno
        return 0

    def prog_delete(self, key: bytes) -> int:
        if len(key) != self.key_size:
            return -EINVAL
        try:
            self._delete(bytes(key))
        except MapError as exc:
            return -exc.errno
        return 0

    def memory_regions(self) -> list[MemoryRegion]:
        size = self.elem_size * self.max_entries
        return [MemoryRegion(self.base, size, self.prog_writable, f"map {self.name}")]

    def value_span(self, address: int) -> tuple[int, int] | None:
        offset = address - self.base
        if not 0 <= offset < self.elem_size * self.max_entries:
            return None
        slot = offset // self.elem_size
        start = self._addr(slot)
        if slot not in self._live or address >= start + self.value_size:
            return None
        return start, self.value_size
