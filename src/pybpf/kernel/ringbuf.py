"""BPF ring buffer reader: the map's consumer and producer pages over mmap, busy/discard bits, epoll waits."""

from __future__ import annotations

import mmap
import select
import time
from collections.abc import Callable
from typing import Any

from pybpf.abi import MapType
from pybpf.errors import KernelError
from pybpf.kernel.epoll_reader import EpollReader

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
HDR_SIZE = 8


class RingBuffer(EpollReader):
    """Reads records that BPF programs submit to a BPF_MAP_TYPE_RINGBUF map.

    `poll(timeout)` waits (epoll) and consumes, calling `callback(bytes)` per record, or iterate:
    `for record in rb:` blocks until a record arrives; `read_available()` returns what is there now.
    With `decode`, records are passed through it first (e.g. a BTF type's decoder).
    """

    def __init__(self, ringbuf_map: Any, callback: Callable[[Any], object] | None = None, *,
                 decode: Callable[[bytes], Any] | None = None) -> None:
        spec = getattr(ringbuf_map, "spec", None)
        if spec is not None and spec.type != MapType.RINGBUF:
            raise KernelError(f"map {spec.name!r} is not a ring buffer ({spec.type.name.lower()})")
        fd = ringbuf_map if isinstance(ringbuf_map, int) else ringbuf_map.fd
        if spec is not None:
            size = spec.max_entries
        else:
            from pybpf.kernel.info import map_info

            size = map_info(fd).max_entries
        self.size = size
        self.mask = size - 1
        self.callback = callback
        self.decode = decode
        page = mmap.PAGESIZE
        self._page = page
        try:
            self._cons = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
            self._prod = mmap.mmap(fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        except OSError as exc:
            raise KernelError(f"cannot mmap ring buffer: {exc.strerror}", errno=exc.errno or 0) from None
        # Positions and headers are read and written through typed memoryviews so that each access is
        # one aligned load or store: struct's byte-wise packing could tear, and the kernel reads
        # consumer_pos concurrently (a torn value makes it drop records or overwrite unread ones).
        self._cons_q = memoryview(self._cons).cast("Q")
        self._prod_q = memoryview(self._prod).cast("Q")
        self._prod_i = memoryview(self._prod).cast("I")
        self._epoll = select.epoll()
        self._epoll.register(fd, select.EPOLLIN)
        self.consumed = 0

    @property
    def consumer_pos(self) -> int:
        return int(self._cons_q[0])

    @property
    def producer_pos(self) -> int:
        return int(self._prod_q[0])

    def pending_bytes(self) -> int:
        """Bytes submitted (or reserved) and not yet consumed."""
        return self.producer_pos - self.consumer_pos

    def read_available(self, limit: int = 0) -> list[Any]:
        """Consume every committed record available now (up to `limit` when > 0) and return them."""
        cons = self._cons_q[0]
        prod = self._prod_q[0]
        if cons < prod and not limit:
            fast = self._read_uniform(cons, prod)
            if fast is not None:
                return fast
        return self._read_slow(cons, prod, limit)

    def _read_slow(self, cons: int, prod: int, limit: int = 0) -> list[Any]:
        """Walk the records one by one from `cons` (busy ones stop the walk, discarded ones are skipped)."""
        out: list[Any] = []
        mm, page, mask, words = self._prod, self._page, self.mask, self._prod_i
        append = out.append
        flags = BUSY_BIT | DISCARD_BIT
        while cons < prod:
            off = (cons & mask) + page
            length = words[off >> 2]
            if length & flags:
                if length & BUSY_BIT:
                    break  # reserved but not yet submitted: stop here, keep order
                size = length & ~flags  # discarded: skip it
            else:
                size = length
                append(mm[off + HDR_SIZE:off + HDR_SIZE + size])  # the data area is mapped twice: no wrap
            cons += (size + HDR_SIZE + 7) & ~7
            if limit and len(out) >= limit:  # (cheap: `limit` is 0 in the common case)
                break
        self._cons_q[0] = cons
        self.consumed += len(out)
        if self.decode is not None:
            decode = self.decode
            return [decode(r) for r in out]
        return out

    def _read_uniform(self, cons: int, prod: int) -> list[Any] | None:
        """Fast path for the common case: committed records of one size at the head of the ring.

        One slice of the double-mapped data area, the headers compared in bulk, the payloads cut
        out; the records after the first one that differs (other size, busy, discarded) are left to
        the record-by-record walk. None when not even the first record qualifies.
        """
        off = (cons & self.mask) + self._page
        length = self._prod_i[off >> 2]
        if length & (BUSY_BIT | DISCARD_BIT):
            return None
        stride = (length + HDR_SIZE + 7) & ~7
        total = min(prod - cons, self.size)
        total -= total % stride
        if total < 2 * stride:
            return None
        chunk = self._prod[off:off + total]
        with memoryview(chunk) as view, view.cast("I") as words:
            headers = words[::stride >> 2].tolist()
        count = len(headers)
        if headers.count(length) != count:
            count = next(i for i, h in enumerate(headers) if h != length)
        out: list[Any] = [chunk[i + HDR_SIZE:i + HDR_SIZE + length] for i in range(0, count * stride, stride)]
        self._cons_q[0] = cons + count * stride
        self.consumed += count
        if self.decode is not None:
            decode = self.decode
            out = [decode(r) for r in out]
        if cons + count * stride < prod:
            out.extend(self._read_slow(cons + count * stride, prod))
        return out

    def consume(self) -> int:
        """Hand every available record to the callback; returns how many."""
        records = self.read_available()
        if self.callback is not None:
            for rec in records:
                self.callback(rec)
        return len(records)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait (epoll) until data is available or `timeout` seconds pass; True if data is there."""
        if self.pending_bytes() > 0:
            return True
        try:
            events = self._epoll.poll(-1 if timeout is None else timeout)
        except InterruptedError:
            return self.pending_bytes() > 0
        return bool(events) or self.pending_bytes() > 0

    def poll(self, timeout: float | None = None) -> int:
        """Wait up to `timeout` seconds for records, then consume them; returns how many."""
        self.wait(timeout)
        return self.consume()

    def drain(self, timeout: float = 0.0) -> list[Any]:
        """Records until none arrive for `timeout` seconds."""
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while True:
            got = self.read_available()
            out.extend(got)
            if got:
                deadline = time.monotonic() + timeout
                continue
            left = deadline - time.monotonic()
            if left <= 0 or not self.wait(left):
                return out

    def close(self) -> None:
        if self._epoll.closed:
            return
        self._epoll.close()
        for view in (self._cons_q, self._prod_q, self._prod_i):
            view.release()
        self._prod.close()
        self._cons.close()

    def fileno(self) -> int:
        return self._epoll.fileno()



def btf_decoder(btf: Any, type_name: str) -> Callable[[bytes], Any]:
    """A `decode` function turning records into Python values by a BTF type of the object (a struct
    by name first); variable-length records are decoded as pybpf.btf.entries.decode_event does."""
    from pybpf.btf.entries import decode_event, find_type

    type_id = find_type(btf, type_name) if btf is not None else None
    if type_id is None:
        raise KernelError(f"no BTF type {type_name!r} in the object to decode events with")

    def decode(record: bytes) -> Any:
        return decode_event(btf, type_id, record)

    return decode
