"""Build and read Ethernet/IPv4/IPv6/TCP/UDP/ICMP frames with correct checksums, for packet programs."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from pybpf.errors import BpfError

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
ETH_P_IPV6 = 0x86DD
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58

DEFAULT_SRC_MAC = "02:00:00:00:00:01"
DEFAULT_DST_MAC = "02:00:00:00:00:02"

_TCP_FLAGS = "FSRPAUEC"  # bit 0 = FIN ... bit 7 = CWR

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class PacketError(BpfError):
    """A packet that cannot be built (bad address, field out of range) or parsed."""


# ---- low-level pieces ------------------------------------------------------------------------


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's complement of the one's-complement sum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def mac(text: str | bytes) -> bytes:
    """A MAC address from "aa:bb:cc:dd:ee:ff" (or 6 raw bytes)."""
    if isinstance(text, bytes):
        if len(text) != 6:
            raise PacketError(f"a MAC address has 6 bytes, not {len(text)}")
        return text
    parts = text.replace("-", ":").split(":")
    try:
        raw = bytes(int(p, 16) for p in parts)
    except ValueError:
        raise PacketError(f"bad MAC address {text!r}") from None
    if len(raw) != 6:
        raise PacketError(f"bad MAC address {text!r}")
    return raw


def ip(text: str | int | bytes | IPAddress) -> IPAddress:
    """An IPv4 or IPv6 address from text, an int (IPv4) or packed bytes."""
    if isinstance(text, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return text
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise PacketError(f"bad IP address {text!r}") from None


def tcp_flags(flags: str | int) -> int:
    """TCP flags from letters ("S", "SA", "FA", "PA", "R") or an int."""
    if isinstance(flags, int):
        return flags & 0xFF
    value = 0
    for letter in flags.upper():
        if letter not in _TCP_FLAGS:
            raise PacketError(f"unknown TCP flag {letter!r} (use {_TCP_FLAGS})")
        value |= 1 << _TCP_FLAGS.index(letter)
    return value


def ethernet(payload: bytes, ethertype: int, *, src: str | bytes = DEFAULT_SRC_MAC,
             dst: str | bytes = DEFAULT_DST_MAC, vlan: int | None = None) -> bytes:
    """An Ethernet II frame (no FCS), optionally with an 802.1Q tag."""
    header = mac(dst) + mac(src)
    if vlan is not None:
        header += struct.pack("!HH", ETH_P_8021Q, vlan & 0xFFFF)
    return header + struct.pack("!H", ethertype) + payload


def ipv4(payload: bytes, proto: int, src: str | IPAddress, dst: str | IPAddress, *, ttl: int = 64,
         ident: int = 0, tos: int = 0, dont_fragment: bool = True, more_fragments: bool = False,
         frag_offset: int = 0, options: bytes = b"") -> bytes:
    """An IPv4 packet with a correct header checksum (options padded to 32-bit words)."""
    s, d = ip(src), ip(dst)
    if s.version != 4 or d.version != 4:
        raise PacketError("ipv4() needs IPv4 addresses")
    options += b"\0" * (-len(options) % 4)
    ihl = 5 + len(options) // 4
    if ihl > 15:
        raise PacketError("IPv4 options longer than 40 bytes")
    flags = (0x4000 if dont_fragment else 0) | (0x2000 if more_fragments else 0)
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, 4 * ihl + len(payload), ident,
                         flags | (frag_offset & 0x1FFF), ttl, proto, 0, s.packed, d.packed)
    header += options
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def ipv6(payload: bytes, next_header: int, src: str | IPAddress, dst: str | IPAddress, *,
         hop_limit: int = 64, traffic_class: int = 0, flow_label: int = 0) -> bytes:
    """An IPv6 packet (fixed header, no extension headers)."""
    s, d = ip(src), ip(dst)
    if s.version != 6 or d.version != 6:
        raise PacketError("ipv6() needs IPv6 addresses")
    first = (6 << 28) | ((traffic_class & 0xFF) << 20) | (flow_label & 0xFFFFF)
    return struct.pack("!IHBB16s16s", first, len(payload), next_header, hop_limit,
                       s.packed, d.packed) + payload


def pseudo_header(src: IPAddress, dst: IPAddress, proto: int, length: int) -> bytes:
    """The pseudo-header TCP, UDP and ICMPv6 checksums cover (RFC 9293, RFC 8200 8.1)."""
    if src.version == 4:
        return src.packed + dst.packed + struct.pack("!BBH", 0, proto, length)
    return src.packed + dst.packed + struct.pack("!IxxxB", length, proto)


def tcp(sport: int, dport: int, src: str | IPAddress, dst: str | IPAddress, payload: bytes = b"",
        *, flags: str | int = "S", seq: int = 0, ack: int = 0, window: int = 65535,
        urgent: int = 0, options: bytes = b"") -> bytes:
    """A TCP segment with its checksum computed over the IPv4/IPv6 pseudo-header."""
    s, d = ip(src), ip(dst)
    options += b"\0" * (-len(options) % 4)
    offset = 5 + len(options) // 4
    header = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                         offset << 4, tcp_flags(flags), window, 0, urgent) + options
    segment = header + payload
    csum = checksum(pseudo_header(s, d, IPPROTO_TCP, len(segment)) + segment)
    return segment[:16] + struct.pack("!H", csum) + segment[18:]


def udp(sport: int, dport: int, src: str | IPAddress, dst: str | IPAddress,
        payload: bytes = b"") -> bytes:
    """A UDP datagram with its checksum (0 is sent as 0xffff, as RFC 768 asks)."""
    s, d = ip(src), ip(dst)
    datagram = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    csum = checksum(pseudo_header(s, d, IPPROTO_UDP, len(datagram)) + datagram) or 0xFFFF
    return datagram[:6] + struct.pack("!H", csum) + datagram[8:]


def icmp(type_: int, code: int = 0, rest: bytes = b"\0\0\0\0", payload: bytes = b"") -> bytes:
    """An ICMP (IPv4) message with its checksum."""
    msg = struct.pack("!BBH", type_, code, 0) + rest + payload
    return msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]


def icmpv6(type_: int, src: str | IPAddress, dst: str | IPAddress, code: int = 0,
           rest: bytes = b"\0\0\0\0", payload: bytes = b"") -> bytes:
    """An ICMPv6 message with its checksum over the IPv6 pseudo-header."""
    msg = struct.pack("!BBH", type_, code, 0) + rest + payload
    csum = checksum(pseudo_header(ip(src), ip(dst), IPPROTO_ICMPV6, len(msg)) + msg)
    return msg[:2] + struct.pack("!H", csum) + msg[4:]


# ---- whole frames ----------------------------------------------------------------------------


def _ip_frame(l4: bytes, proto: int, src: IPAddress, dst: IPAddress, eth_src: str | bytes,
              eth_dst: str | bytes, ttl: int, vlan: int | None) -> bytes:
    if src.version != dst.version:
        raise PacketError(f"mixed address families: {src} and {dst}")
    if src.version == 4:
        return ethernet(ipv4(l4, proto, src, dst, ttl=ttl), ETH_P_IP, src=eth_src, dst=eth_dst,
                        vlan=vlan)
    return ethernet(ipv6(l4, proto, src, dst, hop_limit=ttl), ETH_P_IPV6, src=eth_src,
                    dst=eth_dst, vlan=vlan)


def tcp_packet(src: str = "10.0.0.1", dst: str = "10.0.0.2", sport: int = 40000,
               dport: int = 80, payload: bytes = b"", *, flags: str | int = "S", seq: int = 1,
               ack: int = 0, window: int = 65535, ttl: int = 64,
               eth_src: str | bytes = DEFAULT_SRC_MAC, eth_dst: str | bytes = DEFAULT_DST_MAC,
               vlan: int | None = None) -> bytes:
    """An Ethernet frame carrying TCP over IPv4 or IPv6 (chosen by the addresses)."""
    s, d = ip(src), ip(dst)
    segment = tcp(sport, dport, s, d, payload, flags=flags, seq=seq, ack=ack, window=window)
    return _ip_frame(segment, IPPROTO_TCP, s, d, eth_src, eth_dst, ttl, vlan)


def udp_packet(src: str = "10.0.0.1", dst: str = "10.0.0.2", sport: int = 40000,
               dport: int = 53, payload: bytes = b"", *, ttl: int = 64,
               eth_src: str | bytes = DEFAULT_SRC_MAC, eth_dst: str | bytes = DEFAULT_DST_MAC,
               vlan: int | None = None) -> bytes:
    """An Ethernet frame carrying UDP over IPv4 or IPv6 (chosen by the addresses)."""
    s, d = ip(src), ip(dst)
    return _ip_frame(udp(sport, dport, s, d, payload), IPPROTO_UDP, s, d, eth_src, eth_dst, ttl,
                     vlan)


def icmp_echo_packet(src: str = "10.0.0.1", dst: str = "10.0.0.2", *, ident: int = 1,
                     seq: int = 1, payload: bytes = b"pybpf ping", reply: bool = False,
                     ttl: int = 64, eth_src: str | bytes = DEFAULT_SRC_MAC,
                     eth_dst: str | bytes = DEFAULT_DST_MAC) -> bytes:
    """An ICMP (IPv4) or ICMPv6 echo request (or reply) frame."""
    s, d = ip(src), ip(dst)
    rest = struct.pack("!HH", ident, seq)
    if s.version == 4:
        msg = icmp(0 if reply else 8, 0, rest, payload)
        return _ip_frame(msg, IPPROTO_ICMP, s, d, eth_src, eth_dst, ttl, None)
    msg = icmpv6(129 if reply else 128, s, d, 0, rest, payload)
    return _ip_frame(msg, IPPROTO_ICMPV6, s, d, eth_src, eth_dst, ttl, None)


# ---- reading frames --------------------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    """The decoded headers of a frame; fields are None where the frame has no such layer."""

    eth_dst: str
    eth_src: str
    ethertype: int
    ip_version: int | None = None
    src: str | None = None
    dst: str | None = None
    proto: int | None = None
    ttl: int | None = None
    sport: int | None = None
    dport: int | None = None
    tcp_flags: int | None = None
    icmp_type: int | None = None
    payload: bytes = b""
    checksums_ok: bool = True

    @property
    def proto_name(self) -> str:
        names = {IPPROTO_TCP: "TCP", IPPROTO_UDP: "UDP", IPPROTO_ICMP: "ICMP",
                 IPPROTO_ICMPV6: "ICMPv6"}
        return names.get(self.proto or -1, f"proto {self.proto}")

    def describe(self) -> str:
        """One line such as `IPv4 10.0.0.1:40000 -> 10.0.0.2:80 TCP [S]`."""
        if self.ip_version is None:
            return f"ethertype {self.ethertype:#06x} {self.eth_src} -> {self.eth_dst}"
        if self.sport is not None:
            fmt = "[{}]:{}" if self.ip_version == 6 else "{}:{}"
            text = (f"IPv{self.ip_version} {fmt.format(self.src, self.sport)} -> "
                    f"{fmt.format(self.dst, self.dport)} {self.proto_name}")
        else:
            text = f"IPv{self.ip_version} {self.src} -> {self.dst} {self.proto_name}"
        if self.tcp_flags is not None:
            text += " [" + "".join(f for i, f in enumerate(_TCP_FLAGS) if self.tcp_flags >> i & 1) + "]"
        if self.icmp_type is not None:
            text += f" type {self.icmp_type}"
        return text


def _mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def parse(frame: bytes) -> Packet:
    """Decode a frame's Ethernet, IP and transport headers and check their checksums."""
    try:
        return _parse(frame)
    except (struct.error, IndexError, ValueError) as exc:
        raise PacketError(f"truncated or malformed frame ({len(frame)} bytes): {exc}") from None


def _parse(frame: bytes) -> Packet:
    dst, src, ethertype = frame[0:6], frame[6:12], struct.unpack_from("!H", frame, 12)[0]
    off = 14
    if ethertype == ETH_P_8021Q:
        ethertype = struct.unpack_from("!H", frame, 16)[0]
        off = 18
    base = {"eth_dst": _mac_text(dst), "eth_src": _mac_text(src), "ethertype": ethertype}
    ok = True
    s: IPAddress
    d: IPAddress
    if ethertype == ETH_P_IP:
        ihl = (frame[off] & 0xF) * 4
        total = struct.unpack_from("!H", frame, off + 2)[0]
        header = frame[off : off + ihl]
        ok = checksum(header) == 0
        proto, ttl = frame[off + 9], frame[off + 8]
        s = ipaddress.IPv4Address(frame[off + 12 : off + 16])
        d = ipaddress.IPv4Address(frame[off + 16 : off + 20])
        l4 = frame[off + ihl : off + total]
        version = 4
    elif ethertype == ETH_P_IPV6:
        plen = struct.unpack_from("!H", frame, off + 4)[0]
        proto, ttl = frame[off + 6], frame[off + 7]
        s = ipaddress.IPv6Address(frame[off + 8 : off + 24])
        d = ipaddress.IPv6Address(frame[off + 24 : off + 40])
        l4 = frame[off + 40 : off + 40 + plen]
        version = 6
    else:
        return Packet(**base, payload=frame[off:])
    fields: dict[str, object] = {"ip_version": version, "src": str(s), "dst": str(d),
                                 "proto": proto, "ttl": ttl}
    if proto == IPPROTO_TCP:
        sport, dport = struct.unpack_from("!HH", l4)
        doff = (l4[12] >> 4) * 4
        fields.update(sport=sport, dport=dport, tcp_flags=l4[13], payload=l4[doff:])
        ok = ok and checksum(pseudo_header(s, d, proto, len(l4)) + l4) == 0
    elif proto == IPPROTO_UDP:
        sport, dport, _length, csum = struct.unpack_from("!HHHH", l4)
        fields.update(sport=sport, dport=dport, payload=l4[8:])
        if csum != 0 or version == 6:
            ok = ok and checksum(pseudo_header(s, d, proto, len(l4)) + l4) == 0
    elif proto == IPPROTO_ICMP:
        fields.update(icmp_type=l4[0], payload=l4[8:])
        ok = ok and checksum(l4) == 0
    elif proto == IPPROTO_ICMPV6:
        fields.update(icmp_type=l4[0], payload=l4[8:])
        ok = ok and checksum(pseudo_header(s, d, proto, len(l4)) + l4) == 0
    else:
        fields["payload"] = l4
    return Packet(**base, **fields, checksums_ok=ok)  # type: ignore[arg-type]
