"""examples/xdp_firewall.c: drops TCP/UDP to blocked ports, counts drops per port and verdicts."""
# ruff: noqa: F811 - the fixtures come from examples_support (no conftest.py: see there)

from __future__ import annotations

import struct

from examples_support import example_objects, load  # noqa: F401

from pybpf.hooks.packets import ethernet, icmp_echo_packet, tcp_packet, udp_packet

XDP_DROP, XDP_PASS = 1, 2
V6_SRC, V6_DST = "2001:db8::1", "2001:db8::2"


def u64(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def test_firewall_verdicts_and_counters(load) -> None:
    coll = load("xdp_firewall")
    prog = coll.programs["xdp_firewall"]
    blocked = coll.maps["blocked_ports"]
    for port in (22, 23, 3389):
        blocked[port] = 0  # key: the port as a little-endian __u16; value: drop counter

    truncated_ipv4 = ethernet(bytes(10), 0x0800)  # IPv4 header cut short
    arp = ethernet(bytes(28), 0x0806)
    cases = [
        (tcp_packet(dport=22), XDP_DROP),
        (tcp_packet(dport=80), XDP_PASS),
        (tcp_packet(sport=22, dport=50000), XDP_PASS),  # only the destination port counts
        (udp_packet(dport=3389), XDP_DROP),
        (udp_packet(dport=53), XDP_PASS),
        (tcp_packet(V6_SRC, V6_DST, dport=23), XDP_DROP),
        (udp_packet(V6_SRC, V6_DST, dport=22), XDP_DROP),
        (tcp_packet(V6_SRC, V6_DST, dport=443), XDP_PASS),
        (icmp_echo_packet(), XDP_PASS),
        (arp, XDP_PASS),
        (truncated_ipv4, XDP_DROP),
        (tcp_packet(dport=22), XDP_DROP),
    ]
    for frame, expected in cases:
        result = prog.run(frame)
        assert result.retval == expected, (frame.hex(), result.retval)

    assert u64(blocked[22]) == 3  # two IPv4 TCP + one IPv6 UDP
    assert u64(blocked[23]) == 1
    assert u64(blocked[3389]) == 1
    verdicts = coll.maps["verdicts"]
    drops = sum(1 for _, v in cases if v == XDP_DROP)
    assert u64(verdicts[XDP_DROP]) == drops == 6
    assert u64(verdicts[XDP_PASS]) == len(cases) - drops
    assert u64(verdicts[0]) == 0 and u64(verdicts[3]) == 0


def test_firewall_passes_everything_with_an_empty_list(load) -> None:
    coll = load("xdp_firewall")
    prog = coll.programs["xdp_firewall"]
    for port in (22, 80, 443, 65535):
        frame = tcp_packet(dport=port)
        result = prog.run(frame)
        assert result.retval == XDP_PASS
        if result.data_out is not None:
            assert result.data_out == frame  # XDP_PASS leaves the packet untouched
    assert len(coll.maps["blocked_ports"]) == 0
    assert u64(coll.maps["verdicts"][XDP_PASS]) == 4


def test_unblocking_a_port(load) -> None:
    coll = load("xdp_firewall")
    prog = coll.programs["xdp_firewall"]
    blocked = coll.maps["blocked_ports"]
    blocked[8080] = struct.pack("<Q", 100)  # an existing count keeps growing
    assert prog.run(udp_packet(dport=8080)).retval == XDP_DROP
    assert u64(blocked[8080]) == 101
    del blocked[8080]
    assert prog.run(udp_packet(dport=8080)).retval == XDP_PASS
    assert 8080 not in blocked


def test_later_fragments_pass(load) -> None:
    """Only a first fragment has ports; later ones pass (a stateless firewall cannot tell)."""
    from pybpf.hooks.packets import ipv4

    coll = load("xdp_firewall")
    coll.maps["blocked_ports"][22] = 0
    frag = ethernet(ipv4(bytes(40), 6, "10.0.0.1", "10.0.0.2", dont_fragment=False,
                         frag_offset=3), 0x0800)
    assert coll.programs["xdp_firewall"].run(frag).retval == XDP_PASS
    assert u64(coll.maps["verdicts"][XDP_PASS]) == 1
