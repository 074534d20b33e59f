"""examples/tc_classifier.c: classes by port into skb->priority/mark, a blocked network dropped."""
# ruff: noqa: F811 - the fixtures come from examples_support (no conftest.py: see there)

from __future__ import annotations

import dataclasses
import struct

import pytest
from examples_support import example_objects, load  # noqa: F401

from pybpf.hooks.packets import icmp_echo_packet, tcp_packet, udp_packet

TC_ACT_OK, TC_ACT_SHOT = 0, 2
MARK_BASE = 0xC1A5500
SKB_SIZE = 192  # sizeof(struct __sk_buff)
MARK_OFF, PRIORITY_OFF = 8, 32


def run(prog, frame: bytes):
    return prog.run(frame, ctx=bytes(SKB_SIZE))


def check_ctx(result, klass: int) -> None:
    if result.ctx_out is None:
        return  # an engine that does not hand the context back
    mark = struct.unpack_from("<I", result.ctx_out, MARK_OFF)[0]
    priority = struct.unpack_from("<I", result.ctx_out, PRIORITY_OFF)[0]
    assert (mark, priority) == (MARK_BASE | klass, klass)


def class_counts(coll) -> list[int]:
    m = coll.maps["class_packets"]
    return [int.from_bytes(m[i], "little") for i in range(4)]


def test_classes_and_drops(load) -> None:
    coll = load("tc_classifier")
    prog = coll.programs["classify"]
    cases = [
        (tcp_packet(dport=22), TC_ACT_OK, 1),
        (tcp_packet(sport=22, dport=40000, flags="SA"), TC_ACT_OK, 1),
        (udp_packet(dport=53), TC_ACT_OK, 1),
        (tcp_packet(dport=443), TC_ACT_OK, 2),
        (tcp_packet(sport=80, dport=51000, flags="A"), TC_ACT_OK, 2),
        (udp_packet(dport=443), TC_ACT_OK, 0),  # UDP 443 is not "bulk"
        (tcp_packet(dport=25), TC_ACT_OK, 0),
        (icmp_echo_packet(), TC_ACT_OK, 0),
        (tcp_packet("2001:db8::1", "2001:db8::2", dport=22), TC_ACT_OK, 1),
        (tcp_packet(src="192.0.2.77", dport=22), TC_ACT_SHOT, None),  # blocked 192.0.2.0/24
        (udp_packet(src="192.0.2.1", dport=9), TC_ACT_SHOT, None),
        (udp_packet(src="192.0.3.1", dport=9), TC_ACT_OK, 0),
    ]
    expected = [0, 0, 0, 0]
    for frame, verdict, klass in cases:
        result = run(prog, frame)
        assert result.retval == verdict, frame.hex()
        if klass is not None:
            check_ctx(result, klass)
            expected[klass] += 1
        else:
            expected[3] += 1
    assert expected == [4, 4, 2, 2]
    assert class_counts(coll) == expected


def test_blocked_network_is_configurable_in_rodata(load) -> None:
    """Rewrite .rodata before loading (like a libbpf skeleton): block 10.9.0.0/16 instead."""

    def block_10_9(spec):
        rodata = spec.maps[".rodata"]
        (key, value), = rodata.contents
        new_value = struct.pack("<II", 0x0A090000, 16) + value[8:]
        maps = dict(spec.maps)
        maps[".rodata"] = dataclasses.replace(rodata, contents=((key, new_value),))
        return dataclasses.replace(spec, maps=maps)

    coll = load("tc_classifier", block_10_9)
    prog = coll.programs["classify"]
    assert run(prog, tcp_packet(src="10.9.200.1", dport=80)).retval == TC_ACT_SHOT
    assert run(prog, tcp_packet(src="10.8.0.1", dport=80)).retval == TC_ACT_OK
    assert run(prog, tcp_packet(src="192.0.2.1", dport=80)).retval == TC_ACT_OK
    assert class_counts(coll) == [0, 0, 2, 1]  # both passing packets go to port 80: bulk


@pytest.mark.parametrize("port,klass", [(22, 1), (80, 2), (8080, 0)])
def test_mark_and_priority(load, port: int, klass: int) -> None:
    coll = load("tc_classifier")
    result = run(coll.programs["classify"], tcp_packet(dport=port))
    assert result.retval == TC_ACT_OK
    check_ctx(result, klass)
