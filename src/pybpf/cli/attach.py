"""`pybpf attach FILE --program NAME --xdp IF|--tc IF:DIR|...`: load, attach, stream events, print maps."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from typing import Any

from pybpf.cli._kernel import add_skeleton_options, configured, count_arg, permission_denied
from pybpf.cli._map_edit import parse_assignments, set_entries
from pybpf.cli._output import print_json_line
from pybpf.errors import BpfError, LoadError


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
    hook.add_argument("--usdt", metavar="BINARY:PROVIDER:NAME", help="a USDT probe (BPF_USDT programs)")
    hook.add_argument("--cgroup", metavar="PATH:ATTACH")
    hook.add_argument("--kprobe", metavar="FUNCTION")
    hook.add_argument("--kretprobe", metavar="FUNCTION")
    hook.add_argument("--perf-event", metavar="HZ", type=int, help="sample every CPU at HZ (cpu-clock)")
    hook.add_argument("--fentry", action="store_true", help="fentry/fexit/lsm/tp_btf: target from the section")
    p.add_argument("--pid", type=int, default=-1, help="uprobes and USDT probes: only in this process")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    p.add_argument("--json", action="store_true", help="JSON lines")
    add_skeleton_options(p)
    p.add_argument("--event-type", metavar="TYPE", help="decode events with this BTF type of the object (e.g. a struct)")
    p.add_argument("--pin-path", default="/sys/fs/bpf", help="where maps pinned by name live")
    p.add_argument("--map", nargs=2, action="append", default=[], metavar=("NAME", "KEY=VALUE"),
                   help="set a map entry before attaching (JSON typed through BTF, e.g. 22=0)")
    p.add_argument("--map-entries", type=count_arg, default=1000, metavar="N",
                   help="print at most N entries of each map at exit (default 1000; 0: all)")
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
    if args.usdt:
        binary, provider, name = links.parse_usdt_target(args.usdt)
        return links.attach_usdt(prog, binary, provider, name, pid=args.pid)
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


def _attach_all(args: argparse.Namespace, coll: Any, stack: contextlib.ExitStack) -> list[tuple[Any, Any]]:
    """Attach the program named by --program to the hook given, or (--auto) every program by its section."""
    from pybpf.kernel.links import attach_auto

    hooks = ("xdp", "tc", "tracepoint", "raw_tp", "uprobe", "uretprobe", "usdt", "cgroup", "kprobe", "kretprobe",
             "perf_event", "fentry")
    if args.auto:
        if args.program:
            progs = [_find_program(coll, args.program)]
        else:
            progs = list(coll.programs.values())
            # as libbpf's skeleton: a bare SEC("usdt") names no probe and is attached by the caller
            for p in [p for p in progs if p.spec.section in ("usdt", "usdt.s")]:
                print(f"not attached: {p.name} (SEC(\"{p.spec.section}\") names no probe; "
                      f"use --program {p.name} --usdt BINARY:PROVIDER:NAME)", file=sys.stderr, flush=True)
                progs.remove(p)
        return [(p, stack.enter_context(attach_auto(p, pid=args.pid))) for p in progs]
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
    """One event: decoded through BTF when its type is known, else its bytes in hex."""
    if args.json:
        if isinstance(record, bytes):
            print_json_line({"event": kind, "map": map_name, "size": len(record), "data": record.hex()})
        else:
            print_json_line({"event": kind, "map": map_name, "value": record})
        return
    stamp = time.strftime("%H:%M:%S")
    if isinstance(record, bytes):
        print(f"{stamp}  {map_name:<16} {len(record):>5}B  {record.hex(' ')}", flush=True)
    else:
        print(f"{stamp}  {map_name:<16} {json.dumps(record, default=str)}", flush=True)


def _decoder(spec: Any, map_name: str, event_type: str | None, path: str) -> Any:
    """The BTF decoder for `map_name`'s records: --event-type, else the type the object implies."""
    from pybpf.btf.entries import decode_event, find_type
    from pybpf.object.events import event_type_id

    btf = spec.btf
    if event_type:
        type_id = find_type(btf, event_type) if btf is not None else None
        if type_id is None:
            raise LoadError(f"--event-type: no BTF type {event_type!r} in {path}"
                            " (declare it, e.g. __type(value, struct event) on the ring buffer)")
    else:
        type_id = event_type_id(spec, map_name)
        if not type_id:
            return None

    def decode(record: bytes) -> Any:
        try:
            return decode_event(btf, type_id, record)
        except BpfError:
            return record

    return decode


def _print_maps(args: argparse.Namespace, coll: Any, btf: Any) -> None:
    """The maps at exit, decoded through BTF and sorted; unreadable maps are noted, not fatal."""
    from pybpf.btf.entries import entry_line, map_dump

    for name, m in sorted(coll.maps.items()):
        if name.startswith(".rodata") or name.endswith(".kconfig"):
            continue
        dump = map_dump(m, btf, skip_zero=m.type.name in ("ARRAY", "PERCPU_ARRAY"), limit=args.map_entries)
        if dump is None:
            continue
        if "error" in dump:
            print(f"pybpf attach: map {name} ({dump['type']}) not dumped: {dump['error']}",
                  file=sys.stderr)
            continue
        if args.json:
            print_json_line(dump)
            continue
        entries = dump["entries"]
        print(f"\n{name} ({dump['type']}):")
        if not entries:
            print("  (empty)" if m.type.name not in ("ARRAY", "PERCPU_ARRAY") else "  (all zero)")
        for e in entries:
            print(f"  {entry_line(e)}")
        if dump.get("truncated"):
            print(f"  ... more entries not shown (--map-entries {len(entries)}; 0 shows all)")


def run(args: argparse.Namespace) -> int:
    denied = permission_denied("attach")
    if denied is not None:
        return denied
    from pybpf.abi import MapType
    from pybpf.kernel.kernel_engine import load_collection
    from pybpf.kernel.perfbuf import PerfBuffer
    from pybpf.kernel.ringbuf import RingBuffer
    from pybpf.object import load_file

    spec = configured(load_file(args.file), args)
    if args.auto and not args.program:
        from pybpf.kernel.autoselect import one_per_hook

        spec, notes = one_per_hook(spec)
        for note in notes:
            print(note, file=sys.stderr, flush=True)
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    old = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        with load_collection(spec, pin_path=args.pin_path) as coll:
            set_entries(coll.maps, spec.btf, parse_assignments(args.map))
            readers: list[tuple[str, Any]] = []
            try:
                for name, m in coll.maps.items():
                    if m.type == MapType.RINGBUF:
                        readers.append((name, RingBuffer(m, decode=_decoder(spec, name, args.event_type, args.file))))
                    elif m.type == MapType.PERF_EVENT_ARRAY:
                        readers.append((name, PerfBuffer(m, decode=_decoder(spec, name, args.event_type, args.file))))
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
            _print_maps(args, coll, spec.btf)
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)
    return 0
