"""Native fast paths for hot helpers, emitted as LLVM IR instead of a call back into Python.

A native helper is used only when the collection's helper table maps that id to the standard
implementation in `pybpf.vm.env.REGISTRY` (a test table such as uBPF's keeps its own Python
helpers), so results stay those of the interpreter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from llvmlite import ir

from pybpf.vm.env import REGISTRY, HelperFn
from pybpf.vm.jit.irops import I32, I64, c64
from pybpf.vm.jit.layout import Slot

if TYPE_CHECKING:
    from pybpf.vm.jit.irgen import FunctionTranslator, NativeHelper

KTIME_GET_NS = 5
GET_SMP_PROCESSOR_ID = 8
KTIME_GET_BOOT_NS = 125
CLOCK_MONOTONIC = 1
CLOCK_BOOTTIME = 7


def _clock(clock_id: int) -> NativeHelper:
    def emit(t: FunctionTranslator, b: ir.IRBuilder, pc: int, args: list[ir.Value]) -> ir.Value:
        module = b.module
        ts_type = ir.LiteralStructType([I64, I64])
        fn = module.globals.get("clock_gettime")
        if fn is None:
            fn = ir.Function(
                module, ir.FunctionType(I32, [I32, ts_type.as_pointer()]), "clock_gettime"
            )
        entry = t.fn.entry_basic_block
        with b.goto_block(entry):
            b.position_at_start(entry)
            ts = b.alloca(ts_type)
        b.call(fn, [ir.Constant(I32, clock_id), ts])
        sec = b.load(b.gep(ts, [ir.Constant(I32, 0), ir.Constant(I32, 0)]))
        nsec = b.load(b.gep(ts, [ir.Constant(I32, 0), ir.Constant(I32, 1)]))
        return b.add(b.mul(sec, c64(1_000_000_000)), nsec)

    return emit


def _processor_id(t: FunctionTranslator, b: ir.IRBuilder, pc: int, args: list[ir.Value]) -> ir.Value:
    from pybpf.vm.jit.irgen import load_slot

    return b.and_(load_slot(b, t.jctx, Slot.CPU), c64(0xFFFFFFFF))


_NATIVE: dict[int, NativeHelper] = {
    KTIME_GET_NS: _clock(CLOCK_MONOTONIC),
    KTIME_GET_BOOT_NS: _clock(CLOCK_BOOTTIME),
    GET_SMP_PROCESSOR_ID: _processor_id,
}


def native_helpers_for(helpers: Mapping[int, HelperFn]) -> dict[int, NativeHelper]:
    """The native fast paths usable with helper table `helpers`."""
    out: dict[int, NativeHelper] = {}
    for helper_id, emit in _NATIVE.items():
        fn = helpers.get(helper_id)
        if fn is not None and fn is REGISTRY.get(helper_id):
            out[helper_id] = emit
    return out
