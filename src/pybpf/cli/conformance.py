"""`pybpf conformance`: run bpf_conformance / uBPF `.data` test vectors on an engine."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pybpf.conformance import run_paths, summary


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "conformance",
        help="run bpf_conformance .data test vectors",
        description="Run .data conformance vectors (files or directories); prints each failing"
        " test with the reason and a final line 'N passed, M failed'. Exit 1 if any failed.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=".data files or directories of them")
    p.add_argument("--engine", choices=("interp", "jit", "kernel"), default="interp")
    p.add_argument("-v", "--verbose", action="store_true", help="also list passed and skipped tests")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    outcomes = run_paths(args.paths, args.engine)
    for outcome in outcomes:
        if outcome.status == "fail":
            print(f"FAIL {outcome.path}: {outcome.reason}")
        elif args.verbose:
            detail = f": {outcome.reason}" if outcome.reason else ""
            print(f"{outcome.status.upper()} {outcome.path}{detail}")
    print(summary(outcomes))
    sys.stdout.flush()
    return 1 if any(o.status == "fail" for o in outcomes) else 0
