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
from typing import TYPE_CHECKING, Any

from pybpf.abi import ProgramType
from pybpf.collection import RunResult, new_result
from pybpf.vm.contexts import OUTPUT_IN_PLACE_MIN, Context, DataScratch
from pybpf.vm.jit.fastrun import LazyRun
from pybpf.vm.jit.layout import REGION_WRITABLE
from pybpf.vm.memory import Region

if TYPE_CHECKING:
    from pybpf.vm.jit.runner import NativeMachine


class PlainRunState(LazyRun):
    """One JIT program's runs on plain data, reused by every ordinary `run()`."""

    def __init__(self, machine: NativeMachine, budget: int, program_type: int, writes: bool) -> None:
        super().__init__(machine, budget, program_type)
        self.mask = (1 << 64) - 1 if program_type == ProgramType.UNSPEC else 0xFFFFFFFF
        self.writes = writes
        self.scratch = DataScratch()
        self.jctx = ctypes.c_void_p(machine.jctx_address)
        self.data: bytes = b""  # read in place: the last input, whose address is `address`
        self.address = self.size = 0

    def run(self, data: bytes) -> RunResult | None:
        """One run on `data` (bytes; repeat=1, no ctx_in), or None when it takes the one-off path: no
        input, a large input the program may write, or another run of the collection under way in
        this thread (a helper running a program, an open `bind()`)."""
        size = len(data)
        if not size or (self.writes and size >= OUTPUT_IN_PLACE_MIN):
            return None
        return self.locked(data)

    def _run(self, data: bytes) -> RunResult:
        size = len(data)
        if self.writes:
            address, flags = self.scratch.load(data), REGION_WRITABLE
        else:
            if data is not self.data:  # the same bytes object again: its address is known
                self.data = data
                self.address = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0
            address, flags = self.address, 0
        self.size = size
        slots = self.arm(address, address + size, flags)
        try:
            retval, elapsed = self.enter(self.jctx, address, size)
            instructions = self.spent(slots)
            if self.context is not None:
                data_out = self.context.data_out()
            else:
                data_out = self.scratch.view[:size].tobytes() if self.writes else data
            return new_result((retval & self.mask, data_out, None, elapsed, instructions))
        finally:
            self.finish_packet_run()

    def _context(self) -> Any:
        if self.writes:
            return Context.adopt_packet(self.env, self.scratch.packet(self.size), None)
        region = Region.within(memoryview(self.data), self.address, self.address, self.size, name="packet",
                               writable=False, owner=self.data)
        return Context.adopt_packet(self.env, region, self.data)
