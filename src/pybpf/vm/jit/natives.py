"""Native fast paths for hot helpers, emitted as LLVM IR instead of a call back into Python.

- bpf_map_lookup_elem on array and hash maps (per-CPU and LRU ones too: the run CPU's value, the
  LRU reference bit set as the kernel does), bpf_map_update_elem on arrays: read the map's
  native storage through its descriptor (pybpf.vm.jit.mapdesc); any other map, an invalid map
  pointer or an unusual case falls back to the Python implementation, so results and faults
  stay the interpreter's.
- bpf_ktime_get_ns / bpf_ktime_get_boot_ns (clock_gettime), bpf_get_smp_processor_id.
- bpf_loop: a native loop calling the callback directly (pybpf.vm.jit.native_loop).
- bpf_xdp_adjust_head: the packet pointers move in the JitContext (pybpf.vm.jit.native_xdp).
- bpf_get_prandom_u32: xorshift64* in the JitContext when no seed was asked for
  (`RunEnv.prandom_seed`); a seeded run uses the Python generator, like the interpreter.

A native helper is used only when the collection's helper table maps that id to the standard
implementation in `pybpf.vm.helper_registry.REGISTRY` (a test table such as uBPF's keeps its own helpers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from llvmlite import ir

from pybpf.isa.opcodes import STACK_SIZE
from pybpf.maps.ringbuf import BUSY_BIT, DISCARD_BIT, MAX_RECORD_SIZE, PAGE_SIZE
from pybpf.vm.helper_registry import REGISTRY, HelperFn
from pybpf.vm.jit.irops import I1, I8, I32, I64, c64, desc_word, extern_function, phi_at
from pybpf.vm.jit.layout import (
    DESC_SIZE,
    MAP_KIND_ARRAY,
    MAP_KIND_HASH,
    MAP_KIND_HASH_EXT,
    MAP_KIND_RINGBUF,
    MAX_REGIONS,
    MapDesc,
    Slot,
)
from pybpf.vm.jit.native_hash import hash_find
from pybpf.vm.jit.native_loop import LOOP, native_loop
from pybpf.vm.jit.native_xdp import XDP_ADJUST_HEAD, xdp_adjust_head

if TYPE_CHECKING:
    from pybpf.vm.jit.irgen import FunctionTranslator, NativeHelper

MAP_LOOKUP_ELEM = 1
MAP_UPDATE_ELEM = 2
KTIME_GET_NS = 5
GET_PRANDOM_U32 = 7
GET_SMP_PROCESSOR_ID = 8
KTIME_GET_BOOT_NS = 125
RINGBUF_OUTPUT = 130
CLOCK_MONOTONIC = 1
CLOCK_BOOTTIME = 7
EINVAL, EEXIST, E2BIG = 22, 17, 7
I64P = I64.as_pointer()
I8P = I8.as_pointer()
I32P = I32.as_pointer()


def _slot(b: ir.IRBuilder, jctx: ir.Value, slot: int) -> ir.Value:
    return b.load(b.gep(jctx, [c64(slot)]))


def checked_dynamic(
    t: FunctionTranslator, b: ir.IRBuilder, pc: int, addr: ir.Value, size: ir.Value, write: bool
) -> None:
    """Bounds-check a helper's access of a run-time `size` (frame, region cache, table, Python)."""
    if not t.opt.checks:
        return
    fn = t.fn
    small = b.icmp_unsigned("<=", size, c64(STACK_SIZE))
    in_frame = b.and_(
        small, b.icmp_unsigned("<=", b.sub(addr, t.stack_low), b.sub(c64(STACK_SIZE), size))
    )
    start = b.load(t.cache[0])
    length = b.sub(b.load(t.cache[1]), start)
    off = b.sub(addr, start)
    cached = b.and_(b.icmp_unsigned("<", off, length), b.icmp_unsigned("<=", b.add(off, size), length))
    if write:
        writable = b.icmp_unsigned("!=", b.and_(b.load(t.cache[2]), c64(1)), c64(0))
        cached = b.and_(cached, writable)
    pstart = b.load(t.packet[0])
    plength = b.sub(b.load(t.packet[1]), pstart)
    poff = b.sub(addr, pstart)
    packet = b.and_(b.icmp_unsigned("<", poff, plength), b.icmp_unsigned("<=", b.add(poff, size), plength))
    if write:
        packet = b.and_(packet, b.icmp_unsigned("!=", b.and_(b.load(t.packet[2]), c64(1)), c64(0)))
    ok = fn.append_basic_block()
    slow = fn.append_basic_block()
    b.cbranch(b.or_(b.or_(in_frame, cached), packet), ok, slow)
    b.position_at_end(slow)
    found = b.call(t.mt.mem_slow, [t.jctx, addr, size, c64(int(write)), c64(pc)])
    b.cbranch(found, ok, t.unwind)
    b.position_at_end(ok)


def _map_dispatch(
    t: FunctionTranslator, b: ir.IRBuilder, r1: ir.Value, kinds: tuple[int, ...]
) -> tuple[ir.Value, dict[int, ir.Block], ir.Block]:
    """Validate r1 as a map descriptor; returns (descriptor, {kind: block}, fallback block)."""
    fn = t.fn
    off = b.sub(r1, _slot(b, t.jctx, Slot.MAPDESC_BASE))
    valid = b.and_(
        b.icmp_unsigned("<", off, _slot(b, t.jctx, Slot.MAPDESC_LEN)),
        b.icmp_unsigned("==", b.and_(off, c64(DESC_SIZE - 1)), c64(0)),
    )
    check = fn.append_basic_block()
    fallback = fn.append_basic_block()
    b.cbranch(valid, check, fallback)
    b.position_at_end(check)
    desc = b.inttoptr(r1, I64P)
    kind = desc_word(b, desc, MapDesc.KIND)
    switch = b.switch(kind, fallback)
    blocks = {}
    for k in kinds:
        blocks[k] = fn.append_basic_block(f"map_kind{k}")
        switch.add_case(c64(k), blocks[k])
    return desc, blocks, fallback


def _set_cache(t: FunctionTranslator, b: ir.IRBuilder, desc: ir.Value, value: ir.Value) -> None:
    """The program will use the value next: let the region cache cover exactly it, and add it
    to the run's region table (unless it is the last entry already) so that it is still found
    natively after later lookups replace the cache. Entries live until the run ends or a
    Python helper returns (which may free them), like those the resolver adds."""
    if not t.opt.checks:
        return
    size = desc_word(b, desc, MapDesc.VALUE_SIZE)
    flags = desc_word(b, desc, MapDesc.FLAGS)
    t.cache_value(b, value, size, flags)
    fn = t.fn
    count_p = b.gep(t.jctx, [c64(Slot.NREGIONS)])
    count = b.load(count_p)
    table = b.inttoptr(_slot(b, t.jctx, Slot.REGIONS), I64P)
    last = b.gep(table, [b.mul(b.sub(count, c64(1)), c64(3))])
    fresh = b.and_(
        b.icmp_unsigned("<", count, c64(MAX_REGIONS)),
        b.icmp_unsigned("!=", b.load(last), value),  # count >= 1: entry 0 is the packet
    )
    add = fn.append_basic_block()
    done = fn.append_basic_block()
    b.cbranch(fresh, add, done)
    b.position_at_end(add)
    base = b.mul(count, c64(3))
    b.store(value, b.gep(table, [base]))
    b.store(b.add(value, size), b.gep(table, [b.add(base, c64(1))]))
    b.store(flags, b.gep(table, [b.add(base, c64(2))]))
    b.store(b.add(count, c64(1)), count_p)
    b.branch(done)
    b.position_at_end(done)


def _join_with_fallback(
    t: FunctionTranslator,
    b: ir.IRBuilder,
    pc: int,
    helper_id: int,
    fallback: ir.Block,
    join: ir.Block,
    incoming: list[tuple[ir.Value, ir.Block]],
) -> ir.Value:
    """Finish a native helper: the fallback block calls the Python helper, then r0 is a phi at join."""
    b.position_at_end(fallback)
    incoming.append((t.call_trampoline(b, pc, c64(helper_id)), b.block))
    b.branch(join)
    return phi_at(b, join, incoming)


def _map_lookup(t: FunctionTranslator, b: ir.IRBuilder, pc: int, args: list[ir.Value]) -> ir.Value:
    fn = t.fn
    r1, r2 = args[0], args[1]
    desc, blocks, fallback = _map_dispatch(t, b, r1, (MAP_KIND_ARRAY, MAP_KIND_HASH, MAP_KIND_HASH_EXT))
    join = fn.append_basic_block("lookup_done")
    ir.IRBuilder(blocks[MAP_KIND_HASH_EXT]).branch(blocks[MAP_KIND_HASH])  # same probing
    incoming: list[tuple[ir.Value, ir.Block]] = []

    # array: value = base + index * elem_size when index < max_entries
    b.position_at_end(blocks[MAP_KIND_ARRAY])
    checked_dynamic(t, b, pc, r2, c64(4), False)
    index = b.zext(b.load(b.inttoptr(r2, I32P), align=1), I64)
    hit = fn.append_basic_block()
    miss = fn.append_basic_block()
    b.cbranch(b.icmp_unsigned("<", index, desc_word(b, desc, MapDesc.MAX_ENTRIES)), hit, miss)
    b.position_at_end(hit)
    value = b.add(desc_word(b, desc, MapDesc.BASE), b.mul(index, desc_word(b, desc, MapDesc.ELEM_SIZE)))
    _set_cache(t, b, desc, value)
    incoming.append((value, b.block))
    b.branch(join)
    b.position_at_end(miss)
    incoming.append((c64(0), b.block))
    b.branch(join)

    # hash: FNV-1a of the key, then linear probing (pybpf.vm.jit.native_hash)
    b.position_at_end(blocks[MAP_KIND_HASH])
    slot, entry, pmiss = hash_find(t, b, desc, b.inttoptr(r2, I8P),
                                   lambda kb, size: checked_dynamic(t, kb, pc, r2, size, False))
    in_entry = b.add(entry, desc_word(b, desc, MapDesc.VALUE_OFF))
    # per-CPU values live in the run CPU's block, others in the entry; an LRU map marks the
    # element referenced, as the kernel's lookup (and pybpf.maps' prog_lookup) does. A plain
    # hash map (kind MAP_KIND_HASH) has neither, and skips both.
    plain = b.block
    ext = fn.append_basic_block("lookup_hash_ext")
    mark = fn.append_basic_block()
    marked = fn.append_basic_block()
    b.cbranch(b.icmp_unsigned("==", desc_word(b, desc, MapDesc.KIND), c64(MAP_KIND_HASH)), marked, ext)
    b.position_at_end(ext)
    velem = desc_word(b, desc, MapDesc.VALUE_ELEM)
    in_block = b.add(desc_word(b, desc, MapDesc.VALUE_BASE), b.mul(slot, velem))
    ext_found = b.select(b.icmp_unsigned("!=", velem, c64(0)), in_block, in_entry)
    refs = desc_word(b, desc, MapDesc.REF_BASE)
    b.cbranch(b.icmp_unsigned("!=", refs, c64(0)), mark, marked)
    b.position_at_end(mark)
    b.store(ir.Constant(I8, 1), b.inttoptr(b.add(refs, slot), I8P))
    b.branch(marked)
    b.position_at_end(marked)
    found = phi_at(b, marked, [(in_entry, plain), (ext_found, ext), (ext_found, mark)])
    _set_cache(t, b, desc, found)
    incoming.append((found, b.block))
    b.branch(join)
    b.position_at_end(pmiss)
    incoming.append((c64(0), b.block))
    b.branch(join)

    return _join_with_fallback(t, b, pc, MAP_LOOKUP_ELEM, fallback, join, incoming)


def _map_update(t: FunctionTranslator, b: ir.IRBuilder, pc: int, args: list[ir.Value]) -> ir.Value:
    """bpf_map_update_elem on an array: the checks of ArrayMap.prog_update, then a copy."""
    fn = t.fn
    r1, r2, r3, r4 = args[0], args[1], args[2], args[3]
    desc, blocks, fallback = _map_dispatch(t, b, r1, (MAP_KIND_ARRAY,))
    join = fn.append_basic_block("update_done")
    incoming: list[tuple[ir.Value, ir.Block]] = []
    b.position_at_end(blocks[MAP_KIND_ARRAY])
    checked_dynamic(t, b, pc, r2, c64(4), False)
    vsize = desc_word(b, desc, MapDesc.VALUE_SIZE)
    checked_dynamic(t, b, pc, r3, vsize, False)
    index = b.zext(b.load(b.inttoptr(r2, I32P), align=1), I64)
    outcomes = [
        (b.icmp_unsigned(">", b.and_(r4, c64(~4)), c64(2)), -EINVAL),
        (b.icmp_unsigned(">=", index, desc_word(b, desc, MapDesc.MAX_ENTRIES)), -E2BIG),
        (b.icmp_unsigned("!=", b.and_(r4, c64(1)), c64(0)), -EEXIST),
        (b.icmp_unsigned("!=", b.and_(r4, c64(4)), c64(0)), -EINVAL),
    ]
    for cond, errno in outcomes:
        bad = fn.append_basic_block()
        good = fn.append_basic_block()
        b.cbranch(cond, bad, good)
        b.position_at_end(bad)
        incoming.append((c64(errno), b.block))
        b.branch(join)
        b.position_at_end(good)
    dest = b.add(desc_word(b, desc, MapDesc.BASE), b.mul(index, desc_word(b, desc, MapDesc.ELEM_SIZE)))
    memcpy = b.module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
    b.call(memcpy, [b.inttoptr(dest, I8P), b.inttoptr(r3, I8P), vsize, ir.Constant(I1, 0)])
    incoming.append((c64(0), b.block))
    b.branch(join)
    return _join_with_fallback(t, b, pc, MAP_UPDATE_ELEM, fallback, join, incoming)


def _ringbuf_output(
    t: FunctionTranslator, b: ir.IRBuilder, pc: int, args: list[ir.Value]
) -> ir.Value:
    """bpf_ringbuf_output natively when it is the simple case (RingBuffer.output otherwise).

    Native: a record that fits without wrapping and needs no reader wakeup. Anything else
    (empty sample, full ring, wrap-around, wakeup) runs the Python implementation, which
    repeats the same steps (advancing the pending position is idempotent).
    """
    fn = t.fn
    r1, r2, r3, r4 = args[0], args[1], args[2], args[3]
    join = fn.append_basic_block("rb_done")
    incoming: list[tuple[ir.Value, ir.Block]] = []
    desc, blocks, fallback = _map_dispatch(t, b, r1, (MAP_KIND_RINGBUF,))
    b.position_at_end(blocks[MAP_KIND_RINGBUF])

    def bail(cond: ir.Value) -> None:
        nxt = fn.append_basic_block()
        b.cbranch(cond, fallback, nxt)
        b.position_at_end(nxt)

    bail(b.icmp_unsigned("==", r3, c64(0)))
    checked_dynamic(t, b, pc, r2, r3, False)
    bad_flags = fn.append_basic_block()
    flags_ok = fn.append_basic_block()
    b.cbranch(b.icmp_unsigned("!=", b.and_(r4, c64(~3)), c64(0)), bad_flags, flags_ok)
    b.position_at_end(bad_flags)
    incoming.append((c64(-EINVAL), b.block))
    b.branch(join)
    b.position_at_end(flags_ok)
    bail(b.icmp_unsigned(">", r3, c64(MAX_RECORD_SIZE)))
    mask = desc_word(b, desc, MapDesc.MASK)
    length = b.and_(b.add(r3, c64(15)), c64(~7))
    bail(b.icmp_unsigned(">", length, b.add(mask, c64(1))))
    base = desc_word(b, desc, MapDesc.BASE)
    pos = b.inttoptr(base, I64P)
    hdr = b.inttoptr(b.add(base, c64(2 * PAGE_SIZE)), I32P)
    prod_i, pend_i = c64(PAGE_SIZE // 8), c64(PAGE_SIZE // 8 + 1)
    cons = b.load(pos)
    prod = b.load(b.gep(pos, [prod_i]))
    pend0 = b.load(b.gep(pos, [pend_i]))
    start = b.block
    loop = fn.append_basic_block()
    body = fn.append_basic_block()
    skip = fn.append_basic_block()
    done = fn.append_basic_block()
    b.branch(loop)
    b.position_at_end(loop)  # advance the pending position past committed records
    pend = b.phi(I64)
    pend.add_incoming(pend0, start)
    b.cbranch(b.icmp_unsigned("<", pend, prod), body, done)
    b.position_at_end(body)
    word = b.load(b.gep(hdr, [b.lshr(b.and_(pend, mask), c64(2))]))
    busy = b.icmp_unsigned("!=", b.and_(word, ir.Constant(I32, BUSY_BIT)), ir.Constant(I32, 0))
    b.cbranch(busy, done, skip)
    b.position_at_end(skip)
    size_done = b.zext(b.and_(word, ir.Constant(I32, ~DISCARD_BIT & 0xFFFFFFFF)), I64)
    pend.add_incoming(b.add(pend, b.and_(b.add(size_done, c64(15)), c64(~7))), skip)
    b.branch(loop)
    b.position_at_end(done)
    final_pend = b.phi(I64)
    final_pend.add_incoming(pend, loop)
    final_pend.add_incoming(pend, body)
    b.store(final_pend, b.gep(pos, [pend_i]))
    new_prod = b.add(prod, length)
    full = b.or_(
        b.icmp_unsigned(">", b.sub(new_prod, cons), mask),
        b.icmp_unsigned(">", b.sub(new_prod, final_pend), mask),
    )
    bail(full)
    off = b.and_(prod, mask)
    bail(b.icmp_unsigned(">", b.add(off, length), b.add(mask, c64(1))))
    force = b.icmp_unsigned("!=", b.and_(r4, c64(2)), c64(0))
    quiet = b.icmp_unsigned("!=", b.and_(r4, c64(1)), c64(0))
    caught_up = b.icmp_unsigned("==", b.and_(cons, mask), off)
    bail(b.or_(force, b.and_(b.not_(quiet), caught_up)))
    index = b.lshr(off, c64(2))
    size32 = b.trunc(r3, I32)
    b.store(b.or_(size32, ir.Constant(I32, BUSY_BIT)), b.gep(hdr, [index]))
    page = b.trunc(b.lshr(b.add(off, c64(2 * PAGE_SIZE)), c64(12)), I32)
    b.store(page, b.gep(hdr, [b.add(index, c64(1))]))
    b.store(new_prod, b.gep(pos, [prod_i]))
    memcpy = b.module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
    dest = b.add(base, b.add(c64(2 * PAGE_SIZE + 8), off))
    b.call(memcpy, [b.inttoptr(dest, I8P), b.inttoptr(r2, I8P), r3, ir.Constant(I1, 0)])
    b.store(size32, b.gep(hdr, [index]))
    incoming.append((c64(0), b.block))
    b.branch(join)
    return _join_with_fallback(t, b, pc, RINGBUF_OUTPUT, fallback, join, incoming)


def _clock(clock_id: int) -> NativeHelper:
    def emit(t: FunctionTranslator, b: ir.IRBuilder, pc: int, args: list[ir.Value]) -> ir.Value:
        ts_type = ir.LiteralStructType([I64, I64])
        fn = extern_function(b.module, "clock_gettime", ir.FunctionType(I32, [I32, ts_type.as_pointer()]))
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
    return b.and_(_slot(b, t.jctx, Slot.CPU), c64(0xFFFFFFFF))


def _prandom(t: FunctionTranslator, b: ir.IRBuilder, pc: int, args: list[ir.Value]) -> ir.Value:
    fn = t.fn
    native = fn.append_basic_block()
    python = fn.append_basic_block()
    join = fn.append_basic_block()
    b.cbranch(b.icmp_unsigned("!=", _slot(b, t.jctx, Slot.PRANDOM_NATIVE), c64(0)), native, python)
    b.position_at_end(native)
    state_ptr = b.gep(t.jctx, [c64(Slot.PRANDOM)])
    x = b.load(state_ptr)
    x = b.xor(x, b.lshr(x, c64(12)))
    x = b.xor(x, b.shl(x, c64(25)))
    x = b.xor(x, b.lshr(x, c64(27)))
    b.store(x, state_ptr)
    fast = b.lshr(b.mul(x, c64(0x2545F4914F6CDD1D)), c64(32))
    fast_block = b.block
    b.branch(join)
    b.position_at_end(python)
    slow = t.call_trampoline(b, pc, c64(GET_PRANDOM_U32))
    slow_block = b.block
    b.branch(join)
    return phi_at(b, join, [(fast, fast_block), (slow, slow_block)])


_NATIVE: dict[int, NativeHelper] = {
    MAP_LOOKUP_ELEM: _map_lookup,
    MAP_UPDATE_ELEM: _map_update,
    RINGBUF_OUTPUT: _ringbuf_output,
    KTIME_GET_NS: _clock(CLOCK_MONOTONIC),
    KTIME_GET_BOOT_NS: _clock(CLOCK_BOOTTIME),
    GET_PRANDOM_U32: _prandom,
    XDP_ADJUST_HEAD: xdp_adjust_head,
    GET_SMP_PROCESSOR_ID: _processor_id,
    LOOP: native_loop,
}


def native_helpers_for(helpers: Mapping[int, HelperFn]) -> dict[int, NativeHelper]:
    """The native fast paths usable with helper table `helpers`."""
    out: dict[int, NativeHelper] = {}
    for helper_id, emit in _NATIVE.items():
        fn = helpers.get(helper_id)
        if fn is not None and fn is REGISTRY.get(helper_id):
            out[helper_id] = emit
    return out
