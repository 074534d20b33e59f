"""BPF_MAP_TYPE_RINGBUF: the kernel's multi-producer ring buffer, in native memory, with a reader.

Native layout (the kernel's mmap layout; addresses from `RingBuffer.base`):

    +0      consumer page: u64 consumer_pos
    +4096   producer page: u64 producer_pos, u64 pending_pos (oldest record still busy)
    +8192   data: 2 * size bytes. Record positions are taken modulo size; a record that runs
            past the end continues in the second copy (the kernel maps the data twice, pybpf
            folds the overflow back to the start of the ring when the record is committed).

A record is an 8-byte header (u32 len with BPF_RINGBUF_BUSY_BIT (1<<31) while reserved and
BPF_RINGBUF_DISCARD_BIT (1<<30) once discarded; u32 page offset) followed by the sample, padded
to 8 bytes. Reserving fails (NULL / -EAGAIN) when the producer would get `size` bytes or more ahead
of the consumer or of the oldest busy record. Records are consumed in order; a busy record stops
the reader until it is submitted or discarded. The size must be a power of two and a multiple
of the page size; key_size and value_size must be 0. bpf() lookups, updates, deletes and
get_next_key are ENOTSUPP (524), as in the kernel.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from collections.abc import Callable, Iterator

from pybpf.abi import MapFlags, MapType, UpdateFlags
from pybpf.maps.base import (
    ACCESS_FLAGS,
    EAGAIN,
    EINVAL,
    ENOTSUPP,
    MemoryRegion,
    NativeMap,
    NoProgramElements,
    fail,
    round8,
)
from pybpf.object.spec import MapSpec

PAGE_SIZE = 4096
HDR_SIZE = 8
BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
MAX_RECORD_SIZE = 0xFFFFFFFF // 4
BPF_RB_NO_WAKEUP = 1
BPF_RB_FORCE_WAKEUP = 2
BPF_RB_AVAIL_DATA = 0
BPF_RB_RING_SIZE = 1
BPF_RB_CONS_POS = 2
BPF_RB_PROD_POS = 3
MAX_SIZE = 1 << 30
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


class RingBuffer(NoProgramElements, NativeMap):
    """A ring buffer map: programs reserve/submit/discard/output, user space consumes records."""

    map_types = (MapType.RINGBUF,)
    prog_errno = ENOTSUPP  # bpf_map_update_elem/delete_elem on a ring buffer

    def __init__(self, spec: MapSpec) -> None:
        super().__init__(spec)
        self.size = spec.max_entries
        self.mask = self.size - 1
        self._buf = ctypes.create_string_buffer(2 * PAGE_SIZE + 2 * self.size)
        self._buffers.append(self._buf)
        self.base = ctypes.addressof(self._buf)
        self.data = self.base + 2 * PAGE_SIZE
        self.mem = memoryview(self._buf).cast("B")
        # u64 view of the two position pages (consumer at [0], producer at [512], pending at [513])
        self.pos = self.mem[: 2 * PAGE_SIZE].cast("Q")
        # u32 view of the data area: the header of the record at ring offset o is hdr[o // 4]
        self.hdr = self.mem[2 * PAGE_SIZE :].cast("I")
        self.wakeups = 0  # notifications a reader would have received
        self.on_wakeup: Callable[[], None] | None = None
        self._ready = threading.Condition()  # notified on every wakeup (readers in other threads)
        self.lost = 0  # records that did not fit (reserve failures)

    def validate(self) -> None:
        super().validate()
        s = self.spec
        if s.key_size or s.value_size:
            raise fail(f"ring buffer {s.name!r}: key_size and value_size must be 0", EINVAL)
        size = s.max_entries
        if size & (size - 1) or size % PAGE_SIZE or size > MAX_SIZE:
            raise fail(
                f"ring buffer {s.name!r}: size {size} must be a power of 2 and page-aligned", EINVAL
            )
        if s.flags & ~int(MapFlags.NUMA_NODE | ACCESS_FLAGS):
            raise fail(f"ring buffer {s.name!r}: unsupported flags {s.flags:#x}", EINVAL)

    # --- positions -------------------------------------------------------------------------
    _CONS, _PROD, _PEND = 0, PAGE_SIZE // 8, PAGE_SIZE // 8 + 1

    def _get(self, offset: int) -> int:
        return int(self.pos[offset // 8])

    def _set(self, offset: int, value: int) -> None:
        self.pos[offset // 8] = value

    @property
    def consumer_pos(self) -> int:
        return int(self.pos[0])

    @property
    def producer_pos(self) -> int:
        return int(self.pos[self._PROD])

    @property
    def pending_pos(self) -> int:
        return int(self.pos[self._PEND])

    def _data_off(self, pos: int) -> int:
        """Offset in `mem` of ring position `pos`."""
        return 2 * PAGE_SIZE + (pos & self.mask)

    # --- producer side (helpers) -------------------------------------------------------------
    def reserve(self, size: int, flags: int = 0) -> int:
        """bpf_ringbuf_reserve: the address of `size` writable bytes, or 0 (NULL) when it cannot."""
        if flags or size < 0 or size > MAX_RECORD_SIZE:
            return 0
        length = (size + HDR_SIZE + 7) & ~7
        pos, hdr, mask = self.pos, self.hdr, self.mask
        if length > self.size:
            self.lost += 1
            return 0
        prod = pos[self._PROD]
        pend = pos[self._PEND]
        while pend < prod:  # advance the pending position past committed records
            hdr_len = hdr[(pend & mask) >> 2]
            if hdr_len & BUSY_BIT:
                break
            pend += ((hdr_len & ~DISCARD_BIT) + HDR_SIZE + 7) & ~7
        pos[self._PEND] = pend
        new_prod = prod + length
        if new_prod - pos[0] > mask or new_prod - pend > mask:
            self.lost += 1
            return 0
        off = prod & mask
        hdr[off >> 2] = size | BUSY_BIT
        hdr[(off >> 2) + 1] = ((off + 2 * PAGE_SIZE) // PAGE_SIZE) & 0xFFFFFFFF
        pos[self._PROD] = new_prod
        return self.data + off + HDR_SIZE

    def is_record(self, address: int) -> bool:
        """Whether `address` is the sample address of a record that is still reserved."""
        rec = address - HDR_SIZE - self.data
        return 0 <= rec < self.size and not rec & 7 and bool(self.hdr[rec >> 2] & BUSY_BIT)

    def record_size(self, address: int) -> int:
        """The size a reserved record at sample `address` was reserved with."""
        off = address - HDR_SIZE - self.base
        return int(_U32.unpack_from(self.mem, off)[0] & ~(BUSY_BIT | DISCARD_BIT))

    def commit(self, address: int, flags: int = 0, *, discard: bool = False) -> None:
        """bpf_ringbuf_submit / bpf_ringbuf_discard of the record whose sample is at `address`."""
        rec = address - HDR_SIZE - self.data  # ring offset of the header
        hdr = self.hdr
        if not (0 <= rec < self.size and not rec & 7 and hdr[rec >> 2] & BUSY_BIT):
            raise fail(
                f"{address:#x} is not a reserved record of ring buffer {self.name!r}", EINVAL
            )
        size = hdr[rec >> 2] & ~(BUSY_BIT | DISCARD_BIT)
        end = rec + HDR_SIZE + ((size + 7) & ~7)
        if end > self.size and not discard:  # fold the part past the end back to the start
            over = end - self.size
            base = 2 * PAGE_SIZE
            self.mem[base : base + over] = self.mem[base + self.size : base + self.size + over]
        hdr[rec >> 2] = size | (DISCARD_BIT if discard else 0)
        if flags & BPF_RB_FORCE_WAKEUP or (
            not flags & BPF_RB_NO_WAKEUP and (self.pos[0] & self.mask) == rec
        ):
            self.wakeups += 1
            if self.on_wakeup is not None:
                self.on_wakeup()
            with self._ready:
                self._ready.notify_all()

    def output(self, data: bytes, flags: int = 0) -> int:
        """bpf_ringbuf_output: 0, -EINVAL for bad flags, -EAGAIN when there is no room."""
        if flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP):
            return -EINVAL
        address = self.reserve(len(data))
        if not address:
            return -EAGAIN
        off = address - self.base
        self.mem[off : off + len(data)] = data
        self.commit(address, flags)
        return 0

    def query(self, flags: int) -> int:
        """bpf_ringbuf_query: BPF_RB_AVAIL_DATA, RING_SIZE, CONS_POS or PROD_POS (0 otherwise)."""
        if flags == BPF_RB_AVAIL_DATA:
            return self.producer_pos - self.consumer_pos
        if flags == BPF_RB_RING_SIZE:
            return self.size
        if flags == BPF_RB_CONS_POS:
            return self.consumer_pos
        if flags == BPF_RB_PROD_POS:
            return self.producer_pos
        return 0

    # --- consumer side ---------------------------------------------------------------------
    def consume(self, limit: int | None = None) -> list[bytes]:
        """Take up to `limit` committed records in order (discarded ones are skipped)."""
        out: list[bytes] = []
        pos, hdr, mask, mem = self.pos, self.hdr, self.mask, self.mem
        cons = pos[0]
        prod = pos[self._PROD]
        base = 2 * PAGE_SIZE
        ring_end = base + self.size
        while cons < prod and (limit is None or len(out) < limit):
            off = cons & mask
            hdr_len = hdr[off >> 2]
            if hdr_len & BUSY_BIT:
                break
            size = hdr_len & ~DISCARD_BIT
            if not hdr_len & DISCARD_BIT:
                start = base + off + HDR_SIZE
                if start + size <= ring_end:
                    out.append(bytes(mem[start : start + size]))
                else:
                    out.append(self._read_record(start, size))
            cons += (size + HDR_SIZE + 7) & ~7
            pos[0] = cons
        return out

    def read_available(self, limit: int = 0) -> list[bytes]:
        """Every committed record available now (up to `limit` when > 0): the kernel reader's name."""
        return self.consume(limit or None)

    def _read_record(self, off: int, size: int) -> bytes:
        ring_end = 2 * PAGE_SIZE + self.size
        if off + size <= ring_end:
            return bytes(self.mem[off : off + size])
        first = bytes(self.mem[off:ring_end])
        return first + bytes(self.mem[2 * PAGE_SIZE : 2 * PAGE_SIZE + size - len(first)])

    def __iter__(self) -> Iterator[bytes]:
        """Consume and yield every committed record."""
        while True:
            batch = self.consume(64)
            if not batch:
                return
            yield from batch

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a committed record is waiting (or `timeout` seconds pass); True if one is."""
        with self._ready:
            return self._ready.wait_for(lambda: len(self) > 0, timeout)

    def poll(self, callback: Callable[[bytes], object], limit: int | None = None) -> int:
        """Call `callback(record)` for each committed record (like ring_buffer__consume); returns the count."""
        records = self.consume(limit)
        for record in records:
            callback(record)
        return len(records)

    @property
    def available(self) -> int:
        """Bytes between the consumer and the producer (BPF_RB_AVAIL_DATA)."""
        return self.producer_pos - self.consumer_pos

    def __len__(self) -> int:
        """Committed, not discarded records waiting to be consumed."""
        count, cons, prod = 0, self.consumer_pos, self.producer_pos
        while cons < prod:
            hdr_len = _U32.unpack_from(self.mem, self._data_off(cons))[0]
            if hdr_len & BUSY_BIT:
                break
            count += 0 if hdr_len & DISCARD_BIT else 1
            cons += round8((hdr_len & ~DISCARD_BIT) + HDR_SIZE)
        return count

    # --- engine.Map: the kernel refuses element operations on ring buffers -------------------
    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        self.check_open()
        raise fail("ring buffers have no elements (use consume())", ENOTSUPP)

    def update(self, key: bytes, value: bytes | list[bytes], flags: int = UpdateFlags.ANY) -> None:
        self.check_open()
        raise fail("ring buffers have no elements (programs use bpf_ringbuf_output)", ENOTSUPP)

    def delete(self, key: bytes) -> None:
        self.check_open()
        raise fail("ring buffers have no elements", ENOTSUPP)

    def next_key(self, key: bytes | None) -> bytes | None:
        self.check_open()
        raise fail("ring buffers have no keys (use consume())", ENOTSUPP)

    def keys(self) -> Iterator[bytes]:
        raise fail("ring buffers have no keys (use consume() or iterate the map)", ENOTSUPP)


    def memory_regions(self) -> list[MemoryRegion]:
        return [MemoryRegion(self.data, 2 * self.size, True, f"ringbuf {self.name}")]

    def value_span(self, address: int) -> tuple[int, int] | None:
        """(sample address, reserved size) of the busy record containing `address`."""
        cons, prod = self.consumer_pos, self.producer_pos
        while cons < prod:
            off = self._data_off(cons)
            hdr_len = _U32.unpack_from(self.mem, off)[0]
            size = hdr_len & ~(BUSY_BIT | DISCARD_BIT)
            start = self.base + off + HDR_SIZE
            if hdr_len & BUSY_BIT and start <= address < start + size:
                return start, size
            cons += round8(size + HDR_SIZE)
        return None
