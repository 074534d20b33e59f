"""The load balancer's YAML configuration: VIPs, their reals and weights, encapsulation settings.

```yaml
outer_source: 172.16.0.0/16        # IPIP outer sources (a CIDR, or a list with an IPv6 one)
ring_size: 65537                   # Maglev table size per VIP (a prime)
vips:
  - {address: 10.0.0.10, port: 80, protocol: tcp,
     reals: [{address: 10.1.0.1, weight: 1}, {address: 10.1.0.2, weight: 2}]}
```
Optional keys: `max_vips` (VIP slots reserved for run-time updates, at most 512),
`max_connections` (connection table entries per CPU), `mtu` (largest IP packet after
encapsulation), `gateway_mac` (where encapsulated frames go; default: back to the sender).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pybpf.errors import BpfError

MAX_VIPS = 512
MAX_REALS = 4095  # real index 0 means "none" in the ring
DEFAULT_RING_SIZE = 65537
DEFAULT_OUTER_SOURCE6 = "fc00:5ca1:ab1e::/96"
PROTOCOLS = {"tcp": 6, "udp": 17}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class LbConfigError(BpfError):
    """A load balancer configuration that cannot be used (bad YAML, address, weight, size)."""


@dataclass(frozen=True)
class Real:
    """A backend server: its address and its Maglev weight."""

    address: IPAddress
    weight: int = 1


@dataclass(frozen=True)
class Vip:
    """A virtual IP service: address, port and protocol, served by its reals."""

    address: IPAddress
    port: int
    protocol: str
    reals: tuple[Real, ...]

    @property
    def proto_number(self) -> int:
        return PROTOCOLS[self.protocol]

    def __str__(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{host}:{self.port}/{self.protocol}"


@dataclass(frozen=True)
class LbConfig:
    """A whole configuration, validated."""

    vips: tuple[Vip, ...]
    outer_source4: ipaddress.IPv4Network
    outer_source6: ipaddress.IPv6Network
    ring_size: int = DEFAULT_RING_SIZE
    max_vips: int = MAX_VIPS
    max_connections: int = 65536
    mtu: int = 1500
    gateway_mac: bytes = b"\0" * 6

    @property
    def real_addresses(self) -> list[IPAddress]:
        """Every distinct real address, in order of first appearance."""
        seen: dict[IPAddress, None] = {}
        for vip in self.vips:
            for real in vip.reals:
                seen.setdefault(real.address, None)
        return list(seen)


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    i = 3
    while i * i <= n:
        if n % i == 0:
            return False
        i += 2
    return True


def _address(value: Any, where: str) -> IPAddress:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise LbConfigError(f"{where}: {value!r} is not an IP address") from None


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LbConfigError(f"{where}: {value!r} is not an integer in {low}..{high}")
    return value


def _mac(value: Any) -> bytes:
    parts = str(value).replace("-", ":").split(":")
    try:
        raw = bytes(int(p, 16) for p in parts)
    except ValueError:
        raw = b""
    if len(raw) != 6:
        raise LbConfigError(f"gateway_mac: {value!r} is not a MAC address")
    return raw


def _outer_sources(value: Any) -> tuple[ipaddress.IPv4Network, ipaddress.IPv6Network]:
    items = value if isinstance(value, list) else [value]
    v4: ipaddress.IPv4Network | None = None
    v6 = ipaddress.IPv6Network(DEFAULT_OUTER_SOURCE6)
    for item in items:
        try:
            net = ipaddress.ip_network(str(item), strict=False)
        except ValueError:
            raise LbConfigError(f"outer_source: {item!r} is not a CIDR prefix") from None
        if isinstance(net, ipaddress.IPv4Network):
            v4 = net
        else:
            v6 = net
    if v4 is None:
        raise LbConfigError("outer_source needs an IPv4 prefix (e.g. 172.16.0.0/16)")
    return v4, v6


def _vip(entry: Any, index: int) -> Vip:
    where = f"vips[{index}]"
    if not isinstance(entry, dict):
        raise LbConfigError(f"{where} must be a mapping with address, port, protocol, reals")
    address = _address(entry.get("address"), f"{where}.address")
    port = _int(entry.get("port"), f"{where}.port", 1, 65535)
    protocol = str(entry.get("protocol", "tcp")).lower()
    if protocol not in PROTOCOLS:
        raise LbConfigError(f"{where}.protocol: {protocol!r} (use tcp or udp)")
    reals_in = entry.get("reals") or []
    if not isinstance(reals_in, list):
        raise LbConfigError(f"{where}.reals must be a list")
    reals: list[Real] = []
    for j, r in enumerate(reals_in):
        rwhere = f"{where}.reals[{j}]"
        if isinstance(r, str):
            r = {"address": r}
        if not isinstance(r, dict):
            raise LbConfigError(f"{rwhere} must be a mapping with address and weight")
        raddr = _address(r.get("address"), f"{rwhere}.address")
        if raddr.version != address.version:
            raise LbConfigError(f"{rwhere}: IPv{raddr.version} real for an IPv{address.version} VIP")
        if any(x.address == raddr for x in reals):
            raise LbConfigError(f"{rwhere}: {raddr} is listed twice")
        reals.append(Real(raddr, _int(r.get("weight", 1), f"{rwhere}.weight", 1, 1_000_000)))
    return Vip(address, port, protocol, tuple(reals))


def parse(data: Any) -> LbConfig:
    """Validate a configuration already read from YAML (a mapping)."""
    if not isinstance(data, dict):
        raise LbConfigError("the configuration must be a mapping with `vips:`")
    unknown = set(data) - {"vips", "outer_source", "ring_size", "max_vips", "max_connections",
                           "mtu", "gateway_mac"}
    if unknown:
        raise LbConfigError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
    vips_in = data.get("vips") or []
    if not isinstance(vips_in, list):
        raise LbConfigError("vips must be a list")
    vips = tuple(_vip(v, i) for i, v in enumerate(vips_in))
    seen: set[tuple[IPAddress, int, str]] = set()
    for vip in vips:
        key = (vip.address, vip.port, vip.protocol)
        if key in seen:
            raise LbConfigError(f"VIP {vip} is listed twice")
        seen.add(key)
    ring_size = _int(data.get("ring_size", DEFAULT_RING_SIZE), "ring_size", 3, 1 << 24)
    if not is_prime(ring_size):
        raise LbConfigError(f"ring_size {ring_size} is not a prime (Maglev needs one, e.g. 65537)")
    max_vips = _int(data.get("max_vips", MAX_VIPS), "max_vips", 1, MAX_VIPS)
    if len(vips) > max_vips:
        raise LbConfigError(f"{len(vips)} VIPs, more than max_vips ({max_vips})")
    v4, v6 = _outer_sources(data.get("outer_source", "172.16.0.0/16"))
    config = LbConfig(
        vips=vips, outer_source4=v4, outer_source6=v6, ring_size=ring_size, max_vips=max_vips,
        max_connections=_int(data.get("max_connections", 65536), "max_connections", 16, 1 << 24),
        mtu=_int(data.get("mtu", 1500), "mtu", 576, 65535),
        gateway_mac=_mac(data["gateway_mac"]) if data.get("gateway_mac") else b"\0" * 6,
    )
    if len(config.real_addresses) > MAX_REALS:
        raise LbConfigError(f"{len(config.real_addresses)} reals, more than {MAX_REALS}")
    for vip in vips:
        if len(vip.reals) >= ring_size:
            raise LbConfigError(f"VIP {vip}: {len(vip.reals)} reals need a ring_size above that")
    return config


def load(path: str | Path) -> LbConfig:
    """Read and validate a YAML configuration file."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise LbConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LbConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse(data)
