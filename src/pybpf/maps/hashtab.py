"""The native hash table behind every hash map type (open addressing in ctypes memory, JIT-readable).

Layout of the table block (all little-endian; offsets in bytes from `HashTable.base`):

    header (128 bytes), u32 fields at 4*i:
      0 magic 0x54484250 ("PBHT")   1 layout version (1)   2 key_size   3 value_size
      4 max_entries   5 n_buckets (power of two >= 2*max_entries)   6 count (live entries)
      7 tombstones    8 free_top (free slots on the free stack)      9 entry_size
      10 key_off (8)  11 value_off (in the entry; 0 for per-CPU maps)  12 buckets_off
      13 free_off     14 stamps_off   15 used_off   16 entries_off   17 percpu (0/1)
      18 percpu_stride (bytes of one CPU's value block)   19 value_elem (round_up(value_size, 8))
      u64 at byte 96: reserved   u64 at byte 104: address of the per-CPU value block
    buckets  u32[n_buckets]: 0 empty, 0xFFFFFFFF deleted (tombstone), else slot + 1
    free     u32[max_entries]: stack of free slot numbers, the top is free[free_top - 1]
    stamps   u64[max_entries]: reserved (zero)
    used     u8[max_entries]: 1 when the slot holds a live entry
    entries  entry_size bytes per slot: u32 hash, u32 pad, key (round_up(key_size, 8)),
             value (round_up(value_size, 8); absent for per-CPU maps)

Hash: FNV-1a 32-bit over the key bytes (offset basis 0x811C9DC5, prime 0x01000193). A key lives
in the first bucket of the probe sequence h & (n-1), h+1, ... whose slot holds the same hash and
key; an empty bucket ends the search. Per-CPU values of slot s on CPU c are at
`percpu_base + c * percpu_stride + s * value_elem`. Value addresses never move while the entry
lives (rehashing rewrites only the buckets).
"""

from __future__ import annotations

import ctypes
import struct

MAGIC = 0x54484250
HEADER_SIZE = 128
EMPTY = 0
TOMBSTONE = 0xFFFFFFFF
FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193

H_COUNT, H_TOMBSTONES, H_FREE_TOP = 6, 7, 8


def fnv1a(key: bytes) -> int:
    """FNV-1a 32-bit hash of `key` (the table's hash function)."""
    h = FNV_OFFSET
    for b in key:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFF
    return h


def _r8(n: int) -> int:
    return (n + 7) & ~7


class HashTable:
    """Open-addressing table with preallocated entries; operations take and return slot numbers."""

    def __init__(self, key_size: int, value_size: int, max_entries: int, *, ncpus: int = 0) -> None:
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.percpu = ncpus > 0
        nb = 8
        while nb < 2 * max_entries:
            nb *= 2
        self.n_buckets = nb
        self.mask = nb - 1
        self.value_elem = _r8(value_size)
        self.key_off = 8
        self.value_off = 0 if self.percpu else 8 + _r8(key_size)
        self.entry_size = 8 + _r8(key_size) + (0 if self.percpu else self.value_elem)
        self.buckets_off = HEADER_SIZE
        self.free_off = self.buckets_off + 4 * nb
        self.stamps_off = _r8(self.free_off + 4 * max_entries)
        self.used_off = self.stamps_off + 8 * max_entries
        self.entries_off = _r8(self.used_off + max_entries)
        size = self.entries_off + self.entry_size * max_entries
        self._buf = ctypes.create_string_buffer(size)
        self.base = ctypes.addressof(self._buf)
        self.size = size
        self.mem = memoryview(self._buf).cast("B")
        self.words = self.mem[: self.free_off + 4 * max_entries].cast("I")
        self.buckets = self.mem[self.buckets_off : self.free_off].cast("I")
        self.free = self.mem[self.free_off : self.free_off + 4 * max_entries].cast("I")
        self.stamps = self.mem[self.stamps_off : self.used_off].cast("Q")
        self.used = self.mem[self.used_off : self.used_off + max_entries]
        self.percpu_stride = max_entries * self.value_elem
        self.percpu_base = 0
        self._percpu_buf: ctypes.Array[ctypes.c_char] | None = None
        if self.percpu:
            self._percpu_buf = ctypes.create_string_buffer(max(self.percpu_stride * ncpus, 1))
            self.percpu_base = ctypes.addressof(self._percpu_buf)
            self.percpu_size = self.percpu_stride * ncpus
        header = [
            MAGIC, 1, key_size, value_size, max_entries, nb, 0, 0, max_entries, self.entry_size,
            self.key_off, self.value_off, self.buckets_off, self.free_off, self.stamps_off,
            self.used_off, self.entries_off, int(self.percpu), self.percpu_stride, self.value_elem,
        ]  # fmt: skip
        for i, v in enumerate(header):
            self.words[i] = v
        struct.pack_into("<Q", self.mem, 104, self.percpu_base)
        # the free stack pops slot 0 first
        for i in range(max_entries):
            self.free[i] = max_entries - 1 - i
        # where each free slot sits on the free stack (LRU maps take specific slots)
        self._free_pos = [max_entries - 1 - slot for slot in range(max_entries)]
        self._cache: dict[bytes, int] = {}
        # Python-side copy of `used` (every insert and delete goes through this class), so that
        # iteration can search it without copying native memory
        self._live = bytearray(max_entries)

    # --- header fields ---------------------------------------------------------------------
    @property
    def count(self) -> int:
        return int(self.words[H_COUNT])

    # --- addresses ---------------------------------------------------------------------------
    def entry_offset(self, slot: int) -> int:
        return self.entries_off + slot * self.entry_size

    def key_at(self, slot: int) -> bytes:
        off = self.entry_offset(slot) + self.key_off
        return bytes(self.mem[off : off + self.key_size])

    def value_address(self, slot: int, cpu: int = 0) -> int:
        if self.percpu:
            return self.percpu_base + cpu * self.percpu_stride + slot * self.value_elem
        return self.base + self.entry_offset(slot) + self.value_off

    # --- search ------------------------------------------------------------------------------
    def _matches(self, slot: int, key: bytes) -> bool:
        if not self.used[slot]:
            return False
        off = self.entry_offset(slot) + self.key_off
        return self.mem[off : off + self.key_size] == key

    def find(self, key: bytes) -> int | None:
        """The slot holding `key`, or None."""
        slot = self._cache.get(key)
        if slot is not None and self._matches(slot, key):
            return slot
        found = self._probe(key, fnv1a(key))[0]
        if found is not None:
            self._cache[key] = found
        return found

    def _probe(self, key: bytes, h: int) -> tuple[int | None, int]:
        """(slot of key or None, bucket index where it is or where it would be inserted)."""
        buckets = self.buckets
        i = h & self.mask
        insert_at = -1
        for _ in range(self.n_buckets):
            b = buckets[i]
            if b == EMPTY:
                return None, (i if insert_at < 0 else insert_at)
            if b == TOMBSTONE:
                if insert_at < 0:
                    insert_at = i
            else:
                slot = b - 1
                off = self.entry_offset(slot)
                if struct.unpack_from("<I", self.mem, off)[0] == h and self._matches(slot, key):
                    return slot, i
            i = (i + 1) & self.mask
        return None, insert_at

    # --- changes -----------------------------------------------------------------------------
    def insert(self, key: bytes) -> int | None:
        """Add `key` (which must be absent); returns its new slot, or None when every slot is used."""
        free_top = self.words[H_FREE_TOP]
        if free_top == 0:
            return None
        h = fnv1a(key)
        _, bucket = self._probe(key, h)
        slot = self.free[free_top - 1]
        self.words[H_FREE_TOP] = free_top - 1
        off = self.entry_offset(slot)
        struct.pack_into("<I", self.mem, off, h)
        self.mem[off + self.key_off : off + self.key_off + self.key_size] = key
        if self.buckets[bucket] == TOMBSTONE:
            self.words[H_TOMBSTONES] -= 1
        self.buckets[bucket] = slot + 1
        self.used[slot] = 1
        self._live[slot] = 1
        self.words[H_COUNT] += 1
        self._cache[key] = slot
        return int(slot)

    def insert_at(self, key: bytes, slot: int) -> None:
        """Add absent `key` in the free slot `slot` (LRU maps choose their slots)."""
        top = self.words[H_FREE_TOP]
        position = self._free_pos[slot]
        other = self.free[top - 1]
        self.free[position] = other
        self._free_pos[other] = position
        self.free[top - 1] = slot
        self._free_pos[slot] = top - 1
        placed = self.insert(key)
        assert placed == slot

    def remove(self, slot: int) -> None:
        """Delete the live entry in `slot`."""
        key = self.key_at(slot)
        h = struct.unpack_from("<I", self.mem, self.entry_offset(slot))[0]
        _, bucket = self._probe(key, h)
        self.buckets[bucket] = TOMBSTONE
        self.words[H_TOMBSTONES] += 1
        self.used[slot] = 0
        self._live[slot] = 0
        self.stamps[slot] = 0
        self.free[self.words[H_FREE_TOP]] = slot
        self._free_pos[slot] = self.words[H_FREE_TOP]
        self.words[H_FREE_TOP] += 1
        self.words[H_COUNT] -= 1
        self._cache.pop(key, None)
        if self.words[H_TOMBSTONES] > self.n_buckets // 4:
            self.rehash()

    def rehash(self) -> None:
        """Rebuild the buckets from the live entries (drops tombstones; slots do not move)."""
        for i in range(self.n_buckets):
            self.buckets[i] = EMPTY
        self.words[H_TOMBSTONES] = 0
        for slot in self.live_slots():
            h = struct.unpack_from("<I", self.mem, self.entry_offset(slot))[0]
            i = h & self.mask
            while self.buckets[i] != EMPTY:
                i = (i + 1) & self.mask
            self.buckets[i] = slot + 1

    def clear_values(self, slot: int, ncpus: int) -> None:
        """Zero the value (every CPU's copy) of `slot`."""
        if self.percpu:
            for cpu in range(ncpus):
                ctypes.memset(self.value_address(slot, cpu), 0, self.value_elem)
        else:
            ctypes.memset(self.value_address(slot), 0, self.value_elem)

    # --- iteration ------------------------------------------------------------------------------
    def live_slots(self) -> list[int]:
        used = self._live
        out = []
        i = used.find(1)
        while i >= 0:
            out.append(i)
            i = used.find(1, i + 1)
        return out

    def next_slot(self, after: int | None) -> int | None:
        """The first live slot after `after` (from the start when None)."""
        i = self._live.find(1, 0 if after is None else after + 1)
        return None if i < 0 else i
