"""`pybpf xdp load|unload|status`: several XDP programs on one interface (logic in pybpf.xdptools)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("xdp", help="run several XDP programs on one interface, in priority order",
                              description="A multi-program XDP loader: a dispatcher chains the"
                              " programs by tail calls, as libxdp's does; its state is pinned.")
    sub = p.add_subparsers(dest="xdp_command", metavar="COMMAND")
    sub.required = True
    ld = sub.add_parser("load", help="add a program to an interface's chain")
    ld.add_argument("interface", metavar="IF")
    ld.add_argument("file", metavar="FILE", help="ELF object or C source")
    ld.add_argument("--program", "-p", metavar="NAME", help="program (when the object has several)")
    ld.add_argument("--priority", type=int, default=50, help="lower runs first (default 50)")
    ld.add_argument("--chain-actions", default="pass", metavar="A,B",
                    help="actions that go on to the next program (default: pass)")
    ld.add_argument("--mode", choices=("native", "skb"), default="native",
                    help="XDP mode when the dispatcher is created")
    ld.set_defaults(func=_load)
    un = sub.add_parser("unload", help="remove programs from an interface's chain")
    un.add_argument("interface", metavar="IF")
    which = un.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, help="program id (see status)")
    which.add_argument("--name", help="program name")
    which.add_argument("--all", action="store_true", help="every program, and the dispatcher")
    un.set_defaults(func=_unload)
    st = sub.add_parser("status", help="the programs of an interface's chain")
    st.add_argument("interface", metavar="IF")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_status)


def _kernel(verb: str) -> bool:
    from pybpf.cli._kernel import permission_denied

    return permission_denied(verb) is None


def _load(args: argparse.Namespace) -> int:
    from pybpf.cli.run import load_spec
    from pybpf.xdptools.dispatcher import Dispatcher

    if not _kernel("xdp load"):
        return 2
    spec, plain = load_spec(args.file)
    if plain:
        from pybpf.errors import LoadError

        raise LoadError(f"{args.file}: give an ELF object or a C source with an XDP program")
    actions = [a for a in args.chain_actions.split(",") if a]
    loaded = Dispatcher(args.interface).load(spec, args.program, priority=args.priority,
                                             chain_actions=actions, mode=args.mode)
    print(f"loaded {loaded.entry.name} (id {loaded.entry.prog_id}) on {args.interface} at "
          f"priority {loaded.entry.priority}, chain on {','.join(loaded.entry.chain_actions)}")
    return 0


def _unload(args: argparse.Namespace) -> int:
    from pybpf.xdptools.dispatcher import Dispatcher

    if not _kernel("xdp unload"):
        return 2
    gone = Dispatcher(args.interface).unload(prog_id=args.id, name=args.name, everything=args.all)
    for p in gone:
        print(f"unloaded {p.entry.name} (id {p.entry.prog_id}) from {args.interface}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from pybpf.xdptools.dispatcher import Dispatcher

    if not _kernel("xdp status"):
        return 2
    d = Dispatcher(args.interface)
    programs = [p.as_dict() | {"position": i} for i, p in enumerate(d.programs())]
    if args.json:
        link = d.link_info() if d.exists else None
        print(json.dumps({"interface": args.interface, "dispatcher": d.exists,
                          "link_id": link.id if link else None,
                          "dispatcher_id": link.prog_id if link else None, "programs": programs}))
        return 0
    if not d.exists:
        print(f"{args.interface}: no pybpf XDP dispatcher")
        return 0
    link = d.link_info()
    print(f"{args.interface}: dispatcher id {link.prog_id} (link {link.id}), {len(programs)} programs")
    print(f"  {'pos':>3} {'priority':>8} {'id':>6}  {'name':<16} chain actions")
    for p in programs:
        print(f"  {p['position']:>3} {p['priority']:>8} {p['id']:>6}  {p['name']:<16} "
              f"{','.join(p['chain_actions'])}")
    return 0
