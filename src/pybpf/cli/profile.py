"""`pybpf profile [-F HZ] [-p PID | -c CMD] [-d SECONDS] [-o FILE --format F] [--push URL]`: sample stacks."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from typing import Any

from pybpf.cli._kernel import permission_denied
from pybpf.errors import BpfError


def _hz(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of Hz") from None
    if not 1 <= value <= 999:
        raise argparse.ArgumentTypeError(f"{value} Hz is out of range (1..999)")
    return value


def register(subparsers: Any) -> None:
    from pybpf.profile.events import EVENTS
    from pybpf.profile.report import FORMATS

    p = subparsers.add_parser("profile", help="sample kernel, native and Python stacks on every CPU (flame graphs, "
                                              "pprof)")
    p.add_argument("-F", "--frequency", type=_hz, default=19, metavar="HZ", help="samples per second per CPU "
                   "(default 19, up to 999)")
    p.add_argument("-p", dest="pid", type=int, default=0, metavar="PID", help="profile this process only")
    p.add_argument("-c", dest="command", metavar="CMD", help="run CMD and profile it until it exits")
    p.add_argument("-d", "--duration", type=float, metavar="SECONDS", help="stop after SECONDS (default: "
                   "until CMD or PID exits, or Ctrl-C)")
    p.add_argument("-e", "--event", default="cpu-clock", choices=sorted(EVENTS), help="sampling event (hardware "
                   "events need a CPU PMU)")
    p.add_argument("-o", dest="output", metavar="FILE", help="write the profile to FILE (else a top view)")
    p.add_argument("--format", choices=FORMATS, help="output format (default: from FILE's extension, else folded)")
    p.add_argument("--push", metavar="URL", help="send the pprof to a Pyroscope-compatible server's /ingest")
    p.add_argument("--app", default="pybpf.profile", help="application name when pushing (default pybpf.profile)")
    p.add_argument("--no-python", dest="python", action="store_false", help="do not walk CPython frames")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pybpf.profile import ProfileOptions, record
    from pybpf.profile.report import format_for, render, summary, top_table

    if args.pid and args.command:
        print("pybpf profile: give -p PID or -c CMD, not both", file=sys.stderr)
        return 2
    argv = shlex.split(args.command) if args.command else []
    if args.command and (not argv or shutil.which(argv[0]) is None):
        print(f"pybpf profile: cannot run {args.command!r}: no such command or not executable", file=sys.stderr)
        return 2
    if args.duration is not None and args.duration <= 0:
        print("pybpf profile: the duration must be positive", file=sys.stderr)
        return 2
    try:
        fmt = format_for(args.output, args.format) if args.output else None
        denied = permission_denied("profile")
        if denied is not None:
            return denied
        options = ProfileOptions(frequency=args.frequency, event=args.event, pid=args.pid, command=argv,
                                 duration=args.duration, python=args.python)
        if not args.command and not args.pid and args.duration is None:
            print("pybpf profile: sampling every CPU; Ctrl-C to stop", file=sys.stderr)
        profile = record(options)
        if args.output:
            assert fmt is not None
            with open(args.output, "wb") as f:
                f.write(render(profile, fmt))
            print(f"pybpf profile: {summary(profile)}; wrote {args.output} ({fmt})", file=sys.stderr)
        else:
            from rich.console import Console

            Console().print(top_table(profile))
        if args.push:
            from pybpf.profile.push import push

            print(f"pybpf profile: pushed to {push(profile, args.push, args.app)}", file=sys.stderr)
    except BpfError as exc:
        print(f"pybpf profile: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pybpf profile: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0
