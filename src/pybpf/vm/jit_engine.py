"""The JIT engine: `load_collection(spec, **options)` compiles every program with LLVM (pybpf.vm.jit).

It gives the same `Collection` API and the same results as the interpreter engine: programs run
on the same memory model (`RunEnv`), the same maps (`pybpf.maps`, native memory), the same
contexts (`pybpf.vm.contexts`) and the same helper implementations (`pybpf.vm.helper_registry.REGISTRY`,
with native fast paths for the hot ones).

Options: `unsafe_fast=True` drops bounds checks, the instruction budget and stack zeroing (only
for verified programs); `budget` (instructions per run), `opt_level` (0-3, -1 the quick tier;
default O3, the quick tier above 2,000 instructions), `cache_dir` (on-disk
code cache, default $PYBPF_JIT_CACHE), `helpers` (id -> implementation), `max_slots`, `cpu` and
`map_factory`, as for the interpreter engine.

Beyond `Program.run()`, a JitProgram offers the low-overhead paths: `bind(data, ctx=...)` (a
pre-bound run: one native call per `bound()`), `run_batch(packets)` (XDP verdicts for many
packets from a native loop), `benchmark(data, repeat=N)` (ns per run of a native repeat loop)
and `compile_seconds` (0 when the code came from the cache).
"""

from __future__ import annotations

import array
import ctypes
import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pybpf.abi import MapType, ProgramType
from pybpf.collection import Collection, DataLike, Map, Program, RunResult
from pybpf.errors import BpfError, LoadError
from pybpf.isa.instruction import Instruction, iter_slots
from pybpf.isa.opcodes import LDDW
from pybpf.object.spec import CollectionSpec, MapSpec, ProgramSpec
from pybpf.vm.context_factory import make_context
from pybpf.vm.contexts import ETH_HLEN, XDP_MAX_LINEAR
from pybpf.vm.helper_registry import REGISTRY, HelperFn
from pybpf.vm.interp_engine import (
    _default_map_factory,
    _fill_slots,
    _freeze_read_only,
    _map_provider,
    _register_helpers,
    relocate,
    run_in_contexts,
    value_address,
)
from pybpf.vm.interpreter import DEFAULT_BUDGET, _helper_name
from pybpf.vm.jit.compiler import bound_trampoline, compile_program
from pybpf.vm.jit.ctxcall import CtxCall
from pybpf.vm.jit.fastrun import XdpRunState
from pybpf.vm.jit.irgen import TranslateOptions
from pybpf.vm.jit.layout import Slot
from pybpf.vm.jit.mapdesc import MapDescriptors
from pybpf.vm.jit.natives import native_helpers_for
from pybpf.vm.jit.plainrun import PlainRunState
from pybpf.vm.jit.runner import NativeMachine
from pybpf.vm.jit.skbrun import SkbRunState
from pybpf.vm.loadcheck import DEFAULT_MAX_SLOTS, check_program, may_write_memory
from pybpf.vm.memory import Region
from pybpf.vm.run_env import RunEnv
from pybpf.vm.skb_context import SKB_PROGRAM_TYPES

_program_ids = itertools.count(1 << 20)  # distinct from the interpreter's ids

CTX_KINDS = {ProgramType.XDP: "xdp", **{t: "skb" for t in SKB_PROGRAM_TYPES}}


class JitProgram(Program):
    """A program compiled to native code; `run()` has the interpreter engine's semantics."""

    def __init__(self, spec: ProgramSpec, machine: NativeMachine, *, budget: int) -> None:
        self.spec = spec
        self.machine = machine
        self.code = machine.code
        self.env = machine.env
        self.budget = budget
        self.id = next(_program_ids)
        self._state: XdpRunState | SkbRunState | PlainRunState
        if spec.type == ProgramType.XDP:
            self._state = XdpRunState(machine, budget)
        elif spec.type in SKB_PROGRAM_TYPES:
            self._state = SkbRunState(machine, budget, spec.type)
        else:
            # the one-off path reads the same answer off the machine (pybpf.vm.interp_engine)
            writes = machine.writes_memory = may_write_memory(spec.instructions)
            self._state = PlainRunState(machine, budget, spec.type, writes)

    @property
    def program_type(self) -> ProgramType:
        return self.spec.type

    @property
    def compile_seconds(self) -> float:
        """Time spent translating and compiling this program (0 when it came from the cache)."""
        return self.code.compile_seconds

    @property
    def trace_lines(self) -> list[str]:
        return self.env.trace_lines

    def ctx_call(self, size: int, length: int) -> CtxCall:
        """A caller for runs on a plain `size`-byte context of which `length` bytes are given
        (hook points): its `call(address)` returns r0 in one native call; any thread may use it."""
        try:
            return CtxCall(self, size, length)
        except ValueError as exc:
            raise BpfError(f"ctx_call: {exc}") from None

    def bind(self, data: bytes = b"", *, ctx: bytes | None = None) -> BoundRun:
        """A pre-bound run for repeated calls with the least per-call overhead."""
        return BoundRun(self, data, ctx)

    def run_batch(
        self, packets: Sequence[bytes] | bytes, lengths: Sequence[int] | None = None,
        *, keep_output: bool = False,
    ) -> BatchResult:
        """Run an XDP program on many packets in a native loop; returns the verdicts.

        `packets` is a list of packets, or one buffer holding them back to back with `lengths`.
        Each packet runs on a fresh copy in the XDP frame (maps persist). With `keep_output`
        the result also holds every packet as the program left it (`BatchResult.outputs`).
        A fault stops the batch and raises it (RuntimeFault names the pc).
        """
        if self.spec.type != ProgramType.XDP:
            raise BpfError("run_batch needs an XDP program (use run() for other types)")
        try:
            if lengths is None:
                if isinstance(packets, (bytes, bytearray, memoryview)):
                    raise BpfError("a packet buffer needs its lengths")
                lens = array.array("I", [len(p) for p in packets])
                buffer = b"".join(packets)
            else:
                lens = array.array("I", lengths)
                if not isinstance(packets, (bytes, bytearray, memoryview)):
                    raise BpfError("with lengths, packets must be one bytes-like buffer")
                buffer = bytes(packets)
        except (TypeError, ValueError, OverflowError) as exc:
            raise BpfError(f"run_batch: bad packets or lengths ({exc})") from None
        if sum(lens) > len(buffer):
            raise BpfError(f"lengths add up to {sum(lens)} bytes, the buffer has {len(buffer)}")
        count = len(lens)
        out = array.array("I", bytes(4 * count))
        if not count:
            return BatchResult(out, 0)
        longest = max(lens)
        if min(lens) < ETH_HLEN or longest > XDP_MAX_LINEAR:
            raise BpfError(
                f"run_batch takes packets of {ETH_HLEN} to {XDP_MAX_LINEAR} bytes (got"
                f" {min(lens)}..{longest}); use run() for multi-buffer packets"
            )
        env = self.env
        with env.run_lock:
            elapsed, ran, kept = self._batch_locked(buffer, lens, count, out, longest, keep_output)
        if ran < count:
            raise BpfError(f"batch stopped at packet {ran}")
        return BatchResult(out, elapsed, kept)

    def _batch_locked(self, buffer: bytes, lens: Any, count: int, out: Any, longest: int,
                      keep_output: bool) -> tuple[int, int, list[bytes] | None]:
        env, machine = self.env, self.machine
        env.program_type = int(self.spec.type)
        try:
            context: Any = make_context(self.spec.type, env, bytes(longest), None)
            machine.bind_context(context)
            machine.packet = context.packet
            src = ctypes.c_char_p(buffer)
            lens_addr, _ = lens.buffer_info()
            out_addr, _ = out.buffer_info()
            outputs = None
            if keep_output:
                stride = min(longest + 512, 4096)  # room for what adjust_head/tail can add
                obuf = ctypes.create_string_buffer(stride * count)
                olens = array.array("I", bytes(4 * count))
                outputs = (ctypes.addressof(obuf), olens.buffer_info()[0], stride)
            start = time.perf_counter_ns()
            ran = machine.run_batch_xdp(
                src, lens_addr, count, out_addr, context.data, budget=self.budget,
                outputs=outputs,
            )
            elapsed = time.perf_counter_ns() - start
        finally:
            machine.packet = None
            machine.bind_context(None)
            env.end_run()
        if outputs is None or ran < count:
            return elapsed, ran, None
        raw = obuf.raw
        return elapsed, ran, [raw[i * stride : i * stride + olens[i]] for i in range(count)]

    def benchmark(self, data: bytes = b"", *, ctx: bytes | None = None, repeat: int = 1000) -> float:
        """Nanoseconds per run of a native repeat loop on one context (no Python per run)."""
        with self.bind(data, ctx=ctx) as bound:
            machine = self.machine
            start = time.perf_counter_ns()
            machine.run_repeat(bound._r1, bound._r2, repeat, budget=self.budget)
            return (time.perf_counter_ns() - start) / repeat

    def run(self, data: DataLike = b"", *, ctx: bytes | None = None, repeat: int = 1) -> RunResult:
        """Run `repeat` times, each on a fresh copy of `data`/`ctx`; maps persist across runs.

        retval is r0, truncated to 32 bits for typed programs as the kernel reports it.
        An ordinary run reuses the program's run state: XDP pybpf.vm.jit.fastrun, skb
        pybpf.vm.jit.skbrun, plain data pybpf.vm.jit.plainrun.
        """
        if repeat == 1 and ctx is None and type(data) is bytes:
            result = self._state.run(data)
            if result is not None:
                return result
        machine = self.machine

        def bind(context: Any) -> None:
            machine.packet = None if context is None else context.packet
            machine.bind_context(context)

        return run_in_contexts(self.spec, self.env, machine, self.budget, data, ctx, repeat, bind)


class BoundRun:
    """A program bound to one context for repeated calls: `bound()` runs once and returns r0.

    The context and packet are built once; runs share them (a program that modifies the packet
    sees its previous changes; `data_out()` gives the current packet). Close it (or use `with`)
    before running the program's other APIs again. While it is open it holds the collection's
    run lock: other threads' runs wait, and only the thread that bound it may call it.
    """

    def __init__(self, program: JitProgram, data: bytes, ctx: bytes | None) -> None:
        self.program = program
        machine = program.machine
        env = program.env
        env.run_lock.acquire()
        try:
            self._bind(program, machine, env, data, ctx)
        except BaseException:
            env.run_lock.release()
            raise

    def _bind(self, program: JitProgram, machine: NativeMachine, env: Any, data: bytes, ctx: bytes | None) -> None:
        self._owner = threading.get_ident()
        env.program_type = int(program.spec.type)
        self.context = make_context(program.spec.type, env, bytes(data), ctx)
        machine.packet = self.context.packet
        machine.bind_context(self.context)
        machine.prepare(program.budget)
        self._machine = machine
        self._r1 = self.context.r1
        self._r2 = self.context.r2
        machine.s[Slot.BOUND_R1] = self._r1
        machine.s[Slot.BOUND_R2] = self._r2
        self._slots = machine.s
        self._narrow = program.spec.type != ProgramType.UNSPEC
        run = machine.code.drivers.get("bpf_run", machine.code.entry)
        self._trampoline, address = bound_trampoline(run, machine.jctx_address, narrow=self._narrow)
        self._fn = ctypes.CFUNCTYPE(ctypes.c_uint64)(address)
        self.closed = False
        self.__call__ = self._call_narrow if self._narrow else self._call_wide  # type: ignore[method-assign]

    def __call__(self) -> int:
        return self._call_narrow() if self._narrow else self._call_wide()

    def _call_narrow(self) -> int:
        if threading.get_ident() != self._owner:
            raise BpfError("a bound run may only be called by the thread that bound it")
        retval: int = self._fn()
        if retval > 0xFFFFFFFF:
            return self._fault()
        return retval

    def _call_wide(self) -> int:
        if threading.get_ident() != self._owner:
            raise BpfError("a bound run may only be called by the thread that bound it")
        retval: int = self._fn()
        if self._slots[3]:  # Slot.FAULT
            return self._fault()
        return retval

    def _fault(self) -> int:
        machine = self._machine
        machine.env.machine = machine
        retval = machine._finish_fault()
        return retval & 0xFFFFFFFF if self._narrow else retval

    def data_out(self) -> bytes:
        if self._machine.moves_packet:
            self._machine._sync_from_native()
        return self.context.data_out()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._machine.packet = None
                self._machine.bind_context(None)
                self.program.env.end_run()
            finally:
                self.program.env.run_lock.release()

    def __enter__(self) -> BoundRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class BatchResult:
    """Verdicts of a batch run (u32 per packet) and the time the native loop took."""

    retvals: array.array
    duration_ns: int
    outputs: list[bytes] | None = None  # the packets as the program left them (keep_output)

    @property
    def packets(self) -> int:
        return len(self.retvals)

    @property
    def packets_per_second(self) -> float:
        return self.packets * 1e9 / self.duration_ns if self.duration_ns else float("inf")


def _relocation_table(
    spec: ProgramSpec, patched: Sequence[Instruction]
) -> tuple[dict[int, int], list[int]]:
    """Relocation slot per map-referencing lddw pc, and the values the patched code holds."""
    by_pc = dict(iter_slots(patched))
    relocations: dict[int, int] = {}
    values: list[int] = []
    for ref in sorted(spec.map_references, key=lambda r: r.pc):
        insn = by_pc.get(ref.pc)
        if insn is None or insn.opcode != LDDW or ref.pc in relocations:
            continue
        relocations[ref.pc] = len(values)
        values.append(insn.imm & 0xFFFFFFFFFFFFFFFF)
    return relocations, values


def _stable_map_regions(spec: CollectionSpec, maps: Mapping[str, Map]) -> list[Region]:
    """Map memory that stays put for the collection's life, given entries of their own in every
    machine's region table so that reaching it never asks Python: the whole storage of array
    maps whose values have no padding between them, and the values of the single-value maps
    programs address directly (.rodata, .data, .bss)."""
    regions: list[Region] = []
    covered: set[str] = set()
    for name, m in maps.items():
        if m.type not in (MapType.ARRAY, MapType.PERCPU_ARRAY) or name.startswith(".kconfig"):
            continue
        base, stride, copies = (getattr(m, a, None) for a in ("base", "stride", "copies"))
        if base is None or stride is None or copies is None or getattr(m, "elem_size", 0) != m.value_size:
            continue
        regions.append(Region.at(int(base), int(stride) * int(copies), name=f"map {m.name}", owner=m,
                                 writable=bool(getattr(m, "prog_writable", True))))
        covered.add(name)
    names = {ref.map_name for p in spec.programs.values() for ref in p.map_references
             if ref.kind == "value"} - covered
    for name in sorted(names):
        single = maps.get(name)
        span_of = getattr(single, "value_span", None)
        if single is None or span_of is None or single.max_entries != 1:
            continue
        try:
            span = span_of(value_address(single))
        except LoadError:
            continue
        if span is not None:
            regions.append(Region.at(span[0], span[1], name=f"map {single.name} value", owner=single,
                                     writable=bool(getattr(single, "prog_writable", True))))
    return regions


def load_collection(
    spec: CollectionSpec | ProgramSpec,
    *,
    helpers: Mapping[int, HelperFn] | None = None,
    max_slots: int = DEFAULT_MAX_SLOTS,
    unsafe_fast: bool = False,
    budget: int = DEFAULT_BUDGET,
    opt_level: int | None = None,
    cache_dir: str | None = None,
    cpu: int = 0,
    map_factory: Callable[[MapSpec], Map] | None = None,
    **_options: Any,
) -> Collection:
    """Compile every program of `spec` and create its maps; the same API as the interpreter."""
    if isinstance(spec, ProgramSpec):
        spec = CollectionSpec.single(spec)
    _register_helpers()
    helper_table: Mapping[int, HelperFn] = REGISTRY if helpers is None else helpers
    factory = map_factory or _default_map_factory()
    env = RunEnv(cpu=cpu)
    maps: dict[str, Map] = {}
    try:
        for name, mspec in spec.maps.items():
            maps[name] = factory(mspec)
        descriptors = MapDescriptors(list(maps.values()), cpu=cpu)
        for index, m in enumerate(maps.values()):
            env.register_map(m, descriptors.pointer(index))  # native helpers read the descriptor
            env.memory.add_provider(_map_provider(m))
        programs: dict[str, JitProgram] = {}
        natives = native_helpers_for(helper_table)
        for name, pspec in spec.programs.items():
            insns = relocate(pspec, maps, env)
            try:
                check_program(insns, helper_table, max_slots=max_slots, helper_name=_helper_name)
            except LoadError as exc:
                raise LoadError(f"program {name!r}: {exc}") from None
            relocations, values = _relocation_table(pspec, insns)
            options = TranslateOptions(
                checks=not unsafe_fast,
                budget=not unsafe_fast,
                zero_stack=not unsafe_fast,
                ctx_kind=CTX_KINDS.get(pspec.type, ""),
                native_helpers=frozenset(natives),
            )
            code = compile_program(
                list(pspec.instructions),
                relocations=relocations,
                options=options,
                native_helpers=natives,
                opt_level=opt_level,
                cache_dir=cache_dir,
            )
            machine = NativeMachine(
                insns, code, env, relocation_values=values, helpers=helper_table, name=name
            )
            machine.use_map_descriptors(descriptors)
            programs[name] = JitProgram(pspec, machine, budget=budget)
        env.extra["programs"] = {p.id: p for p in programs.values()}
        _fill_slots(spec, maps, programs)  # type: ignore[arg-type]
        _freeze_read_only(spec, maps)
        pinned = _stable_map_regions(spec, maps)
        for program in programs.values():
            program.machine.set_regions(pinned)
    except BaseException:
        for m in maps.values():
            m.close()
        raise
    return Collection(programs=programs, maps=maps, engine="jit")


__all__: Sequence[str] = ["BatchResult", "BoundRun", "JitProgram", "load_collection"]
