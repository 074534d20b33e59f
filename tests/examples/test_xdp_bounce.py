"""examples/xdp_bounce.c: echo requests answered in place with XDP_TX, checksums still valid."""
# ruff: noqa: F811 - the fixtures come from examples_support (no conftest.py: see there)

from __future__ import annotations

import pytest
from examples_support import example_objects, load  # noqa: F401

from pybpf.hooks.packets import icmp_echo_packet, parse, tcp_packet, udp_packet

XDP_PASS, XDP_TX = 2, 3
A_MAC, B_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def bounced_count(coll) -> int:
    return int.from_bytes(coll.maps["bounced"][0], "little")


@pytest.mark.parametrize("src,dst", [("192.0.2.1", "198.51.100.7"), ("2001:db8::1", "2001:db8::99")])
def test_icmp_echo_request_becomes_reply(load, src: str, dst: str) -> None:
    coll = load("xdp_bounce")
    request = icmp_echo_packet(src, dst, ident=0x1234, seq=7, payload=b"abcdefgh" * 4,
                               eth_src=A_MAC, eth_dst=B_MAC)
    result = coll.programs["xdp_bounce"].run(request)
    assert result.retval == XDP_TX
    expected = icmp_echo_packet(dst, src, ident=0x1234, seq=7, payload=b"abcdefgh" * 4,
                                reply=True, eth_src=B_MAC, eth_dst=A_MAC)
    assert result.data_out == expected
    assert parse(result.data_out).checksums_ok
    assert bounced_count(coll) == 1


@pytest.mark.parametrize("src,dst", [("10.1.1.1", "10.2.2.2"), ("fd00::1", "fd00::2")])
def test_udp_echo_is_reflected(load, src: str, dst: str) -> None:
    coll = load("xdp_bounce")
    payload = b"hello, echo" + bytes(range(40))
    request = udp_packet(src, dst, sport=53000, dport=7, payload=payload, eth_src=A_MAC,
                         eth_dst=B_MAC)
    result = coll.programs["xdp_bounce"].run(request)
    assert result.retval == XDP_TX
    assert result.data_out == udp_packet(dst, src, sport=7, dport=53000, payload=payload,
                                         eth_src=B_MAC, eth_dst=A_MAC)
    reply = parse(result.data_out)
    assert reply.checksums_ok and reply.payload == payload


def test_other_traffic_passes_unchanged(load) -> None:
    coll = load("xdp_bounce")
    prog = coll.programs["xdp_bounce"]
    frames = [
        tcp_packet(dport=7),  # TCP echo is not handled
        udp_packet(dport=8, payload=b"x"),
        icmp_echo_packet(reply=True),  # replies are not bounced again
        icmp_echo_packet("2001:db8::1", "2001:db8::2", reply=True),
    ]
    for frame in frames:
        result = prog.run(frame)
        assert result.retval == XDP_PASS
        if result.data_out is not None:
            assert result.data_out == frame
    assert bounced_count(coll) == 0


def test_counter_counts_every_bounce(load) -> None:
    coll = load("xdp_bounce")
    prog = coll.programs["xdp_bounce"]
    for seq in range(1, 6):
        assert prog.run(icmp_echo_packet(seq=seq)).retval == XDP_TX
    assert prog.run(udp_packet(dport=7)).retval == XDP_TX
    assert bounced_count(coll) == 6
