"""Shared pieces of the load balancer tests: configurations, a loaded balancer, checksums."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from pybpf.lb import Balancer, parse
from pybpf.lb.config import LbConfig
from pybpf.toolchain import zig_available

VIP4 = "10.0.0.10"
VIP6 = "fd00::10"
REALS4 = ["10.1.0.1", "10.1.0.2", "10.1.0.3"]
REALS6 = ["fd00:1::1", "fd00:1::2"]


def config(reals4: list[tuple[str, int]] | None = None, **extra: Any) -> LbConfig:
    """A small configuration: one IPv4 TCP VIP and one IPv6 UDP VIP."""
    reals4 = reals4 if reals4 is not None else [(a, 1) for a in REALS4]
    data: dict[str, Any] = {
        "outer_source": ["172.16.0.0/16", "fc00:1::/96"],
        "ring_size": 4099,
        "max_vips": 4,
        "max_connections": 4096,
        "vips": [
            {"address": VIP4, "port": 80, "protocol": "tcp",
             "reals": [{"address": a, "weight": w} for a, w in reals4]},
            {"address": VIP6, "port": 53, "protocol": "udp",
             "reals": [{"address": a} for a in REALS6]},
        ],
    }
    data.update(extra)
    return parse(data)


def ones_complement(data: bytes) -> int:
    """RFC 1071 checksum, written here independently of the code under test."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def in_net(address: bytes, cidr: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)


@pytest.fixture
def balancer(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Balancer]]:
    """(program, Balancer) on the interpreter with config() applied (param: engine name)."""
    if not zig_available():
        pytest.skip("ziglang is not installed: the balancer cannot be compiled")
    from pybpf.lb.program import PROGRAM, load

    engine = getattr(request, "param", "interp")
    cfg = config()
    coll = load(cfg, engine)
    try:
        b = Balancer(coll.maps)
        b.apply(cfg)
        yield coll.programs[PROGRAM], b
    finally:
        coll.close()
