"""`pybpf lb run|update|stats|replay`: the Katran-style XDP load balancer (logic in pybpf.lb)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("lb", help="XDP load balancer: Maglev, connection table, IPIP",
                              description="A Katran-style XDP load balancer.")
    sub = p.add_subparsers(dest="lb_command", metavar="COMMAND")
    sub.required = True
    run = sub.add_parser("run", help="load the balancer on an interface and serve the VIPs")
    run.add_argument("--config", required=True, metavar="FILE", help="YAML configuration")
    run.add_argument("--interface", "-i", required=True, metavar="IF")
    run.add_argument("--mode", choices=("native", "skb"), default="native", help="XDP mode")
    run.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    run.set_defaults(func=_run)
    upd = sub.add_parser("update", help="apply a new configuration to the running balancer")
    upd.add_argument("--config", required=True, metavar="FILE")
    upd.add_argument("--interface", "-i", metavar="IF", help="when several balancers run")
    upd.set_defaults(func=_update)
    st = sub.add_parser("stats", help="per-VIP and per-real packet/byte counters")
    st.add_argument("--interface", "-i", metavar="IF", help="when several balancers run")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_stats)
    rp = sub.add_parser("replay", help="run the balancer over a capture, write what it sends")
    rp.add_argument("--config", required=True, metavar="FILE")
    rp.add_argument("--pcap", required=True, metavar="IN", help="pcap or pcapng input")
    rp.add_argument("--pcap-out", metavar="OUT", help="write the XDP_TX packets (pcapng/pcap)")
    rp.add_argument("--engine", choices=("jit", "interp", "kernel"), default="jit")
    rp.add_argument("--json", action="store_true")
    rp.add_argument("--quiet", "-q", action="store_true", help="no per-packet lines")
    rp.set_defaults(func=_replay)


def _kernel_ok(verb: str) -> bool:
    from pybpf.cli._kernel import permission_denied

    return permission_denied(verb) is None


def _run(args: argparse.Namespace) -> int:
    from pybpf.lb import load_config
    from pybpf.lb.live import LiveBalancer
    from pybpf.lb.report import stats_text

    config = load_config(args.config)
    if not _kernel_ok("lb run"):
        return 2
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    old = signal.signal(signal.SIGINT, on_signal), signal.signal(signal.SIGTERM, on_signal)
    try:
        with LiveBalancer(config, args.interface, mode=args.mode) as lb:
            until = "Ctrl-C to stop" if args.duration is None else f"for {args.duration:g} s"
            print(f"serving {len(config.vips)} VIPs on {args.interface} ({args.mode}), maps pinned "
                  f"in {lb.path}; {until}", file=sys.stderr, flush=True)
            deadline = None if args.duration is None else time.monotonic() + args.duration
            while not stop and (deadline is None or time.monotonic() < deadline):
                time.sleep(0.1)
            assert lb.balancer is not None
            print(stats_text(lb.balancer.stats()), flush=True)
    finally:
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])
    return 0


def _update(args: argparse.Namespace) -> int:
    from pybpf.lb import load_config
    from pybpf.lb.live import update

    config = load_config(args.config)
    if not _kernel_ok("lb update"):
        return 2
    applied = update(config, args.interface)
    print(f"updated {len(applied.vip_numbers)} VIPs, {len(applied.real_indices)} reals "
          f"({applied.slots_written} Maglev slots written)")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from pybpf.lb.live import stats
    from pybpf.lb.report import stats_text

    if not _kernel_ok("lb stats"):
        return 2
    counters = stats(args.interface)
    print(json.dumps(counters) if args.json else stats_text(counters))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from pybpf.hooks.pcap import read_packets, write_packets
    from pybpf.lb import load_config
    from pybpf.lb.replay import replay, verdict_name
    from pybpf.lb.report import packet_lines, stats_text

    config = load_config(args.config)
    packets = read_packets(args.pcap)
    if args.engine == "kernel" and not _kernel_ok("lb replay"):
        return 2
    result = replay(config, packets, args.engine)
    sent = result.transmitted(packets)
    if args.pcap_out:
        write_packets(args.pcap_out, sent)
    if args.json:
        print(json.dumps({
            "engine": args.engine, "packets": len(packets), "summary": result.summary(),
            "verdicts": [verdict_name(v) for v in result.verdicts],
            "packets_per_second": round(result.packets_per_second), "stats": result.stats,
        }))
        return 0
    if not args.quiet:
        for line in packet_lines(result.verdicts, [p.data for p in packets], result.outputs):
            print(line)
    summary = ", ".join(f"{k} {v}" for k, v in result.summary().items()) or "no packets"
    print(f"{len(packets)} packets on {args.engine}: {summary}; "
          f"{result.packets_per_second:,.0f} packets/s")
    if args.pcap_out:
        print(f"wrote {len(sent)} packets to {args.pcap_out}")
    print(stats_text(result.stats))
    return 0
