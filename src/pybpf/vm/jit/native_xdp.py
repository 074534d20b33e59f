"""bpf_xdp_adjust_head as native code: the packet pointers move in the JitContext, not in Python.

The XDP load balancer calls it once per packet; through Python it cost a callback, and every
region the run had resolved was dropped after it (a Python helper may free memory), so the map
values were resolved through Python again. Here the helper is IR over the slots the runner keeps
(`CTX_DATA_META`, `CTX_DATA`, `CTX_DATA_END`, `XDP_HARD_START`), with the kernel's (and
pybpf.vm.packet_helpers') rules: data may move between the end of the reserved `xdp_frame` plus
the metadata and ETH_HLEN bytes before data_end; the metadata moves with it. The packet's region
table entry and the region cache follow. Without a frame (XDP_HARD_START 0: a tail-called
program, a program type other than XDP) it calls the Python helper. The runner copies the moved
pointers back into the Python context before any callback and when the run ends.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from llvmlite import ir

from pybpf.vm.contexts import ETH_HLEN, XDP_FRAME_RESERVED
from pybpf.vm.jit.irops import I1, I8, I64, c64
from pybpf.vm.jit.layout import REGION_WRITABLE, Slot

if TYPE_CHECKING:
    from pybpf.vm.jit.irgen import FunctionTranslator

XDP_ADJUST_HEAD = 44
I8P = I8.as_pointer()
I64P = I64.as_pointer()


def _slot(b: ir.IRBuilder, jctx: ir.Value, slot: int) -> ir.Value:
    return b.gep(jctx, [c64(slot)])


def xdp_adjust_head(t: FunctionTranslator, b: ir.IRBuilder, pc: int, args: list[ir.Value]) -> ir.Value:
    """r0 = bpf_xdp_adjust_head(ctx, delta): 0, or -EINVAL when data would leave the frame."""
    if t.opt.ctx_kind != "xdp":
        return t.call_trampoline(b, pc, c64(XDP_ADJUST_HEAD))
    fn = t.fn
    jctx = t.jctx
    hard_start = b.load(_slot(b, jctx, Slot.XDP_HARD_START))
    native = fn.append_basic_block(f"adjust{pc}_native")
    python = fn.append_basic_block(f"adjust{pc}_python")
    join = fn.append_basic_block(f"adjust{pc}_done")
    b.cbranch(b.icmp_unsigned("!=", hard_start, c64(0)), native, python)
    incoming: list[tuple[ir.Value, ir.Block]] = []

    b.position_at_end(native)
    meta = b.load(_slot(b, jctx, Slot.CTX_DATA_META))
    data = b.load(_slot(b, jctx, Slot.CTX_DATA))
    end = b.load(_slot(b, jctx, Slot.CTX_DATA_END))
    delta = b.sext(b.trunc(args[1], ir.IntType(32)), I64)
    metalen = b.sub(data, meta)
    lowest = b.add(b.add(hard_start, c64(XDP_FRAME_RESERVED)), metalen)
    moved = b.add(data, delta)
    bad = b.or_(b.icmp_signed("<", b.sub(moved, lowest), c64(0)),
                b.icmp_signed(">", b.sub(moved, b.sub(end, c64(ETH_HLEN))), c64(0)))
    fail = fn.append_basic_block(f"adjust{pc}_einval")
    move = fn.append_basic_block(f"adjust{pc}_move")
    b.cbranch(bad, fail, move)
    fb = ir.IRBuilder(fail)
    incoming.append((c64(-errno.EINVAL & 0xFFFFFFFFFFFFFFFF), fail))
    fb.branch(join)

    b.position_at_end(move)
    new_meta = b.add(meta, delta)
    memmove = b.module.declare_intrinsic("llvm.memmove", [I8P, I8P, I64])
    b.call(memmove, [b.inttoptr(new_meta, I8P), b.inttoptr(meta, I8P), metalen, ir.Constant(I1, 0)])
    b.store(new_meta, _slot(b, jctx, Slot.CTX_DATA_META))
    b.store(moved, _slot(b, jctx, Slot.CTX_DATA))
    table = b.inttoptr(b.load(_slot(b, jctx, Slot.REGIONS)), I64P)
    b.store(new_meta, b.gep(table, [c64(0)]))  # entry 0: the packet, [data_meta, data_end)
    b.store(end, b.gep(table, [c64(1)]))
    b.store(c64(REGION_WRITABLE), b.gep(table, [c64(2)]))
    t.reload_region_cache(b)
    incoming.append((c64(0), b.block))
    b.branch(join)

    b.position_at_end(python)
    incoming.append((t.call_trampoline(b, pc, c64(XDP_ADJUST_HEAD)), b.block))
    b.branch(join)
    b.position_at_end(join)
    phi = b.phi(I64)
    for value, block in incoming:
        phi.add_incoming(value, block)
    return phi
