"""Reusable run state for `JitProgram.run()` on skb programs (tc, socket filter, cgroup skb, lwt).

The one-off path builds a `SkbContext` per call: a frame, a `__sk_buff` region, the packet region,
memory-model entries and the JitContext slots, then tears them down: tens of µs for a program that
runs in nanoseconds. An `SkbRunState` keeps one frame and one `__sk_buff` per program and reuses
them: a run copies the packet in, writes the fields BPF_PROG_TEST_RUN derives from it and the few
slots that depend on it, calls the program and reads the packet and fields back.

As for XDP (pybpf.vm.jit.fastrun), the Python side of the run (the `SkbContext`, its regions in
the memory model, `env.context`) is built lazily, by `materialize()`, the first time a Python
callback happens in the run (a helper, a context store, a fault), so it is exactly the state the
one-off path builds. A run takes this path when it is an ordinary one: repeat=1, no `ctx_in`, a
packet BPF_PROG_TEST_RUN accepts, and no other run of the collection under way in this thread.
"""

from __future__ import annotations

import ctypes
import struct
import time
from typing import TYPE_CHECKING, Any

from pybpf.abi import ProgramType
from pybpf.collection import RunResult, new_result
from pybpf.vm.jit.fastrun import LazyRun
from pybpf.vm.jit.layout import REGION_WRITABLE, Slot
from pybpf.vm.skb_context import SK_BUFF_SIZE, SkbFrames, skb_refusal

if TYPE_CHECKING:
    from pybpf.vm.jit.runner import NativeMachine

_now = time.perf_counter_ns
assert Slot.FAULT - Slot.NREGIONS == 2 and Slot.TAILCALL - Slot.PKT_DATA == 2
assert Slot.NREGIONS_INIT - Slot.CTX_START == 7
_FAULT, _PRANDOM_NATIVE, _HARD_START = int(Slot.FAULT), int(Slot.PRANDOM_NATIVE), int(Slot.XDP_HARD_START)
_SLOTS_RUN = struct.Struct("<3Q")  # NREGIONS, BUDGET, FAULT
_RUN_OFFSET = 8 * Slot.NREGIONS
_SLOTS_PKT = struct.Struct("<3Q")  # PKT_DATA, PKT_LEN, TAILCALL
_PKT_OFFSET = 8 * Slot.PKT_DATA
_SLOTS_CTX = struct.Struct("<8Q")  # CTX_START .. NREGIONS_INIT
_CTX_OFFSET = 8 * Slot.CTX_START
_BUDGET = struct.Struct("<q")
_BUDGET_OFFSET = 8 * Slot.BUDGET


class SkbRunState(LazyRun):
    """One JIT skb program's frame and `__sk_buff`, reused by every ordinary `run()`."""

    def __init__(self, machine: NativeMachine, budget: int, program_type: int) -> None:
        self.machine = machine
        self.env = machine.env
        self.lock = self.env.run_lock
        self.budget = budget
        self.program_type = int(program_type)
        self.frames = SkbFrames(program_type)
        self.writable = 0 if program_type == ProgramType.SOCKET_FILTER else REGION_WRITABLE
        self.slot_view = memoryview(machine.s).cast("B")
        self.ctx_cb = int(machine.s[Slot.CTX_CB])
        self.ctx_address = self.frames.ctx_region.address
        self.args = (ctypes.c_void_p(machine.jctx_address), ctypes.c_uint64(self.ctx_address),
                     ctypes.c_uint64(0))

    def run(self, data: bytes) -> RunResult | None:
        """One run on `data` (bytes; repeat=1, no ctx_in), or None when it cannot take this path:
        a packet the test run refuses (the one-off path says why), or another run of the
        collection under way in this thread (a helper running a program, an open `bind()`)."""
        if skb_refusal(data):
            return None
        lock = self.lock
        lock.acquire()
        try:
            machine = self.machine
            if machine.lazy is not None or machine.context is not None or self.env.context is not None:
                return None
            return self._run(machine, data)
        finally:
            lock.release()

    def _run(self, machine: NativeMachine, data: bytes) -> RunResult:
        frames = self.frames
        frames.load(data)
        first, end = frames.data, frames.data_end
        slots, persistent, budget = self.slot_view, machine.persistent, self.budget
        _SLOTS_RUN.pack_into(slots, _RUN_OFFSET, persistent, budget, 0)
        _SLOTS_PKT.pack_into(slots, _PKT_OFFSET, first, end - first, 0)
        _SLOTS_CTX.pack_into(slots, _CTX_OFFSET, self.ctx_address, SK_BUFF_SIZE, first, end, first,
                             self.ctx_cb, budget, persistent)
        s = machine.s
        s[_PRANDOM_NATIVE] = getattr(self.env, "prandom_seed", None) is None
        s[_HARD_START] = 0
        e = machine.entries
        e[0], e[1], e[2] = first, end, self.writable
        machine.pending = None
        machine.tail_target = None
        self.busy = True
        machine.lazy = self
        try:
            begin = _now()
            retval = machine._entry(*self.args)
            elapsed = _now() - begin
            if s[_FAULT]:
                self.materialize()
                retval = machine._finish_fault()
            left = _BUDGET.unpack_from(slots, _BUDGET_OFFSET)[0]
            instructions = machine.instructions = budget - max(left, 0)
            context = self.context
            if context is None:
                frame_out, ctx_out = frames.outputs()
            else:
                frame_out, ctx_out = context.data_out(), context.ctx_out()
            return new_result((retval & 0xFFFFFFFF, frame_out, ctx_out, elapsed, instructions))
        finally:
            self._finish()

    def _context(self) -> Any:
        return self.frames.adopt(self.env)

    def _finish(self) -> None:
        e = self.machine.entries
        e[0] = e[1] = e[2] = 0
        LazyRun._finish(self)
