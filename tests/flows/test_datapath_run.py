"""The datapath on BPF_PROG_TEST_RUN: exact event fields, policy verdicts, aggregation and counted loss."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import dpkt
import pytest

from pybpf.flows.datapath import datapath_spec
from pybpf.flows.event import make_decoder
from pybpf.flows.policy import parse_policy

if TYPE_CHECKING:
    from pybpf.kernel import RingBuffer
    from pybpf.kernel.kernel_engine import KernelCollection

pytestmark = pytest.mark.kernel

MAC_A, MAC_B = b"\x02\x00\x00\x00\x00\x0a", b"\x02\x00\x00\x00\x00\x0b"
TC_ACT_UNSPEC, TC_ACT_SHOT = 0xFFFFFFFF, 2


def frame(l4: dpkt.Packet, proto: int, src: str = "10.1.0.1", dst: str = "10.1.0.2") -> bytes:
    if ":" in src:
        ip: dpkt.Packet = dpkt.ip6.IP6(src=ipaddress.ip_address(src).packed, dst=ipaddress.ip_address(dst).packed,
                                       nxt=proto, hlim=64, data=l4, plen=len(bytes(l4)))
        etype = dpkt.ethernet.ETH_TYPE_IP6
    else:
        ip = dpkt.ip.IP(src=ipaddress.ip_address(src).packed, dst=ipaddress.ip_address(dst).packed, p=proto, data=l4)
        etype = dpkt.ethernet.ETH_TYPE_IP
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=etype, data=ip))


def tcp(sport: int, dport: int, flags: int, **kw: str) -> bytes:
    return frame(dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags), dpkt.ip.IP_PROTO_TCP, **kw)


def udp(sport: int, dport: int, **kw: str) -> bytes:
    return frame(dpkt.udp.UDP(sport=sport, dport=dport, data=b"hello"), dpkt.ip.IP_PROTO_UDP, **kw)


def icmp(kind: int, code: int = 0, proto: int = dpkt.ip.IP_PROTO_ICMP, **kw: str) -> bytes:
    return frame(dpkt.icmp.ICMP(type=kind, code=code, data=b"\0" * 8), proto, **kw)


@pytest.fixture
def loaded() -> Iterator[Callable[..., tuple[KernelCollection, RingBuffer]]]:
    from pybpf.kernel import RingBuffer, load_collection

    def load(policy: Any = None, aggregate: bool = False,
             ring_size: int = 1 << 16) -> tuple[KernelCollection, RingBuffer]:
        coll = load_collection(datapath_spec(ring_size), pin_path=None, globals={"aggregate": int(aggregate)})
        opened.append(coll)
        for i, rule in enumerate(parse_policy(policy or [])):
            coll.maps["policy"][i] = rule.pack()
        ring = RingBuffer(coll.maps["events"])
        opened.append(ring)
        return coll, ring

    opened: list[KernelCollection | RingBuffer] = []
    yield load
    for obj in reversed(opened):
        obj.close()


def stats(coll) -> list[int]:
    return [sum(int.from_bytes(v, "little") for v in coll.maps["stats"][i]) for i in range(6)]


def test_event_fields(loaded) -> None:
    coll, ring = loaded()
    decode = make_decoder({1: "lo"}, "n1", offset_ns=0)
    packets = [("flows_ingress", tcp(40000, 80, dpkt.tcp.TH_SYN)),
               ("flows_egress", tcp(80, 40000, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK, src="10.1.0.2", dst="10.1.0.1")),
               ("flows_ingress", udp(5353, 53)),
               ("flows_ingress", icmp(8)),
               ("flows_egress", icmp(3, 1)),
               ("flows_ingress", icmp(128, proto=dpkt.ip.IP_PROTO_ICMP6, src="fd00::1", dst="fd00::2")),
               ("flows_ingress", tcp(1, 443, dpkt.tcp.TH_RST, src="fd00::1", dst="fd00::2"))]
    for prog, pkt in packets:
        assert coll.programs[prog].run(pkt).retval == TC_ACT_UNSPEC
    flows = [decode(r) for r in ring.read_available()]
    got = [(f.direction, f.verdict, f.ip_version, f.source, f.destination, f.protocol, f.source_port,
            f.destination_port, f.tcp_flags, f.icmp_type, f.icmp_code, f.length, f.interface) for f in flows]
    assert got == [
        ("INGRESS", "FORWARDED", 4, "10.1.0.1", "10.1.0.2", 6, 40000, 80, 0x02, 0, 0, 54, "lo"),
        ("EGRESS", "FORWARDED", 4, "10.1.0.2", "10.1.0.1", 6, 80, 40000, 0x12, 0, 0, 54, "lo"),
        ("INGRESS", "FORWARDED", 4, "10.1.0.1", "10.1.0.2", 17, 5353, 53, 0, 0, 0, 47, "lo"),
        ("INGRESS", "FORWARDED", 4, "10.1.0.1", "10.1.0.2", 1, 0, 0, 0, 8, 0, 46, "lo"),
        ("EGRESS", "FORWARDED", 4, "10.1.0.1", "10.1.0.2", 1, 0, 0, 0, 3, 1, 46, "lo"),
        ("INGRESS", "FORWARDED", 6, "fd00::1", "fd00::2", 58, 0, 0, 0, 128, 0, 66, "lo"),
        ("INGRESS", "FORWARDED", 6, "fd00::1", "fd00::2", 6, 1, 443, 0x04, 0, 0, 74, "lo"),
    ]
    assert {(f.src_mac, f.dst_mac) for f in flows} == {("02:00:00:00:00:0a", "02:00:00:00:00:0b")}
    assert all(f.packets == 1 and f.bytes == f.length and f.drop_reason == 0 for f in flows)
    arp = bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=dpkt.ethernet.ETH_TYPE_ARP, data=b"\0" * 28))
    assert coll.programs["flows_ingress"].run(arp).retval == TC_ACT_UNSPEC
    assert ring.read_available() == []
    assert stats(coll) == [7, 0, 1, 0, 0, 0]  # seen, lost, non_ip, dropped, aggregated, truncated


POLICY = [
    {"action": "allow", "cidr": "10.1.0.9/32", "protocol": "tcp"},         # 1: a trusted host
    {"action": "deny", "direction": "ingress", "protocol": "tcp", "port": 9001},   # 2
    {"action": "deny", "protocol": "udp", "port": "1000-2000"},            # 3: both directions
    {"action": "deny", "direction": "egress", "protocol": "icmp", "cidr": "10.1.0.0/24"},  # 4
    {"action": "deny", "cidr": "fd00:bad::/32"},                           # 5
]


@pytest.mark.parametrize("prog, packet, verdict, rule", [
    ("flows_ingress", tcp(40000, 9001, dpkt.tcp.TH_SYN), "DROPPED", 2),
    ("flows_egress", tcp(40000, 9001, dpkt.tcp.TH_SYN), "FORWARDED", 0),      # rule 2 is ingress only
    ("flows_ingress", tcp(9001, 40000, dpkt.tcp.TH_ACK), "FORWARDED", 0),     # port = destination port
    ("flows_ingress", tcp(40000, 9001, dpkt.tcp.TH_SYN, src="10.1.0.9"), "FORWARDED", 1),  # first match wins
    ("flows_ingress", tcp(40000, 9001, dpkt.tcp.TH_SYN, dst="10.1.0.9"), "FORWARDED", 1),  # either address
    ("flows_ingress", udp(5, 1000), "DROPPED", 3),
    ("flows_egress", udp(5, 2000), "DROPPED", 3),
    ("flows_egress", udp(5, 2001), "FORWARDED", 0),
    ("flows_egress", icmp(8), "DROPPED", 4),
    ("flows_ingress", icmp(8), "FORWARDED", 0),
    ("flows_egress", icmp(8, src="10.2.0.1", dst="10.2.0.2"), "FORWARDED", 0),
    ("flows_ingress", udp(5, 53, src="fd00:bad::1", dst="fd00::2"), "DROPPED", 5),
    ("flows_ingress", udp(5, 53, src="fd00:b::1", dst="fd00::2"), "FORWARDED", 0),
])
def test_policy_verdicts(loaded, prog: str, packet: bytes, verdict: str, rule: int) -> None:
    coll, ring = loaded(POLICY)
    retval = coll.programs[prog].run(packet).retval
    assert retval == (TC_ACT_SHOT if verdict == "DROPPED" else TC_ACT_UNSPEC)
    (flow,) = [make_decoder({})(r) for r in ring.read_available()]
    assert (flow.verdict, flow.rule) == (verdict, rule)
    assert flow.drop_reason == (133 if verdict == "DROPPED" else 0)
    assert stats(coll)[3] == (1 if verdict == "DROPPED" else 0)


def test_aggregation(loaded) -> None:
    coll, ring = loaded(aggregate=True)
    ingress = coll.programs["flows_ingress"]
    sequence = [dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, dpkt.tcp.TH_ACK,
                dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, dpkt.tcp.TH_ACK | dpkt.tcp.TH_FIN, dpkt.tcp.TH_ACK]
    for flags in sequence:
        ingress.run(tcp(40000, 80, flags))
    for _ in range(5):
        ingress.run(udp(7, 53))
    flows = [make_decoder({})(r) for r in ring.read_available()]
    # an event for the new connection and for each flag not seen before on it: SYN, ACK, PSH, FIN
    assert [(f.protocol, f.tcp_flags, f.packets) for f in flows] == [
        (6, 0x02, 1), (6, 0x10, 2), (6, 0x18, 3), (6, 0x11, 6), (17, 0, 1)]
    conns = {(c["protocol"], c["destination_port"]): (c["packets"], c["bytes"]) for c in _conns(coll)}
    assert conns == {(6, 80): (7, 7 * 54), (17, 53): (5, 5 * 47)}
    assert stats(coll)[:5] == [12, 0, 0, 0, 7]


def _conns(coll) -> list[dict]:
    from pybpf.flows.datapath import Datapath

    dp = Datapath(["lo"])
    dp._coll = coll
    return dp.connections()


def test_full_ring_counts_lost_events(loaded) -> None:
    coll, ring = loaded(ring_size=4096)
    for _ in range(100):
        coll.programs["flows_ingress"].run(udp(7, 53))
    received = len(ring.read_available())
    seen, lost = stats(coll)[:2]
    # 96-byte events + 8-byte headers: a 4 KiB ring holds 39 of them; the rest are counted, not silent
    assert seen == 100 and received == 4096 // 104 and lost == 100 - received
