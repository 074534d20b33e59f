"""Script to CollectionSpec: parse, resolve probes, analyse, generate one program per concrete probe."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from pybpf.abi import AttachType, MapType, ProgramType
from pybpf.object.spec import CollectionSpec, MapSpec, ProgramSpec
from pybpf.trace import ast
from pybpf.trace.codegen import EVENTS_MAP, JOIN_ARGS, JOIN_MAP, LOST_MAP, ProbeCompiler, Program
from pybpf.trace.codegen_values import STACKS_MAP, START_MAP
from pybpf.trace.errors import TraceError
from pybpf.trace.parser import parse
from pybpf.trace.probes import ConcreteProbe, expand
from pybpf.trace.semantic import Analyzer
from pybpf.trace.symbols import MAX_STACK
from pybpf.trace.types import MAP_KEYS_MAX, STRLEN

RINGBUF_SIZE = 8 << 20  # bursts of ~200k printf records fit while user space catches up
PROGRAM_TYPES = {
    "BEGIN": ProgramType.RAW_TRACEPOINT, "END": ProgramType.RAW_TRACEPOINT,
    "tracepoint": ProgramType.TRACEPOINT, "rawtracepoint": ProgramType.RAW_TRACEPOINT,
    "uprobe": ProgramType.KPROBE, "uretprobe": ProgramType.KPROBE, "kprobe": ProgramType.KPROBE,
    "kretprobe": ProgramType.KPROBE, "interval": ProgramType.PERF_EVENT, "profile": ProgramType.PERF_EVENT,
    "software": ProgramType.PERF_EVENT, "hardware": ProgramType.PERF_EVENT,
    "fentry": ProgramType.TRACING, "fexit": ProgramType.TRACING,
}
ATTACH_TYPES = {"fentry": AttachType.TRACE_FENTRY, "fexit": AttachType.TRACE_FEXIT}


@dataclass
class CompiledProbe:
    name: str  # program name in the collection
    probe: ConcreteProbe
    source: ast.Probe


@dataclass
class CompiledScript:
    """Everything the runtime needs: the collection to load, the probes to attach, maps and events."""

    script: ast.Script
    spec: CollectionSpec
    program: Program
    probes: list[CompiledProbe] = field(default_factory=list)
    warnings: list[TraceError] = field(default_factory=list)

    @property
    def attach_count(self) -> int:
        return len(self.probes)


def kernel_map_name(index: int, name: str) -> str:
    return f"m{index}_{re.sub(r'[^A-Za-z0-9_]', '', name[1:])}"[:15]


def resolve(script: ast.Script) -> list[list[ConcreteProbe]]:
    """Concrete probes of every probe block (attach points of one block flattened)."""
    out = []
    for probe in script.probes:
        cps: list[ConcreteProbe] = []
        for ap in probe.attach_points:
            cps.extend(expand(ap))
        out.append(cps)
    return out


def substitute_params(node: Any, params: Sequence[str]) -> Any:
    """Replace positional parameters: $1.. by integer or string literals (missing ones are 0 / ""), $# by
    their count."""
    if isinstance(node, ast.Variable) and (node.name == "$#" or node.name[1:].isdigit()):
        if node.name == "$#":
            return ast.Integer(node.line, node.column, node.end_column, len(params))
        index = int(node.name[1:])
        text = params[index - 1] if 0 < index <= len(params) else ""
        try:
            return ast.Integer(node.line, node.column, node.end_column, int(text, 0) if text else 0)
        except ValueError:
            return ast.String(node.line, node.column, node.end_column, text)
    if isinstance(node, list):
        return [substitute_params(x, params) for x in node]
    if isinstance(node, (ast.Node, ast.Script)):
        for f in fields(node):
            value = getattr(node, f.name)
            if isinstance(value, (ast.Node, list)):
                setattr(node, f.name, substitute_params(value, params))
    return node


def compile_script(source: str | ast.Script, *, cpid: int = 0, start_ns: int | None = None,
                   params: Sequence[str] = (), unsafe: bool = False, ring_size: int = RINGBUF_SIZE) -> CompiledScript:
    """Compile a bpftrace script for the running kernel (probe resolution reads tracefs and ELF files)."""
    script = parse(source) if isinstance(source, str) else source
    script = substitute_params(script, params)
    expansions = resolve(script)
    analyzer = Analyzer()
    analyzer.unsafe = unsafe
    analyzer.has_child = cpid != 0
    analyzer.analyze(script, expansions)
    names = {name: kernel_map_name(i, name) for i, name in enumerate(sorted(analyzer.maps))}
    program = Program(analyzer.maps, names, start_ns=time.monotonic_ns() if start_ns is None else start_ns,
                      cpid=cpid, uses_user_symbols=analyzer.uses_user_symbols)
    maps: dict[str, MapSpec] = {
        EVENTS_MAP: MapSpec(EVENTS_MAP, MapType.RINGBUF, 0, 0, ring_size),
        LOST_MAP: MapSpec(LOST_MAP, MapType.PERCPU_ARRAY, 4, 8, 1),
        START_MAP: MapSpec(START_MAP, MapType.ARRAY, 4, 8, 1),
    }
    for name, info in analyzer.maps.items():
        mtype = MapType.PERCPU_HASH if info.percpu else MapType.HASH
        maps[names[name]] = MapSpec(names[name], mtype, info.bpf_key_size, info.bpf_value_size, MAP_KEYS_MAX)
    if analyzer.uses_stacks:
        maps[STACKS_MAP] = MapSpec(STACKS_MAP, MapType.STACK_TRACE, 4, 8 * MAX_STACK, MAP_KEYS_MAX)
    if analyzer.uses_join:
        maps[JOIN_MAP] = MapSpec(JOIN_MAP, MapType.PERCPU_ARRAY, 4, 8 + JOIN_ARGS * STRLEN, 1)
    programs: dict[str, ProgramSpec] = {}
    compiled: list[CompiledProbe] = []
    for i, (probe, cps) in enumerate(zip(script.probes, expansions, strict=True)):
        for j, cp in enumerate(cps):
            insns, refs = ProbeCompiler(program, analyzer, probe, cp).compile()
            pname = f"p{i}_{j}"
            programs[pname] = ProgramSpec(
                name=pname, instructions=insns, type=PROGRAM_TYPES[cp.provider],
                section=cp.name.replace(":", "/"), attach_type=ATTACH_TYPES.get(cp.provider),
                attach_to=cp.func if cp.provider in ATTACH_TYPES else "", license="GPL", map_references=refs)
            compiled.append(CompiledProbe(pname, cp, probe))
    spec = CollectionSpec(programs=programs, maps=maps, license="GPL")
    return CompiledScript(script, spec, program, compiled, list(analyzer.warnings.values()))
