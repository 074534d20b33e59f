"""Reusable run state for `JitProgram.run()`: an XDP run in about a microsecond of Python.

`Program.run(packet)` used to build a fresh context per call (a frame, an `xdp_md` region, the
packet region, memory-model entries, the JitContext slots) and tear it down after: tens of µs.
An `XdpRunState` keeps one frame and one `xdp_md` per program and reuses them: a run copies the
packet into the frame (zeroing the rest, as a fresh frame would be), writes the few slots that
depend on it and reads the packet back. Once the program has run HOT_RUNS times that set-up is
native code (`_xdp_trampoline`), called without ctypes argument types (bytes go as a pointer,
ints as C ints: a third of the call's cost), which leaves the instruction count and the packet's
bounds in one small struct: a run is then the run lock, one ctypes call, one unpack, the packet
copied out and the RunResult (`new_result`).

The Python side of the run (the `XdpContext`, its regions in the memory model, `env.context`) is
only needed by Python code: helper implementations, the slow-path region resolver, converted
context accesses and fault reporting. It is built lazily, by `materialize()`, the first time
such a callback happens in a run (the runner calls it), so it is exactly the state the one-off
path builds, and a program that never leaves native code never pays for it.

A run takes this path when it is an ordinary one: repeat=1, no `ctx_in`, 14 to 3520 bytes of
packet (no fragments), and no other run of the collection in progress in this thread (a helper
running a program, an open `bind()`); otherwise `run()` takes the one-off path. The collection's
run lock serialises both, so threads still get their own results.
"""

from __future__ import annotations

import ctypes
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pybpf.abi import ProgramType
from pybpf.collection import RunResult, new_result
from pybpf.vm.contexts import (
    ETH_HLEN,
    LOOPBACK_IFINDEX,
    XDP_MAX_LINEAR,
    XDP_PACKET_HEADROOM,
    XdpContext,
)
from pybpf.vm.jit.layout import REGION_WRITABLE, Slot
from pybpf.vm.jit.setup_ir import FAULTED, SetupCall
from pybpf.vm.memory import Region

if TYPE_CHECKING:
    from pybpf.vm.jit.runner import NativeMachine

_SLOTS_PKT = struct.Struct("<3Q")  # PKT_DATA, PKT_LEN, TAILCALL
_PKT_OFFSET = 8 * Slot.PKT_DATA
_SLOTS_CTX = struct.Struct("<12Q")  # CTX_START .. BOUND_R2
_CTX_OFFSET = 8 * Slot.CTX_START
_SLOTS_RUN = struct.Struct("<3Q")  # NREGIONS, BUDGET, FAULT
_RUN_OFFSET = 8 * Slot.NREGIONS
_SLOTS_ARM = struct.Struct("<8Q")  # CTX_START .. NREGIONS_INIT
_DATA = struct.Struct("<3Q")  # CTX_DATA, CTX_DATA_END, CTX_DATA_META
_DATA_OFFSET = 8 * Slot.CTX_DATA
_ENTRY = struct.Struct("<3Q")  # region table entry 0: the packet
_XDP_MD = struct.Struct("<6I")
_XDP_MD_SIZE = _XDP_MD.size
_BUDGET = struct.Struct("<q")
_BUDGET_OFFSET = 8 * Slot.BUDGET
_FAULT = int(Slot.FAULT)
_PRANDOM_NATIVE = int(Slot.PRANDOM_NATIVE)
_HARD_START = int(Slot.XDP_HARD_START)
_HEAD = XDP_PACKET_HEADROOM
_now = time.perf_counter_ns
_ZEROS = memoryview(bytes(4096))
HOT_RUNS = 16  # runs of one program before its set-up is compiled to native code
_OUT = struct.Struct("<4Q")  # XdpRunState.out


assert Slot.BOUND_R2 - Slot.CTX_START == 11 and Slot.CTX_DATA_META - Slot.CTX_DATA == 2
assert Slot.FAULT - Slot.NREGIONS == 2 and Slot.NREGIONS_INIT - Slot.CTX_START == 7
_XDP_MD_IN = _XDP_MD.pack(0, 0, 0, LOOPBACK_IFINDEX, 0, 0)

class LazyRun:
    """What the reusable runs share: the Python side of a run, built on first need."""

    machine: NativeMachine
    env: Any
    budget: int
    program_type: int
    context: Any = None
    saved_machine: Any = None
    busy = False
    slot_view: memoryview
    ctx_cb: int
    runs = 0  # ordinary runs so far, up to HOT_RUNS
    native: Any = None  # the compiled set-up (pybpf.vm.jit.setup_ir), once the program is hot
    _engine: Any = None  # the LLVM engine holding it

    def __init__(self, machine: NativeMachine, budget: int, program_type: int) -> None:
        self.machine = machine
        self.env = machine.env
        self.budget = budget
        self.program_type = int(program_type)
        self.slot_view = memoryview(machine.s).cast("B")
        self.ctx_cb = int(machine.s[Slot.CTX_CB])

    def _context(self) -> Any:
        raise NotImplementedError

    def _run(self, data: bytes) -> RunResult | None:
        """A run on the Python set-up (the state's own; before the program is hot)."""
        raise NotImplementedError

    def _native_result(self, data: bytes, retval: int, elapsed: int) -> RunResult:
        """The RunResult of a run of `data` through the native set-up that returned r0 `retval`."""
        raise NotImplementedError

    def locked(self, data: bytes) -> RunResult | None:
        """One run of `data` under the collection's run lock, or None when another run of the collection
        is under way in this thread (a helper running a program, an open `bind()`): the one-off path.
        Until the program is hot that is `_run(data)`; then the compiled set-up (`native`) runs it,
        here, in one frame: the ordinary run's whole cost is this function and `_native_result`."""
        lock = self.env.run_lock
        lock.acquire()
        try:
            machine = self.machine
            if machine.lazy is not None or machine.context is not None or self.env.context is not None:
                return None
            native = self.native
            if native is None:
                return self._run(data)
            machine.pending = None
            machine.tail_target = None
            machine.lazy = self
            try:
                begin = _now()
                retval = native(data, len(data), getattr(self.env, "prandom_seed", None) is None,
                                machine.persistent)
                elapsed = _now() - begin
                if retval == FAULTED:  # reported the way `enter` reports it
                    self.materialize()
                    retval = machine._finish_fault()
                return self._native_result(data, retval, elapsed)
            finally:
                # the set-up emptied the input's region entry itself; only a run whose Python side
                # was built has more to undo
                if self.context is None:
                    machine.lazy = None
                else:
                    self._finish()
        finally:
            lock.release()

    def enter(self, *args: Any) -> tuple[int, int]:
        """Call the program whose slots are set (inside the caller's try/finally of `_finish`): r0 and
        the ns it ran; a fault is reported the way the one-off path reports it."""
        machine = self.machine
        machine.pending = None
        machine.tail_target = None
        self.busy = True
        machine.lazy = self
        begin = _now()
        retval = machine._entry(*args)
        elapsed = _now() - begin
        if machine.s[_FAULT]:
            self.materialize()
            retval = machine._finish_fault()
        return retval, elapsed

    def arm(self, first: int, end: int, flags: int, ctx: int = 0, ctx_size: int = 0) -> memoryview:
        """Write the slots of a run on the input [first, end) (region-table entry 0, with `flags`; also
        the packet of legacy loads) and, for a converted context at `ctx`, its data pointers; returns
        the slots as bytes for `spent`."""
        machine = self.machine
        slots, persistent, budget = self.slot_view, machine.persistent, self.budget
        _SLOTS_RUN.pack_into(slots, _RUN_OFFSET, persistent, budget, 0)
        _SLOTS_PKT.pack_into(slots, _PKT_OFFSET, first, end - first, 0)
        _SLOTS_ARM.pack_into(slots, _CTX_OFFSET, ctx, ctx_size, first, end, first, self.ctx_cb, budget, persistent)
        s = machine.s
        s[_PRANDOM_NATIVE] = getattr(self.env, "prandom_seed", None) is None
        s[_HARD_START] = 0
        e = machine.entries
        e[0], e[1], e[2] = first, end, flags
        return slots

    def count_run(self, build: Callable[[Any], tuple[Any, int]]) -> None:
        """Count an ordinary run on the Python set-up; the HOT_RUNS-th compiles the native one, `build(self)`
        (a few ms), which the runs from then on take."""
        self.runs += 1
        if self.runs != HOT_RUNS:
            return
        try:
            self._engine, address = build(self)
        except Exception:  # noqa: BLE001 - the Python set-up still works
            return
        self.native = SetupCall(address)

    def spent(self, slots: memoryview) -> int:
        """Instructions the run executed (what the budget slot says), as machine.instructions too."""
        left = _BUDGET.unpack_from(slots, _BUDGET_OFFSET)[0]
        instructions = self.machine.instructions = self.budget - (left if left > 0 else 0)
        return instructions

    def materialize(self) -> None:
        """Build the run's Python side (context, memory regions) from the native state; the
        runner calls it before any Python callback of the run."""
        machine = self.machine
        if machine.lazy is not self:
            return
        machine.lazy = None
        env = self.env
        env.program_type = self.program_type
        env.budget_left = self.budget
        env.tail_calls = 0
        self.saved_machine = env.machine
        env.machine = machine
        machine.memory.forget()
        context = self.context = self._context()
        machine.packet = context.packet
        machine.bind_context(context)

    def finish_packet_run(self) -> None:
        """`_finish` for a run whose input was entry 0 of the region table: empty it again."""
        e = self.machine.entries
        e[0] = e[1] = e[2] = 0
        LazyRun._finish(self)

    def _finish(self) -> None:
        machine = self.machine
        if machine.lazy is self:
            machine.lazy = None
        if self.context is not None:
            self.context = None
            env = self.env
            try:
                machine.packet = None
                machine.bind_context(None)
                env.end_run()
            finally:
                env.machine = self.saved_machine
                self.saved_machine = None
        self.busy = False


class XdpRunState(LazyRun):
    """One JIT XDP program's frame and `xdp_md`, reused by every ordinary `run()`."""

    def __init__(self, machine: NativeMachine, budget: int) -> None:
        super().__init__(machine, budget, ProgramType.XDP)
        self.frame = (ctypes.c_ubyte * 4096)()
        self.view = memoryview(self.frame).cast("B")
        self.hard_start = ctypes.addressof(self.frame)
        self.data = self.hard_start + XDP_PACKET_HEADROOM
        self.ctx_region = Region.allocate(XdpContext.ctx_size, name="xdp_md", init=_XDP_MD_IN)
        self.entry_view = memoryview(machine.entries).cast("B")
        self.ctx_address = self.ctx_region.address
        # what the native set-up leaves after a run: instructions, data_meta, data, data_end
        # (the pointers as offsets into the frame)
        self.out = (ctypes.c_uint64 * 4)()
        self.out_view = memoryview(self.out).cast("B")
        # ctypes converts ready-made argument objects faster than Python ints
        self.args = (ctypes.c_void_p(machine.jctx_address), ctypes.c_uint64(self.ctx_address),
                     ctypes.c_uint64(0))

    def run(self, data: bytes) -> RunResult | None:
        """One run on `data` (bytes; repeat=1, no ctx_in), or None when it cannot take this path:
        not an ordinary packet, or another run of the collection under way in this thread (a
        helper running a program, an open `bind()`; the run lock keeps other threads out)."""
        size = len(data)
        if size < ETH_HLEN or size > XDP_MAX_LINEAR:
            return None
        return self.locked(data)

    def _run(self, data: bytes) -> RunResult:
        self.count_run(_xdp_trampoline)
        return self._run_python(data)

    def _native_result(self, data: bytes, retval: int, elapsed: int) -> RunResult:
        if self.context is None:
            insns, meta, first, last = _OUT.unpack_from(self.out_view)
            self.machine.instructions = insns
            return new_result((
                retval & 0xFFFFFFFF, self.view[meta:last].tobytes(),
                _XDP_MD.pack(first - meta, last - meta, 0, LOOPBACK_IFINDEX, 0, 0), elapsed, insns))
        return self._result(retval, elapsed)

    def _run_python(self, data: bytes) -> RunResult:
        machine = self.machine
        size = len(data)
        start = self.data
        end = start + size
        view = self.view  # the frame as a fresh one holds it: zeros around the packet
        view[:_HEAD] = _ZEROS[:_HEAD]
        view[_HEAD : _HEAD + size] = data
        view[_HEAD + size :] = _ZEROS[_HEAD + size :]
        slots = self.slot_view
        _SLOTS_PKT.pack_into(slots, _PKT_OFFSET, start, size, 0)
        _SLOTS_CTX.pack_into(
            slots, _CTX_OFFSET, self.ctx_address, _XDP_MD_SIZE, start, end, start, self.ctx_cb,
            self.budget, machine.persistent, 0, 0, self.ctx_address, 0,
        )
        s = machine.s
        s[_PRANDOM_NATIVE] = getattr(self.env, "prandom_seed", None) is None
        s[_HARD_START] = self.hard_start
        _ENTRY.pack_into(self.entry_view, 0, start, end, REGION_WRITABLE)
        try:
            retval, elapsed = self.enter(*self.args)
            return self._result(retval, elapsed)
        finally:
            self._finish()

    def _result(self, retval: int, elapsed: int) -> RunResult:
        machine = self.machine
        slots = self.slot_view
        instructions = self.spent(slots)
        context = self.context
        data_out: bytes | None
        if context is None:
            first, last, meta = _DATA.unpack_from(slots, _DATA_OFFSET)
            base = self.hard_start
            data_out = self.view[meta - base : last - base].tobytes()
            ctx_out = _XDP_MD.pack(first - meta, last - meta, 0, LOOPBACK_IFINDEX, 0, 0)
        else:
            if machine.moves_packet:  # adjust_head may have moved it since the last callback
                machine._sync_from_native()
            data_out = context.data_out()
            ctx_out = context.ctx_out()
        return new_result((retval & 0xFFFFFFFF, data_out, ctx_out, elapsed, instructions))

    def _context(self) -> Any:
        s = self.machine.s
        return XdpContext.adopt_frame(
            self.env, self.frame, self.ctx_region,
            int(s[Slot.CTX_DATA_META]), int(s[Slot.CTX_DATA]), int(s[Slot.CTX_DATA_END]),
        )

    def _finish(self) -> None:
        self.finish_packet_run()


def _xdp_trampoline(state: XdpRunState) -> tuple[Any, int]:
    """The native set-up (pybpf.vm.jit.setup_ir) of _run_python for one program and its frame: zero
    the frame around the packet, copy it in, write the slots, run, and leave the instruction count
    and the packet's bounds (offsets into the frame) in `state.out`."""
    from pybpf.vm.jit.setup_ir import SetupBuilder, const  # LLVM only for a program run often

    setup = SetupBuilder(state.machine, f"xdprun_{state.hard_start:x}", state.budget)
    b = setup.b
    frame = state.hard_start
    start = const(state.data)
    end = b.add(start, setup.size)
    setup.zero(const(frame), const(_HEAD))
    setup.copy_in(start)
    setup.zero(end, b.sub(const(ctypes.sizeof(state.frame) - _HEAD), setup.size))
    slots: dict[int, Any] = {
        Slot.PKT_DATA: start, Slot.PKT_LEN: setup.size, Slot.TAILCALL: const(0),
        Slot.CTX_START: const(state.ctx_address), Slot.CTX_LEN: const(_XDP_MD_SIZE),
        Slot.CTX_DATA: start, Slot.CTX_DATA_END: end, Slot.CTX_DATA_META: start,
        Slot.XDP_HARD_START: const(frame),
    }
    r0 = setup.call_program(slots, start, end, REGION_WRITABLE, state.ctx_address)
    bounds = [b.sub(setup.slot(slot), const(frame)) for slot in (Slot.CTX_DATA_META, Slot.CTX_DATA, Slot.CTX_DATA_END)]
    return setup.finish(r0, state.out, bounds)
