"""`hubble observe` filter semantics: fields AND, values OR, --ip/--port either side, --not deny-list."""

from __future__ import annotations

import pytest

from pybpf.flows.filters import FilterError, FlowFilters
from pybpf.flows.observer import Observer
from pybpf.flows.replies import ReplyTracker

from .samples import flow

SYN = flow()
SYN_ACK = flow(source="10.0.0.2", destination="10.0.0.1", source_port=80, destination_port=40000, tcp_flags=0x12,
               direction="EGRESS")
DNS = flow(protocol=17, tcp_flags=0, destination="10.0.1.53", destination_port=53)
PING = flow(protocol=1, tcp_flags=0, icmp_type=8)
PING6 = flow(protocol=58, tcp_flags=0, icmp_type=128, ip_version=6, source="fd00::1", destination="fd00::2")
DROP = flow(verdict="DROPPED", drop_reason=133, destination_port=9001)
ALL = [SYN, SYN_ACK, DNS, PING, PING6, DROP]


def pick(*options: tuple[str, str, bool]) -> list[int]:
    f = FlowFilters.build(list(options))
    return [i for i, fl in enumerate(ALL) if f.matches(fl)]


def test_filters() -> None:
    assert pick() == [0, 1, 2, 3, 4, 5]
    assert pick(("verdict", "dropped", False)) == [5]
    assert pick(("protocol", "icmp", False)) == [3, 4]
    assert pick(("protocol", "icmpv6", False)) == [4]
    assert pick(("protocol", "udp", False), ("protocol", "tcp", False)) == [0, 1, 2, 5]
    assert pick(("port", "80", False)) == [0, 1]            # source or destination
    assert pick(("to-port", "80", False)) == [0]
    assert pick(("from-port", "80", False)) == [1]
    assert pick(("ip", "10.0.0.2", False)) == [0, 1, 3, 5]  # either side
    assert pick(("from-ip", "10.0.0.0/24", False), ("to-ip", "10.0.1.0/24", False)) == [2]
    assert pick(("ip", "fd00::/64", False)) == [4]
    assert pick(("tcp-flags", "syn", False)) == [0, 1, 5]
    assert pick(("tcp-flags", "SYN,ACK", False)) == [1]
    assert pick(("tcp-flags", "ack", False), ("tcp-flags", "fin", False)) == [1]
    assert pick(("verdict", "DROPPED", True)) == [0, 1, 2, 3, 4]
    assert pick(("ip", "10.0.0.2", True)) == [2, 4]
    assert pick(("protocol", "tcp", False), ("port", "9001", True)) == [0, 1]
    # as in hubble observe, the negated filters form one deny-list filter: all of them must match
    assert pick(("protocol", "udp", True), ("port", "53", True)) == [0, 1, 3, 4, 5]


def test_bad_filter_values() -> None:
    for options, message in ((("ip", "10.0.0.300", False), "not an IP"), (("port", "http", False), "not a port"),
                             (("verdict", "ok", False), "unknown verdict"),
                             (("protocol", "sctp", False), "unknown protocol"),
                             (("tcp-flags", "SYNN", False), "unknown TCP flag")):
        with pytest.raises(FilterError, match=message):
            FlowFilters.build([options])


def test_query_parameters() -> None:
    f = FlowFilters.from_query({"ip": ["10.0.0.2"], "not-verdict": ["DROPPED"], "unrelated": ["x"], "port": [""]})
    assert [i for i, fl in enumerate(ALL) if f.matches(fl)] == [0, 1, 3]


def test_is_reply() -> None:
    tracker = ReplyTracker()
    ack = flow(tcp_flags=0x10)
    ack_back = flow(source="10.0.0.2", destination="10.0.0.1", source_port=80, destination_port=40000,
                    tcp_flags=0x10)
    assert [tracker.classify(f) for f in (SYN, SYN_ACK, ack, ack_back, PING, PING6)] == [
        False, True, False, True, False, False]
    udp_back = flow(protocol=17, tcp_flags=0, source="10.0.1.53", destination="10.0.0.1", source_port=53,
                    destination_port=40000)
    assert [tracker.classify(f) for f in (DNS, udp_back, DNS)] == [False, True, False]
    assert tracker.classify(flow(protocol=1, tcp_flags=0, icmp_type=3)) is None


class _Source:
    def __init__(self) -> None:
        self.batches = [list(ALL)]

    def read(self, timeout: float | None = 0.0) -> list:
        return self.batches.pop(0) if self.batches else []

    def stats(self) -> dict[str, int]:
        return {"lost": 0}


def test_observer_buffer_map_and_subscribers() -> None:
    obs = Observer(_Source(), buffer_size=4, names={"10.0.0.2": "web"})
    sub = obs.subscribe(FlowFilters.build([("verdict", "DROPPED", False)]))
    tiny = obs.subscribe(size=1)
    assert obs.poll(0) == ALL
    assert obs.recent() == ALL[-4:]                      # bounded: the oldest went
    assert obs.recent(last=1) == [DROP]
    assert sub.drain() == [DROP]
    assert tiny.drain() == [SYN] and tiny.lost == 5 and obs.lost_subscribers == 5
    m = obs.service_map()
    assert {(n["ip"], n["name"]) for n in m["nodes"]} == {
        ("10.0.0.1", "10.0.0.1"), ("10.0.0.2", "web"), ("10.0.1.53", "10.0.1.53"), ("fd00::1", "fd00::1"),
        ("fd00::2", "fd00::2")}
    edges = {(e["source"], e["target"]): (e["forwarded"], e["dropped"], e["verdict"], e["ports"])
             for e in m["edges"]}
    # the SYN-ACK (a reply) is drawn on its request's edge, client -> server
    assert edges == {("10.0.0.1", "10.0.0.2"): (3, 1, "MIXED", [80, 9001]),
                     ("10.0.0.1", "10.0.1.53"): (1, 0, "FORWARDED", [53]),
                     ("fd00::1", "fd00::2"): (1, 0, "FORWARDED", [])}
    assert 'hubble_lost_events_total{source="observer_events_queue"} 5.0' in obs.metrics.exposition().decode()
