"""The interpreter engine: `load_collection(spec, **options)` makes a live Collection in user space.

Maps are created with `pybpf.maps.create_map` (native memory), map references in the bytecode
are patched (kind "fd": a map pointer the helpers resolve; kind "value": the native address of
a byte of the map's single value, i.e. global data), every program is checked and pre-decoded by
the reference interpreter, and a program that calls a helper user space cannot provide is refused
at load, naming the helper. `Program.run()` builds the context of the program's type
(pybpf.vm.contexts) and returns the kernel-like RunResult.

Options: `budget` (instructions per run, default 10 million), `helpers` (id -> implementation,
default the registry), `max_slots`, `cpu` (what bpf_get_smp_processor_id returns), and
`map_factory` (MapSpec -> Map, default pybpf.maps.create_map) and `tracer` (called with
(machine, pc, registers) before every instruction: a debugging aid, see `pybpf run --trace`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any

from pybpf.abi import MapType, ProgramType
from pybpf.collection import Collection, DataLike, Map, Program, RunResult, new_result
from pybpf.errors import BpfError, LoadError
from pybpf.isa.instruction import Instruction, iter_slots
from pybpf.isa.opcodes import LDDW, PseudoSrc
from pybpf.object.spec import CollectionSpec, MapSpec, ProgramSpec
from pybpf.vm.context_factory import make_context
from pybpf.vm.contexts import DataScratch, XdpFrames, writable_buffer
from pybpf.vm.helper_registry import REGISTRY, HelperFn
from pybpf.vm.interpreter import DEFAULT_BUDGET, Machine, Tracer
from pybpf.vm.loadcheck import DEFAULT_MAX_SLOTS, may_write_memory
from pybpf.vm.memory import Region
from pybpf.vm.run_env import RunEnv
from pybpf.vm.skb_context import SKB_PROGRAM_TYPES, SkbFrames

_program_ids = itertools.count(1)
_now = time.perf_counter_ns


def _register_helpers() -> None:
    """Import every module that registers helper implementations (ours and the maps family)."""
    import importlib

    for name in ("pybpf.vm.packet_helpers", "pybpf.vm.vm_helpers", "pybpf.vm.helpers_impl"):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            if exc.name != name:  # a broken module, not an absent one
                raise


def run_in_contexts(
    spec: ProgramSpec,
    env: RunEnv,
    machine: Any,
    budget: int,
    data: DataLike,
    ctx: bytes | None,
    repeat: int,
    bind: Callable[[Any], None] | None = None,
) -> RunResult:
    """Run `repeat` times on fresh contexts of the program's type; shared by interpreter and JIT.

    `bind(context)` (JIT) is called before each run and `bind(None)` after it.
    """
    if repeat < 1:
        raise BpfError(f"repeat must be >= 1, got {repeat}")
    with env.run_lock:  # runs of one collection share memory and run state: one at a time
        return _run_locked(spec, env, machine, budget, data, ctx, repeat, bind)


def reused_frames(machine: Any, program_type: int) -> XdpFrames | SkbFrames | None:
    """The frame and context the ordinary runs of an XDP or skb program reuse, kept on its machine
    (made on first need); None for other program types."""
    frames: XdpFrames | SkbFrames | None = machine.__dict__.get("packet_frames")
    if frames is None:
        if program_type == ProgramType.XDP:
            frames = XdpFrames()
        elif program_type in SKB_PROGRAM_TYPES:
            frames = SkbFrames(program_type)
        else:
            return None
        machine.packet_frames = frames
    return frames


def _run_locked(
    spec: ProgramSpec,
    env: RunEnv,
    machine: Any,
    budget: int,
    data: DataLike,
    ctx: bytes | None,
    repeat: int,
    bind: Callable[[Any], None] | None,
) -> RunResult:
    env.program_type = int(spec.type)
    retval = 0
    data_out: bytes | None = None
    ctx_out: bytes | None = None
    total = 0
    frames: XdpFrames | SkbFrames | None = None
    scratch: DataScratch | None = None
    in_place = shared = False
    state = machine.__dict__
    packet_frames = reused_frames(machine, spec.type)
    if packet_frames is not None:
        # not while a run of this program is inside one of its own runs
        if packet_frames.fits(data, ctx) and not packet_frames.busy:
            frames = packet_frames
    elif data:
        if repeat == 1 and writable_buffer(data):
            shared = True  # the run reads and writes the caller's buffer: no copy in or out
        writes = state.get("writes_memory")
        if writes is None:
            writes = machine.writes_memory = may_write_memory(spec.instructions)
        in_place = not writes
        scratch = state.get("data_scratch")
        if scratch is None:
            scratch = machine.data_scratch = DataScratch()
        if scratch.busy or shared:
            scratch = None
    for _ in range(repeat):
        try:
            if frames is not None:
                frames.busy = True
                context: Any = frames.context(env, data)  # type: ignore[arg-type] # fits(): bytes
            else:
                if scratch is not None:
                    scratch.busy = True
                context = make_context(spec.type, env, data if shared else bytes(data), ctx,  # type: ignore[arg-type]
                                       in_place=in_place, scratch=scratch, shared=shared)
            if bind is not None:
                bind(context)
            start = time.perf_counter_ns()
            retval = machine.run(context.r1, context.r2, budget=budget)
            total += time.perf_counter_ns() - start
            if spec.type != ProgramType.UNSPEC:
                retval &= 0xFFFFFFFF  # BPF_PROG_TEST_RUN reports a u32 like every hook
            data_out = context.data_out()
            ctx_out = context.ctx_out()
        finally:
            if frames is not None:
                frames.busy = False
            if scratch is not None:
                scratch.busy = False
            if bind is not None:
                bind(None)
            env.end_run()
    return RunResult(
        retval=retval,
        data_out=data_out,
        ctx_out=ctx_out,
        duration_ns=total // repeat,
        instructions=machine.instructions,
    )


class InterpProgram(Program):
    """A program on the reference interpreter."""

    def __init__(self, spec: ProgramSpec, machine: Machine, env: RunEnv, *, budget: int) -> None:
        self.spec = spec
        self.machine = machine
        self.env = env
        self.budget = budget
        self.id = next(_program_ids)
        self._type = int(spec.type)
        self._frames = reused_frames(machine, spec.type)  # the reused frame of ordinary runs

    @property
    def program_type(self) -> ProgramType:
        return self.spec.type

    def run(self, data: DataLike = b"", *, ctx: bytes | None = None, repeat: int = 1) -> RunResult:
        """Run `repeat` times, each on a fresh copy of `data`/`ctx`; maps persist across runs.

        retval is r0, truncated to 32 bits for typed programs as the kernel reports it
        (programs of type UNSPEC, e.g. plain assembly, keep all 64 bits).
        """
        if self._frames is not None and repeat == 1 and ctx is None and type(data) is bytes:
            result = self._run_in_frame(data)
            if result is not None:
                return result
        return run_in_contexts(self.spec, self.env, self.machine, self.budget, data, ctx, repeat)

    def _run_in_frame(self, data: bytes) -> RunResult | None:
        """One ordinary XDP or skb run (a packet BPF_PROG_TEST_RUN takes, no ctx_in) in the program's
        reused frame and context (XdpFrames, SkbFrames): what _run_locked does for it, without its
        general cases. None when the packet does not fit or a run of this program is already under
        way in this thread."""
        env, machine, frames = self.env, self.machine, self._frames
        assert frames is not None
        if not frames.fits(data, None):
            return None
        lock = env.run_lock
        lock.acquire()  # not `with`: an RLock's __exit__ costs a tenth of a µs more than release()
        try:
            if frames.busy:
                return None
            frames.busy = True
            try:
                env.program_type = self._type
                context = frames.context(env, data)
                start = _now()
                retval = machine.run(context.r1, budget=self.budget)
                elapsed = _now() - start
                data_out, ctx_out = frames.outputs()
                return new_result((retval & 0xFFFFFFFF, data_out, ctx_out, elapsed, machine.instructions))
            finally:
                frames.busy = False
                env.end_run()
        finally:
            lock.release()

    @property
    def trace_lines(self) -> list[str]:
        """Lines the program printed with bpf_trace_printk (shared by the collection)."""
        return self.env.trace_lines


def value_address(m: Map) -> int:
    """Native address of byte 0 of a single-value map (global data)."""
    getter = getattr(m, "value_address", None)
    address = getter(bytes(m.key_size)) if getter is not None else None
    if address is None:
        raise LoadError(f"map {m.name!r} has no native value storage to point into")
    return int(address)


def relocate(spec: ProgramSpec, maps: Mapping[str, Map], env: RunEnv) -> list[Instruction]:
    """The program's instructions with every MapReference's lddw patched to a plain immediate."""
    refs = {ref.pc: ref for ref in spec.map_references}
    out: list[Instruction] = []
    for pc, insn in iter_slots(spec.instructions):
        ref = refs.pop(pc, None)
        if ref is None:
            out.append(insn)
            continue
        if insn.opcode != LDDW:
            raise LoadError(f"{spec.name}: map reference at pc {pc} is not an lddw")
        m = maps.get(ref.map_name)
        if m is None:
            raise LoadError(f"{spec.name}: pc {pc} references unknown map {ref.map_name!r}")
        if ref.kind == "value":
            if not 0 <= ref.offset < max(m.value_size, 1):
                raise LoadError(
                    f"{spec.name}: pc {pc} points {ref.offset} bytes into {m.name!r},"
                    f" whose value is {m.value_size} bytes"
                )
            value = value_address(m) + ref.offset
        else:
            value = env.map_pointer(m)
        out.append(insn.replace(src=PseudoSrc.IMM, imm=value))
    if refs:
        raise LoadError(f"{spec.name}: map reference at pc {min(refs)} is not an instruction")
    return out


def _map_provider(m: Map) -> Callable[[int], Region | None]:
    """A memory-model provider exposing exactly the live value an address falls in."""
    span_of = getattr(m, "value_span", None)
    cache: dict[tuple[int, int], Region] = {}

    def provide(address: int) -> Region | None:
        if span_of is None:
            return None
        span = span_of(address)
        if span is None:
            return None
        region = cache.get(span)
        if region is None:
            writable = bool(getattr(m, "prog_writable", True))
            region = Region.at(span[0], span[1], name=f"map {m.name} value", writable=writable,
                               owner=m)
            cache[span] = region
        return region

    return provide


def _default_map_factory() -> Callable[[MapSpec], Map]:
    try:
        from pybpf.maps import create_map
    except ImportError:
        def unavailable(spec: MapSpec) -> Map:
            raise LoadError(f"map {spec.name!r}: user-space maps (pybpf.maps) are not available")

        return unavailable
    factory: Callable[[MapSpec], Map] = create_map
    return factory


def load_collection(
    spec: CollectionSpec | ProgramSpec,
    *,
    budget: int = DEFAULT_BUDGET,
    helpers: Mapping[int, HelperFn] | None = None,
    max_slots: int = DEFAULT_MAX_SLOTS,
    cpu: int = 0,
    map_factory: Callable[[MapSpec], Map] | None = None,
    tracer: Tracer | None = None,
    fast_blocks: bool = False,
    **_options: Any,
) -> Collection:
    """Create the maps and load every program of `spec` on the interpreter: the plain reference loop, or
    with `fast_blocks` the opt-in layer that runs basic blocks as generated functions (same results)."""
    if isinstance(spec, ProgramSpec):
        spec = CollectionSpec.single(spec)
    _register_helpers()
    helpers = REGISTRY if helpers is None else helpers
    factory = map_factory or _default_map_factory()
    env = RunEnv(cpu=cpu)
    maps: dict[str, Map] = {}
    try:
        for name, mspec in spec.maps.items():
            m = factory(mspec)
            maps[name] = m
            env.register_map(m)
            env.memory.add_provider(_map_provider(m))
        programs: dict[str, InterpProgram] = {}
        for name, pspec in spec.programs.items():
            insns = relocate(pspec, maps, env)
            try:
                machine = Machine(insns, env, helpers=helpers, max_slots=max_slots, name=name,
                                  tracer=tracer, use_blocks=fast_blocks)
            except LoadError as exc:
                raise LoadError(f"program {name!r}: {exc}") from None
            programs[name] = InterpProgram(pspec, machine, env, budget=budget)
        env.extra["programs"] = {p.id: p for p in programs.values()}
        _fill_slots(spec, maps, programs)
        _freeze_read_only(spec, maps)
    except BaseException:
        for m in maps.values():
            m.close()
        raise
    collection = Collection(programs=programs, maps=maps, engine="interp")
    return collection


def _fill_slots(
    spec: CollectionSpec, maps: Mapping[str, Map], programs: Mapping[str, InterpProgram]
) -> None:
    """Static prog_array (program ids) and map-in-map initialisation."""
    for name, mspec in spec.maps.items():
        for slot, target in mspec.initial_slots:
            m = maps[name]
            setter = getattr(m, "set", None)
            obj: Any = programs.get(target) if mspec.type == MapType.PROG_ARRAY else maps.get(target)
            if obj is None:
                raise LoadError(f"map {name!r} slot {slot} names unknown {target!r}")
            if setter is not None:  # pybpf.maps object arrays hold the objects themselves
                try:
                    setter(slot, obj)
                except BpfError as exc:
                    raise LoadError(f"cannot fill slot {slot} of {name!r}: {exc}") from None
                continue
            value = int(getattr(obj, "id", 0))
            try:
                m.update(slot.to_bytes(m.key_size, "little"), value.to_bytes(m.value_size, "little"))
            except BpfError as exc:
                raise LoadError(f"cannot fill slot {slot} of {name!r} with {target!r}: {exc}") from None


def _freeze_read_only(spec: CollectionSpec, maps: Mapping[str, Map]) -> None:
    for name, mspec in spec.maps.items():
        if mspec.frozen:
            freeze = getattr(maps[name], "freeze", None)
            if freeze is not None:
                freeze()
