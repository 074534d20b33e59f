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
from typing import TYPE_CHECKING, Any

from pybpf.abi import ProgramType
from pybpf.collection import RunResult, new_result
from pybpf.vm.jit.fastrun import LazyRun
from pybpf.vm.jit.layout import REGION_WRITABLE
from pybpf.vm.skb_context import SK_BUFF_SIZE, SkbFrames, skb_refusal

if TYPE_CHECKING:
    from pybpf.vm.jit.runner import NativeMachine


class SkbRunState(LazyRun):
    """One JIT skb program's frame and `__sk_buff`, reused by every ordinary `run()`."""

    def __init__(self, machine: NativeMachine, budget: int, program_type: int) -> None:
        super().__init__(machine, budget, program_type)
        self.frames = SkbFrames(program_type)
        self.writable = 0 if program_type == ProgramType.SOCKET_FILTER else REGION_WRITABLE
        self.ctx_address = self.frames.ctx_region.address
        self.args = (ctypes.c_void_p(machine.jctx_address), ctypes.c_uint64(self.ctx_address),
                     ctypes.c_uint64(0))

    def run(self, data: bytes) -> RunResult | None:
        """One run on `data` (bytes; repeat=1, no ctx_in), or None when it cannot take this path:
        a packet the test run refuses (the one-off path says why), or another run of the
        collection under way in this thread (a helper running a program, an open `bind()`)."""
        if skb_refusal(data):
            return None
        return self.locked(data)

    def _run(self, data: bytes) -> RunResult:
        frames = self.frames
        frames.load(data)
        first, end = frames.data, frames.data_end
        slots = self.arm(first, end, self.writable, self.ctx_address, SK_BUFF_SIZE)
        try:
            retval, elapsed = self.enter(*self.args)
            instructions = self.spent(slots)
            context = self.context
            if context is None:
                frame_out, ctx_out = frames.outputs()
            else:
                frame_out, ctx_out = context.data_out(), context.ctx_out()
            return new_result((retval & 0xFFFFFFFF, frame_out, ctx_out, elapsed, instructions))
        finally:
            self.finish_packet_run()

    def _context(self) -> Any:
        return self.frames.adopt(self.env)
