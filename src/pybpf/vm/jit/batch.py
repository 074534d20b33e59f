"""Native drivers around a compiled program: a one-call run, a repeat loop and the XDP batch loop.

- `bpf_run(jctx, r1, r2)`: reset the fault, budget and region count from their INIT slots, then
  run once; Python makes a single ctypes call per run (the pre-bound `run()`).
- `bpf_repeat(jctx, r1, r2, n)`: run n times (like BPF_PROG_TEST_RUN's repeat), stop at a fault.
- `bpf_batch_xdp(jctx, buf, lens, n, out)`: for each packet of a buffer with lengths, copy it
  into the XDP frame at the data pointer, set data/data_end and the packet region, run, store
  the u32 verdict; returns how many packets ran (fewer when a run faulted).
- `bpf_batch_xdp_out(jctx, buf, lens, n, out, obuf, olens, stride)`: the same, and it also copies
  each packet as the program left it (up to `stride` bytes) to obuf + i * stride, its length to
  olens[i] (what an XDP_TX or XDP_PASS would send on).
"""

from __future__ import annotations

from llvmlite import ir

from pybpf.vm.jit.irops import I1, I32, I64, c64
from pybpf.vm.jit.layout import REGION_WRITABLE, Slot

I8P = ir.IntType(8).as_pointer()
I64P = I64.as_pointer()
I32P = I32.as_pointer()


def _slot(b: ir.IRBuilder, jctx: ir.Value, slot: int) -> ir.Value:
    return b.gep(jctx, [c64(slot)])


def _reset(b: ir.IRBuilder, jctx: ir.Value, budget: bool, *, fault: bool = True) -> None:
    """Reset a run's state: the fault (unless the caller's loop stops at one, so it is still 0),
    the budget (when the code counts one) and the region count."""
    if fault:
        b.store(c64(0), _slot(b, jctx, Slot.FAULT))
    if budget:
        b.store(b.load(_slot(b, jctx, Slot.BUDGET_INIT)), _slot(b, jctx, Slot.BUDGET))
    b.store(b.load(_slot(b, jctx, Slot.NREGIONS_INIT)), _slot(b, jctx, Slot.NREGIONS))


def build_drivers(module: ir.Module, entry: ir.Function, *, xdp: bool, budget: bool = True,
                  stored: bool = True) -> None:
    """Add bpf_run, bpf_repeat and (for XDP programs) bpf_batch_xdp to `module`; `budget`:
    whether the code counts the instruction budget (else nothing resets or stores it).

    bpf_entry returns (r0, the budget left); only bpf_run stores the budget, for its caller's
    instruction count: the repeat and batch loops' callers read none. Those loops start after
    Python set the budget slot, so they reset it per run only when the code itself writes it
    (`stored`: before a call)."""
    # bpf_run
    fn = ir.Function(module, ir.FunctionType(I64, [I64P, I64, I64]), "bpf_run")
    jctx, r1, r2 = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    _reset(b, jctx, budget)
    ran = b.call(entry, [jctx, r1, r2])
    if budget:
        b.store(b.extract_value(ran, 1), _slot(b, jctx, Slot.BUDGET))
    b.ret(b.extract_value(ran, 0))

    # bpf_repeat
    fn = ir.Function(module, ir.FunctionType(I64, [I64P, I64, I64, I64]), "bpf_repeat")
    jctx, r1, r2, n = fn.args
    start = fn.append_basic_block("entry")
    loop = fn.append_basic_block("loop")
    body = fn.append_basic_block("body")
    done = fn.append_basic_block("done")
    b = ir.IRBuilder(start)
    b.store(c64(0), _slot(b, jctx, Slot.FAULT))  # the loop stops at a fault: it stays 0 in it
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(I64)
    last = b.phi(I64)
    i.add_incoming(c64(0), start)
    last.add_incoming(c64(0), start)
    b.cbranch(b.icmp_unsigned("<", i, n), body, done)
    b.position_at_end(body)
    _reset(b, jctx, budget and stored, fault=False)
    opaque = b.load(_slot(b, jctx, Slot.ENTRY_FN))
    opaque.set_metadata("invariant.load", module.add_metadata([]))
    r0 = b.extract_value(b.call(b.inttoptr(opaque, entry.type), [jctx, r1, r2]), 0)
    faulted = b.icmp_unsigned("!=", b.load(_slot(b, jctx, Slot.FAULT)), c64(0))
    nxt = b.add(i, c64(1))
    cont = fn.append_basic_block("cont")
    b.cbranch(faulted, done, cont)
    b.position_at_end(cont)
    i.add_incoming(nxt, cont)
    last.add_incoming(r0, cont)
    b.branch(loop)
    b.position_at_end(done)
    result = b.phi(I64)
    result.add_incoming(last, loop)
    result.add_incoming(r0, body)
    b.ret(result)

    if xdp:
        _build_batch_xdp(module, entry, budget and stored, keep=False)
        _build_batch_xdp(module, entry, budget and stored, keep=True)


def _build_batch_xdp(module: ir.Module, entry: ir.Function, budget: bool, *, keep: bool) -> None:
    args = [I64P, I8P, I32P, I64, I32P] + ([I8P, I32P, I64] if keep else [])
    fn = ir.Function(module, ir.FunctionType(I64, args),
                     "bpf_batch_xdp_out" if keep else "bpf_batch_xdp")
    jctx, buf, lens, n, out = fn.args[:5]
    memcpy = module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
    start = fn.append_basic_block("entry")
    loop = fn.append_basic_block("loop")
    body = fn.append_basic_block("body")
    cont = fn.append_basic_block("cont")
    done = fn.append_basic_block("done")
    b = ir.IRBuilder(start)
    data = b.load(_slot(b, jctx, Slot.BATCH_DATA))  # where each packet is copied (frame+headroom)
    ctx = b.load(_slot(b, jctx, Slot.CTX_START))
    table = b.inttoptr(b.load(_slot(b, jctx, Slot.REGIONS)), I64P)
    b.store(c64(0), _slot(b, jctx, Slot.FAULT))  # the loop stops at a fault: it stays 0 in it
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(I64)
    offset = b.phi(I64)
    i.add_incoming(c64(0), start)
    offset.add_incoming(c64(0), start)
    b.cbranch(b.icmp_unsigned("<", i, n), body, done)
    b.position_at_end(body)
    length = b.zext(b.load(b.gep(lens, [i])), I64)
    b.call(
        memcpy,
        [b.inttoptr(data, I8P), b.gep(buf, [offset]), length, ir.Constant(I1, 0)],
    )
    end = b.add(data, length)
    b.store(data, _slot(b, jctx, Slot.CTX_DATA))
    b.store(end, _slot(b, jctx, Slot.CTX_DATA_END))
    b.store(data, _slot(b, jctx, Slot.CTX_DATA_META))
    b.store(data, b.gep(table, [c64(0)]))
    b.store(end, b.gep(table, [c64(1)]))
    b.store(c64(REGION_WRITABLE), b.gep(table, [c64(2)]))
    b.store(i, _slot(b, jctx, Slot.BATCH_INDEX))
    _reset(b, jctx, budget, fault=False)
    r0 = b.extract_value(b.call(entry, [jctx, ctx, c64(0)]), 0)
    faulted = b.icmp_unsigned("!=", b.load(_slot(b, jctx, Slot.FAULT)), c64(0))
    b.cbranch(faulted, done, cont)
    b.position_at_end(cont)
    b.store(b.trunc(r0, I32), b.gep(out, [i]))
    if keep:
        obuf, olens, stride = fn.args[5:]
        first = b.load(_slot(b, jctx, Slot.CTX_DATA))
        size = b.sub(b.load(_slot(b, jctx, Slot.CTX_DATA_END)), first)
        size = b.select(b.icmp_unsigned("<", size, stride), size, stride)
        b.call(memcpy, [b.gep(obuf, [b.mul(i, stride)]), b.inttoptr(first, I8P), size,
                        ir.Constant(I1, 0)])
        b.store(b.trunc(size, I32), b.gep(olens, [i]))
    i.add_incoming(b.add(i, c64(1)), cont)
    offset.add_incoming(b.add(offset, length), cont)
    b.branch(loop)
    b.position_at_end(done)
    ran = b.phi(I64)
    ran.add_incoming(i, loop)
    ran.add_incoming(i, body)
    b.ret(ran)
