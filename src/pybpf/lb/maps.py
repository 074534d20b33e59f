"""The balancer's map layouts (the structs of bpf/lb.c) as Python encoders and decoders."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from pybpf.lb.config import IPAddress, LbConfig, Vip

MAX_VIPS = 512  # vip_stats holds MAX_VIPS per-VIP counters, then the global ones
F_ADDR_ONLY = 1
GLOBAL_STATS = ("pass", "drop_fragment", "new_flow", "icmp_too_big", "no_real", "echo_reply",
                "drop_too_long")

_REAL = struct.Struct("<16sI")
_META = struct.Struct("<II")
_CONN = struct.Struct("<II")
_COUNTER = struct.Struct("<QQ")
_CTL = struct.Struct("<IIII16sI6s2x")


def _addr16(address: IPAddress) -> bytes:
    return address.packed.ljust(16, b"\0")


def _from16(raw: bytes, family: int) -> IPAddress:
    if family == 4:
        return ipaddress.IPv4Address(raw[:4])
    return ipaddress.IPv6Address(raw[:16])


def vip_key(address: IPAddress, port: int, proto: int) -> bytes:
    """struct vip_key: address (16 bytes), port (network order), protocol, family."""
    return _addr16(address) + port.to_bytes(2, "big") + bytes([proto, address.version])


def addr_only_key(address: IPAddress) -> bytes:
    """The vips entry that marks a VIP address (for fragments, options and echo requests)."""
    return vip_key(address, 0, 0)


def decode_vip_key(raw: bytes) -> tuple[IPAddress, int, int]:
    family = raw[19]
    return _from16(raw[:16], family), int.from_bytes(raw[16:18], "big"), raw[18]


def vip_meta(vip_num: int, flags: int = 0) -> bytes:
    return _META.pack(vip_num, flags)


def decode_vip_meta(raw: bytes) -> tuple[int, int]:
    vip_num, flags = _META.unpack(raw)
    return vip_num, flags


def real_def(address: IPAddress) -> bytes:
    return _REAL.pack(_addr16(address), address.version)


def decode_real_def(raw: bytes) -> IPAddress | None:
    addr, family = _REAL.unpack(raw)
    return _from16(addr, family) if family in (4, 6) else None


def conn(real: int, vip_num: int) -> bytes:
    return _CONN.pack(real, vip_num)


def decode_conn(raw: bytes) -> tuple[int, int]:
    real, vip_num = _CONN.unpack(raw)
    return real, vip_num


def ctl(config: LbConfig) -> bytes:
    """struct lb_ctl from a configuration."""
    v4, v6 = config.outer_source4, config.outer_source6
    return _CTL.pack(config.ring_size, config.mtu + 14, int(v4.network_address), int(v4.hostmask),
                     v6.network_address.packed, int(v6.hostmask) & 0xFFFFFFFF, config.gateway_mac)


def decode_ring_size(raw: bytes) -> int:
    return int(_CTL.unpack(raw)[0])


@dataclass(frozen=True)
class Counter:
    """Packets and bytes, summed over CPUs."""

    packets: int = 0
    bytes: int = 0


def counter(value: bytes | list[bytes] | None) -> Counter:
    """A per-CPU counter value summed over the CPUs."""
    if value is None:
        return Counter()
    values = value if isinstance(value, list) else [value]
    packets = total = 0
    for v in values:
        p, b = _COUNTER.unpack(bytes(v))
        packets += p
        total += b
    return Counter(packets, total)


def flow_key(src: IPAddress, dst: IPAddress, sport: int, dport: int, proto: int) -> bytes:
    """struct flow_key, as the program builds it for a packet."""
    return (_addr16(src) + _addr16(dst) + sport.to_bytes(2, "big") + dport.to_bytes(2, "big")
            + bytes([proto, 0, 0, 0]))


def vip_key_of(vip: Vip) -> bytes:
    return vip_key(vip.address, vip.port, vip.proto_number)
