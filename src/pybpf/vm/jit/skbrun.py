"""Reusable run state for `JitProgram.run()` on skb programs (tc, socket filter, cgroup skb, lwt).

The one-off path builds a `SkbContext` per call: a frame, a `__sk_buff` region, the packet region,
memory-model entries and the JitContext slots, then tears them down: tens of µs for a program that
runs in nanoseconds. An `SkbRunState` keeps one frame and one `__sk_buff` per program and reuses
them: a run copies the packet in, writes the fields BPF_PROG_TEST_RUN derives from it and the few
slots that depend on it, calls the program and reads the packet and fields back. Once the program
is hot (HOT_RUNS) that set-up is native code (`_skb_setup`), called from `LazyRun.locked`, and the
Python left per run is `_native_result`: the packet copied out and ctx_out (`SkbFrames.outputs`,
the last run's when the fields did not change).

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
from pybpf.vm.contexts import ETH_HLEN, LOOPBACK_IFINDEX
from pybpf.vm.jit.fastrun import LazyRun
from pybpf.vm.jit.layout import REGION_WRITABLE, Slot
from pybpf.vm.skb_context import SK_BUFF_FIELDS, SK_BUFF_SIZE, SkbFrames, skb_fits

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
        self.out = (ctypes.c_uint64 * 1)()  # what the native set-up leaves: instructions executed

    def run(self, data: bytes) -> RunResult | None:
        """One run on `data` (bytes; repeat=1, no ctx_in), or None when it cannot take this path:
        a packet the test run refuses (the one-off path says why), or another run of the
        collection under way in this thread (a helper running a program, an open `bind()`)."""
        if not skb_fits(data):
            return None
        return self.locked(data)

    def _run(self, data: bytes) -> RunResult:
        self.count_run(_skb_setup)
        frames = self.frames
        frames.load(data)
        slots = self.arm(frames.data, frames.data_end, self.writable, self.ctx_address, SK_BUFF_SIZE)
        try:
            retval, elapsed = self.enter(*self.args)
            instructions = self.spent(slots)
            frame_out, ctx_out = frames.outputs()
            return new_result((retval & 0xFFFFFFFF, frame_out, ctx_out, elapsed, instructions))
        finally:
            self.finish_packet_run()

    def _native_result(self, data: bytes, retval: int, elapsed: int) -> RunResult:
        frames = self.frames
        frames.data_end = frames.start + len(data)  # where the native set-up put it
        instructions = self.machine.instructions = self.out[0]
        frame_out, ctx_out = frames.outputs()
        return new_result((retval & 0xFFFFFFFF, frame_out, ctx_out, elapsed, instructions))

    def _context(self) -> Any:
        frames = self.frames
        frames.data_end = int(self.machine.s[Slot.CTX_DATA_END])  # a native set-up's run: where it put the packet
        return frames.adopt(self.env)


def _skb_setup(state: SkbRunState) -> tuple[Any, int]:
    """The native set-up (pybpf.vm.jit.setup_ir) of a Python-path run for one program and its frame:
    copy the packet in, clear `__sk_buff` and write the fields the test run derives from the packet
    (as pybpf.vm.skb_context.fill_fields: len, pkt_type, protocol, ifindex), write the slots, run."""
    from pybpf.vm.jit.setup_ir import (  # LLVM only for a program run often
        I16,
        I64,
        SetupBuilder,
        const,
    )

    frames = state.frames
    setup = SetupBuilder(state.machine, f"skbrun_{frames.start:x}", state.budget)
    b = setup.b
    start = const(frames.start)
    first = const(frames.start if frames.l2 else frames.start + ETH_HLEN)
    end = b.add(start, setup.size)
    setup.copy_in(start)
    ctx = state.ctx_address
    setup.zero(const(ctx), const(SK_BUFF_SIZE))
    mac = b.and_(b.load(b.bitcast(setup.src, I64.as_pointer()), align=1), const((1 << 48) - 1))
    multicast = b.icmp_unsigned("!=", b.and_(mac, const(1)), const(0))
    pkt_type = b.select(multicast,
                        b.select(b.icmp_unsigned("==", mac, const((1 << 48) - 1)), const(1), const(2)),
                        b.select(b.icmp_unsigned("==", mac, const(0)), const(0), const(3)))
    protocol = b.zext(b.load(b.bitcast(b.gep(setup.src, [const(12)]), I16.as_pointer()), align=1), I64)
    for field, value in (("len", b.sub(end, first)), ("pkt_type", pkt_type), ("protocol", protocol),
                         ("ifindex", const(LOOPBACK_IFINDEX))):
        setup.store(ctx, SK_BUFF_FIELDS[field][0], value)
    slots: dict[int, Any] = {
        Slot.PKT_DATA: first, Slot.PKT_LEN: b.sub(end, first), Slot.TAILCALL: const(0),
        Slot.CTX_START: const(ctx), Slot.CTX_LEN: const(SK_BUFF_SIZE),
        Slot.CTX_DATA: first, Slot.CTX_DATA_END: end, Slot.CTX_DATA_META: first, Slot.XDP_HARD_START: const(0),
    }
    r0 = setup.call_program(slots, first, end, state.writable, ctx)
    return setup.finish(r0, state.out, [])
