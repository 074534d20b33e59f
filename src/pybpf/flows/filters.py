"""Flow filters with `hubble observe` semantics: allow-list and `--not` deny-list of FlowFilters.

A FlowFilter matches when every field it sets matches (any of a field's values). `--ip X` and
`--port N` mean "source or destination", so, as in Hubble, they split the filter into a
source-side and a destination-side FlowFilter. A flow passes when it matches some allow-list
filter (or there is none) and no deny-list filter.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pybpf.errors import BpfError
from pybpf.flows.flow import TCP_FLAG_NAMES, VERDICTS, Flow

PROTOCOLS = {"tcp": {6}, "udp": {17}, "icmp": {1, 58}, "icmpv4": {1}, "icmpv6": {58}}
FLAG_BITS = {name: 1 << bit for bit, name in enumerate(TCP_FLAG_NAMES)}
# filter names as on the command line; `ip` and `port` are the either-direction ones
FILTER_NAMES = ("verdict", "protocol", "port", "ip", "from-ip", "to-ip", "from-port", "to-port", "tcp-flags")


class FilterError(BpfError):
    """A filter value that cannot be understood (bad IP, port, verdict, protocol or flag)."""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class FlowFilter:
    """Conditions that must all hold; each tuple holds alternatives."""

    source_ip: tuple[Network, ...] = ()
    destination_ip: tuple[Network, ...] = ()
    source_port: tuple[int, ...] = ()
    destination_port: tuple[int, ...] = ()
    verdict: tuple[str, ...] = ()
    protocol: tuple[int, ...] = ()
    tcp_flags: tuple[int, ...] = ()  # each a set of flag bits that must all be set

    def matches(self, flow: Flow) -> bool:
        if self.verdict and flow.verdict not in self.verdict:
            return False
        if self.protocol and flow.protocol not in self.protocol:
            return False
        if self.source_ip and not _in_any(flow.source, self.source_ip):
            return False
        if self.destination_ip and not _in_any(flow.destination, self.destination_ip):
            return False
        if self.source_port and not (flow.has_ports and flow.source_port in self.source_port):
            return False
        if self.destination_port and not (flow.has_ports and flow.destination_port in self.destination_port):
            return False
        if self.tcp_flags and not (flow.protocol == 6 and any(flow.tcp_flags & bits == bits
                                                              for bits in self.tcp_flags)):
            return False
        return True

    def empty(self) -> bool:
        return self == FlowFilter()


def _in_any(address: str, networks: tuple[Network, ...]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip.version == net.version and ip in net for net in networks)


def parse_ip(value: str) -> Network:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise FilterError(f"not an IP address or CIDR: {value!r}") from None


def parse_port(value: str | int) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise FilterError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise FilterError(f"port {port} is out of range 0-65535")
    return port


def parse_verdict(value: str) -> str:
    verdict = value.strip().upper()
    if verdict not in VERDICTS:
        raise FilterError(f"unknown verdict {value!r} (e.g. FORWARDED, DROPPED)")
    return verdict


def parse_protocol(value: str) -> set[int]:
    proto = value.strip().lower()
    if proto not in PROTOCOLS:
        raise FilterError(f"unknown protocol {value!r} (choose from {', '.join(PROTOCOLS)})")
    return PROTOCOLS[proto]


def parse_tcp_flags(value: str) -> int:
    """`SYN` or `SYN,ACK` (any case) -> the bits that must all be set."""
    bits = 0
    for name in value.replace("|", ",").split(","):
        name = name.strip().upper()
        if not name:
            continue
        if name not in FLAG_BITS:
            raise FilterError(f"unknown TCP flag {name!r} (choose from {', '.join(TCP_FLAG_NAMES)})")
        bits |= FLAG_BITS[name]
    if not bits:
        raise FilterError("--tcp-flags needs at least one flag, e.g. SYN or SYN,ACK")
    return bits


def _add(f: FlowFilter, name: str, values: Iterable[Any]) -> FlowFilter:
    return replace(f, **{name: (*getattr(f, name), *values)})


@dataclass
class _Side:
    """One of the allow/deny lists while it is built: a left (source) and right (destination) half."""

    left: FlowFilter = field(default_factory=FlowFilter)
    right: FlowFilter = field(default_factory=FlowFilter)
    split: bool = False

    def both(self, name: str, values: Iterable[Any]) -> None:
        values = list(values)
        self.left = _add(self.left, name, values)
        self.right = _add(self.right, name, values)

    def either(self, source_name: str, destination_name: str, values: Iterable[Any]) -> None:
        values = list(values)
        self.split = True
        self.left = _add(self.left, source_name, values)
        self.right = _add(self.right, destination_name, values)

    def filters(self) -> list[FlowFilter]:
        if self.split:
            return [self.left, self.right]
        return [] if self.left.empty() else [self.left]


@dataclass
class FlowFilters:
    """The allow-list and deny-list a set of `hubble observe` filter options builds."""

    allow: list[FlowFilter] = field(default_factory=list)
    deny: list[FlowFilter] = field(default_factory=list)

    def matches(self, flow: Flow) -> bool:
        if self.allow and not any(f.matches(flow) for f in self.allow):
            return False
        return not any(f.matches(flow) for f in self.deny)

    def __call__(self, flow: Flow) -> bool:
        return self.matches(flow)

    @classmethod
    def build(cls, options: Sequence[tuple[str, str, bool]]) -> FlowFilters:
        """From (name, value, negated) triples in command-line order, names as in FILTER_NAMES."""
        sides = {False: _Side(), True: _Side()}
        for name, value, negated in options:
            side = sides[negated]
            key = name.replace("_", "-")
            if key == "verdict":
                side.both("verdict", [parse_verdict(value)])
            elif key == "protocol":
                side.both("protocol", sorted(parse_protocol(value)))
            elif key == "tcp-flags":
                side.both("tcp_flags", [parse_tcp_flags(value)])
            elif key == "from-ip":
                side.both("source_ip", [parse_ip(value)])
            elif key == "to-ip":
                side.both("destination_ip", [parse_ip(value)])
            elif key == "from-port":
                side.both("source_port", [parse_port(value)])
            elif key == "to-port":
                side.both("destination_port", [parse_port(value)])
            elif key == "ip":
                side.either("source_ip", "destination_ip", [parse_ip(value)])
            elif key == "port":
                side.either("source_port", "destination_port", [parse_port(value)])
            else:
                raise FilterError(f"unknown filter {name!r} (choose from {', '.join(FILTER_NAMES)})")
        return cls(allow=sides[False].filters(), deny=sides[True].filters())

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> FlowFilters:
        """From URL query parameters: `ip=…&port=…&verdict=…`, negated as `not-ip=…` (or `not_ip`).

        `params` is a mapping whose values are lists (e.g. parse_qs) or a Starlette QueryParams.
        """
        triples: list[tuple[str, str, bool]] = []
        items: Iterable[tuple[str, Any]]
        if hasattr(params, "multi_items"):
            items = params.multi_items()
        else:
            items = ((k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs]))
        for key, value in items:
            key = key.replace("_", "-")
            negated = key.startswith("not-")
            name = key[4:] if negated else key
            if name not in FILTER_NAMES or value in ("", None):
                continue
            triples.append((name, str(value), negated))
        return cls.build(triples)
