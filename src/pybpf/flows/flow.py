"""A flow record and its Hubble rendering: the `flow.Flow` JSON layout, enum spellings and summary."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field
from typing import Any

# Hubble's enums (cilium api/v1/flow/flow.proto), spelled as its JSON output spells them
VERDICT_FORWARDED = "FORWARDED"
VERDICT_DROPPED = "DROPPED"
VERDICTS = ("VERDICT_UNKNOWN", "FORWARDED", "DROPPED", "ERROR", "AUDIT", "REDIRECTED", "TRACED", "TRANSLATED")
DROP_REASONS = {0: "DROP_REASON_UNKNOWN", 133: "POLICY_DENIED"}
DROP_REASON_TEXT = {133: "Policy denied"}  # what `hubble observe` prints in compact output
INGRESS, EGRESS = "INGRESS", "EGRESS"
# Cilium monitor message types and trace observation points (pkg/monitor/api)
MESSAGE_TYPE_DROP = 1
MESSAGE_TYPE_TRACE = 4
TRACE_FROM_NETWORK = 10
TRACE_TO_NETWORK = 11
OBSERVATION_POINTS = {TRACE_FROM_NETWORK: "FROM_NETWORK", TRACE_TO_NETWORK: "TO_NETWORK"}
OBSERVATION_SUBTYPES = {TRACE_FROM_NETWORK: "from-network", TRACE_TO_NETWORK: "to-network"}

TCP_FLAG_NAMES = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")  # bit 0 .. bit 7 of byte 13
PROTOCOL_NAMES = {6: "TCP", 17: "UDP", 1: "ICMPv4", 58: "ICMPv6"}
ICMPV4_TYPES = {0: "EchoReply", 3: "DestinationUnreachable", 5: "Redirect", 8: "EchoRequest",
                11: "TimeExceeded", 12: "ParameterProblem", 13: "TimestampRequest", 14: "TimestampReply"}
ICMPV6_TYPES = {1: "DestinationUnreachable", 2: "PacketTooBig", 3: "TimeExceeded", 4: "ParameterProblem",
                128: "EchoRequest", 129: "EchoReply", 133: "RouterSolicitation",
                134: "RouterAdvertisement", 135: "NeighborSolicitation", 136: "NeighborAdvertisement",
                143: "MLDv2MulticastListenerReport"}


@dataclass
class Flow:
    """One packet (or, with aggregation, one connection state change) seen by the datapath."""

    time_ns: int                 # wall clock, nanoseconds since the epoch
    interface: str
    ifindex: int
    direction: str               # INGRESS or EGRESS
    verdict: str                 # FORWARDED or DROPPED
    drop_reason: int             # 0, or a Cilium drop reason number (133 POLICY_DENIED)
    src_mac: str
    dst_mac: str
    ip_version: int              # 4 or 6
    source: str
    destination: str
    protocol: int                # IPPROTO_*
    source_port: int = 0
    destination_port: int = 0
    tcp_flags: int = 0           # byte 13 of the TCP header (FIN = bit 0)
    tcp_ns: bool = False
    icmp_type: int = 0
    icmp_code: int = 0
    length: int = 0
    packets: int = 1
    bytes: int = 0
    rule: int = 0                # 1 + the index of the policy rule that decided, 0 for the default
    is_reply: bool | None = None
    node_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    # --- derived views -------------------------------------------------------------------
    @property
    def protocol_name(self) -> str:
        return PROTOCOL_NAMES.get(self.protocol, str(self.protocol))

    @property
    def has_ports(self) -> bool:
        return self.protocol in (6, 17)

    def flag_names(self) -> list[str]:
        names = [n for bit, n in enumerate(TCP_FLAG_NAMES) if self.tcp_flags & (1 << bit)]
        if self.tcp_ns:
            names.append("NS")
        return names

    @property
    def drop_reason_desc(self) -> str:
        return DROP_REASONS.get(self.drop_reason, f"DROP_REASON_{self.drop_reason}")

    @property
    def observation_point(self) -> int:
        return TRACE_FROM_NETWORK if self.direction == INGRESS else TRACE_TO_NETWORK

    @property
    def event_type(self) -> str:
        """The type label of hubble_flows_processed_total: Drop or Trace."""
        return "Drop" if self.verdict == VERDICT_DROPPED else "Trace"

    @property
    def event_subtype(self) -> str:
        return "" if self.verdict == VERDICT_DROPPED else OBSERVATION_SUBTYPES[self.observation_point]

    def endpoint(self, which: str) -> str:
        """`ip:port` (or just the IP) of the source or destination, IPv6 in brackets."""
        ip = self.source if which == "source" else self.destination
        port = self.source_port if which == "source" else self.destination_port
        if not self.has_ports:
            return ip
        return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"

    def summary(self) -> str:
        """Hubble's Summary field: `TCP Flags: SYN, ACK`, `UDP`, `ICMPv4 EchoRequest`."""
        if self.protocol == 6:
            return "TCP Flags: " + ", ".join(self.flag_names())
        if self.protocol == 17:
            return "UDP"
        if self.protocol == 1:
            return f"ICMPv4 {ICMPV4_TYPES.get(self.icmp_type, str(self.icmp_type))}"
        if self.protocol == 58:
            return f"ICMPv6 {ICMPV6_TYPES.get(self.icmp_type, str(self.icmp_type))}"
        return f"IP protocol {self.protocol}"

    def time_rfc3339(self) -> str:
        """RFC 3339 with nanoseconds in UTC, as protobuf's JSON renders a Timestamp."""
        seconds, nanos = divmod(self.time_ns, 1_000_000_000)
        stamp = datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{stamp}.{nanos:09d}Z"

    def l4(self) -> dict[str, Any]:
        if self.protocol == 6:
            return {"TCP": {"source_port": self.source_port, "destination_port": self.destination_port,
                            "flags": {name: True for name in self.flag_names()}}}
        if self.protocol == 17:
            return {"UDP": {"source_port": self.source_port, "destination_port": self.destination_port}}
        if self.protocol == 1:
            return {"ICMPv4": {"type": self.icmp_type, "code": self.icmp_code}}
        if self.protocol == 58:
            return {"ICMPv6": {"type": self.icmp_type, "code": self.icmp_code}}
        return {}

    def to_hubble(self) -> dict[str, Any]:
        """The flow as `hubble observe -o json` prints it: {"flow": {...}, "node_name", "time"}."""
        dropped = self.verdict == VERDICT_DROPPED
        flow: dict[str, Any] = {
            "time": self.time_rfc3339(),
            "verdict": self.verdict,
        }
        if dropped:
            flow["drop_reason"] = self.drop_reason
        flow["ethernet"] = {"source": self.src_mac, "destination": self.dst_mac}
        flow["IP"] = {"source": self.source, "destination": self.destination,
                      "ipVersion": f"IPv{self.ip_version}"}
        l4 = self.l4()
        if l4:
            flow["l4"] = l4
        flow["Type"] = "L3_L4"
        flow["node_name"] = self.node_name
        if dropped:
            flow["event_type"] = {"type": MESSAGE_TYPE_DROP, "sub_type": self.drop_reason}
        else:
            flow["event_type"] = {"type": MESSAGE_TYPE_TRACE, "sub_type": self.observation_point}
        flow["traffic_direction"] = self.direction
        if not dropped:
            flow["trace_observation_point"] = OBSERVATION_POINTS[self.observation_point]
        if dropped:
            flow["drop_reason_desc"] = self.drop_reason_desc
        if self.is_reply is not None:
            flow["is_reply"] = self.is_reply
        flow["interface"] = {"index": self.ifindex, "name": self.interface}
        flow["Summary"] = self.summary()
        if self.packets != 1 or self.extra:
            flow["extensions"] = {"packets": self.packets, "bytes": self.bytes, **self.extra}
        return {"flow": flow, "node_name": self.node_name, "time": flow["time"]}


def ip_text(raw: bytes, version: int) -> str:
    """An address from the event's 16-byte field."""
    if version == 4:
        return str(ipaddress.IPv4Address(raw[:4]))
    return str(ipaddress.IPv6Address(raw[:16]))


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)
