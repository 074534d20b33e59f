"""Shared pieces of the kernel verbs: the permission check and bpftool-style value formatting."""

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


def hex_bytes(data: bytes) -> str:
    """bpftool's plain style: space-separated hex bytes."""
    return " ".join(f"{b:02x}" for b in data)


def json_bytes(data: bytes) -> list[str]:
    """bpftool's JSON style: a list of "0x.." strings."""
    return [f"0x{b:02x}" for b in data]


def number_or_hex(data: bytes) -> Any:
    """An int for 1/2/4/8-byte little-endian values, else a hex string (for events and map summaries)."""
    if len(data) in (1, 2, 4, 8):
        return int.from_bytes(data, "little")
    return data.hex()


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
