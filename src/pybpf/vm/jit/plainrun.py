"""Reusable run state for `JitProgram.run()` on programs with a plain context (r1 = data, r2 = its length).

The one-off path builds a `Context` per call (its packet region in the memory model, the JitContext
slots bound to it) and tears it down after: over ten µs for a program that runs in nanoseconds. A
`PlainRunState` writes the few slots and the one region-table entry a run needs and calls the
program. A program that cannot write memory (pybpf.vm.loadcheck.may_write_memory) reads the bytes
object itself; one that can gets a copy in a buffer reused across runs (large inputs take the one-off
path, which copies once, straight into the output). As in pybpf.vm.jit.fastrun, the Python side of a
run (`Context`, its region, `env.context`) is built lazily, by `materialize()`, when a callback (a
helper, the slow-path bounds check, a fault) needs it, so it is what the one-off path builds.
"""

from __future__ import annotations

import ctypes
import struct
import time
from typing import TYPE_CHECKING, Any

from pybpf.abi import ProgramType
from pybpf.collection import RunResult, new_result
from pybpf.vm.contexts import OUTPUT_IN_PLACE_MIN, Context, DataScratch
from pybpf.vm.jit.fastrun import LazyRun
from pybpf.vm.jit.layout import REGION_WRITABLE, Slot
from pybpf.vm.memory import Region

if TYPE_CHECKING:
    from pybpf.vm.jit.runner import NativeMachine

_now = time.perf_counter_ns
assert Slot.FAULT - Slot.NREGIONS == 2 and Slot.TAILCALL - Slot.PKT_DATA == 2
assert Slot.CTX_LEN - Slot.CTX_START == 1 and Slot.NREGIONS_INIT - Slot.BUDGET_INIT == 1
_FAULT, _PRANDOM_NATIVE, _HARD_START = int(Slot.FAULT), int(Slot.PRANDOM_NATIVE), int(Slot.XDP_HARD_START)
_Q3, _Q2 = struct.Struct("<3Q"), struct.Struct("<2Q")
_RUN_OFFSET = 8 * Slot.NREGIONS  # NREGIONS, BUDGET, FAULT
_PKT_OFFSET = 8 * Slot.PKT_DATA  # PKT_DATA, PKT_LEN, TAILCALL
_CTX_OFFSET = 8 * Slot.CTX_START  # CTX_START, CTX_LEN: no converted context
_INIT_OFFSET = 8 * Slot.BUDGET_INIT  # BUDGET_INIT, NREGIONS_INIT
_BUDGET = struct.Struct("<q")
_BUDGET_OFFSET = 8 * Slot.BUDGET


class PlainRunState(LazyRun):
    """One JIT program's runs on plain data, reused by every ordinary `run()`."""

    def __init__(self, machine: NativeMachine, budget: int, program_type: int, writes: bool) -> None:
        self.machine = machine
        self.env = machine.env
        self.lock = self.env.run_lock
        self.budget = budget
        self.program_type = int(program_type)
        self.mask = (1 << 64) - 1 if program_type == ProgramType.UNSPEC else 0xFFFFFFFF
        self.writes = writes
        self.scratch = DataScratch()
        self.slot_view = memoryview(machine.s).cast("B")
        self.jctx = ctypes.c_void_p(machine.jctx_address)
        self.data: bytes = b""  # the input of the run (in place: the bytes object whose address is `address`)
        self.address = self.size = 0

    def run(self, data: bytes) -> RunResult | None:
        """One run on `data` (bytes; repeat=1, no ctx_in), or None when it takes the one-off path: no
        input, a large input the program may write, or another run of the collection under way in
        this thread (a helper running a program, an open `bind()`)."""
        size = len(data)
        if not size or (self.writes and size >= OUTPUT_IN_PLACE_MIN):
            return None
        lock = self.lock
        lock.acquire()
        try:
            machine = self.machine
            if machine.lazy is not None or machine.context is not None or self.env.context is not None:
                return None
            return self._run(machine, data, size)
        finally:
            lock.release()

    def _run(self, machine: NativeMachine, data: bytes, size: int) -> RunResult:
        if self.writes:
            scratch = self.scratch
            if size > len(scratch.view):
                scratch.region(data)  # grows the buffer
            scratch.view[:size] = data
            address, flags = scratch.base, REGION_WRITABLE
        else:
            if data is not self.data:  # the same bytes object again: its address is known
                self.data = data
                self.address = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0
            address, flags = self.address, 0
        self.data, self.address, self.size = data, address, size
        slots, persistent, budget = self.slot_view, machine.persistent, self.budget
        _Q3.pack_into(slots, _RUN_OFFSET, persistent, budget, 0)
        _Q3.pack_into(slots, _PKT_OFFSET, address, size, 0)
        _Q2.pack_into(slots, _CTX_OFFSET, 0, 0)
        _Q2.pack_into(slots, _INIT_OFFSET, budget, persistent)
        s = machine.s
        s[_PRANDOM_NATIVE] = getattr(self.env, "prandom_seed", None) is None
        s[_HARD_START] = 0
        e = machine.entries
        e[0], e[1], e[2] = address, address + size, flags
        machine.pending = None
        machine.tail_target = None
        self.busy = True
        machine.lazy = self
        try:
            begin = _now()
            retval = machine._entry(self.jctx, address, size)
            elapsed = _now() - begin
            if s[_FAULT]:
                self.materialize()
                retval = machine._finish_fault()
            left = _BUDGET.unpack_from(slots, _BUDGET_OFFSET)[0]
            instructions = machine.instructions = budget - max(left, 0)
            if self.context is not None:
                data_out = self.context.data_out()
            else:
                data_out = self.scratch.view[:size].tobytes() if self.writes else data
            return new_result((retval & self.mask, data_out, None, elapsed, instructions))
        finally:
            self._finish()

    def _context(self) -> Any:
        if self.writes:
            scratch = self.scratch
            region = Region.within(scratch.view, scratch.base, scratch.base, self.size, name="packet",
                                   owner=scratch.buffer)
            return Context.adopt_packet(self.env, region, None)
        region = Region.within(memoryview(self.data), self.address, self.address, self.size, name="packet",
                               writable=False, owner=self.data)
        return Context.adopt_packet(self.env, region, self.data)

    def _finish(self) -> None:
        e = self.machine.entries
        e[0] = e[1] = e[2] = 0
        LazyRun._finish(self)
