"""Run JIT-compiled code from Python: the JitContext, region table, callbacks and fault conversion.

A `NativeMachine` is the JIT's counterpart of the interpreter's `Machine`: it owns the native
run context of one loaded program, shares the collection's `RunEnv` (memory model, maps,
helper state) and turns fault codes left by compiled code into the same `RuntimeFault`s the
interpreter raises. It also offers the interpreter's hooks helpers rely on (`pc`,
`call_function`, `function_pc`) so Python helpers such as bpf_loop work unchanged.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping, Sequence
from typing import Any

from pybpf.errors import BpfError, RuntimeFault
from pybpf.isa.instruction import Instruction, iter_slots
from pybpf.isa.opcodes import M64, MAX_CALL_FRAMES
from pybpf.vm.helper_registry import REGISTRY, HelperFn
from pybpf.vm.interpreter import DEFAULT_BUDGET, ProgramExit, TailCall
from pybpf.vm.jit.cfg import find_functions
from pybpf.vm.jit.compiler import CompiledCode
from pybpf.vm.jit.layout import (
    CTX_ATOMIC,
    CTX_CALLBACK,
    CTX_STORE,
    HELPER_CALLBACK,
    MAX_REGIONS,
    REGION_WRITABLE,
    RESOLVE_CALLBACK,
    FaultCode,
    JitContext,
    RegionTable,
    Slot,
)
from pybpf.vm.memory import Region
from pybpf.vm.run_env import RunEnv

ENTRY_CFUNC = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64)
REPEAT_CFUNC = ctypes.CFUNCTYPE(
    ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64
)
BATCH_CFUNC = ctypes.CFUNCTYPE(
    ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64,
    ctypes.c_void_p,
)
BATCH_OUT_CFUNC = ctypes.CFUNCTYPE(
    ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64,
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64,
)


class Registers6(ctypes.Structure):
    """What a compiled function returns: r0-r5, then the budget left (pybpf.vm.jit.ircalls)."""

    _fields_ = [("r", ctypes.c_uint64 * 7)]


FN_CFUNC = ctypes.CFUNCTYPE(Registers6, ctypes.c_void_p, *([ctypes.c_uint64] * 12))


class NativeMachine:
    """One compiled program bound to a RunEnv; `run(r1, r2)` returns r0 or raises RuntimeFault."""

    writes_memory: bool  # may the program write memory (pybpf.vm.loadcheck); set where first needed

    def __init__(
        self,
        insns: Sequence[Instruction],
        code: CompiledCode,
        env: RunEnv,
        *,
        relocation_values: Sequence[int] = (),
        helpers: Mapping[int, HelperFn] | None = None,
        name: str = "",
    ) -> None:
        self.name = name
        self.code = code
        self.env = env
        self.memory = env.memory
        self.helpers: Mapping[int, HelperFn] = REGISTRY if helpers is None else helpers
        self.slots_by_pc = dict(iter_slots(list(insns)))
        self.jctx = JitContext()
        self.jctx_address = ctypes.addressof(self.jctx)
        self.s = self.jctx.slots
        self.table = RegionTable()
        self.entries = self.table.entries
        self._relocs = (ctypes.c_uint64 * max(1, len(relocation_values)))(*relocation_values)
        self.pending: BaseException | None = None
        self.instructions = 0
        self.packet: tuple[int, int] | None = None
        self.tail_target: NativeMachine | None = None
        # the interpreter-compatible view helpers use
        self.frames: list[int] = []
        self.depth0 = 0
        tops = [env.stack.top(k) for k in range(MAX_CALL_FRAMES)]
        self.frame_stride = tops[1] - tops[0]
        if any(tops[k] - tops[0] != k * self.frame_stride for k in range(MAX_CALL_FRAMES)):
            raise BpfError("the JIT needs evenly spaced stack frames")
        self._helper_cb = HELPER_CALLBACK(self._helper)
        self._resolve_cb = RESOLVE_CALLBACK(self._resolve)
        self._ctx_cb = CTX_CALLBACK(self._ctx_access)
        s = self.s
        s[Slot.REGIONS] = ctypes.addressof(self.table)
        s[Slot.HELPER] = ctypes.cast(self._helper_cb, ctypes.c_void_p).value or 0
        s[Slot.RESOLVE] = ctypes.cast(self._resolve_cb, ctypes.c_void_p).value or 0
        s[Slot.CTX_CB] = ctypes.cast(self._ctx_cb, ctypes.c_void_p).value or 0
        s[Slot.STACK_TOP] = tops[0]
        s[Slot.RELOCS] = ctypes.addressof(self._relocs)
        s[Slot.CPU] = env.cpu
        s[Slot.PRANDOM] = 0x9E3779B97F4A7C15
        s[Slot.ENTRY_FN] = code.entry
        self._entry = ENTRY_CFUNC(code.drivers.get("bpf_run", code.entry))
        self._repeat = REPEAT_CFUNC(code.drivers["bpf_repeat"]) if "bpf_repeat" in code.drivers else None
        batch = code.drivers.get("bpf_batch_xdp")
        self._batch = BATCH_CFUNC(batch) if batch else None
        batch_out = code.drivers.get("bpf_batch_xdp_out")
        self._batch_out = BATCH_OUT_CFUNC(batch_out) if batch_out else None
        self.batch_mode = False
        # native code may move the packet (batch loop, adjust_head): Python's context follows
        self.moves_packet = False
        self._xdp_bound = False
        self._batch_index = -1
        self.function_addresses: dict[int, int] = {}
        for fpc in find_functions(list(insns)):
            addr = code.engine.get_function_address(f"bpf_fn_{fpc}")
            if addr:
                self.function_addresses[addr] = fpc
        self.persistent = 1  # entry 0 is the packet of the current run
        self.base_persistent = 1  # without the bound context's own entry (bind_context)
        self.context: Any = None
        # the machine that started the run when this one was tail-called (its slots follow)
        self.origin: NativeMachine | None = None
        # a reused run state (pybpf.vm.jit.fastrun) whose Python side is built on first need
        self.lazy: Any = None

    def use_map_descriptors(self, descriptors: Any) -> None:
        """Let native map helpers reach the collection's maps (kept alive by this machine)."""
        self.descriptors = descriptors
        self.s[Slot.MAPDESC_BASE] = descriptors.base
        self.s[Slot.MAPDESC_LEN] = descriptors.size

    # --- the interpreter-compatible surface helpers use -----------------------------------
    @property
    def pc(self) -> int:
        return int(self.s[Slot.HELPER_PC])

    def function_pc(self, pointer: int) -> int | None:
        return self.function_addresses.get(pointer & M64)

    def call_function(self, pointer: int, args: Sequence[int]) -> int:
        """Call function `pointer` (from lddw rX, func) on behalf of a helper; returns r0."""
        if self.function_pc(pointer) is None:
            raise RuntimeFault(f"{pointer:#x} is not a function of this program", pc=self.pc)
        depth = int(self.s[Slot.HELPER_DEPTH]) + 1
        if depth >= MAX_CALL_FRAMES:
            raise RuntimeFault(f"call depth exceeds {MAX_CALL_FRAMES} frames", pc=self.pc)
        values = [a & M64 for a in args][:5]
        values += [0] * (5 - len(values))
        saved_pc = self.s[Slot.HELPER_PC]
        saved_depth = self.s[Slot.HELPER_DEPTH]
        saved_fp = self.s[Slot.HELPER_FP]
        fn = FN_CFUNC(pointer)
        top = saved_fp + self.frame_stride
        self.s[Slot.BUDGET] = self.env.budget_left & M64  # the callback spends the run's budget
        self.forget_regions()
        try:
            result = fn(self.jctx_address, top, depth, 0, *values, 0, 0, 0, 0)
        finally:
            # the helper frees what it lent this call (a key, a dynptr's sample) before the next one:
            # nothing the callback resolved may stay in the native table or the hit cache
            self.forget_regions()
        if self.code.budget:  # the function returns the budget it left (its slot: on a fault)
            self.s[Slot.BUDGET] = result.r[6]
        self.env.budget_left = int(ctypes.c_int64(self.s[Slot.BUDGET]).value)
        self.s[Slot.HELPER_PC] = saved_pc
        self.s[Slot.HELPER_DEPTH] = saved_depth
        self.s[Slot.HELPER_FP] = saved_fp
        self._raise_fault_if_any()
        return int(result.r[0])

    def forget_regions(self) -> None:
        """Drop the regions resolved since the run began (the persistent ones stay): Python decides again."""
        s = self.s
        s[Slot.NREGIONS] = self.persistent
        s[Slot.HIT_START] = s[Slot.HIT_END] = 0

    # --- runs ------------------------------------------------------------------------
    def set_regions(self, regions: Sequence[Region]) -> None:
        """Regions every run of this machine may use without asking Python (filled once)."""
        entries = self.entries
        n = 1
        for region in regions[: MAX_REGIONS // 2]:
            entries[3 * n] = region.address
            entries[3 * n + 1] = region.end
            entries[3 * n + 2] = REGION_WRITABLE if region.writable else 0
            n += 1
        self.persistent = self.base_persistent = n
        self.s[Slot.NREGIONS] = n

    def bind_context(self, context: Any) -> None:
        """Use `context` (pybpf.vm.contexts) for the next runs: converted ctx, packet region.

        A plain (unconverted) context struct, such as a tracepoint's or a hook point's, gets an
        entry of its own in the region table for the runs, so reading it never asks Python."""
        previous, self.context = self.context, context
        s = self.s
        self.persistent = self.base_persistent
        self._xdp_bound = self.moves_packet = hasattr(context, "set_bounds")
        self.origin = None
        if context is None:
            s[Slot.CTX_START] = s[Slot.CTX_LEN] = 0
            self.sync_context()
            # the programs this one tail-called ran on the same context: unbind them too
            target, self.tail_target = self.tail_target, None
            if target is not None and target is not self and previous is not None \
                    and target.context is previous:
                target.bind_context(None)
            return
        region = getattr(context, "ctx_region", None)
        if region is not None and region.ctx is not None:
            s[Slot.CTX_START] = region.address
            s[Slot.CTX_LEN] = region.size
        else:
            s[Slot.CTX_START] = s[Slot.CTX_LEN] = 0
            if region is not None and region.size and self.persistent < MAX_REGIONS:
                n = self.persistent
                e = self.entries
                e[3 * n] = region.address
                e[3 * n + 1] = region.end
                e[3 * n + 2] = REGION_WRITABLE if region.writable else 0
                self.persistent = n + 1
        self.sync_context()

    def sync_context(self) -> None:
        """Refresh the packet pointers and packet region from the context (after helpers)."""
        context = self.context
        s = self.s
        e = self.entries
        if context is None:
            e[0] = e[1] = e[2] = 0
            s[Slot.XDP_HARD_START] = 0
            return
        s[Slot.XDP_HARD_START] = getattr(context, "hard_start", 0) if self._xdp_bound else 0
        data = getattr(context, "data", None)
        if data is not None:
            s[Slot.CTX_DATA] = data
            s[Slot.CTX_DATA_END] = context.data_end
            s[Slot.CTX_DATA_META] = getattr(context, "data_meta", data)
        packet = context.packet_region
        if packet is not None and packet.ctx is None:
            e[0] = packet.address
            e[1] = packet.end
            e[2] = REGION_WRITABLE if packet.writable else 0
        else:
            e[0] = e[1] = e[2] = 0

    def prepare(self, budget: int) -> None:
        s = self.s
        s[Slot.NREGIONS] = s[Slot.NREGIONS_INIT] = self.persistent
        s[Slot.PRANDOM_NATIVE] = int(getattr(self.env, "prandom_seed", None) is None)
        s[Slot.BUDGET] = s[Slot.BUDGET_INIT] = budget
        s[Slot.FAULT] = 0
        s[Slot.TAILCALL] = 0
        self.pending = None
        self.tail_target = None
        if self.packet is not None:
            s[Slot.PKT_DATA], s[Slot.PKT_LEN] = self.packet
        else:
            s[Slot.PKT_DATA] = s[Slot.PKT_LEN] = 0

    def _begin(self, budget: int) -> Any:
        """The set-up every native run shares (budget, tail calls, fresh memory, slots); returns the
        machine the caller puts back into `env.machine` when the run ends."""
        env = self.env
        env.budget_left = budget
        env.tail_calls = 0
        saved_machine = env.machine
        env.machine = self
        self.memory.forget()
        self.prepare(budget)
        return saved_machine

    def run(self, r1: int = 0, r2: int = 0, *, budget: int = DEFAULT_BUDGET) -> int:
        """Run from pc 0 with r1, r2; returns r0 (unsigned) or raises the interpreter's fault."""
        env = self.env
        saved_machine = self._begin(budget)
        try:
            retval = int(self._entry(self.jctx_address, r1 & M64, r2 & M64))
            if self.moves_packet:
                self._sync_from_native()
            if self.s[Slot.FAULT]:
                retval = self._finish_fault()
        finally:
            left = int(ctypes.c_int64(self.s[Slot.BUDGET]).value)
            self.instructions = budget - max(left, 0)
            env.machine = saved_machine
        return retval

    def run_repeat(self, r1: int, r2: int, count: int, *, budget: int = DEFAULT_BUDGET) -> int:
        """Run `count` times in a native loop on the same memory; r0 of the last run."""
        if self._repeat is None:
            raise BpfError("this program was compiled without the repeat driver")
        env = self.env
        saved_machine = self._begin(budget)
        try:
            retval = int(self._repeat(self.jctx_address, r1 & M64, r2 & M64, count))
            if self.moves_packet:
                self._sync_from_native()
            if self.s[Slot.FAULT]:
                retval = self._finish_fault()
        finally:
            env.machine = saved_machine
        return retval

    def run_batch_xdp(self, buffer: Any, lengths: Any, count: int, out: Any, data: int,
                      *, budget: int = DEFAULT_BUDGET,
                      outputs: tuple[Any, Any, int] | None = None) -> int:
        """The native XDP batch loop (see pybpf.vm.jit.batch); returns how many packets ran.

        `outputs` = (buffer, lengths, stride) also keeps every output packet. Raises the fault
        of the packet that faulted (its index is the return value when it does not raise:
        callers compare it with `count`).
        """
        if self._batch is None or (outputs is not None and self._batch_out is None):
            raise BpfError("batch runs need an XDP program")
        env = self.env
        saved_machine = self._begin(budget)
        self.s[Slot.BATCH_DATA] = data
        self.batch_mode = self.moves_packet = True
        self._batch_index = -1
        try:
            if outputs is not None and self._batch_out is not None:
                ran = int(self._batch_out(self.jctx_address, buffer, lengths, count, out, *outputs))
            else:
                ran = int(self._batch(self.jctx_address, buffer, lengths, count, out))
            if ran < count and self.s[Slot.FAULT]:
                self._sync_from_native()
                self._finish_fault()
        finally:
            self.batch_mode = False
            self.moves_packet = self._xdp_bound
            env.machine = saved_machine
        return ran

    def _sync_from_native(self) -> None:
        """Native code moved the packet (the batch loop, adjust_head): tell the Python context."""
        s = self.s
        if self.batch_mode:
            index = int(s[Slot.BATCH_INDEX])
            if index != self._batch_index:
                self._batch_index = index
                self.env.tail_calls = 0
        context = self.context
        setter = getattr(context, "set_bounds", None)
        if setter is None:
            return
        bounds = (int(s[Slot.CTX_DATA_META]), int(s[Slot.CTX_DATA]), int(s[Slot.CTX_DATA_END]))
        if (context.data_meta, context.data, context.data_end) != bounds:
            setter(*bounds)

    # --- faults ------------------------------------------------------------------------
    def _finish_fault(self) -> int:
        """Turn the fault left in the JitContext into a return value or an exception."""
        target = self.tail_target
        if target is not None and target.s[Slot.FAULT]:
            self.tail_target = None
            return target._finish_fault()
        s = self.s
        code = int(s[Slot.FAULT])
        pc = int(s[Slot.FAULT_PC])
        if code == FaultCode.LD_ABS:
            return 0
        if code == FaultCode.EXIT:
            return int(s[Slot.FAULT_AUX])
        if code == FaultCode.PYTHON and self.pending is not None:
            exc = self.pending
            self.pending = None
            raise exc
        if code == FaultCode.BUDGET:
            left = int(ctypes.c_int64(s[Slot.FAULT_AUX]).value)
            s[Slot.BUDGET] = 0
            raise RuntimeFault("instruction budget exhausted", pc=self._pc_after(pc, left))
        if code == FaultCode.CALL_DEPTH:
            raise RuntimeFault(f"call depth exceeds {MAX_CALL_FRAMES} frames", pc=pc)
        if code == FaultCode.NO_PACKET:
            raise RuntimeFault("legacy packet load without a packet", pc=pc)
        if code == FaultCode.BAD_JUMP:
            raise RuntimeFault("execution fell off the end of the program", pc=pc)
        raise RuntimeFault(f"invalid instruction (fault code {code})", pc=pc)

    def _raise_fault_if_any(self) -> None:
        if self.s[Slot.FAULT]:
            value = self._finish_fault()
            raise ProgramExit(value)

    def _pc_after(self, start: int, count: int) -> int:
        pc = start
        for _ in range(max(count, 0)):
            insn = self.slots_by_pc.get(pc)
            if insn is None:
                break
            pc += insn.slots
        return pc

    def _fail(self, exc: BaseException) -> None:
        self.pending = exc
        self.s[Slot.FAULT] = FaultCode.PYTHON

    # --- callbacks from compiled code ------------------------------------------------------
    def _resolve(self, _jctx: int, address: int, size: int, write: int, pc: int) -> int:
        try:
            if self.lazy is not None:
                self.lazy.materialize()
            if self.moves_packet:
                self._sync_from_native()
            region = self.memory.find(address, size, pc, write=bool(write))
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a fault
            self._fail(exc if isinstance(exc, BpfError) else RuntimeFault(str(exc), pc=pc))
            return 0
        s = self.s
        s[Slot.HIT_START] = region.address
        s[Slot.HIT_END] = region.end
        s[Slot.HIT_FLAGS] = REGION_WRITABLE if region.writable else 0
        if region.ctx is not None or not region.contains(address, size):
            s[Slot.HIT_START] = s[Slot.HIT_END] = 0  # never let the cache cover the context
        n = int(self.s[Slot.NREGIONS])
        if n < MAX_REGIONS and region.ctx is None:
            e = self.entries
            e[3 * n] = region.address
            e[3 * n + 1] = region.end
            e[3 * n + 2] = REGION_WRITABLE if region.writable else 0
            self.s[Slot.NREGIONS] = n + 1
        return 1

    def _ctx_access(self, _jctx: int, address: int, size: int, value: int, flags: int) -> int:
        pc = flags >> 8
        try:
            if self.lazy is not None:
                self.lazy.materialize()
            if self.moves_packet:
                self._sync_from_native()
            if flags & CTX_ATOMIC:
                self.memory.find(address, size, pc, write=True)
                raise RuntimeFault(
                    "atomic operation on the program context", pc=pc, address=address, size=size
                )
            if flags & CTX_STORE:
                self.memory.store(address, size, value, pc)
                return 0
            return self.memory.load(address, size, pc) & M64
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a fault
            self._fail(exc if isinstance(exc, BpfError) else RuntimeFault(str(exc), pc=pc))
            return 0

    def _helper(self, _jctx: int, helper_id: int, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        pc = int(self.s[Slot.HELPER_PC])
        env = self.env
        try:
            if self.lazy is not None:
                self.lazy.materialize()
            if self.moves_packet:
                self._sync_from_native()
            fn = self.helpers.get(helper_id)
            if fn is None:
                raise RuntimeFault(
                    f"callx to {helper_id:#x}: neither a function nor a helper", pc=pc
                )
            env.budget_left = int(ctypes.c_int64(self.s[Slot.BUDGET]).value)
            env.machine = self
            result = fn(env, r1, r2, r3, r4, r5)
            self.s[Slot.BUDGET] = env.budget_left & M64
            self.forget_regions()  # the helper may have freed what was resolved (a submitted record)
            if self.context is not None:
                self.sync_context()
                if self.origin is not None:  # a tail-called program: its caller's slots follow
                    self.origin.sync_context()
            return int(result) & M64
        except TailCall as call:
            target = call.target
            entry = getattr(target, "code", None)
            if not isinstance(target, NativeMachine) or entry is None:
                self._fail(RuntimeFault("tail call target is not a JIT program", pc=pc))
                return 0
            self.tail_target = target
            target.bind_context(self.context)  # the target reads the same ctx and packet as the caller
            target.s[Slot.XDP_HARD_START] = 0  # the target has no frame of its own: Python moves
            # what the run's caller reads after it (bound calls, the batch loop's output, run()'s
            # result) are the first machine's packet slots: they follow the target's moves
            target.origin = self if self.origin is None else self.origin
            target.packet = self.packet
            target.prepare(int(self.s[Slot.BUDGET]))
            target.tail_target = None
            self.s[Slot.TAILCALL] = target.code.main
            self.s[Slot.TAIL_JCTX] = target.jctx_address
            return 0
        except ProgramExit as stop:
            self.s[Slot.FAULT] = FaultCode.EXIT
            self.s[Slot.FAULT_AUX] = stop.retval & M64
            return 0
        except BpfError as exc:
            if isinstance(exc, RuntimeFault) and exc.pc is None:
                exc = RuntimeFault(exc.reason, pc=pc, address=exc.address, size=exc.size)
            self._fail(exc)
            return 0
        except BaseException as exc:  # noqa: BLE001 - a helper bug must not kill the host
            self._fail(RuntimeFault(f"helper #{helper_id} failed: {exc!r}", pc=pc))
            return 0

