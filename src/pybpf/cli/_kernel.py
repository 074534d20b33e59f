"""Shared pieces of the verbs: the permission check with its one-line message, the skeleton options."""

from __future__ import annotations

import sys
from typing import Any


def permission_denied(verb: str) -> int | None:
    """None when bpf() is usable; else print one line and return exit status 2."""
    from pybpf.kernel.probe import bpf_permission_error

    reason = bpf_permission_error()
    if reason is None:
        return None
    print(f"pybpf {verb}: {reason}", file=sys.stderr)
    return 2


def add_skeleton_options(p: Any) -> None:
    """--set, --map-size and --no-autoload: what a libbpf skeleton sets before loading."""
    p.add_argument("--set", action="append", default=[], metavar="VAR=VALUE",
                   help="set a global variable (e.g. a const volatile setting) before loading")
    p.add_argument("--map-size", action="append", default=[], metavar="MAP=N",
                   help="give map MAP N entries (e.g. maps sized from user space, max_entries 0)")
    p.add_argument("--no-autoload", action="append", default=[], metavar="PROG",
                   help="do not load program PROG (e.g. the raw_tp copy of a tp_btf program)")


def configured(spec: Any, args: Any) -> Any:
    """`spec` with the skeleton options of the command line applied."""
    from pybpf.object.skeleton import configure, parse_assignments

    return configure(spec, globals=parse_assignments(args.set, "--set"),
                     map_sizes=parse_assignments(args.map_size, "--map-size"), no_autoload=args.no_autoload)


def count_arg(text: str) -> int:
    """argparse type of a count: an integer >= 0."""
    import argparse

    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a count: {text!r}")
    return value
