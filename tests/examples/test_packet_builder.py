"""pybpf.hooks.packets: frames byte-exact against hand-written headers, checksums verified."""

from __future__ import annotations

import struct

import pytest

from pybpf.hooks import packets as pk


def ones_complement_sum(data: bytes) -> int:
    """Sum of 16-bit big-endian words with end-around carry, written out independently."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += data[i] << 8 | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return total


def test_rfc1071_example() -> None:
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (checksum = ~ddf2)
    assert pk.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def test_ipv4_header_known_answer() -> None:
    # A well-known sample header: 192.168.0.1 -> 192.168.0.199, UDP, total length 0x73
    header = pk.ipv4(bytes(0x73 - 20), 17, "192.168.0.1", "192.168.0.199", ttl=64)[:20]
    assert header == bytes.fromhex("450000730000400040" "11b861c0a80001c0a800c7")


def test_udp_frame_layout_and_checksum() -> None:
    frame = pk.udp_packet("10.0.0.1", "10.0.0.2", sport=1234, dport=53, payload=b"abc",
                          eth_src="02:00:00:00:00:01", eth_dst="ff:ff:ff:ff:ff:ff")
    assert len(frame) == 14 + 20 + 8 + 3
    assert frame[:14] == bytes.fromhex("ffffffffffff" "020000000001" "0800")
    udp = frame[34:]
    assert struct.unpack("!HHH", udp[:6]) == (1234, 53, 11)
    pseudo = bytes([10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 11])
    assert ones_complement_sum(pseudo + udp) == 0xFFFF  # a correct checksum sums to all ones
    assert ones_complement_sum(frame[14:34]) == 0xFFFF


def test_tcp_ipv6_checksum() -> None:
    frame = pk.tcp_packet("2001:db8::1", "2001:db8::2", sport=5, dport=6, payload=b"xyz",
                          flags="PA", seq=100, ack=200)
    assert struct.unpack("!H", frame[12:14])[0] == 0x86DD
    ip6 = frame[14:54]
    assert ip6[0] >> 4 == 6 and ip6[6] == 6 and struct.unpack("!H", ip6[4:6])[0] == 23
    tcp = frame[54:]
    assert struct.unpack("!HHII", tcp[:12]) == (5, 6, 100, 200)
    assert tcp[13] == 0x18  # PSH|ACK
    pseudo = ip6[8:40] + struct.pack("!I", len(tcp)) + bytes([0, 0, 0, 6])
    assert ones_complement_sum(pseudo + tcp) == 0xFFFF


def test_icmp_echo() -> None:
    frame = pk.icmp_echo_packet("10.0.0.1", "10.0.0.2", ident=7, seq=9, payload=b"ping")
    icmp = frame[34:]
    assert icmp[0] == 8 and struct.unpack("!HH", icmp[4:8]) == (7, 9) and icmp[8:] == b"ping"
    assert ones_complement_sum(icmp) == 0xFFFF
    reply = pk.parse(pk.icmp_echo_packet("fd00::1", "fd00::2", reply=True))
    assert reply.proto == 58 and reply.icmp_type == 129 and reply.checksums_ok


def test_parse_roundtrip_and_describe() -> None:
    frame = pk.tcp_packet("10.1.2.3", "10.4.5.6", sport=1000, dport=22, flags="S", vlan=5)
    p = pk.parse(frame)
    assert (p.src, p.dst, p.sport, p.dport, p.ttl) == ("10.1.2.3", "10.4.5.6", 1000, 22, 64)
    assert p.checksums_ok and p.tcp_flags == 0x02
    assert p.describe() == "IPv4 10.1.2.3:1000 -> 10.4.5.6:22 TCP [S]"
    v6 = pk.parse(pk.udp_packet("2001:db8::1", "2001:db8::2", sport=1, dport=2))
    assert v6.describe() == "IPv6 [2001:db8::1]:1 -> [2001:db8::2]:2 UDP"


def test_corrupted_checksum_is_detected() -> None:
    frame = bytearray(pk.udp_packet(payload=b"data"))
    frame[-1] ^= 0xFF
    assert not pk.parse(bytes(frame)).checksums_ok


@pytest.mark.parametrize("call", [
    lambda: pk.mac("01:02:03"),
    lambda: pk.ip("300.1.1.1"),
    lambda: pk.tcp_flags("SX"),
    lambda: pk.udp_packet("10.0.0.1", "2001:db8::1"),
    lambda: pk.parse(b"\x00" * 5),
    lambda: pk.parse(bytes(12) + b"\x08\x00" + b"\x45"),
])
def test_bad_input_raises_packet_error(call) -> None:
    with pytest.raises(pk.PacketError):
        call()
