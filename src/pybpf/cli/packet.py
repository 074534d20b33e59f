"""`pybpf packet`: build test packets (TCP/UDP/ICMP over IPv4/IPv6) into a `.bin` or a pcap file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pybpf.errors import BpfError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "packet",
        help="build a test packet (TCP/UDP/ICMP, IPv4/IPv6) into a .bin or .pcap file",
        description="Build Ethernet frames with correct checksums for `pybpf run --data-in FILE` "
        "(a raw .bin holds one frame) or tcpdump/Wireshark (a .pcap holds --count frames). "
        "Addresses choose IPv4 or IPv6.",
    )
    p.add_argument("protocol", nargs="?", choices=("tcp", "udp", "icmp"), default="tcp",
                   help="transport (default tcp; icmp is an echo request)")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="where to write: FILE.pcap (pcap) or any other name (raw bytes)")
    p.add_argument("--src", metavar="ADDR", help="source address (default 10.0.0.1 / 2001:db8::1)")
    p.add_argument("--dst", metavar="ADDR", help="destination address (default 10.0.0.2 / 2001:db8::2)")
    family = p.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=4, help="IPv4 defaults")
    family.add_argument("-6", dest="family", action="store_const", const=6, help="IPv6 defaults")
    p.add_argument("--sport", type=int, default=40000, metavar="PORT", help="source port (default 40000)")
    p.add_argument("--dport", type=int, default=80, metavar="PORT", help="destination port (default 80)")
    p.add_argument("--flags", default="S", metavar="FSRPAUEC",
                   help="TCP flags as letters, e.g. S, SA, PA, FA, R (default S)")
    payload = p.add_mutually_exclusive_group()
    payload.add_argument("--payload", metavar="TEXT", help="payload text (UTF-8)")
    payload.add_argument("--payload-hex", metavar="HEX", help="payload bytes in hex")
    p.add_argument("--ttl", type=int, default=64, help="IPv4 TTL / IPv6 hop limit (default 64)")
    p.add_argument("--vlan", type=int, metavar="ID", help="add an 802.1Q tag")
    p.add_argument("--eth-src", default="02:00:00:00:00:01", metavar="MAC")
    p.add_argument("--eth-dst", default="02:00:00:00:00:02", metavar="MAC")
    p.add_argument("--count", type=int, default=1, metavar="N",
                   help="frames to write (pcap only); the source port counts up from --sport")
    p.add_argument("-q", "--quiet", action="store_true", help="do not describe the packet on stderr")
    p.set_defaults(func=run)


def _payload(args: argparse.Namespace) -> bytes:
    if args.payload_hex is not None:
        try:
            return bytes.fromhex(args.payload_hex)
        except ValueError:
            raise BpfError(f"--payload-hex: {args.payload_hex!r} is not hex bytes") from None
    return (args.payload or "").encode()


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from pybpf.hooks import packetgen
    from pybpf.hooks.packets import parse

    if args.count < 1:
        raise BpfError(f"--count must be >= 1, got {args.count}")
    if args.count > 1 and args.sport + args.count - 1 > 0xFFFF:
        raise BpfError(f"--sport {args.sport} + --count {args.count} runs past port 65535")
    fields = packetgen.PacketFields(
        protocol=args.protocol, src=args.src, dst=args.dst, sport=args.sport, dport=args.dport,
        flags=args.flags, payload=_payload(args), ttl=args.ttl, vlan=args.vlan,
        eth_src=args.eth_src, eth_dst=args.eth_dst, family=args.family,
    )
    frames = [packetgen.build(replace(fields, sport=fields.sport + i)) for i in range(args.count)]
    packetgen.write(args.output, frames)
    if not args.quiet:
        what = parse(frames[0]).describe()
        more = f" (+{args.count - 1} more, source ports counting up)" if args.count > 1 else ""
        print(f"{args.output}: {len(frames[0])} bytes, {what}{more}", file=sys.stderr)
    return 0
