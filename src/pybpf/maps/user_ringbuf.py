"""BPF_MAP_TYPE_USER_RINGBUF: a ring buffer user space produces into and programs drain.

Same layout as pybpf.maps.ringbuf (consumer page, producer page, data), with the roles swapped:
`reserve(size)` / `submit(address)` / `discard(address)` (or `push(data)`) produce samples like
libbpf's user_ring_buffer API, and `bpf_user_ringbuf_drain` hands each committed sample to a
program callback as a local dynptr (writable, as in the kernel), skipping discarded ones. A sample needs round_up(size + 8, 8) bytes
and the producer may not get `size` bytes ahead of the consumer (EAGAIN / a None reservation).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from pybpf.abi import MapType
from pybpf.maps.base import E2BIG, EAGAIN, EINVAL, fail, round8
from pybpf.maps.ringbuf import BUSY_BIT, DISCARD_BIT, HDR_SIZE, PAGE_SIZE, RingBuffer

MAX_SAMPLES = 128 * 1024  # BPF_MAX_USER_RINGBUF_SAMPLES
_U32 = struct.Struct("<I")


class UserRingBuffer(RingBuffer):
    """A user ring buffer: Python produces, programs drain."""

    map_types = (MapType.USER_RINGBUF,)

    # --- producer (user space) -------------------------------------------------------------
    def reserve_sample(self, size: int) -> int | None:
        """Reserve `size` bytes; the sample's address (write it, then submit or discard), or None."""
        if size < 0:
            raise fail("negative sample size", EINVAL)
        total = round8(size + HDR_SIZE)
        if total > self.size:
            raise fail(f"a {size}-byte sample does not fit in a {self.size}-byte ring", E2BIG)
        prod = self.producer_pos
        if total > self.size - (prod - self.consumer_pos):
            return None
        off = prod & self.mask
        self.hdr[off >> 2] = size | BUSY_BIT
        self.hdr[(off >> 2) + 1] = 0
        self.pos[self._PROD] = prod + total
        return self.data + off + HDR_SIZE

    def submit(self, address: int, *, discard: bool = False) -> None:
        """Make a reserved sample visible to programs (or mark it discarded)."""
        rec = address - HDR_SIZE - self.data
        if not (0 <= rec < self.size and not rec & 7 and self.hdr[rec >> 2] & BUSY_BIT):
            raise fail(f"{address:#x} is not a reserved sample of {self.name!r}", EINVAL)
        size = self.hdr[rec >> 2] & ~(BUSY_BIT | DISCARD_BIT)
        end = rec + HDR_SIZE + round8(size)
        if end > self.size and not discard:  # fold the part written past the end to the start
            over, base = end - self.size, 2 * PAGE_SIZE
            self.mem[base : base + over] = self.mem[base + self.size : base + self.size + over]
        self.hdr[rec >> 2] = size | (DISCARD_BIT if discard else 0)

    def discard(self, address: int) -> None:
        self.submit(address, discard=True)

    def push(self, data: bytes) -> None:
        """Produce one sample (MapError EAGAIN when the ring is full)."""
        address = self.reserve_sample(len(data))
        if address is None:
            raise fail(f"user ring buffer {self.name!r} is full", EAGAIN)
        off = address - self.base
        self.mem[off : off + len(data)] = data
        self.submit(address)

    # --- consumer (bpf_user_ringbuf_drain) -------------------------------------------------
    def drain(self, callback: Callable[[int, int], int]) -> int:
        """Call `callback(sample_address, size)` per committed sample until it returns non-zero;
        returns the number of samples handed over (the helper's result)."""
        samples = discarded = 0
        ret = 0
        while samples < MAX_SAMPLES and ret == 0:
            cons, prod = self.consumer_pos, self.producer_pos
            if cons >= prod:
                break
            off = cons & self.mask
            hdr_len = self.hdr[off >> 2]
            size = hdr_len & ~(BUSY_BIT | DISCARD_BIT)
            total = round8(size + HDR_SIZE)
            if hdr_len & DISCARD_BIT:
                self.pos[0] = cons + total
                discarded += 1
                samples += 1
                continue
            if hdr_len & BUSY_BIT:
                break
            ret = callback(self.data + ((cons + HDR_SIZE) & self.mask), size)
            self.pos[0] = cons + total
            samples += 1
        return samples - discarded

    def consume(self, limit: int | None = None) -> list[bytes]:
        raise fail("programs drain a user ring buffer (bpf_user_ringbuf_drain)", EINVAL)
