"""`pybpf gadget build|list|inspect|rm|push|pull|run`: eBPF programs as OCI images (logic in pybpf.gadget)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("gadget", help="eBPF programs packaged as OCI images, run by name",
                              description="Build, store, push, pull and run gadgets (eBPF programs as OCI images).")
    sub = p.add_subparsers(dest="gadget_command", metavar="COMMAND")
    sub.required = True
    b = sub.add_parser("build", help="compile and verify C, store it as an image")
    b.add_argument("source", metavar="SRC.c")
    b.add_argument("-t", "--tag", required=True, metavar="NAME[:TAG]")
    b.add_argument("--manifest", metavar="gadget.yaml", help="name, description, metrics, params")
    b.set_defaults(func=_build)
    ls = sub.add_parser("list", help="the images in the local store")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    ins = sub.add_parser("inspect", help="an image's manifest and config")
    ins.add_argument("ref", metavar="NAME[:TAG]")
    ins.set_defaults(func=_inspect)
    rm = sub.add_parser("rm", help="remove an image from the local store")
    rm.add_argument("ref", metavar="NAME[:TAG]")
    rm.set_defaults(func=_rm)
    push = sub.add_parser("push", help="push an image to an OCI registry")
    push.add_argument("ref", metavar="REGISTRY/NAME[:TAG]")
    push.add_argument("--from", dest="source", metavar="NAME[:TAG]", help="the local image (default: REF itself)")
    push.add_argument("-u", "--user", metavar="USER[:PASSWORD]",
                      help="registry credentials (default: $PYBPF_REGISTRY_USER, $PYBPF_REGISTRY_PASSWORD)")
    push.set_defaults(func=_push)
    pull = sub.add_parser("pull", help="pull an image from an OCI registry (verified by digest)")
    pull.add_argument("ref", metavar="REGISTRY/NAME[:TAG]")
    pull.add_argument("-u", "--user", metavar="USER[:PASSWORD]",
                      help="registry credentials (default: $PYBPF_REGISTRY_USER, $PYBPF_REGISTRY_PASSWORD)")
    pull.set_defaults(func=_pull)
    run = sub.add_parser("run", help="run an image (or a built-in gadget) in the kernel or over a pcap, print its events")
    run.add_argument("ref", metavar="NAME[:TAG]")
    run.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    run.add_argument("-o", "--output", choices=("table", "json"), default="table")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="set a parameter (a const volatile global) before loading")
    run.add_argument("--listen", metavar="HOST:PORT", help="serve the metric maps to Prometheus at /metrics")
    run.add_argument("--interface", metavar="IFACE", help="attach packet programs (XDP, tc) to IFACE in the kernel")
    run.add_argument("--pcap", metavar="FILE", help="run packet programs over a capture on a user-space engine "
                                                    "instead of the kernel")
    run.add_argument("--engine", choices=("interp", "jit"), default="jit", help="the engine for --pcap (default jit)")
    run.set_defaults(func=_run)


def _store() -> Any:
    from pybpf.gadget.store import Store

    return Store()


def _build(args: argparse.Namespace) -> int:
    from pybpf.gadget.image import build

    image = build(args.source, args.tag, manifest=args.manifest, store=_store())
    print(f"built {image.ref} {image.digest}")
    return 0


def _list(args: argparse.Namespace) -> int:
    store = _store()
    rows = []
    for ref, digest, _ in store.refs():
        try:
            desc = store.image(ref).config.get("description", "")
        except Exception as exc:  # a damaged image is listed, not fatal
            desc = f"(unreadable: {exc})"
        rows.append({"ref": ref, "digest": digest, "description": desc})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'IMAGE':<40} {'DIGEST':<19} DESCRIPTION")
    for r in rows:
        print(f"{r['ref']:<40} {r['digest'][:19]:<19} {r['description']}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from pybpf.gadget.image import ensure

    store = _store()
    image = ensure(args.ref, store)
    store.object_of(image)  # verified by digest too
    print(json.dumps({"ref": image.ref, "digest": image.digest, "manifest": image.manifest,
                      "config": image.config}, indent=2))
    return 0


def _rm(args: argparse.Namespace) -> int:
    _store().remove(args.ref)
    print(f"removed {args.ref}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from pybpf.gadget.auth import credentials
    from pybpf.gadget.registry import push

    digest = push(args.source or args.ref, args.ref, store=_store(), creds=credentials(args.user))
    print(f"pushed {args.ref} {digest}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from pybpf.gadget.auth import credentials
    from pybpf.gadget.registry import pull

    image = pull(args.ref, store=_store(), creds=credentials(args.user))
    print(f"pulled {image.ref} {image.digest}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from pybpf.gadget.image import ensure
    from pybpf.gadget.runner import TablePrinter, parse_params, run
    from pybpf.gadget.summary import summary_lines

    store = _store()
    image = ensure(args.ref, store)
    params = parse_params(args.param, image)

    def write(line: str) -> None:
        print(line, flush=True)

    if args.output == "json":
        def on_row(row: dict[str, Any]) -> None:
            write(json.dumps(row, default=str))
    else:
        on_row = TablePrinter(image.config.get("columns") or [], write)
    if args.pcap:
        from pybpf.gadget.capture import run_pcap

        dumps = run_pcap(image, store, args.pcap, on_row, engine=args.engine, params=params)
    else:
        from pybpf.cli._kernel import permission_denied

        denied = permission_denied("gadget run")
        if denied is not None:
            return denied
        stop = threading.Event()
        handlers = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            dumps = run(image, store, on_row, params=params, duration=args.duration, stop=stop, listen=args.listen,
                        interface=args.interface,
                        on_ready=lambda: print(f"running {image.ref}", file=sys.stderr, flush=True))
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
    for line in summary_lines(image.config, dumps, args.output):
        write(line)
    return 0
