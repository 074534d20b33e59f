"""Perf buffer: per-CPU BPF output events from bpf_perf_event_output(), lost samples counted."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pybpf.abi import MapType
from pybpf.kernel.kernel_engine import load_collection
from pybpf.kernel.perfbuf import PerfBuffer
from pybpf.object.spec import CollectionSpec, MapSpec

from .progs import counter_map, packet, ringbuf_producer

pytestmark = pytest.mark.kernel


@pytest.fixture(autouse=True)
def one_cpu() -> Iterator[None]:
    """Stay on one CPU: samples then land in one ring, in order, and a lost record is flushed by the
    next sample of the same CPU."""
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(saved)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def _spec() -> CollectionSpec:
    events = MapSpec(name="events", type=MapType.PERF_EVENT_ARRAY, key_size=4, value_size=4, max_entries=0)
    return CollectionSpec(programs={"produce": ringbuf_producer(helper=25)},
                          maps={"counts": counter_map(), "events": events})


def test_perf_buffer_receives_samples_in_order() -> None:
    with load_collection(_spec()) as coll, PerfBuffer(coll.maps["events"], pages=64) as pb:
        coll.programs["produce"].run(packet(), repeat=500)
        assert pb.wait(1.0)
        got = pb.read_available()
        # 8 bytes of data, padded by the kernel so that the u32 size + data is a multiple of 8
        assert all(len(s) == 12 for s in got)
        assert [int.from_bytes(s[:8], "little") for s in got] == list(range(500))
        assert pb.lost == 0


def test_perf_buffer_counts_lost_samples() -> None:
    lost_reports: list[tuple[int, int]] = []
    with load_collection(_spec()) as coll:
        with PerfBuffer(coll.maps["events"], pages=1, lost_callback=lambda c, n: lost_reports.append((c, n))) as pb:
            coll.programs["produce"].run(packet(), repeat=2000)  # 4 KiB holds ~170 samples of 24 bytes
            got = pb.read_available()
            coll.programs["produce"].run(packet())  # the lost record is written once space frees up
            got += pb.read_available()
            assert pb.lost > 0 and sum(n for _, n in lost_reports) == pb.lost
            assert len(got) + pb.lost == 2001
