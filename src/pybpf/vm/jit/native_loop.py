"""bpf_loop as a native loop: the callback is called from JIT code, not once per iteration from Python.

The Python helper calls the callback through ctypes (microseconds per iteration: bpf_loop(8M) took
32 s); here the loop, its early exit and its checks are IR around a direct call of the callback's
function, with the budget, call depth and fault handling of a bpf-to-bpf call. A callback pointer
that is not one of the program's functions, or a call too deep, falls back to the Python helper,
so results and faults stay the interpreter's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from pybpf.isa.instruction import func_pointer_target, iter_slots
from pybpf.isa.opcodes import LDDW, MAX_CALL_FRAMES, PseudoSrc
from pybpf.vm.jit.ircalls import RET_BUDGET, store_slot
from pybpf.vm.jit.irops import I64, c64, phi_at
from pybpf.vm.jit.layout import Slot

if TYPE_CHECKING:
    from pybpf.vm.jit.irgen import FunctionTranslator

LOOP = 181
BPF_MAX_LOOPS = 1 << 23
EINVAL, E2BIG = 22, 7


def _callbacks(t: FunctionTranslator) -> dict[int, ir.Function]:
    """The program's functions whose address is taken (`lddw rX, func`): bpf_loop's possible callbacks."""
    taken = {func_pointer_target(pc, i) for pc, i in iter_slots(t.mt.insns) if i.opcode == LDDW and i.src == PseudoSrc.FUNC}
    return {pc: fn for pc, fn in t.mt.functions.items() if pc in taken}


def native_loop(t: FunctionTranslator, b: ir.IRBuilder, pc: int, args: list[ir.Value]) -> ir.Value:
    """r0 = bpf_loop(nr_loops, callback, ctx, flags) with the callback called natively."""
    fn = t.fn
    nr = b.and_(args[0], c64(0xFFFFFFFF))
    callback, ctx, flags = args[1], args[2], args[3]
    join = fn.append_basic_block(f"loop{pc}_join")
    fallback = fn.append_basic_block(f"loop{pc}_python")
    incoming: list[tuple[ir.Value, ir.Block]] = []

    def finish_if(cond: ir.Value, value: int, name: str) -> None:
        out = fn.append_basic_block(f"loop{pc}_{name}")
        go_on = fn.append_basic_block()
        b.cbranch(cond, out, go_on)
        incoming.append((c64(value), out))
        ir.IRBuilder(out).branch(join)
        b.position_at_end(go_on)

    finish_if(b.icmp_unsigned("!=", flags, c64(0)), -EINVAL & (2**64 - 1), "einval")
    finish_if(b.icmp_unsigned(">", nr, c64(BPF_MAX_LOOPS)), -E2BIG & 0xFFFFFFFF, "e2big")  # the kernel's 32-bit move
    deep = fn.append_basic_block()
    b.cbranch(b.icmp_unsigned(">=", t.depth, c64(MAX_CALL_FRAMES - 1)), fallback, deep)
    b.position_at_end(deep)
    callbacks = _callbacks(t)
    for fpc, callee in callbacks.items():
        hit = fn.append_basic_block(f"loop{pc}_cb{fpc}")
        miss = fn.append_basic_block()
        b.cbranch(b.icmp_unsigned("==", callback, b.ptrtoint(callee, I64)), hit, miss)
        hb = ir.IRBuilder(hit)
        result, block = _iterate(t, hb, pc, callee, nr, ctx)
        incoming.append((result, block))
        hb.branch(join)
        b.position_at_end(miss)
    b.branch(fallback)
    fb = ir.IRBuilder(fallback)
    incoming.append((t.call_trampoline(fb, pc, c64(LOOP)), fb.block))
    fb.branch(join)
    return phi_at(b, join, incoming)


def _iterate(
    t: FunctionTranslator, b: ir.IRBuilder, pc: int, callee: ir.Function, nr: ir.Value, ctx: ir.Value
) -> tuple[ir.Value, ir.Block]:
    """for i in range(nr): if callee(i, ctx): return i + 1 — returns (r0, the block that ends with it)."""
    fn = t.fn
    start = b.block
    head = fn.append_basic_block(f"loop{pc}_head")
    body = fn.append_basic_block(f"loop{pc}_body")
    done = fn.append_basic_block(f"loop{pc}_done")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(c64(0), start)
    more = b.icmp_unsigned("<", i, nr)
    b.cbranch(more, body, done)
    b.position_at_end(body)
    t.save_budget(b)
    fp = b.add(t.fp, c64(t.opt.frame_stride))
    depth = b.add(t.depth, c64(1))
    regs = [c64(0), i, ctx] + [c64(0)] * 7
    out = b.call(callee, [t.jctx, fp, depth, *regs])
    t.check_fault_after_call(b)
    t.reload_budget(b, b.extract_value(out, RET_BUDGET))
    store_slot(b, t.jctx, Slot.HELPER_PC, c64(pc))
    nxt = b.add(i, c64(1))
    stop = b.icmp_unsigned("!=", b.extract_value(out, 0), c64(0))
    stopped = fn.append_basic_block(f"loop{pc}_stop")
    b.cbranch(stop, stopped, head)
    i.add_incoming(nxt, b.block)
    sb = ir.IRBuilder(stopped)
    sb.branch(done)
    b.position_at_end(done)
    r0 = b.phi(I64)
    r0.add_incoming(nr, head)
    r0.add_incoming(nxt, stopped)
    t.reload_region_cache(b)
    return r0, b.block
