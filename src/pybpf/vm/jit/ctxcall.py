"""Calls of a JIT program on a plain context (hook points): copy in, one native call, verdict out.

A hook point fires its programs with an application's context struct, many times, from any
thread. `CtxCall` gives one program a zeroed context buffer of its own and a small native
function, compiled once for it, that does the whole run set-up: copy the caller's bytes in, zero
the rest, write the JitContext slots for a run with no packet and the buffer as a region-table
entry (so reading the context never asks Python), run `bpf_run` and fold a fault into the return
value. From Python a run is then the run lock, one ctypes call and a compare.

The Python side of the run (a `Context` over the buffer in the memory model) is built only when a
helper implemented in Python, the slow-path region resolver or a fault needs it
(pybpf.vm.jit.fastrun), as for `Program.run()`.
"""

from __future__ import annotations

import ctypes
from typing import Any

from llvmlite import binding as llvm
from llvmlite import ir

from pybpf.abi import ProgramType
from pybpf.vm.contexts import Context
from pybpf.vm.jit.fastrun import LazyRun
from pybpf.vm.jit.layout import REGION_WRITABLE, Slot
from pybpf.vm.jit.setup_ir import FAULTED  # what the native function returns for a run that faulted
from pybpf.vm.memory import Region


def _trampoline(machine: Any, ctx: int, size: int, length: int, budget: int,
                pinned: int) -> tuple[llvm.ExecutionEngine, int]:
    """i64 call(i8* src): the run set-up and bpf_run for one program and one context buffer."""
    from pybpf.vm.jit.compiler import new_target_machine

    i8, i64 = ir.IntType(8), ir.IntType(64)
    i8p, i64p = i8.as_pointer(), i64.as_pointer()
    module = ir.Module(name=f"ctxcall_{ctx:x}")
    module.triple = llvm.get_process_triple()
    fn = ir.Function(module, ir.FunctionType(i64, [i8p]), "bpf_ctx_call")
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def const(value: int) -> ir.Constant:
        return ir.Constant(i64, value)

    memcpy = module.declare_intrinsic("llvm.memcpy", [i8p, i8p, i64])
    memset = module.declare_intrinsic("llvm.memset", [i8p, i64])
    dest = b.inttoptr(const(ctx), i8p)
    b.call(memcpy, [dest, fn.args[0], const(length), ir.Constant(ir.IntType(1), 0)])
    if length < size:
        tail = b.inttoptr(const(ctx + length), i8p)
        b.call(memset, [tail, ir.Constant(i8, 0), const(size - length), ir.Constant(ir.IntType(1), 0)])
    jctx = b.inttoptr(const(machine.jctx_address), i64p)
    slots = {
        Slot.PKT_DATA: 0, Slot.PKT_LEN: 0, Slot.TAILCALL: 0, Slot.CTX_START: 0, Slot.CTX_LEN: 0,
        Slot.CTX_DATA: 0, Slot.CTX_DATA_END: 0, Slot.CTX_DATA_META: 0, Slot.BUDGET_INIT: budget,
        Slot.NREGIONS_INIT: pinned + 1,
    }
    for slot, value in slots.items():
        b.store(const(value), b.gep(jctx, [const(slot)]))
    table = b.inttoptr(const(ctypes.addressof(machine.table)), i64p)
    entries = {0: 0, 1: 0, 2: 0, 3 * pinned: ctx, 3 * pinned + 1: ctx + size,
               3 * pinned + 2: REGION_WRITABLE}
    for index, value in entries.items():
        b.store(const(value), b.gep(table, [const(index)]))
    run = machine.code.drivers.get("bpf_run", machine.code.entry)
    target = b.inttoptr(const(run), ir.FunctionType(i64, [i64p, i64, i64]).as_pointer())
    r0 = b.call(target, [jctx, const(ctx), const(size)])
    fault = b.load(b.gep(jctx, [const(Slot.FAULT)]))
    faulted = b.icmp_unsigned("!=", fault, const(0))
    b.ret(b.select(faulted, const(FAULTED), b.and_(r0, const(0xFFFFFFFF))))
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(str(module)), new_target_machine())
    engine.finalize_object()
    return engine, engine.get_function_address("bpf_ctx_call")


class CtxCall(LazyRun):
    """A typed JIT program called on a plain `size`-byte context with `length` bytes copied in.

    `call(address)` runs the program on a copy of [address, address+length) (the rest of the
    context reads as zero) and returns r0 as a u32, or raises the run's fault. Each run holds the
    collection's run lock for its duration only, so any thread may call. A run while another run
    of the collection is under way in this thread goes through `Program.run(ctx=...)`.
    """

    def __init__(self, program: Any, size: int, length: int) -> None:
        machine = self.machine = program.machine
        if program.spec.type == ProgramType.UNSPEC:
            raise ValueError("a context call needs a typed program")
        if not 0 < length <= size:
            raise ValueError(f"cannot copy {length} bytes into a {size}-byte context")
        self.program = program
        self.env = machine.env
        self.lock = self.env.run_lock
        self.budget = program.budget
        self.program_type = int(program.spec.type)
        self.size = size
        self.length = length
        self.region = Region.allocate(size, name="ctx")
        pinned = machine.persistent
        self._engine, address = _trampoline(machine, self.region.address, size, length,
                                            self.budget, pinned)
        self.fn = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)(address)
        self.slots = machine.s

    def call(self, address: int) -> int:
        """r0 of one run on a copy of `length` bytes at `address`."""
        lock = self.lock
        lock.acquire()
        try:
            machine = self.machine
            if self.busy or machine.context is not None or machine.lazy is not None \
                    or self.env.context is not None:
                data = ctypes.string_at(address, self.length).ljust(self.size, b"\0")
                return int(self.program.run(ctx=data).retval)
            self.slots[Slot.PRANDOM_NATIVE] = getattr(self.env, "prandom_seed", None) is None
            machine.pending = None
            machine.tail_target = None
            self.busy = True
            machine.lazy = self
            try:
                retval: int = self.fn(address)
                if retval == FAULTED:
                    self.materialize()
                    retval = machine._finish_fault() & 0xFFFFFFFF
                return retval
            finally:
                if self.context is None:
                    machine.lazy = None
                    self.busy = False
                else:
                    self._finish()
        finally:
            lock.release()

    def _context(self) -> Any:
        return Context.adopt(self.env, self.region)
