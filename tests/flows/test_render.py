"""Hubble's flow JSON layout, enum spellings and the compact/table/dict lines, on hand-made flows."""

from __future__ import annotations

import json

from pybpf.flows.metrics import FlowMetrics
from pybpf.flows.render import as_dict, as_json, compact, lost_events, table_header, table_row

from .samples import flow


def test_tcp_syn_json_layout() -> None:
    doc = json.loads(as_json(flow(is_reply=False)))
    assert doc == {
        "flow": {
            "time": "2025-12-05T08:00:00.123456789Z",
            "verdict": "FORWARDED",
            "ethernet": {"source": "02:00:00:00:00:01", "destination": "02:00:00:00:00:02"},
            "IP": {"source": "10.0.0.1", "destination": "10.0.0.2", "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": 40000, "destination_port": 80, "flags": {"SYN": True}}},
            "Type": "L3_L4",
            "node_name": "node1",
            "event_type": {"type": 4, "sub_type": 10},
            "traffic_direction": "INGRESS",
            "trace_observation_point": "FROM_NETWORK",
            "is_reply": False,
            "interface": {"index": 2, "name": "eth0"},
            "Summary": "TCP Flags: SYN",
        },
        "node_name": "node1",
        "time": "2025-12-05T08:00:00.123456789Z",
    }


def test_policy_drop_json() -> None:
    f = json.loads(as_json(flow(verdict="DROPPED", drop_reason=133, direction="EGRESS", protocol=17,
                                tcp_flags=0, destination_port=53)))["flow"]
    assert f["verdict"] == "DROPPED" and f["drop_reason"] == 133 and f["drop_reason_desc"] == "POLICY_DENIED"
    assert f["event_type"] == {"type": 1, "sub_type": 133}
    assert f["traffic_direction"] == "EGRESS" and "trace_observation_point" not in f
    assert f["l4"] == {"UDP": {"source_port": 40000, "destination_port": 53}} and f["Summary"] == "UDP"


def test_icmp_and_ipv6() -> None:
    f4 = json.loads(as_json(flow(protocol=1, icmp_type=8, icmp_code=0, tcp_flags=0)))["flow"]
    assert f4["l4"] == {"ICMPv4": {"type": 8, "code": 0}} and f4["Summary"] == "ICMPv4 EchoRequest"
    f6 = json.loads(as_json(flow(protocol=58, ip_version=6, source="fd00::1", destination="fd00::2",
                                 icmp_type=129, tcp_flags=0)))["flow"]
    assert f6["IP"] == {"source": "fd00::1", "destination": "fd00::2", "ipVersion": "IPv6"}
    assert f6["l4"] == {"ICMPv6": {"type": 129, "code": 0}} and f6["Summary"] == "ICMPv6 EchoReply"


def test_text_formats() -> None:
    syn_ack = flow(tcp_flags=0x12, direction="EGRESS", source="10.0.0.2", destination="10.0.0.1",
                   source_port=80, destination_port=40000)
    line = compact(syn_ack)
    assert line.endswith(": 10.0.0.2:80 -> 10.0.0.1:40000 to-network FORWARDED (TCP Flags: SYN, ACK)")
    drop = compact(flow(verdict="DROPPED", drop_reason=133))
    assert drop.endswith("10.0.0.1:40000 -> 10.0.0.2:80 Policy denied DROPPED (TCP Flags: SYN)")
    assert table_header().split() == ["TIMESTAMP", "SOURCE", "DESTINATION", "TYPE", "VERDICT", "SUMMARY"]
    row = table_row(flow()).split()
    assert row[-7:] == ["10.0.0.1:40000", "10.0.0.2:80", "from-network", "FORWARDED", "TCP", "Flags:", "SYN"]
    lines = as_dict(flow(protocol=17, tcp_flags=0)).splitlines()
    assert lines[1:] == ["     SOURCE: 10.0.0.1:40000", "DESTINATION: 10.0.0.2:80", "       TYPE: from-network",
                         "    VERDICT: FORWARDED", "    SUMMARY: UDP", "------------"]
    assert json.loads(lost_events(7, fmt="json")) == {
        "lost_events": {"source": "PERF_EVENT_RING_BUFFER", "num_events_lost": "7"}}


def test_metrics_follow_hubble_handlers() -> None:
    m = FlowMetrics()
    m.process(flow(tcp_flags=0x02))
    m.process(flow(tcp_flags=0x12, direction="EGRESS"))
    m.process(flow(tcp_flags=0x11, ip_version=6, source="fd00::1", destination="fd00::2"))
    m.process(flow(verdict="DROPPED", drop_reason=133, tcp_flags=0x02))
    m.process(flow(verdict="DROPPED", drop_reason=133, protocol=17, tcp_flags=0))
    m.add_lost(3)
    text = m.exposition().decode()
    expected = [
        'hubble_flows_processed_total{subtype="from-network",type="Trace",verdict="FORWARDED"} 2.0',
        'hubble_flows_processed_total{subtype="to-network",type="Trace",verdict="FORWARDED"} 1.0',
        'hubble_flows_processed_total{subtype="",type="Drop",verdict="DROPPED"} 2.0',
        'hubble_drop_total{protocol="TCP",reason="POLICY_DENIED"} 1.0',
        'hubble_drop_total{protocol="UDP",reason="POLICY_DENIED"} 1.0',
        'hubble_tcp_flags_total{family="IPv4",flag="SYN"} 1.0',
        'hubble_tcp_flags_total{family="IPv4",flag="SYN-ACK"} 1.0',
        'hubble_tcp_flags_total{family="IPv6",flag="FIN"} 1.0',
        'hubble_lost_events_total{source="perf_event_ring_buffer"} 3.0',
    ]
    lines = set(text.splitlines())
    for line in expected:
        assert line in lines, line
    # a dropped SYN is not counted as a TCP flag (Hubble counts forwarded flows only)
    assert not any(line.startswith("hubble_tcp_flags_total") and line.endswith(" 2.0") for line in lines)
