"""The JIT engine: `load_collection(spec, **options)` compiles every program with LLVM (pybpf.vm.jit).

It gives the same `Collection` API and the same results as the interpreter engine: programs run
on the same memory model (`RunEnv`), the same maps (`pybpf.maps`, native memory) and the same
helper implementations (`pybpf.vm.env.REGISTRY`, native fast paths for the hot ones).

Options: `unsafe_fast=True` drops bounds checks, the instruction budget and stack zeroing (only
for verified programs); `budget` (instructions per run), `opt_level` (0-3), `cache_dir` (on-disk
code cache, default $PYBPF_JIT_CACHE), `helpers` (id -> implementation) and `max_slots`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from pybpf.abi import ProgramType
from pybpf.engine import Collection, Map, Program, RunResult
from pybpf.errors import BpfError, LoadError
from pybpf.isa.instruction import Instruction, iter_slots
from pybpf.isa.opcodes import LDDW, PseudoSrc
from pybpf.object.spec import CollectionSpec, ProgramSpec
from pybpf.vm.env import REGISTRY, HelperFn
from pybpf.vm.interpreter import DEFAULT_BUDGET, _helper_name
from pybpf.vm.jit.compiler import CompiledCode, compile_program
from pybpf.vm.jit.irgen import TranslateOptions
from pybpf.vm.jit.natives import native_helpers_for
from pybpf.vm.jit.runner import NativeMachine
from pybpf.vm.loadcheck import DEFAULT_MAX_SLOTS, check_program
from pybpf.vm.memory import Region
from pybpf.vm.runenv import RunEnv


class JitProgram(Program):
    """A program compiled to native code; `run()` has the interpreter engine's semantics."""

    def __init__(
        self,
        spec: ProgramSpec,
        machine: NativeMachine,
        code: CompiledCode,
        *,
        budget: int,
    ) -> None:
        self.spec = spec
        self.machine = machine
        self.code = code
        self.env = machine.env
        self.budget = budget
        self.compile_seconds = code.compile_seconds

    @property
    def program_type(self) -> ProgramType:
        return self.spec.type

    def run(self, data: bytes = b"", *, ctx: bytes | None = None, repeat: int = 1) -> RunResult:
        if repeat < 1:
            raise BpfError(f"repeat must be >= 1, got {repeat}")
        env = self.env
        machine = self.machine
        buf = bytes(data)
        region = None
        address = 0
        if buf:
            region = env.add_run_region(Region.allocate(len(buf), name="mem", init=buf))
            address = region.address
        try:
            start = time.perf_counter_ns()
            retval = 0
            for _ in range(repeat):
                retval = machine.run(address, len(buf), budget=self.budget)
            elapsed = time.perf_counter_ns() - start
            data_out = region.read(0, region.size) if region is not None else b""
        finally:
            env.end_run()
        return RunResult(
            retval=retval,
            data_out=data_out,
            ctx_out=None,
            duration_ns=elapsed // repeat,
            instructions=machine.instructions,
        )


def _relocate(
    spec: ProgramSpec, maps: Mapping[str, Map], env: RunEnv
) -> tuple[list[Instruction], dict[int, int], list[int]]:
    """Instructions with map references patched (for load checks), reloc slots and their values."""
    by_pc = {ref.pc: ref for ref in spec.map_references}
    patched: list[Instruction] = []
    relocations: dict[int, int] = {}
    values: list[int] = []
    for pc, insn in iter_slots(spec.instructions):
        ref = by_pc.get(pc)
        if ref is None or insn.opcode != LDDW:
            patched.append(insn)
            continue
        m = maps.get(ref.map_name)
        if m is None:
            raise LoadError(f"program {spec.name!r} references unknown map {ref.map_name!r} at pc {pc}")
        if ref.kind == "value":
            base = _value_address(m)
            value = base + ref.offset
        else:
            value = env.map_pointer(m)
        relocations[pc] = len(values)
        values.append(value)
        patched.append(insn.replace(src=PseudoSrc.IMM, imm=value))
    return patched, relocations, values


def _value_address(m: Map) -> int:
    getter = getattr(m, "value_address", None)
    if getter is None:
        raise LoadError(f"map {m.name!r} cannot be used as global data (no value address)")
    address: int = getter(b"\0" * m.key_size) if m.key_size else getter(b"")
    return address


def _create_maps(spec: CollectionSpec) -> dict[str, Map]:
    if not spec.maps:
        return {}
    try:
        from pybpf.maps import create_map  # type: ignore[attr-defined]
    except ImportError as exc:
        raise LoadError(f"user-space maps are not available: {exc}") from None
    return {name: create_map(mspec) for name, mspec in spec.maps.items()}


def load_collection(
    spec: CollectionSpec,
    *,
    helpers: Mapping[int, HelperFn] | None = None,
    max_slots: int = DEFAULT_MAX_SLOTS,
    unsafe_fast: bool = False,
    budget: int = DEFAULT_BUDGET,
    opt_level: int = 3,
    cache_dir: str | None = None,
    cpu: int = 0,
    **_options: Any,
) -> Collection:
    """Compile every program of `spec` and create its maps; the same API as the interpreter."""
    helper_table: Mapping[int, HelperFn] = REGISTRY if helpers is None else helpers
    maps = _create_maps(spec)
    programs: dict[str, Program] = {}
    options = TranslateOptions(
        checks=not unsafe_fast, budget=not unsafe_fast, zero_stack=not unsafe_fast
    )
    for name, pspec in spec.programs.items():
        env = RunEnv(pspec.type, cpu=cpu)
        for m in maps.values():
            env.register_map(m)
        insns, relocations, values = _relocate(pspec, maps, env)
        check_program(insns, helper_table, max_slots=max_slots, helper_name=_helper_name)
        natives = native_helpers_for(helper_table)
        code = compile_program(
            list(pspec.instructions),
            relocations=relocations,
            options=TranslateOptions(
                checks=options.checks,
                budget=options.budget,
                zero_stack=options.zero_stack,
                native_helpers=frozenset(natives),
            ),
            native_helpers=natives,
            opt_level=opt_level,
            cache_dir=cache_dir,
        )
        machine = NativeMachine(
            insns, code, env, relocation_values=values, helpers=helper_table, name=name
        )
        programs[name] = JitProgram(pspec, machine, code, budget=budget)
    return Collection(programs=programs, maps=maps, engine="jit")


__all__: Sequence[str] = ["JitProgram", "load_collection"]
