"""`pybpf packet`: the frames it writes, read back by dpkt (an independent decoder)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dpkt
import pytest

PYBPF = [sys.executable, "-m", "pybpf"]


def pybpf(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PYBPF, *args], capture_output=True, text=True, cwd=cwd, timeout=60,
                          check=False)


def _ones_sum(data: bytes) -> int:
    data += b"\0" * (len(data) % 2)
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _checksum_ok(layer: dpkt.Packet, parent: dpkt.Packet) -> bool:
    """RFC 1071: a correct checksum makes the one's-complement sum over (pseudo-header and)
    the message 0xffff."""
    raw = bytes(layer)
    if isinstance(layer, dpkt.icmp.ICMP):
        return _ones_sum(raw) == 0xFFFF
    pseudo = parent.src + parent.dst + bytes([0, parent.p]) + len(raw).to_bytes(2, "big")
    return _ones_sum(pseudo + raw) == 0xFFFF


def test_tcp_ipv4_bin(tmp_path: Path) -> None:
    done = pybpf("packet", "tcp", "--src", "192.0.2.1", "--dst", "198.51.100.7", "--sport", "1234",
                 "--dport", "22", "--flags", "SA", "--payload", "hello", "-o", "pkt.bin", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    eth = dpkt.ethernet.Ethernet((tmp_path / "pkt.bin").read_bytes())
    ip = eth.data
    tcp = ip.data
    assert isinstance(ip, dpkt.ip.IP) and isinstance(tcp, dpkt.tcp.TCP)
    assert (ip.src, ip.dst) == (bytes([192, 0, 2, 1]), bytes([198, 51, 100, 7]))
    assert (tcp.sport, tcp.dport) == (1234, 22)
    assert tcp.flags == dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK
    assert tcp.data == b"hello"
    assert _checksum_ok(tcp, ip)


def test_udp_ipv6_pcap_with_count(tmp_path: Path) -> None:
    done = pybpf("packet", "udp", "-6", "--dport", "53", "--payload-hex", "beef", "--count", "3",
                 "-o", "p.pcap", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with (tmp_path / "p.pcap").open("rb") as fh:
        reader = dpkt.pcap.Reader(fh)
        assert reader.datalink() == dpkt.pcap.DLT_EN10MB
        frames = [dpkt.ethernet.Ethernet(buf) for _, buf in reader]
    assert len(frames) == 3
    for i, eth in enumerate(frames):
        ip6 = eth.data
        assert isinstance(ip6, dpkt.ip6.IP6)
        udp = ip6.data
        assert (udp.sport, udp.dport, udp.data) == (40000 + i, 53, b"\xbe\xef")
        assert ip6.src == bytes.fromhex("20010db8000000000000000000000001")


def test_icmp_echo(tmp_path: Path) -> None:
    done = pybpf("packet", "icmp", "--dst", "10.9.8.7", "-o", "ping.bin", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ip = dpkt.ethernet.Ethernet((tmp_path / "ping.bin").read_bytes()).data
    assert ip.p == dpkt.ip.IP_PROTO_ICMP and ip.dst == bytes([10, 9, 8, 7])
    assert ip.data.type == dpkt.icmp.ICMP_ECHO
    assert _checksum_ok(ip.data, ip)


@pytest.mark.parametrize(("args", "message"), [
    (["--sport", "70000"], "source port"),
    (["--src", "10.0.0.1", "--dst", "::1"], "mixed address families"),
    (["--src", "nonsense"], "bad IP address"),
    (["--flags", "SZ"], "unknown TCP flag"),
    (["--payload-hex", "xyz"], "not hex"),
    (["--count", "2"], "a raw file holds one packet"),
])
def test_bad_fields_give_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = pybpf("packet", *args, "-o", "x.bin", cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.bin").exists()
