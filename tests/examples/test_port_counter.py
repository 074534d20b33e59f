"""examples/port_counter.c: packets and bytes per (protocol, destination port)."""
# ruff: noqa: F811 - the fixtures come from examples_support (no conftest.py: see there)

from __future__ import annotations

import struct

from examples_support import example_objects, load  # noqa: F401

from pybpf.hooks.packets import icmp_echo_packet, tcp_packet, udp_packet

XDP_PASS = 2
TCP, UDP = 6, 17


def test_counts_per_protocol_and_port(load) -> None:
    coll = load("port_counter")
    prog = coll.programs["count_ports"]
    frames = [
        (tcp_packet(dport=80, payload=b"GET / HTTP/1.0\r\n\r\n"), TCP, 80),
        (tcp_packet(dport=80), TCP, 80),
        (tcp_packet("2001:db8::1", "2001:db8::2", dport=80, payload=b"x" * 100), TCP, 80),
        (udp_packet(dport=80, payload=b"quic?"), UDP, 80),
        (udp_packet(dport=53, payload=b"\x12\x34" + bytes(30)), UDP, 53),
        (tcp_packet(dport=443, payload=bytes(1000)), TCP, 443),
        (udp_packet(dport=53), UDP, 53),
    ]
    expected: dict[tuple[int, int], list[int]] = {}
    for frame, proto, port in frames:
        assert prog.run(frame).retval == XDP_PASS
        entry = expected.setdefault((proto, port), [0, 0])
        entry[0] += 1
        entry[1] += len(frame)
    # ICMP has no port: not counted
    assert prog.run(icmp_echo_packet()).retval == XDP_PASS

    stats = coll.maps["port_stats"]
    got = {}
    for key, value in stats.items():
        port, proto, pad = struct.unpack("<HBB", key)
        assert pad == 0
        got[(proto, port)] = list(struct.unpack("<QQ", value))
    assert got == expected
    assert got[(TCP, 80)][0] == 3


def test_lookup_by_key(load) -> None:
    coll = load("port_counter")
    prog = coll.programs["count_ports"]
    frame = udp_packet(dport=4789, payload=bytes(50))
    for _ in range(5):
        prog.run(frame)
    value = coll.maps["port_stats"][struct.pack("<HBB", 4789, UDP, 0)]
    assert struct.unpack("<QQ", value) == (5, 5 * len(frame))


def test_later_fragments_are_not_counted(load) -> None:
    from pybpf.hooks.packets import ethernet, ipv4

    frag = ethernet(ipv4(bytes(64), UDP, "10.0.0.1", "10.0.0.2", dont_fragment=False,
                         frag_offset=100), 0x0800)
    coll = load("port_counter")
    assert coll.programs["count_ports"].run(frag).retval == XDP_PASS
    assert len(coll.maps["port_stats"]) == 0
