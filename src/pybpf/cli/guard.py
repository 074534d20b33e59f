"""`pybpf guard run POLICY.yaml... [--duration S | -c CMD] [-o json|compact] [--listen HOST:PORT]`."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
from typing import Any, TextIO

from pybpf.cli._kernel import permission_denied


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("guard", help="Tetragon-style runtime security: process events, TracingPolicies")
    sub = p.add_subparsers(dest="guard_cmd", metavar="COMMAND")
    r = sub.add_parser("run", help="run TracingPolicies (YAML) in the kernel and stream events")
    r.add_argument("policies", nargs="*", metavar="POLICY.yaml", help="TracingPolicy files (none: process events only)")
    end = r.add_mutually_exclusive_group()
    end.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    end.add_argument("-c", dest="command", metavar="CMD", help="run CMD with the policies attached; stop when it exits")
    r.add_argument("-o", dest="output", choices=("json", "compact"), default="json",
                   help="JSON lines in Tetragon's export layout (default) or tetra's compact lines")
    r.add_argument("--export", metavar="FILE", help="write the events to FILE instead of standard output")
    r.add_argument("--listen", metavar="HOST:PORT", help="serve Prometheus /metrics on HOST:PORT")
    r.add_argument("--node-name", metavar="NAME", help="node_name of the events (default: the host name)")
    r.set_defaults(func=run)
    c = sub.add_parser("check", help="read and check TracingPolicy files against this kernel, print their hooks")
    c.add_argument("policies", nargs="+", metavar="POLICY.yaml")
    c.set_defaults(func=check)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def check(args: argparse.Namespace) -> int:
    from pybpf.guard.bind import bind_policies
    from pybpf.guard.policy import load_policy_files

    for h in bind_policies(load_policy_files(args.policies)):
        print(f"{h.policy}: {h.hook.kind} {h.hook.target} ({len(h.args)} args, {len(h.hook.selectors)} selectors)")
    return 0


def run(args: argparse.Namespace) -> int:
    from pybpf.guard.output import formatter
    from pybpf.guard.policy import load_policy_files
    from pybpf.guard.runner import Command, Guard, GuardMetrics

    policies = load_policy_files(args.policies)
    argv = shlex.split(args.command) if args.command else []
    if args.command and (not argv or shutil.which(argv[0]) is None):
        print(f"pybpf guard: cannot run {args.command!r}: no such command or not executable", file=sys.stderr)
        return 2
    if args.listen and (":" not in args.listen or not args.listen.rpartition(":")[2].isdigit()):
        print(f"pybpf guard: --listen wants HOST:PORT, not {args.listen!r}", file=sys.stderr)
        return 2
    denied = permission_denied("guard")
    if denied is not None:
        return denied
    fmt = formatter(args.output)
    metrics = GuardMetrics() if args.listen else None
    out: TextIO = open(args.export, "w", buffering=1) if args.export else sys.stdout  # noqa: SIM115
    server = None
    try:
        with Guard(policies, node_name=args.node_name, metrics=metrics) as guard:
            if metrics is not None:
                server = metrics.serve(args.listen)
            child = Command(argv) if argv else None
            deadline = time.monotonic() + args.duration if args.duration is not None else None
            try:
                if child is not None:
                    child.release()
                while True:
                    for event in guard.poll(0.1):
                        line = fmt(event)
                        if line is not None:
                            out.write(line + "\n")
                    out.flush()
                    if child is not None and child.poll():
                        for event in guard.poll(0.2):  # the child's exit and what came before it
                            line = fmt(event)
                            if line is not None:
                                out.write(line + "\n")
                        break
                    if deadline is not None and time.monotonic() >= deadline:
                        break
            except KeyboardInterrupt:
                pass
            finally:
                if child is not None:
                    child.kill()
            lost = guard.lost()
            if lost:
                print(f"pybpf guard: {lost} events lost (ring buffer full)", file=sys.stderr)
    except BrokenPipeError:
        return 0
    finally:
        if server is not None:
            server.shutdown()
        if out is not sys.stdout:
            out.close()
    return 0
