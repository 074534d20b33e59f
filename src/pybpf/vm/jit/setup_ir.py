"""Native run set-ups: what a reused run state (pybpf.vm.jit.fastrun, skbrun) does around a run, as one function.

A program run often gets its set-up compiled: `u64 run(i8* data, i32 size, i32 prandom_native,
i32 nregions_init)` copies the input into the state's frame, writes the context and the JitContext
slots, makes the input region-table entry 0 for the run only, calls the program's `bpf_run`, and
leaves the instructions executed (and whatever else the state reads back) in a small array. It
returns r0 as a u32, or FAULTED when the run faulted (the caller then reports the fault the way the
Python set-up does). Its arguments are C ints, so ctypes passes Python ints without argument types.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

from llvmlite import binding as llvm
from llvmlite import ir

from pybpf.vm.jit.layout import Slot

if TYPE_CHECKING:
    from pybpf.vm.jit.runner import NativeMachine

FAULTED = 1 << 32
I1, I8, I16, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
I8P, I64P = I8.as_pointer(), I64.as_pointer()


def const(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


class SetupBuilder:
    """One native set-up under construction: its arguments as i64 (`src` is the input pointer)."""

    def __init__(self, machine: NativeMachine, name: str, budget: int) -> None:
        self.machine = machine
        self.budget = budget
        self.module = ir.Module(name=name)
        self.module.triple = llvm.get_process_triple()
        fn = ir.Function(self.module, ir.FunctionType(I64, [I8P, I32, I32, I32]), "bpf_setup_run")
        self.src, size32, prandom32, nregions32 = fn.args
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.size, self.prandom, self.nregions = (self.b.zext(v, I64) for v in (size32, prandom32, nregions32))
        self.memcpy = self.module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
        self.memset = self.module.declare_intrinsic("llvm.memset", [I8P, I64])
        self.jctx = self.b.inttoptr(const(machine.jctx_address), I64P)

    def copy_in(self, to: ir.Value) -> None:
        """The input's `size` bytes to address `to`."""
        self.b.call(self.memcpy, [self.b.inttoptr(to, I8P), self.src, self.size, ir.Constant(I1, 0)])

    def zero(self, at: ir.Value, length: ir.Value) -> None:
        self.b.call(self.memset, [self.b.inttoptr(at, I8P), ir.Constant(I8, 0), length, ir.Constant(I1, 0)])

    def store(self, address: int, offset: int, value: ir.Value, width: ir.IntType = I32) -> None:
        """`value` as a `width` integer at `address + offset` (a context field)."""
        b = self.b
        b.store(b.trunc(value, width) if width != I64 else value,
                b.inttoptr(const(address + offset), width.as_pointer()))

    def call_program(self, slots: dict[int, ir.Value], first: ir.Value, end: ir.Value, flags: int,
                     r1: int) -> ir.Value:
        """Write `slots` (with the budget's and region count's reset values and the prandom choice), make
        [first, end) region-table entry 0 for the run only, call bpf_run with r1; returns r0."""
        b, machine = self.b, self.machine
        slots = {**slots, Slot.BUDGET_INIT: const(self.budget), Slot.NREGIONS_INIT: self.nregions,
                 Slot.PRANDOM_NATIVE: self.prandom}
        for slot, value in slots.items():
            b.store(value, b.gep(self.jctx, [const(slot)]))
        table = b.inttoptr(const(ctypes.addressof(machine.table)), I64P)
        for index, value in enumerate((first, end, const(flags))):
            b.store(value, b.gep(table, [const(index)]))
        run = machine.code.drivers.get("bpf_run", machine.code.entry)
        target = b.inttoptr(const(run), ir.FunctionType(I64, [I64P, I64, I64]).as_pointer())
        r0 = b.call(target, [self.jctx, const(r1), const(0)])
        for index in range(3):  # the input is reachable during the run only
            b.store(const(0), b.gep(table, [const(index)]))
        return r0

    def slot(self, slot: int) -> ir.Value:
        return self.b.load(self.b.gep(self.jctx, [const(slot)]))

    def finish(self, r0: ir.Value, out: Any, results: list[ir.Value]) -> tuple[Any, int]:
        """Leave the instructions executed, then `results`, in the u64 array `out`; return r0 as a u32 or
        FAULTED; compile. Returns (the engine, which must be kept alive, and the function's address)."""
        from pybpf.vm.jit.compiler import new_target_machine

        b = self.b
        left = self.slot(Slot.BUDGET)
        spent = b.sub(const(self.budget), b.select(b.icmp_signed(">", left, const(0)), left, const(0)))
        array = b.inttoptr(const(ctypes.addressof(out)), I64P)
        for index, value in enumerate([spent, *results]):
            b.store(value, b.gep(array, [const(index)]))
        faulted = b.icmp_unsigned("!=", self.slot(Slot.FAULT), const(0))
        b.ret(b.select(faulted, const(FAULTED), b.and_(r0, const(0xFFFFFFFF))))
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(str(self.module)), new_target_machine())
        engine.finalize_object()
        return engine, engine.get_function_address("bpf_setup_run")


class SetupCall(ctypes._CFuncPtr):  # type: ignore[name-defined]
    """A native set-up's function pointer, with no argument types: ctypes passes bytes as a char pointer
    and ints as C ints directly (a third of the call's cost)."""

    _flags_ = ctypes._FUNCFLAG_CDECL  # type: ignore[attr-defined]
    _restype_ = ctypes.c_uint64
