"""`pybpf verify FILE`: prove the programs of an object, assembly or bytecode file safe, kernel-style."""

from __future__ import annotations

import argparse
import json
import textwrap
from dataclasses import replace
from typing import Any

from pybpf.abi import ProgramType
from pybpf.cli._output import track
from pybpf.errors import BpfError, VerifierError
from pybpf.object.spec import CollectionSpec

ALIASES = {
    "tc": ProgramType.SCHED_CLS,
    "classifier": ProgramType.SCHED_CLS,
    "action": ProgramType.SCHED_ACT,
    "socket": ProgramType.SOCKET_FILTER,
    "raw_tp": ProgramType.RAW_TRACEPOINT,
    "tp": ProgramType.TRACEPOINT,
    "perf": ProgramType.PERF_EVENT,
}


def program_type(text: str) -> ProgramType:
    """A program type by kernel name (xdp, socket_filter, sched_cls, kprobe, ...) or alias (tc, socket)."""
    key = text.strip().lower().replace("-", "_")
    if key in ALIASES:
        return ALIASES[key]
    try:
        return ProgramType[key.upper()]
    except KeyError:
        pass
    try:
        return ProgramType(int(key, 0))
    except ValueError:
        names = ", ".join(sorted(t.name.lower() for t in ProgramType if t != ProgramType.UNSPEC))
        raise argparse.ArgumentTypeError(f"unknown program type {text!r} (one of: {names})") from None


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("verify", help="verify programs the way the kernel verifier does",
                              description="Verify every program of FILE (ELF object, assembly or raw bytecode) "
                              "with pybpf's verifier. Exit 0 if all are accepted, 1 if one is rejected, "
                              "2 if FILE is unusable.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--program", metavar="NAME", help="verify only this program (function name)")
    p.add_argument("--type", type=program_type, metavar="TYPE",
                   help="program type for programs without one (assembly, bytecode, unknown sections)")
    p.add_argument("--unprivileged", action="store_true", help="apply the rules for unprivileged programs")
    p.add_argument("--log", action="store_true", help="print the per-instruction state log")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _load(path: str, ptype: ProgramType | None) -> CollectionSpec:
    from pybpf.cli.run import load_spec

    spec, _plain = load_spec(path, program_type=int(ptype) if ptype is not None else None)
    if ptype is None:
        return spec
    progs = {n: p if p.type != ProgramType.UNSPEC else replace(p, type=ptype) for n, p in spec.programs.items()}
    return CollectionSpec(programs=progs, maps=spec.maps, license=spec.license, btf=spec.btf)


def run(args: argparse.Namespace) -> int:
    from pybpf.runtime import use_kernel_facts

    use_kernel_facts()  # judge helper availability and context rules by the running kernel
    spec = _load(args.file, args.type)
    names = list(spec.programs)
    if args.program is not None:
        if args.program not in spec.programs:
            raise BpfError(f"no program {args.program!r} in {args.file} (it has: {', '.join(names) or 'none'})")
        names = [args.program]
    if not names:
        raise BpfError(f"{args.file} holds no programs")
    results: list[dict[str, Any]] = []
    for name in track(names, lambda n: f"verifying {n}"):  # each verdict is printed as soon as it is decided
        item = _verdict(spec, name, args)
        results.append(item)
        _print(item, args, first=len(results) == 1)
    if args.json and args.program is None:
        print("\n]", flush=True)
    return 0 if all(item["accepted"] for item in results) else 1


def _verdict(spec: CollectionSpec, name: str, args: argparse.Namespace) -> dict[str, Any]:
    from pybpf.verifier import verify

    prog = spec.programs[name]
    item: dict[str, Any] = {"program": name, "section": prog.section}
    ptype = prog.type if prog.type != ProgramType.UNSPEC else args.type
    try:
        res = verify(prog, ptype, privileged=not args.unprivileged, log=args.log, maps=spec.maps)
        item.update(accepted=True, insn=None, message="", processed_insns=res.processed_insns,
                    peak_states=res.peak_states, time_ns=res.time_ns)
        log = res.log
    except VerifierError as exc:
        item.update(accepted=False, insn=exc.insn, message=exc.reason, processed_insns=None)
        log = exc.log
    if args.log:
        item["log"] = log
    return item


def _print(item: dict[str, Any], args: argparse.Namespace, first: bool) -> None:
    if args.json:
        if args.program is not None:
            one = {k: v for k, v in item.items() if k not in ("program", "section")}
            print(json.dumps(one, indent=2), flush=True)
        else:  # one JSON array, element by element
            text = textwrap.indent(json.dumps(item, indent=2), "  ")
            print(("[\n" if first else ",\n") + text, end="", flush=True)
        return
    if args.log and item.get("log"):
        print(item["log"].rstrip("\n"))
    where = f"{item['program']}" + (f" ({item['section']})" if item["section"] else "")
    if item["accepted"]:
        print(f"{where}: accepted, {item['processed_insns']} insns processed, "
              f"peak states {item['peak_states']}, {item['time_ns'] / 1e6:.2f} ms", flush=True)
    else:
        at = f" at insn {item['insn']}" if item["insn"] is not None else ""
        print(f"{where}: rejected{at}: {item['message']}", flush=True)
