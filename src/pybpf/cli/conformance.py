"""`pybpf conformance`: run bpf_conformance / uBPF `.data` test vectors on an engine."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from pybpf.errors import BpfError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "conformance",
        help="run bpf_conformance .data test vectors",
        description="Run .data conformance vectors (files or directories); prints each failing"
        " test with the reason and a final line 'N passed, M failed'. Exit 1 if any failed.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=".data files or directories of them")
    p.add_argument("--engine", choices=("interp", "jit", "kernel"), default="interp")
    p.add_argument("--include", metavar="REGEX", help="only run files whose name matches")
    p.add_argument("--exclude", metavar="REGEX",
                   help='skip files whose name matches (the kernel needs "(imm|intmin)-")')
    p.add_argument("-v", "--verbose", action="store_true", help="also list passed and skipped tests")
    p.set_defaults(func=run)


def _pattern(text: str | None, option: str) -> re.Pattern[str] | None:
    if text is None:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise BpfError(f"{option}: bad regular expression {text!r}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from pybpf.conformance import iter_data_files, run_paths, summary

    include = _pattern(args.include, "--include")
    exclude = _pattern(args.exclude, "--exclude")
    files = [
        path for path in iter_data_files(args.paths)
        if (include is None or include.search(path.name))
        and (exclude is None or not exclude.search(path.name))
    ]
    if not files:
        raise BpfError(f"no .data test vectors in {', '.join(args.paths)}"
                       + (" (after --include/--exclude)" if include or exclude else ""))
    outcomes = run_paths(files, args.engine)
    for outcome in outcomes:
        if outcome.status == "fail":
            print(f"FAIL {outcome.path}: {outcome.reason}")
        elif args.verbose:
            detail = f": {outcome.reason}" if outcome.reason else ""
            print(f"{outcome.status.upper()} {outcome.path}{detail}")
    print(summary(outcomes))
    sys.stdout.flush()
    return 1 if any(o.status == "fail" for o in outcomes) else 0
