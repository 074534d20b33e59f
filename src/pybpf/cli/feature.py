"""`pybpf feature [--json]`: what this kernel supports (program and map types, attach kinds)."""

from __future__ import annotations

import argparse
from typing import Any

from pybpf.cli._kernel import permission_denied
from pybpf.cli._output import print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("feature", help="probe which eBPF features this kernel supports")
    p.add_argument("--json", action="store_true")
    p.add_argument("--helpers", metavar="PROG_TYPE", help="also list the helpers programs of this type may call")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    denied = permission_denied("feature")
    if denied is not None:
        return denied
    import os

    from pybpf.abi import ProgramType
    from pybpf.kernel import features

    sections: dict[str, list[features.Feature]] = {
        "program_types": features.all_program_types(),
        "map_types": features.all_map_types(),
        "attach": features.attach_kinds(),
    }
    if args.helpers:
        try:
            ptype = ProgramType[args.helpers.upper()]
        except KeyError:
            import sys

            print(f"pybpf feature: unknown program type {args.helpers!r}", file=sys.stderr)
            return 2
        from pybpf.helpers import HELPERS

        sections["helpers"] = [features.helper(ptype, hid) for hid in sorted(HELPERS) if hid]
    if args.json:
        print_json({"kernel": os.uname().release, **{
            k: [{"name": f.name, "supported": f.supported, "detail": f.detail} for f in v]
            for k, v in sections.items()}})
        return 0
    print(f"kernel {os.uname().release}")
    for title, items in sections.items():
        print(f"\n{title.replace('_', ' ')}:")
        for f in items:
            mark = "yes" if f.supported else "NO "
            print(f"  {mark}  {f.name}" + (f"  {f.detail}" if f.detail else ""))
    return 0
