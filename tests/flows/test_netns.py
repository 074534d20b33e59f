"""Real TCP/UDP/ICMP traffic between two namespaces, observed (and policed) by the datapath on the veth."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.flows.datapath import Datapath
from pybpf.flows.flow import Flow
from pybpf.flows.observer import Observer
from pybpf.flows.policy import parse_policy

from .topology import A_IP, A_IP6, B_IP, B_IP6, Topology, ping, tcp_exchange, udp_send

pytestmark = pytest.mark.kernel

DENIED_PORT, OPEN_PORT, UDP_PORT = 9001, 9000, 7000
POLICY = [{"action": "deny", "direction": "ingress", "protocol": "tcp", "port": DENIED_PORT}]
SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def ours(flows: list[Flow]) -> list[Flow]:
    """Our traffic only (not the kernel's own IPv6 neighbour/multicast chatter on the link)."""
    return [f for f in flows if {f.source, f.destination} in ({A_IP, B_IP}, {A_IP6, B_IP6})]


def test_flows_verdicts_and_counters(topo: Topology) -> None:
    with Datapath([topo.if_b], netns=topo.ns_b, policy=parse_policy(POLICY), node_name="n1") as dp:
        observer = Observer(dp)
        assert tcp_exchange(topo, OPEN_PORT, b"hello flows") == b"hello flows"
        assert tcp_exchange(topo, DENIED_PORT, timeout=0.4) is None  # the SYN never arrives
        assert udp_send(topo, UDP_PORT, 3) == 3
        assert ping(topo, 2) == 2
        assert ping(topo, 1, v6=True) == 1
        flows = observer.poll(0.2)
        dp.detach()  # no more events: what the ring holds now is everything the datapath saw
        flows += observer.poll(0)
        stats = dp.stats()
    assert stats["lost"] == 0 and stats["seen"] == len(flows)  # every packet became exactly one flow
    assert {(f.interface, f.node_name) for f in flows} == {(topo.if_b, "n1")}
    mine = ours(flows)

    tcp_open = [f for f in mine if f.protocol == 6 and OPEN_PORT in (f.source_port, f.destination_port)]
    client_port = tcp_open[0].source_port
    handshake = [(f.direction, f.source, f.endpoint("destination"), f.tcp_flags, f.is_reply) for f in tcp_open[:3]]
    assert handshake == [("INGRESS", A_IP, f"{B_IP}:{OPEN_PORT}", SYN, False),
                         ("EGRESS", B_IP, f"{A_IP}:{client_port}", SYN | ACK, True),
                         ("INGRESS", A_IP, f"{B_IP}:{OPEN_PORT}", ACK, False)]
    for f in tcp_open:  # requests come in, replies go out; all forwarded
        assert f.verdict == "FORWARDED"
        assert (f.direction == "INGRESS") == (f.source == A_IP) == (f.is_reply is False)
    assert {f.direction for f in tcp_open if f.tcp_flags & PSH} == {"INGRESS", "EGRESS"}  # data both ways
    assert {f.direction for f in tcp_open if f.tcp_flags & FIN} == {"INGRESS", "EGRESS"}  # closed both ways

    denied = [f for f in mine if f.protocol == 6 and DENIED_PORT in (f.source_port, f.destination_port)]
    assert denied, "the SYN to the denied port was not reported"
    assert {(f.direction, f.verdict, f.drop_reason_desc, f.tcp_flags, f.destination_port, f.rule)
            for f in denied} == {("INGRESS", "DROPPED", "POLICY_DENIED", SYN, DENIED_PORT, 1)}
    assert stats["dropped"] == len(denied) == len([f for f in flows if f.verdict == "DROPPED"])

    udp = [(f.direction, f.source, f.destination, f.destination_port, f.length) for f in mine if f.protocol == 17]
    assert udp == [("INGRESS", A_IP, B_IP, UDP_PORT, 14 + 20 + 8 + len(b"datagram 0"))] * 3

    icmp = [(f.direction, f.source, f.destination, f.protocol, f.icmp_type, f.icmp_code, f.is_reply)
            for f in mine if f.protocol in (1, 58)]
    assert icmp == [("INGRESS", A_IP, B_IP, 1, 8, 0, False), ("EGRESS", B_IP, A_IP, 1, 0, 0, True)] * 2 + [
        ("INGRESS", A_IP6, B_IP6, 58, 128, 0, False), ("EGRESS", B_IP6, A_IP6, 58, 129, 0, True)]

    metrics = observer.metrics.exposition().decode().splitlines()
    assert f'hubble_drop_total{{protocol="TCP",reason="POLICY_DENIED"}} {float(len(denied))}' in metrics
    assert 'hubble_tcp_flags_total{family="IPv4",flag="SYN"} 1.0' in metrics
    assert 'hubble_tcp_flags_total{family="IPv4",flag="SYN-ACK"} 1.0' in metrics
    assert 'hubble_lost_events_total{source="perf_event_ring_buffer"} 0.0' in metrics


def _pybpf(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pybpf", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_cli_observe_json_with_filters(topo: Topology, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"- {{action: deny, direction: ingress, protocol: tcp, port: {DENIED_PORT}}}\n")
    proc = _pybpf("flows", "observe", "--netns", topo.ns_b, "--interface", topo.if_b, "--policy", str(policy),
                  "--duration", "2.5", "-o", "json", "--ip", A_IP, "--protocol", "udp", "--protocol", "tcp",
                  "--not", "--port", str(UDP_PORT + 1), "--node-name", "n1")
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith(f"observing {topo.if_b} (ingress, egress) in netns {topo.ns_b}")
        assert udp_send(topo, UDP_PORT, 2) == 2
        assert udp_send(topo, UDP_PORT + 1, 1) == 1      # excluded by --not --port
        assert ping(topo, 1) == 1                        # not a --protocol asked for
        assert tcp_exchange(topo, DENIED_PORT, timeout=0.3) is None
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    docs = [json.loads(line) for line in out.splitlines()]
    assert {d["flow"]["l4"].get("UDP", {}).get("destination_port") for d in docs[:2]} == {UDP_PORT}
    udp_doc, drop_doc = docs[0], docs[2]
    assert all(d["flow"]["verdict"] == "DROPPED" for d in docs[2:])  # only the SYN(s) to the denied port
    flow = udp_doc["flow"]
    assert set(flow) == {"time", "verdict", "ethernet", "IP", "l4", "Type", "node_name", "event_type",
                         "traffic_direction", "trace_observation_point", "is_reply", "interface", "Summary"}
    assert flow["verdict"] == "FORWARDED" and flow["IP"] == {"source": A_IP, "destination": B_IP, "ipVersion": "IPv4"}
    assert flow["traffic_direction"] == "INGRESS" and flow["Type"] == "L3_L4" and flow["Summary"] == "UDP"
    assert flow["interface"]["name"] == topo.if_b and flow["node_name"] == "n1" and udp_doc["node_name"] == "n1"
    assert flow["ethernet"] == {"source": topo.mac(topo.ns_a, topo.if_a), "destination": topo.mac(topo.ns_b, topo.if_b)}
    d = drop_doc["flow"]
    assert (d["verdict"], d["drop_reason_desc"], d["drop_reason"]) == ("DROPPED", "POLICY_DENIED", 133)
    assert d["l4"]["TCP"]["destination_port"] == DENIED_PORT and d["l4"]["TCP"]["flags"] == {"SYN": True}


@pytest.mark.parametrize("args, message", [
    (["--interface", "pbflowsnone0"], "no network interface 'pbflowsnone0'"),
    (["--interface", "lo", "--netns", "pbflows-absent"], "no network namespace 'pbflows-absent'"),
    (["--interface", "lo", "--policy", "/nonexistent/policy.yaml"], "cannot read policy"),
    (["--interface", "lo", "--ip", "10.0.0.300"], "not an IP address or CIDR"),
    (["--interface", "lo", "--tcp-flags", "SYNACK"], "unknown TCP flag"),
    (["--interface", "lo", "--duration", "-1"], "--duration must be a positive"),
])
def test_cli_bad_input(args: list[str], message: str) -> None:
    proc = _pybpf("flows", "observe", "--duration", "0.1", *args)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [err.strip().splitlines()[-1]] and message in err
    assert "Traceback" not in err


def test_aggregation_on_real_traffic(topo: Topology) -> None:
    with Datapath([topo.if_b], netns=topo.ns_b, aggregate=True) as dp:
        assert udp_send(topo, UDP_PORT, 5) == 5
        assert tcp_exchange(topo, OPEN_PORT, b"x") == b"x"
        dp.detach()
        flows = ours(dp.read_available())
        conns = [c for c in dp.connections() if c["source"] in (A_IP, B_IP)]
    udp = [f for f in flows if f.protocol == 17]
    assert [(f.destination_port, f.packets) for f in udp] == [(UDP_PORT, 1)]  # one flow for 5 datagrams
    assert [(c["direction"], c["packets"]) for c in conns if c["protocol"] == 17] == [("INGRESS", 5)]
    tcp_in = [f.tcp_flags for f in flows if f.protocol == 6 and f.direction == "INGRESS"]
    assert tcp_in[:2] == [SYN, ACK]  # then only packets that bring a flag not seen before on the connection
    assert len(tcp_in) == len(set(tcp_in))
    (tcp_conn,) = [c for c in conns if c["protocol"] == 6 and c["direction"] == "INGRESS"]
    assert tcp_conn["packets"] >= len(tcp_in) and tcp_conn["tcp_flags_seen"] == SYN | ACK | PSH | FIN


def test_cli_observe_last_table(topo: Topology, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"- {{action: deny, protocol: udp, port: {UDP_PORT + 5}}}\n")
    proc = _pybpf("flows", "observe", "--netns", topo.ns_b, "-i", topo.if_b, "--policy", str(policy),
                  "--duration", "1.5", "--last", "2", "-o", "table", "--protocol", "udp")
    try:
        assert proc.stderr is not None and proc.stderr.readline().startswith("observing")
        assert udp_send(topo, UDP_PORT, 2) == 2
        assert udp_send(topo, UDP_PORT + 5, 3, expect=False) == 0
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["TIMESTAMP", "SOURCE", "DESTINATION", "TYPE", "VERDICT", "SUMMARY"]
    rows = [line.split()[3:] for line in lines[1:]]  # after the 3-word timestamp
    assert len(rows) == 2 and all(r[1] == f"{B_IP}:{UDP_PORT + 5}" and r[2:] == ["Policy", "denied", "DROPPED", "UDP"]
                                  for r in rows), out


def test_several_interfaces(topo: Topology) -> None:
    from .topology import socket_in

    with Datapath([topo.if_b, "lo"], netns=topo.ns_b) as dp:
        assert udp_send(topo, UDP_PORT, 1) == 1
        local = socket_in(topo.ns_b, socket.AF_INET, socket.SOCK_DGRAM)
        try:
            local.sendto(b"on lo", ("127.0.0.1", UDP_PORT + 9))
        finally:
            local.close()
        dp.detach()
        udp = [(f.interface, f.direction, f.source, f.destination, f.destination_port)
               for f in dp.read_available() if f.protocol == 17]
    assert sorted(dp.ifindex.values()) == sorted([topo.if_b, "lo"])
    assert sorted(udp) == sorted([(topo.if_b, "INGRESS", A_IP, B_IP, UDP_PORT),
                                  ("lo", "EGRESS", "127.0.0.1", "127.0.0.1", UDP_PORT + 9),
                                  ("lo", "INGRESS", "127.0.0.1", "127.0.0.1", UDP_PORT + 9)])


def test_cli_serve_bad_input() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for args, message in ((["--listen", f"127.0.0.1:{port}"], "cannot listen on"),
                              (["--listen", "nonsense"], "--listen takes HOST:PORT"),
                              (["--name", "10.0.0.1"], "--name takes IP=NAME")):
            proc = _pybpf("flows", "serve", "-i", "lo", *args)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 2 and message in err and "Traceback" not in err
