"""Ring buffer streaming: thousands of records from a kernel program, in order, none lost."""

from __future__ import annotations

import threading

import pytest

from pybpf.abi import MapType
from pybpf.kernel.kernel_engine import load_collection
from pybpf.kernel.ringbuf import RingBuffer
from pybpf.object.spec import CollectionSpec, MapSpec
from testlib import scalar

from .progs import counter_map, packet, ringbuf_producer

pytestmark = pytest.mark.kernel
RING_SIZE = 1 << 16  # 4096 records of 16 bytes


def _spec() -> CollectionSpec:
    ring = MapSpec(name="events", type=MapType.RINGBUF, key_size=0, value_size=0, max_entries=RING_SIZE)
    return CollectionSpec(programs={"produce": ringbuf_producer()}, maps={"counts": counter_map(), "events": ring})


def _seq(records: list[bytes]) -> list[int]:
    return [int.from_bytes(r, "little") for r in records]


def test_ringbuf_records_in_order() -> None:
    with load_collection(_spec()) as coll, RingBuffer(coll.maps["events"]) as rb:
        assert rb.read_available() == []
        assert not rb.wait(0.01)
        coll.programs["produce"].run(packet(), repeat=3000)
        assert rb.wait(1.0)
        assert _seq(rb.read_available()) == list(range(3000))
        assert rb.pending_bytes() == 0


def test_ringbuf_full_drops_then_recovers() -> None:
    with load_collection(_spec()) as coll, RingBuffer(coll.maps["events"]) as rb:
        coll.programs["produce"].run(packet(), repeat=RING_SIZE // 16 + 100)
        got = _seq(rb.read_available())
        # the kernel refuses what does not fit (it keeps at least one byte free): nothing is corrupted
        assert RING_SIZE // 16 - 1 <= len(got) <= RING_SIZE // 16 and got == list(range(len(got)))
        coll.programs["produce"].run(packet())
        assert _seq(rb.read_available()) == [RING_SIZE // 16 + 100]


def test_ringbuf_streams_thousands_concurrently_none_lost() -> None:
    total, chunk = 200000, 2000
    with load_collection(_spec()) as coll:
        received: list[bytes] = []
        rb = RingBuffer(coll.maps["events"], received.append)
        prog = coll.programs["produce"]

        def produce() -> None:
            for _ in range(total // chunk):
                while rb.pending_bytes() > RING_SIZE // 2:  # back-pressure instead of drops
                    threading.Event().wait(0.0005)
                prog.run(packet(), repeat=chunk)

        t = threading.Thread(target=produce)
        t.start()
        while len(received) < total:
            rb.poll(timeout=2.0)
            if not t.is_alive() and rb.pending_bytes() == 0:
                break
        t.join()
        rb.close()
        assert _seq(received) == list(range(total))
        assert int.from_bytes(scalar(coll.maps["counts"][0]), "little") == total


def test_ringbuf_iteration_and_decode() -> None:
    with load_collection(_spec()) as coll:
        with RingBuffer(coll.maps["events"], decode=lambda b: int.from_bytes(b, "little") * 10) as rb:
            coll.programs["produce"].run(packet(), repeat=5)
            it = iter(rb)
            assert [next(it) for _ in range(5)] == [0, 10, 20, 30, 40]


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9])
def test_ringbuf_record_sizes(size: int) -> None:
    # empty and odd-sized records: the reader must return each one with exactly its bytes
    from pybpf.abi import ProgramType

    from .differential import helper_harness, imm, packets, stack_ptr

    spec = helper_harness(ProgramType.XDP, 130, stack_ptr(2, -16) + [imm(3, size), imm(4, 0)],
                          {"ring": MapSpec("ring", MapType.RINGBUF, 0, 0, 4096)}, arg_map=(1, "ring"))
    with load_collection(spec) as coll, RingBuffer(coll.maps["ring"]) as rb:
        for _ in range(5):
            coll.programs["harness"].run(packets()[0])
        assert rb.read_available() == [bytes(range(0xA0, 0xA0 + size))] * 5
