"""Out-of-line LLVM functions every function of a module shares: the bounds-check slow path and
the converted context load.

`bpf_mem_slow` scans the JitContext's region table, then asks the Python resolver (which knows
the interpreter's memory model and raises its faults); `bpf_ctx_load<size>` reads a field of
the converted context (xdp_md, __sk_buff) like the kernel converts it, calling Python for the
unusual ones. Both are `noinline`: they are the cold side of every access.
"""

from __future__ import annotations

from llvmlite import ir

from pybpf.vm.jit.ircalls import load_slot, store_slot
from pybpf.vm.jit.irmem import CTX_CB_TYPE
from pybpf.vm.jit.irops import I1, I64, c64, emit_load
from pybpf.vm.jit.layout import (
    CTX_POINTER_FIELDS,
    CTX_SPECIAL_RANGES,
    MAX_REGIONS,
    REGION_WRITABLE,
    Slot,
)

I64P = I64.as_pointer()
RESOLVE_TYPE = ir.FunctionType(I64, [I64P, I64, I64, I64, I64])


# The slow paths keep the caller's registers (x86-64 preserve_most: only r11 is clobbered), so
# values live across a rarely taken call need no callee-saved register in the hot function.
SLOW_CC = "preserve_mostcc"


def build_mem_slow(module: ir.Module) -> ir.Function:
    """i1 bpf_mem_slow(jctx, addr, size, write, pc): 1 when the access is allowed (HIT_* set)."""
    fn = ir.Function(module, ir.FunctionType(I1, [I64P, I64, I64, I64, I64]), "bpf_mem_slow")
    fn.linkage = "internal"
    fn.calling_convention = SLOW_CC
    fn.attributes.add("noinline")
    jctx, addr, size, write, pc = fn.args
    entry = fn.append_basic_block("entry")
    loop = fn.append_basic_block("loop")
    body = fn.append_basic_block("body")
    hit = fn.append_basic_block("hit")
    nxt = fn.append_basic_block("next")
    slow = fn.append_basic_block("slow")
    b = ir.IRBuilder(entry)
    table = b.inttoptr(load_slot(b, jctx, Slot.REGIONS), I64P)
    count = load_slot(b, jctx, Slot.NREGIONS)
    count = b.select(b.icmp_unsigned(">", count, c64(MAX_REGIONS)), c64(MAX_REGIONS), count)
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(I64)
    i.add_incoming(c64(0), entry)
    b.cbranch(b.icmp_unsigned("<", i, count), body, slow)
    b.position_at_end(body)
    base = b.mul(i, c64(3))
    start = b.load(b.gep(table, [base]))
    end = b.load(b.gep(table, [b.add(base, c64(1))]))
    flags = b.load(b.gep(table, [b.add(base, c64(2))]))
    length = b.sub(end, start)
    off = b.sub(addr, start)
    inside = b.and_(
        b.icmp_unsigned("<", off, length), b.icmp_unsigned("<=", size, b.sub(length, off))
    )
    allowed = b.or_(
        b.icmp_unsigned("==", write, c64(0)),
        b.icmp_unsigned("!=", b.and_(flags, c64(REGION_WRITABLE)), c64(0)),
    )
    b.cbranch(b.and_(inside, allowed), hit, nxt)
    b.position_at_end(nxt)
    i.add_incoming(b.add(i, c64(1)), nxt)
    b.branch(loop)
    b.position_at_end(hit)
    store_slot(b, jctx, Slot.HIT_START, start)
    store_slot(b, jctx, Slot.HIT_END, end)
    store_slot(b, jctx, Slot.HIT_FLAGS, flags)
    b.ret(ir.Constant(I1, 1))
    b.position_at_end(slow)
    resolver = b.inttoptr(load_slot(b, jctx, Slot.RESOLVE), RESOLVE_TYPE.as_pointer())
    ok = b.call(resolver, [jctx, addr, size, write, pc])
    b.ret(b.icmp_unsigned("!=", ok, c64(0)))
    return fn


def build_ctx_load(module: ir.Module, kind: str, size: int) -> ir.Function:
    """i64 ctx_load(jctx, addr, pc): a converted context load (Python for the unusual ones)."""
    fn = ir.Function(module, ir.FunctionType(I64, [I64P, I64, I64]), f"bpf_ctx_load{size}")
    fn.linkage = "internal"
    fn.calling_convention = SLOW_CC
    fn.attributes.add("noinline")
    jctx, addr, pc = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    off = b.sub(addr, load_slot(b, jctx, Slot.CTX_START))
    slow = fn.append_basic_block("slow")
    if size == 4:
        for field_off, slot in CTX_POINTER_FIELDS[kind].items():
            hit = fn.append_basic_block()
            miss = fn.append_basic_block()
            b.cbranch(b.icmp_unsigned("==", off, c64(field_off)), hit, miss)
            hb = ir.IRBuilder(hit)
            hb.ret(load_slot(hb, jctx, slot))
            b.position_at_end(miss)
    length = load_slot(b, jctx, Slot.CTX_LEN)
    ok = b.and_(
        b.icmp_unsigned("<=", off, b.sub(length, c64(size))),
        b.icmp_unsigned("==", b.and_(off, c64(size - 1)), c64(0)),
    )
    for lo, hi in CTX_SPECIAL_RANGES[kind]:
        overlap = b.and_(
            b.icmp_unsigned("<", off, c64(hi)), b.icmp_unsigned(">", b.add(off, c64(size)), c64(lo))
        )
        ok = b.and_(ok, b.not_(overlap))
    raw = fn.append_basic_block("raw")
    b.cbranch(ok, raw, slow)
    rb = ir.IRBuilder(raw)
    rb.ret(emit_load(rb, addr, size, False))
    sb = ir.IRBuilder(slow)
    cb = sb.inttoptr(load_slot(sb, jctx, Slot.CTX_CB), CTX_CB_TYPE.as_pointer())
    flags = sb.shl(pc, c64(8))
    sb.ret(sb.call(cb, [jctx, addr, c64(size), c64(0), flags]))
    return fn

