"""`pybpf flows observe|serve`: Hubble-style flows of the packets on tc ingress/egress of interfaces."""

from __future__ import annotations

import argparse
from typing import Any

from pybpf.cli._kernel import permission_denied

FILTERS = ("verdict", "protocol", "port", "ip", "from-ip", "to-ip", "from-port", "to-port", "tcp-flags")


class _FilterAction(argparse.Action):
    """Appends (name, value, negated) in command-line order; `--not` negates the next filter."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        filters = list(getattr(namespace, "filters", None) or [])
        filters.append((self.dest.replace("f_", "", 1).replace("_", "-"), str(values),
                        bool(getattr(namespace, "negate_next", False))))
        namespace.filters = filters
        namespace.negate_next = False


def _datapath_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interface", "-i", action="append", required=True, metavar="IF",
                   help="interface to observe on tc ingress and egress (repeatable)")
    p.add_argument("--netns", metavar="NAME", help="the interfaces live in this network namespace (ip netns)")
    p.add_argument("--policy", metavar="FILE", help="YAML list of allow/deny L3/L4 rules enforced in the datapath")
    p.add_argument("--aggregate", action="store_true",
                   help="one flow per connection state change instead of one per packet")
    p.add_argument("--buffer-size", type=int, default=4095, metavar="N", help="recent flows kept (default 4095)")
    p.add_argument("--ring-size", type=int, default=1 << 20, metavar="BYTES",
                   help="kernel ring buffer size, a power of two (default 1 MiB)")
    p.add_argument("--node-name", metavar="NAME", help="node_name of the flows (default: the host name)")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("flows", help="network flows on tc hooks, Hubble-style (observe, serve)")
    sub = p.add_subparsers(dest="flows_verb", metavar="COMMAND", parser_class=type(p))
    sub.required = True

    o = sub.add_parser("observe", help="print flows, like hubble observe")
    _datapath_options(o)
    o.add_argument("--follow", "-f", action="store_true", help="keep printing flows until Ctrl-C")
    o.add_argument("--duration", type=float, metavar="S", help="observe for S seconds, then exit")
    o.add_argument("--last", type=int, default=0, metavar="N", help="print only the last N matching flows at the end")
    o.add_argument("-o", "--output", choices=("compact", "json", "table", "dict"), default="compact")
    o.add_argument("--not", dest="negate_next", action="store_true", help="negate the next filter")
    for name in FILTERS:
        o.add_argument(f"--{name}", dest=f"f_{name.replace('-', '_')}", action=_FilterAction, metavar="VALUE",
                       help=f"show flows matching this {name} (repeatable)")
    o.set_defaults(func=run_observe, filters=[])

    s = sub.add_parser("serve", help="/metrics (Prometheus), /api/flows, a live stream and the web UI")
    _datapath_options(s)
    s.add_argument("--listen", default="127.0.0.1:9965", metavar="HOST:PORT", help="default 127.0.0.1:9965")
    s.add_argument("--name", action="append", default=[], metavar="IP=NAME", help="name an endpoint on the map")
    s.set_defaults(func=run_serve)


def _common(args: argparse.Namespace) -> dict[str, Any]:
    return dict(interfaces=args.interface, netns=args.netns, policy=args.policy, aggregate=args.aggregate,
                buffer_size=args.buffer_size, ring_size=args.ring_size, node_name=args.node_name)


def run_observe(args: argparse.Namespace) -> int:
    from pybpf.flows.observe import ObserveOptions, observe

    denied = permission_denied("flows")
    if denied is not None:
        return denied
    opts = ObserveOptions(**_common(args), follow=args.follow, duration=args.duration, last=args.last,
                          output=args.output, filters=list(args.filters))
    return observe(opts)


def run_serve(args: argparse.Namespace) -> int:
    import sys

    from pybpf.flows.observe import DatapathOptions
    from pybpf.flows.observer import Observer
    from pybpf.flows.server import check_listen, parse_names, serve

    denied = permission_denied("flows")
    if denied is not None:
        return denied
    names = parse_names(args.name)
    check_listen(args.listen)
    with DatapathOptions(**_common(args)).datapath() as dp:
        observer = Observer(dp, buffer_size=args.buffer_size, names=names)
        print(f"serving flows of {', '.join(dp.interfaces)} on http://{args.listen}/", file=sys.stderr, flush=True)
        serve(observer, args.listen)
    return 0
