"""Ring buffer: reserve/submit/discard, in-order consumption, wraparound, space accounting, query."""

from __future__ import annotations

import ctypes
import errno
import struct

import pytest

from maps.maputil import spec
from pybpf.abi import MapType
from pybpf.errors import MapError
from pybpf.maps import RingBuffer, create_map
from pybpf.maps.ringbuf import (
    BPF_RB_AVAIL_DATA,
    BPF_RB_CONS_POS,
    BPF_RB_FORCE_WAKEUP,
    BPF_RB_NO_WAKEUP,
    BPF_RB_PROD_POS,
    BPF_RB_RING_SIZE,
)


def ring(size: int = 4096) -> RingBuffer:
    m = create_map(spec(MapType.RINGBUF, 0, 0, size))
    assert isinstance(m, RingBuffer)
    return m


def test_output_and_consume_in_order() -> None:
    rb = ring()
    assert rb.output(b"first") == 0
    assert rb.output(b"second!") == 0
    assert rb.output(b"") == 0
    assert len(rb) == 3
    assert rb.consume() == [b"first", b"second!", b""]
    assert rb.consume() == []
    # each record takes round_up(len + 8, 8) bytes
    assert rb.consumer_pos == rb.producer_pos == 16 + 16 + 8


def test_reserve_submit_discard() -> None:
    rb = ring()
    a = rb.reserve(4)
    b = rb.reserve(12)
    c = rb.reserve(3)
    assert a and b and c
    assert b - a == 16 and c - b == 24  # consecutive records with 8-byte headers
    ctypes.memmove(a, b"AAAA", 4)
    ctypes.memmove(b, b"B" * 12, 12)
    ctypes.memmove(c, b"CCC", 3)
    rb.commit(b)  # submitted out of order: the reader waits for the first record
    assert rb.consume() == []
    rb.commit(a, discard=True)
    assert rb.consume() == [b"B" * 12]
    assert rb.consume() == []
    rb.commit(c)
    assert rb.consume() == [b"CCC"]
    with pytest.raises(MapError):
        rb.commit(c)  # not reserved any more


def test_reserve_rejects_flags_and_oversize() -> None:
    rb = ring()
    assert rb.reserve(8, flags=1) == 0
    assert rb.reserve(4096) == 0  # record plus header exceeds the ring
    assert rb.reserve(4096 - 16) != 0
    assert rb.output(b"x", flags=4) == -errno.EINVAL


def test_full_ring_and_space_recovery() -> None:
    rb = ring()
    # 4096 bytes of ring: the producer may get at most 4095 bytes ahead, so 255 records of 16
    count = 0
    while rb.output(b"12345678") == 0:
        count += 1
    assert count == 255
    assert rb.output(b"x") == -errno.EAGAIN
    assert rb.lost >= 1
    assert len(rb.consume(10)) == 10
    assert rb.output(b"12345678") == 0


def test_busy_record_blocks_space() -> None:
    rb = ring()
    busy = rb.reserve(8)
    assert busy
    for _ in range(200):
        assert rb.output(b"12345678") == 0
    assert len(rb.consume()) == 0  # the busy first record blocks the reader
    rb.commit(busy)
    assert len(rb.consume()) == 201


def test_wraparound_keeps_records_intact() -> None:
    rb = ring()
    records = [bytes([i % 251]) * (i % 97 + 1) for i in range(600)]
    produced = consumed = 0
    out: list[bytes] = []
    while consumed < len(records):
        while produced < len(records) and rb.output(records[produced]) == 0:
            produced += 1
        got = rb.consume(7)
        out.extend(got)
        consumed += len(got)
    assert out == records
    assert rb.producer_pos > 4 * 4096  # wrapped several times


def test_record_written_through_a_pointer_across_the_end() -> None:
    rb = ring()
    assert rb.output(b"x" * 4000) == 0  # moves the positions near the end
    assert len(rb.consume()) == 1
    address = rb.reserve(200)  # starts 96 bytes before the end of the ring
    assert address
    payload = bytes(range(200))
    ctypes.memmove(address, payload, 200)  # one contiguous write, as a program does
    rb.commit(address)
    assert rb.consume() == [payload]


def test_query_and_wakeups() -> None:
    rb = ring()
    assert rb.query(BPF_RB_RING_SIZE) == 4096
    rb.output(b"abc")
    assert rb.query(BPF_RB_AVAIL_DATA) == 16
    assert rb.query(BPF_RB_PROD_POS) == 16 and rb.query(BPF_RB_CONS_POS) == 0
    assert rb.query(99) == 0
    assert rb.wakeups == 1  # the first record after the consumer position notifies
    rb.output(b"def")
    assert rb.wakeups == 1  # the reader has not caught up: no new notification
    rb.output(b"ghi", BPF_RB_FORCE_WAKEUP)
    assert rb.wakeups == 2
    rb.consume()
    rb.output(b"jkl", BPF_RB_NO_WAKEUP)
    assert rb.wakeups == 2
    calls: list[bytes] = []
    assert rb.poll(calls.append) == 1 and calls == [b"jkl"]


def test_iteration_consumes() -> None:
    rb = ring()
    for i in range(100):
        rb.output(struct.pack("<I", i))
    assert [struct.unpack("<I", r)[0] for r in rb] == list(range(100))
    assert list(rb) == []


def test_element_operations_are_enotsupp() -> None:
    rb = ring()
    for fn, args in (
        (rb.lookup, (b"",)),
        (rb.update, (b"", b"")),
        (rb.delete, (b"",)),
        (rb.next_key, (None,)),
    ):
        with pytest.raises(MapError) as info:
            fn(*args)
        assert info.value.errno == 524


@pytest.mark.parametrize(("size", "key_size"), [(4096 * 3, 0), (1024, 0), (4096, 4)])
def test_create_rejects(size: int, key_size: int) -> None:
    with pytest.raises(MapError) as info:
        create_map(spec(MapType.RINGBUF, key_size, 0, size))
    assert info.value.errno == errno.EINVAL


def test_value_span_of_reserved_record() -> None:
    rb = ring()
    a = rb.reserve(10)
    assert rb.value_span(a + 9) == (a, 10)
    assert rb.value_span(a + 10) is None
    rb.commit(a)
    assert rb.value_span(a) is None


def test_wait_wakes_a_reader_thread() -> None:
    import threading

    rb = ring()
    assert rb.wait(timeout=0) is False
    got: list[bytes] = []

    def reader() -> None:
        if rb.wait(timeout=30):
            got.extend(rb.consume())

    thread = threading.Thread(target=reader)
    thread.start()
    rb.output(b"event")
    thread.join(30)
    assert got == [b"event"]
