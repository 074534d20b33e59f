"""Script to CollectionSpec: parse, resolve probes, analyse, generate one program per concrete probe."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from pybpf.abi import AttachType, MapType, ProgramType
from pybpf.object.spec import CollectionSpec, MapSpec, ProgramSpec
from pybpf.trace import ast
from pybpf.trace.codegen import ProbeCompiler
from pybpf.trace.compiled import (
    EVENTS_MAP,
    JOIN_ARGS,
    JOIN_MAP,
    LOST_MAP,
    STACKS_MAP,
    START_MAP,
    CompiledProbe,
    CompiledScript,
    Program,
)
from pybpf.trace.errors import TraceError, bounded_nesting
from pybpf.trace.macros import expand_macros
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
    "usdt": ProgramType.KPROBE,
    "kretprobe": ProgramType.KPROBE, "interval": ProgramType.PERF_EVENT, "profile": ProgramType.PERF_EVENT,
    "software": ProgramType.PERF_EVENT, "hardware": ProgramType.PERF_EVENT,
    "fentry": ProgramType.TRACING, "fexit": ProgramType.TRACING, "iter": ProgramType.TRACING,
    "watchpoint": ProgramType.PERF_EVENT,
}
ATTACH_TYPES = {"fentry": AttachType.TRACE_FENTRY, "fexit": AttachType.TRACE_FEXIT, "iter": AttachType.TRACE_ITER}


def kernel_map_name(index: int, name: str) -> str:
    return f"m{index}_{re.sub(r'[^A-Za-z0-9_]', '', name[1:])}"[:15]


MISSING_PROBES = ("error", "warn", "ignore")


def resolve(script: ast.Script, skipped: list[TraceError] | None = None, *,
            dry_run: bool = False) -> list[list[ConcreteProbe]]:
    """Concrete probes of every probe block (attach points of one block flattened, duplicates once).
    An attach point that matches nothing is an error, unless the script's `config = { missing_probes =
    warn|ignore }` says to skip it (then it is added to `skipped`, as a warning for `warn`), or it is a
    wildcard beside other attach points of its block, or this is a dry run (then it is a warning)."""
    policy = script.config.get("missing_probes", "error")
    if policy not in MISSING_PROBES:
        raise TraceError(f"invalid missing_probes value {policy!r} (error, warn or ignore)")
    out = []
    for probe in script.probes:
        cps: list[ConcreteProbe] = []
        seen: set[tuple[str, str, str, int]] = set()
        first: TraceError | None = None
        for ap in probe.attach_points:
            try:
                found = expand(ap)
            except TraceError as exc:
                wildcard = any(c in ap.text for c in "*?[") and len(probe.attach_points) > 1
                if policy == "error" and not dry_run and not wildcard:
                    raise
                first = first or exc
                if skipped is not None and (policy != "ignore" or dry_run):
                    exc.level = "WARNING"
                    exc.message = f"skipped {ap.text}: {exc.message}"
                    skipped.append(exc)
                continue
            for cp in found:
                ident = (cp.provider, cp.target, cp.func or cp.name, cp.usdt.offset if cp.usdt else 0)
                if ident not in seen:
                    seen.add(ident)
                    cps.append(cp)
        if not cps and first is not None and policy == "error" and not dry_run:
            first.level = "ERROR"
            raise first
        out.append(cps)
    return out


def split_params(params: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Positional parameters and named ones (`--name=value`, `--flag`) for getopt()."""
    positional: list[str] = []
    named: dict[str, str] = {}
    for p in params:
        if p.startswith("--") and len(p) > 2:
            key, eq, value = p[2:].partition("=")
            named[key] = value if eq else "true"
        else:
            positional.append(p)
    return positional, named


def getopt_value(call: ast.Call, named: dict[str, str]) -> ast.Expr:
    """getopt("name"[, default[, help]]): the value given as --name[=value], else the default (a literal)."""
    args = call.args
    if not args or not isinstance(args[0], ast.String) or len(args) > 3:
        raise TraceError("getopt() expects a parameter name (string literal), an optional default value and an "
                         "optional description", *call.span())
    default = args[1] if len(args) > 1 else ast.Integer(call.line, call.column, call.end_column, 0)
    if not isinstance(default, (ast.Integer, ast.String)):
        raise TraceError("getopt() default value must be a literal (number, string, true or false)",
                         *default.span())
    given = named.get(args[0].value)
    if given is None:
        return default
    if isinstance(default, ast.String):
        return ast.String(call.line, call.column, call.end_column, given)
    if given in ("true", "false"):
        return ast.Integer(call.line, call.column, call.end_column, int(given == "true"))
    try:
        return ast.Integer(call.line, call.column, call.end_column, int(given, 0))
    except ValueError:
        raise TraceError(f"getopt(): --{args[0].value} expects a number, got {given!r}", *call.span()) from None


def substitute_params(node: Any, params: Sequence[str], named: dict[str, str] | None = None) -> Any:
    """Replace positional parameters: $1.. by integer or string literals (missing ones are 0 / ""), $# by
    their count; getopt() calls by the named parameter's value or their default."""
    if named is None:
        params, named = split_params(params)
    if isinstance(node, ast.Call) and node.name == "getopt":
        return getopt_value(node, named)
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
        return [substitute_params(x, params, named) for x in node]
    if isinstance(node, (ast.Node, ast.Script)):
        for f in fields(node):
            if f.name == "macros":
                continue
            value = getattr(node, f.name)
            if isinstance(value, (ast.Node, list)):
                setattr(node, f.name, substitute_params(value, params, named))
    return node


@bounded_nesting
def compile_script(source: str | ast.Script, *, cpid: int = 0, start_ns: int | None = None,
                   params: Sequence[str] = (), unsafe: bool = False, ring_size: int = RINGBUF_SIZE,
                   dry_run: bool = False) -> CompiledScript:
    """Compile a bpftrace script for the running kernel (probe resolution reads tracefs and ELF files)."""
    script = parse(source) if isinstance(source, str) else source
    script = substitute_params(expand_macros(script), params)
    skipped: list[TraceError] = []
    expansions = resolve(script, skipped, dry_run=dry_run)
    analyzer = Analyzer()
    analyzer.dry_run = dry_run
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
        decl = script.map_decls.get(name)
        lru = decl is not None and "lru" in decl.kind
        if info.percpu:
            mtype = MapType.LRU_PERCPU_HASH if lru else MapType.PERCPU_HASH
        else:
            mtype = MapType.LRU_HASH if lru else MapType.HASH
        size = decl.max_entries if decl is not None else MAP_KEYS_MAX
        maps[names[name]] = MapSpec(names[name], mtype, info.bpf_key_size, info.bpf_value_size, size)
    for name, decl in script.map_decls.items():
        if name not in analyzer.maps:
            raise TraceError(f"map {name} is declared but never used", *decl.span())
    if analyzer.uses_stacks:
        maps[STACKS_MAP] = MapSpec(STACKS_MAP, MapType.STACK_TRACE, 4, 8 * MAX_STACK, MAP_KEYS_MAX)
    if analyzer.skb_outputs:
        from pybpf.trace.compiled import SKB_MAP

        maps[SKB_MAP] = MapSpec(SKB_MAP, MapType.PERF_EVENT_ARRAY, 4, 4, 0)
    if analyzer.uses_join:
        maps[JOIN_MAP] = MapSpec(JOIN_MAP, MapType.PERCPU_ARRAY, 4, 8 + JOIN_ARGS * STRLEN, 1)
    programs: dict[str, ProgramSpec] = {}
    compiled: list[CompiledProbe] = []
    for i, (probe, cps) in enumerate(zip(script.probes, expansions, strict=True)):
        for j, cp in enumerate(cps):
            pc = ProbeCompiler(program, analyzer, probe, cp)
            insns, refs = pc.compile()
            pname = f"p{i}_{j}"
            program.cpid_sites.extend((pname, index) for index in pc.cpid_insns)
            programs[pname] = ProgramSpec(
                name=pname, instructions=insns, type=PROGRAM_TYPES[cp.provider],
                section=cp.name.replace(":", "/"), attach_type=ATTACH_TYPES.get(cp.provider),
                attach_to=cp.func if cp.provider in ATTACH_TYPES else "", license="GPL", map_references=refs)
            compiled.append(CompiledProbe(pname, cp, probe))
    spec = CollectionSpec(programs=programs, maps=maps, license="GPL")
    return CompiledScript(script, spec, program, compiled, skipped + list(analyzer.warnings.values()),
                          missing_probes=script.config.get("missing_probes", "error"))
