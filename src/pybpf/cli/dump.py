"""`pybpf dump --interface IF [--netns NAME] [-w FILE]`: capture at XDP entry, like xdpdump."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("dump", help="capture packets at XDP entry (pcapng), like xdpdump")
    p.add_argument("--interface", "-i", required=True, metavar="IF")
    p.add_argument("--netns", metavar="NAME", help="the interface's network namespace (ip netns)")
    p.add_argument("-w", "--write", metavar="FILE", help="write pcapng (pcap if FILE ends in .pcap)")
    p.add_argument("--snaplen", "-s", type=int, default=262144, help="bytes kept per packet")
    p.add_argument("--count", "-c", type=int, metavar="N", help="stop after N packets")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--mode", choices=("native", "skb"), default="native")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pybpf.cli._kernel import permission_denied
    from pybpf.hooks.pcap import CaptureWriter
    from pybpf.lb.report import describe_packet
    from pybpf.xdptools.dump import XdpDump

    denied = permission_denied("dump")
    if denied is not None:
        return denied
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    writer = CaptureWriter(args.write, interface=args.interface) if args.write else None
    old = signal.signal(signal.SIGINT, on_signal), signal.signal(signal.SIGTERM, on_signal)
    count = 0
    try:
        with XdpDump(args.interface, netns=args.netns, snaplen=args.snaplen, mode=args.mode) as dump:
            print(f"listening on {args.interface}, capturing at XDP entry, snapshot length "
                  f"{args.snaplen}", file=sys.stderr, flush=True)
            deadline = None if args.duration is None else time.monotonic() + args.duration
            while not stop and (deadline is None or time.monotonic() < deadline):
                for packet in dump.packets(0.1):
                    count += 1
                    if writer is not None:
                        writer.write(packet)
                    else:
                        stamp = time.strftime("%H:%M:%S", time.localtime(packet.timestamp))
                        print(f"{stamp}.{int(packet.timestamp % 1 * 1e6):06d} "
                              f"{describe_packet(packet.data)}, length {packet.length}", flush=True)
                    if args.count is not None and count >= args.count:
                        stop = True
                        break
                if writer is not None:
                    writer.flush()
            lost = dump.lost
    finally:
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])
        if writer is not None:
            writer.close()
    print(f"{count} packets captured, {lost} lost", file=sys.stderr)
    return 0
