"""examples/ringbuf_events.c: TCP SYNs and DNS queries reported through a BPF ring buffer."""
# ruff: noqa: F811 - the fixtures come from examples_support (no conftest.py: see there)

from __future__ import annotations

import dataclasses
import socket
import struct

import pytest
from examples_support import example_objects, load  # noqa: F401

from pybpf.hooks.packets import icmp_echo_packet, tcp_packet, udp_packet

XDP_PASS = 2
EVENT_TCP_SYN, EVENT_DNS_QUERY = 1, 2
EVENT = struct.Struct("<II4s4sHHHBBQ")  # struct event, 32 bytes


def read_events(coll) -> list[bytes]:
    """Every record waiting in the `events` ring buffer, in order."""
    ring = coll.maps["events"]
    if coll.engine == "kernel":
        from pybpf.kernel.ringbuf import RingBuffer

        reader = RingBuffer(ring)
        try:
            return reader.read_available()
        finally:
            reader.close()
    for name in ("consume", "read_available", "drain"):
        method = getattr(ring, name, None)
        if callable(method):
            return list(method())
    pytest.skip(f"no ring buffer reader for the {coll.engine} engine yet")


def counters(coll) -> tuple[int, int]:
    return struct.unpack("<QQ", coll.maps[".bss"][0][:16])


def test_syn_and_dns_events(load) -> None:
    coll = load("ringbuf_events")
    prog = coll.programs["report_connections"]
    syn = tcp_packet("10.0.0.1", "10.0.0.2", sport=41000, dport=443, flags="S")
    frames = [
        syn,
        tcp_packet("10.0.0.1", "10.0.0.2", sport=41000, dport=443, flags="SA"),  # not a new one
        tcp_packet("10.0.0.1", "10.0.0.2", sport=41000, dport=443, flags="A"),
        udp_packet("10.0.0.3", "10.0.0.53", sport=5353, dport=53, payload=b"q" * 20),
        udp_packet("10.0.0.3", "10.0.0.53", sport=5353, dport=54),
        icmp_echo_packet(),
        tcp_packet("2001:db8::1", "2001:db8::2", sport=1, dport=22, flags="S"),
    ]
    for frame in frames:
        assert prog.run(frame).retval == XDP_PASS

    events = [EVENT.unpack(rec) for rec in read_events(coll)]
    assert len(events) == 3
    a = socket.inet_aton
    assert events[0] == (EVENT_TCP_SYN, len(syn), a("10.0.0.1"), a("10.0.0.2"), 41000, 443,
                         0x0800, 6, 0x02, 1)
    assert events[1] == (EVENT_DNS_QUERY, len(frames[3]), a("10.0.0.3"), a("10.0.0.53"), 5353,
                         53, 0x0800, 17, 0, 2)
    assert events[2] == (EVENT_TCP_SYN, len(frames[6]), bytes(4), bytes(4), 1, 22, 0x86DD, 6,
                         0x02, 3)
    assert counters(coll) == (3, 0)
    assert read_events(coll) == []  # consumed


def test_many_events_in_order_none_lost(load) -> None:
    coll = load("ringbuf_events")
    prog = coll.programs["report_connections"]
    count = 500  # 500 * (32 + 8 header) bytes fit the 64 KiB ring
    for i in range(count):
        prog.run(tcp_packet(sport=10000 + i, dport=80, flags="S"))
    events = [EVENT.unpack(rec) for rec in read_events(coll)]
    assert [e[4] for e in events] == [10000 + i for i in range(count)]
    assert [e[9] for e in events] == list(range(1, count + 1))
    assert counters(coll) == (count, 0)


def small_ring(spec):
    """The same object with a one-page (4 KiB) ring buffer, to fill it quickly."""
    maps = dict(spec.maps)
    maps["events"] = dataclasses.replace(maps["events"], max_entries=4096)
    return dataclasses.replace(spec, maps=maps)


def test_full_ring_counts_lost_events(load) -> None:
    coll = load("ringbuf_events", small_ring)
    prog = coll.programs["report_connections"]
    capacity = 4096 // (32 + 8)  # each record: 8-byte header + 32-byte event
    extra = 10
    for i in range(capacity + extra):
        prog.run(tcp_packet(sport=i % 65536, flags="S"))
    seq, lost = counters(coll)
    assert (seq, lost) == (capacity, extra)  # the sequence number only advances when reserved
    assert len(read_events(coll)) == capacity
