"""`pybpf attach FILE --program NAME --xdp IF|--tc IF:DIR|...`: load, attach, stream events, print maps."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from typing import Any

from pybpf.cli._kernel import number_or_hex, permission_denied
from pybpf.errors import LoadError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("attach", help="load an object into the kernel, attach a program, stream its events")
    p.add_argument("file", help="ELF object (.o) compiled for BPF")
    p.add_argument("--program", "-p", help="program (function) name")
    hook = p.add_mutually_exclusive_group()
    hook.add_argument("--auto", action="store_true",
                      help="attach every program where its section says (tracepoint/..., raw_tp/..., uprobe/...)")
    hook.add_argument("--xdp", metavar="IFACE[:skb|drv]")
    hook.add_argument("--tc", metavar="IFACE:ingress|egress")
    hook.add_argument("--tracepoint", metavar="CAT/NAME")
    hook.add_argument("--raw-tp", metavar="NAME")
    hook.add_argument("--uprobe", metavar="BINARY:SYMBOL")
    hook.add_argument("--uretprobe", metavar="BINARY:SYMBOL")
    hook.add_argument("--cgroup", metavar="PATH:ATTACH")
    hook.add_argument("--kprobe", metavar="FUNCTION")
    hook.add_argument("--kretprobe", metavar="FUNCTION")
    hook.add_argument("--perf-event", metavar="HZ", type=int, help="sample every CPU at HZ (cpu-clock)")
    hook.add_argument("--fentry", action="store_true", help="fentry/fexit/lsm/tp_btf: target from the section")
    p.add_argument("--pid", type=int, default=-1, help="uprobes: only in this process")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    p.add_argument("--json", action="store_true", help="JSON lines")
    p.add_argument("--set", action="append", default=[], metavar="VAR=VALUE",
                   help="set a global variable (e.g. a const volatile setting) before loading")
    p.add_argument("--event-type", metavar="TYPE", help="decode events with this BTF type of the object (e.g. a struct)")
    p.add_argument("--pin-path", default="/sys/fs/bpf", help="where maps pinned by name live")
    p.add_argument("--pcap", metavar="IN", help="also run the attached program over a capture's"
                   " packets (BPF_PROG_TEST_RUN, same maps)")
    p.add_argument("--pcap-out", metavar="OUT", help="with --pcap: write the packets it lets through")
    p.set_defaults(func=run)


def _attach(args: argparse.Namespace, prog: Any) -> Any:
    from pybpf.kernel import links

    if args.xdp:
        iface, _, mode = args.xdp.partition(":")
        return links.attach_xdp(prog, iface, mode=mode)
    if args.tc:
        iface, _, direction = args.tc.partition(":")
        return links.attach_tc(prog, iface, direction or "ingress")
    if args.tracepoint:
        return links.attach_tracepoint(prog, args.tracepoint)
    if args.raw_tp:
        return links.attach_raw_tracepoint(prog, args.raw_tp)
    if args.uprobe or args.uretprobe:
        target = args.uprobe or args.uretprobe
        binary, sep, symbol = target.rpartition(":")
        if not sep or not binary or not symbol:
            raise LoadError(f"uprobe target must be BINARY:SYMBOL, not {target!r}")
        return links.attach_uprobe(prog, binary, symbol, retprobe=bool(args.uretprobe), pid=args.pid)
    if args.cgroup:
        path, sep, attach = args.cgroup.rpartition(":")
        if not sep:
            raise LoadError(f"cgroup target must be PATH:ATTACH, not {args.cgroup!r}")
        return links.attach_cgroup(prog, path, attach)
    if args.kprobe or args.kretprobe:
        return links.attach_kprobe(prog, args.kprobe or args.kretprobe, retprobe=bool(args.kretprobe))
    if args.perf_event:
        return links.attach_sampling(prog, frequency=args.perf_event)
    return links.attach_tracing(prog)


def _globals(items: list[str]) -> dict[str, int | bytes]:
    out: dict[str, int | bytes] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise LoadError(f"--set takes VAR=VALUE, not {item!r}")
        try:
            out[name] = int(value, 0)
        except ValueError:
            raise LoadError(f"--set {name}: {value!r} is not an integer") from None
    return out


def _attach_all(args: argparse.Namespace, coll: Any, stack: contextlib.ExitStack) -> list[tuple[Any, Any]]:
    """Attach the program named by --program to the hook given, or (--auto) every program by its section."""
    from pybpf.kernel.links import attach_auto

    hooks = ("xdp", "tc", "tracepoint", "raw_tp", "uprobe", "uretprobe", "cgroup", "kprobe", "kretprobe",
             "perf_event", "fentry")
    if args.auto:
        if args.program:
            progs = [_find_program(coll, args.program)]
        else:
            progs = list(coll.programs.values())
        return [(p, stack.enter_context(attach_auto(p))) for p in progs]
    if not args.program or not any(getattr(args, h) for h in hooks):
        raise LoadError("give --program NAME and a hook (--xdp, --tc, --tracepoint, --raw-tp, --uprobe, "
                        "--cgroup, ...), or --auto to attach every program by its section")
    prog = _find_program(coll, args.program)
    return [(prog, stack.enter_context(_attach(args, prog)))]


def _replay_pcap(args: argparse.Namespace, prog: Any) -> None:
    """Run the attached program over the capture's packets; write what it lets through."""
    from pybpf.hooks.pcap import read_packets, sent_on, write_packets

    packets = read_packets(args.pcap)
    runs = [(r.retval, r.data_out) for r in (prog.run(p.data) for p in packets)]
    sent = sent_on(prog.spec.type, packets, runs)
    if args.pcap_out:
        write_packets(args.pcap_out, sent)
    print(f"ran {prog.name} over {len(packets)} packets from {args.pcap}: {len(sent)} let through",
          file=sys.stderr, flush=True)


def _find_program(coll: Any, name: str) -> Any:
    if name in coll.programs:
        return coll.programs[name]
    for p in coll.programs.values():
        if p.spec.section == name:
            return p
    raise LoadError(f"no program {name!r} in the object (it has: {', '.join(coll.programs) or 'none'})")


def _emit(args: argparse.Namespace, map_name: str, kind: str, record: Any) -> None:
    if not isinstance(record, bytes):
        if args.json:
            print(json.dumps({"event": kind, "map": map_name, "value": record}, default=str), flush=True)
        else:
            print(f"{time.strftime('%H:%M:%S')}  {map_name:<16} {record}", flush=True)
        return
    if args.json:
        print(json.dumps({"event": kind, "map": map_name, "size": len(record), "data": record.hex()}), flush=True)
    else:
        print(f"{time.strftime('%H:%M:%S')}  {map_name:<16} {len(record):>5}B  {record.hex(' ')}", flush=True)


def _print_maps(args: argparse.Namespace, coll: Any) -> None:
    from pybpf.abi import MapType

    skip = {MapType.RINGBUF, MapType.PERF_EVENT_ARRAY, MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS,
            MapType.HASH_OF_MAPS, MapType.USER_RINGBUF}
    for name, m in coll.maps.items():
        if m.type in skip or name.startswith(".rodata"):
            continue
        entries = []
        for k, v in m.items():
            if isinstance(v, list):
                entries.append({"key": number_or_hex(k), "values": [number_or_hex(x) for x in v]})
            else:
                entries.append({"key": number_or_hex(k), "value": number_or_hex(v)})
        if m.type in (MapType.ARRAY, MapType.PERCPU_ARRAY):
            entries = [e for e in entries if any(e.get("values", [e.get("value")]))]  # arrays: non-zero only
        if args.json:
            print(json.dumps({"map": name, "type": m.type.name.lower(), "entries": entries}), flush=True)
        else:
            print(f"\n{name} ({m.type.name.lower()}):")
            if not entries:
                print("  (empty)" if m.type not in (MapType.ARRAY, MapType.PERCPU_ARRAY) else "  (all zero)")
            for e in entries:
                print(f"  {e['key']}: {e.get('value', e.get('values'))}")


def run(args: argparse.Namespace) -> int:
    denied = permission_denied("attach")
    if denied is not None:
        return denied
    from pybpf.abi import MapType
    from pybpf.kernel.engine import load_collection
    from pybpf.kernel.perfbuf import PerfBuffer
    from pybpf.kernel.ringbuf import RingBuffer, btf_decoder
    from pybpf.object import load_file

    spec = load_file(args.file)
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    old = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        with load_collection(spec, pin_path=args.pin_path, globals=_globals(args.set)) as coll:
            readers: list[tuple[str, Any]] = []
            decode = btf_decoder(spec.btf, args.event_type) if args.event_type else None
            try:
                for name, m in coll.maps.items():
                    if m.type == MapType.RINGBUF:
                        readers.append((name, RingBuffer(m, decode=decode)))
                    elif m.type == MapType.PERF_EVENT_ARRAY:
                        readers.append((name, PerfBuffer(m, decode=decode)))
                with contextlib.ExitStack() as stack:
                    attached = _attach_all(args, coll, stack)
                    for prog, link in attached:
                        print(f"attached {prog.name} ({link.description})", file=sys.stderr, flush=True)
                    if args.pcap:
                        _replay_pcap(args, attached[0][0])
                    print(f"{'Ctrl-C to stop' if args.duration is None else f'running for {args.duration:g} s'}",
                          file=sys.stderr, flush=True)
                    deadline = None if args.duration is None else time.monotonic() + args.duration
                    while not stop:
                        left = None if deadline is None else deadline - time.monotonic()
                        if left is not None and left <= 0:
                            break
                        step = 0.1 if left is None else min(0.1, left)
                        for name, reader in readers:
                            kind = "ringbuf" if isinstance(reader, RingBuffer) else "perf"
                            for record in reader.read_available():
                                _emit(args, name, kind, record)
                        if readers:
                            readers[0][1].wait(step / max(len(readers), 1))
                        else:
                            time.sleep(step)
                    for name, reader in readers:
                        kind = "ringbuf" if isinstance(reader, RingBuffer) else "perf"
                        for record in reader.read_available():
                            _emit(args, name, kind, record)
            finally:
                for _, reader in readers:
                    reader.close()
            _print_maps(args, coll)
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)
    return 0
