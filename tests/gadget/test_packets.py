"""The per-port packet counter gadget over a capture written by the test with dpkt (interpreter and
JIT): its metric maps with struct keys and enum names, and its log2 size histogram printed as bpftrace does."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import dpkt
import pytest
from gadget_support import cache_fixture  # noqa: F401 - the fixture "cache"

from pybpf.cli.main import main

MAC_A, MAC_B = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"


def _ipv4(proto: int, l4: dpkt.Packet) -> bytes:
    ip = dpkt.ip.IP(src=socket.inet_aton("10.0.0.1"), dst=socket.inet_aton("10.0.0.2"), p=proto, data=l4)
    ip.len = 20 + len(bytes(l4))
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


def _ipv6_tcp(dport: int) -> bytes:
    tcp = dpkt.tcp.TCP(sport=40000, dport=dport, flags=dpkt.tcp.TH_SYN)
    ip6 = dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, "fd00::1"), dst=socket.inet_pton(socket.AF_INET6, "fd00::2"),
                       nxt=dpkt.ip.IP_PROTO_TCP, hlim=64, data=tcp)
    ip6.plen = len(bytes(tcp))
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=dpkt.ethernet.ETH_TYPE_IP6, data=ip6))


def _arp() -> bytes:
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=b"\xff" * 6, type=dpkt.ethernet.ETH_TYPE_ARP, data=dpkt.arp.ARP()))


@pytest.fixture(name="capture")
def capture_fixture(tmp_path: Path) -> Path:
    """3 TCP SYNs to port 80 (54 bytes), 2 UDP datagrams to 53 (142 bytes), 1 IPv6 SYN to 443 (74), 1 ARP (42)."""
    frames = [_ipv4(dpkt.ip.IP_PROTO_TCP, dpkt.tcp.TCP(sport=40000 + i, dport=80, flags=dpkt.tcp.TH_SYN))
              for i in range(3)]
    frames += [_ipv4(dpkt.ip.IP_PROTO_UDP, dpkt.udp.UDP(sport=5353, dport=53, ulen=108, data=b"q" * 100))
               for _ in range(2)]
    frames += [_ipv6_tcp(443), _arp()]
    assert [len(f) for f in frames] == [54, 54, 54, 142, 142, 74, 42]
    path = tmp_path / "pbgadget-ports.pcap"
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f)
        for i, frame in enumerate(frames):
            writer.writepkt(frame, ts=1700000000 + i)
    return path


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_portcount_over_a_pcap_as_json(cache: Path, capture: Path, engine: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gadget", "run", "portcount", "--pcap", str(capture), "--engine", engine, "-o", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {d.get("metric") or d.get("histogram"): d for d in lines}
    packets = {(e["key"]["proto"], e["key"]["port"]): e["value"] for e in by_name["packets"]["entries"]}
    assert packets == {("TCP", 80): 3, ("UDP", 53): 2, ("TCP", 443): 1}
    octets = {(e["key"]["proto"], e["key"]["port"]): e["value"] for e in by_name["bytes"]["entries"]}
    assert octets == {("TCP", 80): 3 * 54, ("UDP", 53): 2 * 142, ("TCP", 443): 74}
    # slots: [32, 64) is 7, [64, 128) 8, [128, 256) 9
    assert by_name["sizes"]["buckets"] == [{"slot": 7, "min": 32, "max": 63, "count": 4},
                                           {"slot": 8, "min": 64, "max": 127, "count": 1},
                                           {"slot": 9, "min": 128, "max": 255, "count": 2}]


def test_portcount_histogram_prints_as_bpftrace(cache: Path, capture: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gadget", "run", "portcount", "--pcap", str(capture), "--param", "only_proto=17"]) == 0
    out = capsys.readouterr().out
    assert "packets:\n  {\"proto\": \"UDP\", \"port\": 53}: 2\n" in out
    assert "TCP" not in out  # only_proto=17
    hist = out[out.index("@sizes: \n"):].splitlines()
    bar = "@" * 52
    assert hist == ["@sizes: ",
                    "[32, 64)               4 |" + bar + "|",
                    "[64, 128)              1 |" + "@" * 13 + " " * 39 + "|",
                    "[128, 256)             2 |" + "@" * 26 + " " * 26 + "|"]


def test_pcap_errors_are_one_line(cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "not.pcap"
    bad.write_bytes(b"hello")
    assert main(["gadget", "run", "portcount", "--pcap", str(bad)]) == 2
    assert main(["gadget", "run", "execsnoop", "--pcap", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "not a pcap or pcapng capture" in err[0]
    assert "has no packet program" in err[1]


SYN_GADGET = r"""
#include <bpf_helpers.h>
#include <bpf_endian.h>
#include <bpf_packet.h>

enum l4_protocol { TCP = 6, UDP = 17 };

struct event {
	__u32 len;
	enum l4_protocol proto;
	__u8 saddr[4];
	__u8 daddr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

static __attribute__((noinline)) int submit(struct xdp_md *ctx, struct event *e)
{
	return bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, e, sizeof(*e));
}

SEC("xdp")
int ipv4_events(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct event e = {};

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	e.len = data_end - data;
	e.proto = ip->protocol;
	__builtin_memcpy(e.saddr, &ip->saddr, 4);
	__builtin_memcpy(e.daddr, &ip->daddr, 4);
	submit(ctx, &e);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_a_packet_gadget_s_perf_events_from_a_pcap(cache: Path, capture: Path, tmp_path: Path, engine: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "ipv4_events.c"
    source.write_text(SYN_GADGET)
    assert main(["gadget", "build", str(source), "-t", "ipv4-events:test"]) == 0
    capsys.readouterr()
    assert main(["gadget", "run", "ipv4-events:test", "--pcap", str(capture), "--engine", engine, "-o", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"len": 54, "proto": "TCP", "saddr": "10.0.0.1", "daddr": "10.0.0.2"}] * 3 + [
        {"len": 142, "proto": "UDP", "saddr": "10.0.0.1", "daddr": "10.0.0.2"}] * 2
