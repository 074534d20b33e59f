"""The datapath's `struct flow_event` (bpf/flows.c) as bytes -> Flow, and its constants."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Mapping

from pybpf.flows.flow import EGRESS, INGRESS, VERDICTS, Flow, ip_text, mac_text

# struct flow_event, little-endian, 96 bytes; field order as in flows.c
EVENT = struct.Struct("<QQIIIHBBBBBBBBHHBxI6s6s4x16s16s")
EVENT_SIZE = EVENT.size
assert EVENT_SIZE == 96

DIRECTIONS = (INGRESS, EGRESS)
# indices of the per-CPU `stats` array
STAT_SEEN, STAT_LOST, STAT_NON_IP, STAT_DROPPED, STAT_AGGREGATED, STAT_TRUNCATED = range(6)
STAT_NAMES = ("seen", "lost", "non_ip", "dropped", "aggregated", "truncated")


def monotonic_offset_ns() -> int:
    """Add this to bpf_ktime_get_ns() (CLOCK_MONOTONIC) to get the wall clock."""
    return time.time_ns() - time.monotonic_ns()


def make_decoder(interfaces: Mapping[int, str], node_name: str = "",
                 offset_ns: int | None = None) -> Callable[[bytes], Flow]:
    """A function turning one ring buffer record into a Flow (interface names by ifindex)."""
    offset = monotonic_offset_ns() if offset_ns is None else offset_ns
    unpack = EVENT.unpack_from

    def decode(record: bytes) -> Flow:
        (ts, nbytes, packets, ifindex, length, _eth_proto, direction, verdict, drop_reason, version,
         proto, tcp_flags, icmp_type, icmp_code, sport, dport, tcp_ns, rule, src_mac, dst_mac,
         saddr, daddr) = unpack(record)
        return Flow(
            time_ns=ts + offset, interface=interfaces.get(ifindex, f"if{ifindex}"), ifindex=ifindex,
            direction=DIRECTIONS[direction & 1], verdict=VERDICTS[verdict] if verdict < len(VERDICTS) else "ERROR",
            drop_reason=drop_reason, src_mac=mac_text(src_mac), dst_mac=mac_text(dst_mac),
            ip_version=version, source=ip_text(saddr, version), destination=ip_text(daddr, version),
            protocol=proto, source_port=sport, destination_port=dport, tcp_flags=tcp_flags,
            tcp_ns=bool(tcp_ns), icmp_type=icmp_type, icmp_code=icmp_code, length=length,
            packets=packets, bytes=nbytes, rule=rule, node_name=node_name)

    return decode
