"""The XDP balancer's packets, checked byte by byte, and its connection table across updates."""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

from lb_support import REALS4, REALS6, VIP4, VIP6, balancer, config, in_net, ones_complement

from pybpf.abi import XdpAction
from pybpf.hooks.packets import (
    ethernet,
    icmp,
    icmp_echo_packet,
    ipv4,
    ipv6,
    parse,
    tcp,
    tcp_packet,
    udp_packet,
)

__all__ = ["balancer"]

CLIENT_MAC = "02:aa:00:00:00:01"
LB_MAC = "02:bb:00:00:00:02"


def send_v4(prog: Any, sport: int, src: str = "192.168.7.1", dport: int = 80,
            payload: bytes = b"GET /") -> tuple[int, bytes, bytes]:
    frame = tcp_packet(src, VIP4, sport, dport, payload, flags="PA", eth_src=CLIENT_MAC,
                       eth_dst=LB_MAC)
    r = prog.run(frame)
    return r.retval, frame, r.data_out or b""


def outer_v4(out: bytes) -> tuple[str, str]:
    return str(ipaddress.ip_address(out[26:30])), str(ipaddress.ip_address(out[30:34]))


def test_ipip_packet_byte_by_byte(balancer: tuple[Any, Any]) -> None:
    prog, _ = balancer
    verdict, frame, out = send_v4(prog, 40001)
    assert verdict == XdpAction.TX
    inner = frame[14:]
    assert len(out) == len(frame) + 20
    # Ethernet: back to the sender's MAC, from the balancer's
    assert out[0:6] == bytes.fromhex("02aa00000001")
    assert out[6:12] == bytes.fromhex("02bb00000002")
    assert out[12:14] == b"\x08\x00"
    outer = out[14:34]
    ver_ihl, tos, total, ident, frag, ttl, proto, csum = struct.unpack("!BBHHHBBH", outer[:12])
    assert (ver_ihl, tos, total, ident, frag, ttl, proto) == (0x45, inner[1], len(inner) + 20,
                                                               0, 0, 64, 4)
    assert csum == ones_complement(outer[:10] + b"\0\0" + outer[12:])
    assert in_net(outer[12:16], "172.16.0.0/16")
    assert str(ipaddress.ip_address(outer[16:20])) in REALS4
    assert out[34:] == inner  # the client's packet, untouched


def test_ip6ip6_packet_byte_by_byte(balancer: tuple[Any, Any]) -> None:
    prog, _ = balancer
    frame = udp_packet("fd00:9::5", VIP6, 5353, 53, b"query", eth_src=CLIENT_MAC, eth_dst=LB_MAC)
    r = prog.run(frame)
    out = r.data_out or b""
    assert r.retval == XdpAction.TX
    inner = frame[14:]
    assert out[12:14] == b"\x86\xdd" and out[0:6] == bytes.fromhex("02aa00000001")
    first, plen, nh, hop = struct.unpack("!IHBB", out[14:22])
    assert first >> 28 == 6 and (first >> 20) & 0xFF == 0  # version 6, inner traffic class 0
    assert (plen, nh, hop) == (len(inner), 41, 64)
    assert in_net(out[22:38], "fc00:1::/96")
    assert str(ipaddress.ip_address(out[38:54])) in REALS6
    assert out[54:] == inner


def test_same_flow_same_real_and_source(balancer: tuple[Any, Any]) -> None:
    prog, _ = balancer
    first = {sport: outer_v4(send_v4(prog, sport)[2]) for sport in range(41000, 41040)}
    again = {sport: outer_v4(send_v4(prog, sport, payload=b"more")[2]) for sport in first}
    assert first == again
    assert len({dst for _, dst in first.values()}) == 3  # 40 flows reach every real


def test_not_for_a_vip_passes_unchanged(balancer: tuple[Any, Any]) -> None:
    prog, b = balancer
    for frame in (tcp_packet("192.168.7.1", VIP4, 1234, 81),           # other port
                  udp_packet("192.168.7.1", VIP4, 1234, 80),           # other protocol
                  tcp_packet("192.168.7.1", "10.0.0.11", 1234, 80),    # other address
                  ethernet(b"\0" * 28, 0x0806)):                        # ARP
        r = prog.run(frame)
        assert r.retval == XdpAction.PASS
        assert r.data_out == frame
    assert b.stats()["global"]["pass"] == 4


def test_fragments_and_options_to_a_vip_are_dropped(balancer: tuple[Any, Any]) -> None:
    prog, b = balancer
    seg = tcp(40000, 80, "192.168.7.1", VIP4, b"x" * 16)
    frag = ethernet(ipv4(seg, 6, "192.168.7.1", VIP4, dont_fragment=False, more_fragments=True), 0x0800)
    opts = ethernet(ipv4(seg, 6, "192.168.7.1", VIP4, options=b"\x01\x01\x01\x00"), 0x0800)
    other = ethernet(ipv4(seg, 6, "192.168.7.1", "10.0.0.99", more_fragments=True), 0x0800)
    frag6 = ethernet(ipv6(b"\x06\0\0\x01\0\0\0\x07" + seg, 44, "fd00:9::5", VIP6), 0x86DD)
    assert prog.run(frag).retval == XdpAction.DROP
    assert prog.run(opts).retval == XdpAction.DROP
    assert prog.run(frag6).retval == XdpAction.DROP
    assert prog.run(other).retval == XdpAction.PASS
    assert b.stats()["global"]["drop_fragment"] == 3


def test_icmp_too_big_goes_to_the_flows_real(balancer: tuple[Any, Any]) -> None:
    prog, b = balancer
    reals = {}
    for sport in range(42000, 42020):
        reals[sport] = outer_v4(send_v4(prog, sport)[2])[1]
    for sport, real in reals.items():
        # a router tells the VIP its reply to the client was too big; it quotes that reply
        quoted = ipv4(tcp(80, sport, VIP4, "192.168.7.1", b"x" * 8), 6, VIP4, "192.168.7.1")
        msg = icmp(3, 4, struct.pack("!HH", 0, 1400), quoted[:28])
        frame = ethernet(ipv4(msg, 1, "192.168.99.1", VIP4), 0x0800)
        r = prog.run(frame)
        assert r.retval == XdpAction.TX
        assert outer_v4(r.data_out or b"")[1] == real
        assert (r.data_out or b"")[34:] == frame[14:]
    assert b.stats()["global"]["icmp_too_big"] == 20


def test_icmpv6_packet_too_big_goes_to_the_flows_real(balancer: tuple[Any, Any]) -> None:
    prog, _ = balancer
    flow = udp_packet("fd00:9::5", VIP6, 5000, 53, b"q")
    real = prog.run(flow).data_out[38:54]
    reply = ipv6(b"\x00\x35\x13\x88\x00\x10\x00\x00" + b"r" * 8, 17, VIP6, "fd00:9::5")
    msg = b"\x02\x00\x00\x00" + struct.pack("!I", 1280) + reply[:48]
    frame = ethernet(ipv6(msg, 58, "fd00:99::1", VIP6), 0x86DD)
    r = prog.run(frame)
    assert r.retval == XdpAction.TX and r.data_out[38:54] == real


def test_echo_request_to_a_vip_is_answered(balancer: tuple[Any, Any]) -> None:
    prog, _ = balancer
    r = prog.run(icmp_echo_packet("192.168.7.1", VIP4, eth_src=CLIENT_MAC, eth_dst=LB_MAC))
    assert r.retval == XdpAction.TX
    p = parse(r.data_out or b"")
    assert (p.src, p.dst, p.icmp_type, p.checksums_ok) == (VIP4, "192.168.7.1", 0, True)
    assert p.eth_dst == CLIENT_MAC


def test_counters_per_vip_and_real(balancer: tuple[Any, Any]) -> None:
    prog, b = balancer
    sizes = []
    for sport in range(43000, 43010):
        _, frame, _ = send_v4(prog, sport)
        sizes.append(len(frame))
    stats = b.stats()
    vip = next(v for v in stats["vips"] if v["vip"] == f"{VIP4}:80/tcp")
    assert (vip["packets"], vip["bytes"]) == (10, sum(sizes))
    assert sum(r["packets"] for r in stats["reals"]) == 10
    assert sum(r["bytes"] for r in stats["reals"]) == sum(sizes)


def test_established_flows_keep_their_real_across_updates(balancer: tuple[Any, Any]) -> None:
    prog, b = balancer
    before = {sport: outer_v4(send_v4(prog, sport)[2])[1] for sport in range(44000, 44060)}
    # add a heavy real and drop one: the Maglev table changes a lot
    b.apply(config([("10.1.0.1", 1), ("10.1.0.2", 1), ("10.1.0.9", 5)]))
    after = {sport: outer_v4(send_v4(prog, sport)[2])[1] for sport in before}
    assert after == before  # including the flows of 10.1.0.3, which drain where they were
    fresh = [outer_v4(send_v4(prog, sport)[2])[1] for sport in range(45000, 45060)]
    assert "10.1.0.9" in fresh and "10.1.0.3" not in fresh
    indices = {r["real"]: r["index"] for r in b.stats()["reals"]}
    assert indices["10.1.0.1"] == 1 and indices["10.1.0.2"] == 2  # kept their slots
