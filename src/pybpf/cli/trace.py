"""`pybpf trace`: run a bpftrace script (the command itself lives in pybpf.trace.command)."""

from __future__ import annotations

from typing import Any


def register(subparsers: Any) -> None:
    from pybpf.trace.command import add_arguments, run

    p = subparsers.add_parser("trace", help="run a bpftrace script (compiled by pybpf, run in the kernel)")
    add_arguments(p)
    p.set_defaults(func=run)
