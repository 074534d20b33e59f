"""Test packets for `pybpf packet`: frames from a few fields, written as raw `.bin` or a pcap.

The frames come from `pybpf.hooks.packets` (Ethernet, IPv4/IPv6, TCP/UDP/ICMP with correct
checksums); this module checks the fields a user types and writes the result where `pybpf run
--data-in` (one raw frame per file) or tcpdump/Wireshark (a pcap) can read it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pybpf.hooks import packets as pk
from pybpf.hooks.packets import PacketError

PROTOCOLS = ("tcp", "udp", "icmp")
PCAP_SUFFIXES = (".pcap", ".cap")
DEFAULT_ADDRESSES = {4: ("10.0.0.1", "10.0.0.2"), 6: ("2001:db8::1", "2001:db8::2")}


@dataclass(frozen=True)
class PacketFields:
    """What a test packet carries; addresses choose IPv4 or IPv6 (None: the family's defaults)."""

    protocol: str = "tcp"
    src: str | None = None
    dst: str | None = None
    sport: int = 40000
    dport: int = 80
    flags: str = "S"
    payload: bytes = b""
    ttl: int = 64
    vlan: int | None = None
    eth_src: str = pk.DEFAULT_SRC_MAC
    eth_dst: str = pk.DEFAULT_DST_MAC
    family: int | None = None  # 4 or 6 when no address says which


def _check_range(name: str, value: int, top: int) -> None:
    if not 0 <= value <= top:
        raise PacketError(f"{name} must be between 0 and {top}, not {value}")


def _addresses(fields: PacketFields) -> tuple[str, str]:
    given = [a for a in (fields.src, fields.dst) if a is not None]
    versions: set[int] = {pk.ip(a).version for a in given}
    if fields.family is not None:
        versions.add(fields.family)
    if len(versions) > 1:
        raise PacketError(f"mixed address families: {', '.join(given)}"
                          + (f" with IPv{fields.family}" if fields.family else ""))
    family = versions.pop() if versions else 4
    src_default, dst_default = DEFAULT_ADDRESSES[family]
    return fields.src or src_default, fields.dst or dst_default


def build(fields: PacketFields) -> bytes:
    """One Ethernet frame from `fields` (PacketError names the field that is wrong)."""
    if fields.protocol not in PROTOCOLS:
        raise PacketError(f"unknown protocol {fields.protocol!r} (one of: {', '.join(PROTOCOLS)})")
    _check_range("the source port", fields.sport, 0xFFFF)
    _check_range("the destination port", fields.dport, 0xFFFF)
    _check_range("the TTL", fields.ttl, 0xFF)
    if fields.vlan is not None:
        _check_range("the VLAN id", fields.vlan, 0xFFF)
    src, dst = _addresses(fields)
    if fields.protocol == "tcp":
        return pk.tcp_packet(src, dst, fields.sport, fields.dport, fields.payload,
                             flags=fields.flags, vlan=fields.vlan, ttl=fields.ttl,
                             eth_src=fields.eth_src, eth_dst=fields.eth_dst)
    if fields.protocol == "udp":
        return pk.udp_packet(src, dst, fields.sport, fields.dport, fields.payload,
                             vlan=fields.vlan, ttl=fields.ttl,
                             eth_src=fields.eth_src, eth_dst=fields.eth_dst)
    if fields.vlan is not None:
        raise PacketError("a VLAN tag is not supported for ICMP echo packets")
    return pk.icmp_echo_packet(src, dst, payload=fields.payload or b"pybpf ping", ttl=fields.ttl,
                               eth_src=fields.eth_src, eth_dst=fields.eth_dst)


def is_pcap(path: str | os.PathLike[str]) -> bool:
    """Whether `path` names a pcap file (by its suffix)."""
    return Path(path).suffix.lower() in PCAP_SUFFIXES


def write(path: str | os.PathLike[str], frames: Sequence[bytes], *, start: float = 0.0) -> None:
    """Write `frames` to `path`: a pcap (`.pcap`/`.cap`, one record per frame, Ethernet link type,
    timestamps `start`, `start`+1 ms, ...) or, for any other name, the raw bytes of one frame."""
    target = Path(path)
    if not target.parent.is_dir():
        raise PacketError(f"{target.parent}: output directory does not exist")
    if not is_pcap(target):
        if len(frames) != 1:
            raise PacketError(f"{target}: a raw file holds one packet; write {len(frames)}"
                              " packets to a .pcap file")
        target.write_bytes(frames[0])
        return
    import dpkt

    with target.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh, linktype=dpkt.pcap.DLT_EN10MB)
        for i, frame in enumerate(frames):
            writer.writepkt(frame, ts=start + i / 1000)


def read(path: str | os.PathLike[str]) -> list[bytes]:
    """The frames of a pcap file, or the one frame of a raw file."""
    target = Path(path)
    if not is_pcap(target):
        return [target.read_bytes()]
    import dpkt

    with target.open("rb") as fh:
        try:
            return [bytes(buf) for _, buf in dpkt.pcap.Reader(fh)]
        except (ValueError, dpkt.dpkt.NeedData) as exc:
            raise PacketError(f"{target}: not a pcap file ({exc})") from None
