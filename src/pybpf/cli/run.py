"""`pybpf run`: run assembly, raw bytecode, an ELF object or a C source on an engine and print r0.

For assembly and raw bytecode the program gets r1 = the memory (`--mem FILE`) and r2 = its
length, and the result is r0 (`{"retval": N}` with --json). For objects and C sources (or with
`--data-in`), each `--data-in` is one run against the same maps, and --json prints
`{"program", "engine", "runs": [{"retval", "data_out"}], "maps": [{"name", "type", "entries"}]}`,
entries in bpftool's schema (`key`/`value` bytes plus the BTF-decoded `formatted`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pybpf.abi import ProgramType, TcAction, XdpAction
from pybpf.cli._kernel import add_skeleton_options, configured, count_arg
from pybpf.cli._map_edit import parse_assignments, set_entries
from pybpf.cli._output import print_json
from pybpf.collection import Collection, RunResult
from pybpf.errors import BpfError, RuntimeFault
from pybpf.isa.instruction import iter_slots
from pybpf.object.spec import CollectionSpec, ProgramSpec

TYPE_NAMES = {
    "xdp": ProgramType.XDP, "tc": ProgramType.SCHED_CLS, "classifier": ProgramType.SCHED_CLS,
    "sched_cls": ProgramType.SCHED_CLS, "sched_act": ProgramType.SCHED_ACT,
    "socket": ProgramType.SOCKET_FILTER, "socket_filter": ProgramType.SOCKET_FILTER,
    "cgroup_skb": ProgramType.CGROUP_SKB, "raw": ProgramType.UNSPEC, "unspec": ProgramType.UNSPEC,
}  # fmt: skip


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run",
        help="run a program (assembly, bytecode, ELF object or C source) and print r0",
        description="Run a program on an engine. Assembly/bytecode: r1 = --mem bytes, r2 = length."
        " Objects and C sources: each --data-in is one run (packet) against the same maps.",
    )
    p.add_argument("file", metavar="FILE", help="assembly (.s/.asm), raw bytecode, ELF object or .c")
    p.add_argument("--program", metavar="NAME", help="program to run (objects with several)")
    p.add_argument("--engine", choices=("interp", "jit", "kernel"), default="interp")
    p.add_argument("--mem", metavar="FILE", help="input memory for assembly/bytecode (r1, r2)")
    p.add_argument("--data-in", metavar="PATH", action="append", default=[],
                   help="packet/data for one run (repeatable: one run each, in order)")
    p.add_argument("--pcap", metavar="IN", help="packets from a pcap/pcapng file: one run each")
    p.add_argument("--pcap-out", metavar="OUT",
                   help="write the packets the program lets through (pcapng, or pcap by name)")
    p.add_argument("--ctx-in", metavar="PATH", help="context bytes (e.g. struct __sk_buff)")
    p.add_argument("--data-out", metavar="PATH",
                   help="write the output packet of the last run to PATH")
    p.add_argument("--repeat", type=int, default=1, metavar="N", help="run each input N times")
    p.add_argument("--type", choices=sorted(TYPE_NAMES), help="program type for assembly/bytecode")
    p.add_argument("--syntax", choices=("auto", "ubpf", "llvm"), default="auto",
                   help="assembly syntax (default: detect)")
    p.add_argument("--budget", type=int, metavar="N",
                   help="instruction budget per run (user-space engines; default 10 million)")
    p.add_argument("--trace", action="store_true",
                   help="print every executed instruction and the registers it changed to"
                   " stderr (interpreter only)")
    p.add_argument("--no-verify", action="store_true", help="skip the static verifier")
    add_skeleton_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--map-entries", type=count_arg, default=1000, metavar="N",
                   help="print at most N entries of each map (default 1000; 0: all)")
    p.add_argument("--map", nargs=2, action="append", default=[], metavar=("NAME", "KEY=VALUE"),
                   help="set a map entry before the runs; KEY and VALUE are JSON typed through"
                   " the map's BTF (e.g. --map blocked_ports 22=0), or hex:BYTES")
    p.set_defaults(func=run)


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def load_spec(path: str, *, syntax: str = "auto", program_type: int | None = None) -> tuple[
    CollectionSpec, bool
]:
    """The spec of FILE and whether it is a plain program (assembly/bytecode): pybpf.api.read_spec."""
    from pybpf.api import read_spec

    return read_spec(path, syntax=syntax, program_type=program_type)


def _read_pcap(path: str) -> list[Any]:
    from pybpf.hooks.pcap import read_packets

    return read_packets(path)


def _write_pcap(path: str, program_type: int, inputs: list[bytes], captured: list[Any],
                results: list[RunResult]) -> None:
    import time

    from pybpf.hooks.pcap import CapturedPacket, sent_on, write_packets

    stamps = [c.timestamp for c in captured]
    first = len(inputs) - len(stamps)  # --data-in inputs come before the capture's
    now = time.time()
    packets = [CapturedPacket(stamps[i - first] if i >= first else now, data)
               for i, data in enumerate(inputs)]
    write_packets(path, sent_on(program_type, packets, [(r.retval, r.data_out) for r in results]))


def _verifier_available() -> bool:
    try:
        from pybpf import verifier
    except ImportError:
        return False
    return hasattr(verifier, "verify_collection")


def load_collection(
    spec: CollectionSpec, engine: str, *, verify: bool, budget: int | None = None,
    tracer: Any = None,
) -> Collection:
    from pybpf.engines import Runtime

    options: dict[str, Any] = {"budget": budget} if budget is not None and engine != "kernel" else {}
    if tracer is not None:
        options["tracer"] = tracer
    return Runtime(engine, verify=verify and _verifier_available(), **options).load(spec)


class StepPrinter:
    """A tracer for the interpreter: each instruction, then the registers it changed."""

    def __init__(self, out: Any = None, limit: int = 100_000) -> None:
        self.out = out if out is not None else sys.stderr
        self.limit = limit
        self.steps = 0
        self.last: list[int] | None = None

    def __call__(self, machine: Any, pc: int, regs: list[int]) -> None:
        from pybpf.isa import format_instruction

        self.changes(regs)
        self.steps += 1
        if self.steps > self.limit:
            if self.steps == self.limit + 1:
                print(f"... trace stopped after {self.limit} instructions", file=self.out)
            return
        insn = machine.table[pc]
        where = f"{machine.name}:" if machine.name else ""
        print(f"{where}{pc:>5}: {format_instruction(insn, pc)}", file=self.out)
        self.last = list(regs)

    def changes(self, regs: list[int]) -> None:
        """Print the registers that differ from the last snapshot."""
        if self.last is None or self.steps > self.limit:
            return
        changed = [f"r{i}={v:#x}" for i, (v, old) in enumerate(zip(regs, self.last, strict=True))
                   if v != old]
        if changed:
            print(f"{'':>7}  ; {' '.join(changed)}", file=self.out)


def for_kernel(spec: CollectionSpec, name: str, mem_len: int) -> CollectionSpec:
    """A plain program made runnable by BPF_PROG_TEST_RUN: an XDP program whose prolog sets
    r1 = the packet (the memory) and r2 = its length, as the conformance plugin does."""
    from pybpf.conformance import xdp_prolog

    prog = spec.programs[name]
    wrapped = ProgramSpec(
        name=name, instructions=(*xdp_prolog(mem_len), *prog.instructions),
        type=ProgramType.XDP, license="GPL",
    )
    return CollectionSpec.single(wrapped)


@contextlib.contextmanager
def on_cpu0(enabled: bool) -> Iterator[None]:
    """Run the kernel's test runs on CPU 0, where the user-space engines run, so per-CPU maps
    come out the same (BPF_PROG_TEST_RUN runs on the calling thread's CPU)."""
    getter = getattr(os, "sched_getaffinity", None)
    if not enabled or getter is None:
        yield
        return
    try:
        before = getter(0)
        os.sched_setaffinity(0, {0})
    except OSError:
        yield
        return
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextlib.contextmanager
def explained_faults(prog: ProgramSpec) -> Iterator[None]:
    """Add the faulting instruction's text to a RuntimeFault's message."""
    try:
        yield
    except RuntimeFault as exc:
        insn = dict(iter_slots(prog.instructions)).get(exc.pc) if exc.pc is not None else None
        if insn is None:
            raise
        from pybpf.isa import format_instruction

        raise RuntimeFault(
            f"{exc.reason} [{format_instruction(insn, exc.pc or 0)}]",
            pc=exc.pc, address=exc.address, size=exc.size,
        ) from exc


def pick_program(spec: CollectionSpec, name: str | None) -> str:
    names = [n for n, p in spec.programs.items() if p.autoload]
    if name is not None:
        if name in spec.programs and name not in names:
            raise BpfError(f"program {name!r} is not loaded (--no-autoload)")
        if name in spec.programs:
            return name
        by_section = [n for n, p in spec.programs.items() if p.section == name]
        if len(by_section) == 1:
            return by_section[0]
        raise BpfError(f"no program {name!r} (programs: {', '.join(names) or 'none'})")
    if len(names) == 1:
        return names[0]
    if not names:
        raise BpfError("the file has no programs")
    raise BpfError(f"several programs, choose one with --program: {', '.join(names)}")


def dump_maps(collection: Collection, btf: Any = None, limit: int = 0) -> list[dict[str, Any]]:
    """Every map but the event channels, in bpftool's JSON schema (see pybpf.btf.entries), at
    most `limit` entries each (0: all)."""
    from pybpf.btf.entries import map_dump

    dumps = [map_dump(m, btf, limit=limit) for _, m in sorted(collection.maps.items())]
    return [d for d in dumps if d is not None]


def print_maps(maps: list[dict[str, Any]]) -> None:
    """Maps as text: a heading per map, one decoded line per entry; unreadable maps as a note."""
    from pybpf.btf.entries import entry_line

    for dump in maps:
        if "error" in dump:
            print(f"pybpf: map {dump['name']} ({dump['type']}) not dumped: {dump['error']}",
                  file=sys.stderr)
            continue
        entries = dump["entries"]
        print(f"map {dump['name']} ({dump['type']}): {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
        for entry in entries:
            print(f"  {entry_line(entry)}")
        if dump.get("truncated"):
            print(f"  ... more entries not shown (--map-entries {len(entries)}; 0 shows all)")


def _action_name(program_type: int, retval: int) -> str:
    try:
        if program_type == ProgramType.XDP:
            return f"XDP_{XdpAction(retval).name}"
        if program_type in (ProgramType.SCHED_CLS, ProgramType.SCHED_ACT):
            signed = retval - (1 << 32) if retval >= 1 << 31 and retval < 1 << 32 else retval
            return f"TC_ACT_{TcAction(signed).name}"
    except ValueError:
        pass
    return ""


def run(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise BpfError(f"--repeat must be >= 1, got {args.repeat}")
    ptype = TYPE_NAMES[args.type] if args.type else None
    assignments = parse_assignments(args.map)
    spec, plain = load_spec(args.file, syntax=args.syntax, program_type=ptype)
    spec = configured(spec, args)
    name = pick_program(spec, args.program)
    ctx = _read(args.ctx_in) if args.ctx_in else None
    if args.mem and args.data_in:
        raise BpfError("--mem and --data-in are alternatives: use one")
    captured = _read_pcap(args.pcap) if args.pcap else []
    inputs = ([_read(p) for p in args.data_in] + [c.data for c in captured]
              or [_read(args.mem) if args.mem else b""])
    # Plain assembly/bytecode without a program type has no kernel rules to verify against.
    typed = any(p.type != ProgramType.UNSPEC for p in spec.programs.values())
    if plain and not typed and args.engine == "kernel":
        if len(inputs) > 1 or ctx is not None:
            raise BpfError("the kernel runs plain programs on one --mem only (give --type)")
        spec = for_kernel(spec, name, len(inputs[0]))
        inputs = [inputs[0].ljust(14, b"\0")]  # the kernel wants at least an Ethernet header
    if args.trace and args.engine != "interp":
        raise BpfError("--trace needs the interpreter (--engine interp)")
    collection = load_collection(spec, args.engine, verify=typed and not args.no_verify,
                                 budget=args.budget, tracer=StepPrinter() if args.trace else None)
    try:
        set_entries(collection.maps, spec.btf, assignments)
        program = collection.programs[name]
        with on_cpu0(args.engine == "kernel"), explained_faults(spec.programs[name]):
            results: list[RunResult] = [
                program.run(data, ctx=ctx, repeat=args.repeat) for data in inputs
            ]
        maps = dump_maps(collection, spec.btf, args.map_entries)
        trace = list(getattr(program, "trace_lines", []) or [])
    finally:
        collection.close()
    if args.data_out:
        Path(args.data_out).write_bytes(results[-1].data_out or b"")
    if args.pcap_out:
        _write_pcap(args.pcap_out, spec.programs[name].type, inputs, captured, results)
    ptype_of_program = spec.programs[name].type
    simple = plain and not args.data_in
    for line in trace:  # bpf_trace_printk output, on stderr so stdout stays parseable
        print(line, file=sys.stderr)
    if args.json:
        if simple:
            print_json({"retval": results[-1].retval})
        else:
            print_json({
                "program": name,
                "engine": args.engine,
                "runs": [{"retval": r.retval, "data_out": (r.data_out or b"").hex()} for r in results],
                "maps": maps,
            })
        return 0
    if simple:
        print(results[-1].retval)
        return 0
    for i, r in enumerate(results, start=1):
        action = _action_name(ptype_of_program, r.retval)
        label = f" ({action})" if action else ""
        size = len(r.data_out or b"")
        timing = f", {r.duration_ns} ns/run" if args.repeat > 1 and r.duration_ns is not None else ""
        print(f"run {i}: retval {r.retval}{label}, data_out {size} bytes{timing}")
    print_maps(maps)
    return 0
