"""The native hash-map search of bpf_map_lookup_elem: FNV-1a of the key, then linear probing.

The layout is pybpf.maps.hashtab's. The key size is a word of the map's descriptor, known only at
run time, so the search is emitted once per common key size (4 and 8 bytes: an IPv4 address, a
u32 or u64 id) behind a switch on it, and once for any size: with a constant size LLVM unrolls the
hash and compares the key with one load instead of calling memcmp, which is most of a lookup's
cost. Every copy finds the same slot as the generic one. The copies live in one function of the
module, `bpf_hash_find`, inlined only into a program with a single lookup call (where the call
would cost a tenth of the lookup) so that a program with many does not carry every copy at every
site (compile time). Each site bounds-checks the key itself, per key size too (with a constant
size, a key in the frame needs no code at all).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llvmlite import ir

from pybpf.isa.opcodes import CALL, CallSrc
from pybpf.maps.hashtab import EMPTY, FNV_OFFSET, FNV_PRIME, TOMBSTONE
from pybpf.vm.jit.irops import I8, I32, I64, c64, desc_word, extern_function
from pybpf.vm.jit.layout import MapDesc

if TYPE_CHECKING:
    from pybpf.vm.jit.irgen import FunctionTranslator

SPECIALISED_KEY_SIZES = (4, 8)
MAP_LOOKUP_ELEM = 1
FIND_NAME = "bpf_hash_find"
I8P = I8.as_pointer()
I32P = I32.as_pointer()
I64P = I64.as_pointer()
FOUND_TYPE = ir.LiteralStructType([I64, I64])  # (slot, entry address); entry 0: not found
FIND_TYPE = ir.FunctionType(FOUND_TYPE, [I64P, I8P])


def hash_find(
    t: FunctionTranslator, b: ir.IRBuilder, desc: ir.Value, keyp: ir.Value,
    check_key: Callable[[ir.IRBuilder, ir.Value], None],
) -> tuple[ir.Value, ir.Value, ir.Block]:
    """Search the hash map `desc` for the key at `keyp`; `check_key(b, size)` bounds-checks the key
    first, once per key-size copy (a constant size there).

    Leaves `b` at the block reached when the key is found and returns (its slot, its entry's
    address) there, and the (empty) block reached when it is not.
    """
    fn = t.fn
    ksize = desc_word(b, desc, MapDesc.KEY_SIZE)
    checked = fn.append_basic_block("hash_key_checked")
    generic = fn.append_basic_block("hash_key_any")
    switch = b.switch(ksize, generic)
    for size in SPECIALISED_KEY_SIZES:
        block = fn.append_basic_block(f"hash_key{size}")
        switch.add_case(c64(size), block)
        b.position_at_end(block)
        check_key(b, c64(size))
        b.branch(checked)
    b.position_at_end(generic)
    check_key(b, ksize)
    b.branch(checked)
    b.position_at_end(checked)
    sites = sum(1 for i in t.mt.slots.values()
                if i.opcode == CALL and i.src == CallSrc.HELPER and i.imm == MAP_LOOKUP_ELEM)
    result = b.call(_find_function(b.module, inline=sites == 1), [desc, keyp])
    slot, entry = b.extract_value(result, 0), b.extract_value(result, 1)
    found = fn.append_basic_block("hash_found")
    miss = fn.append_basic_block("hash_miss")
    b.cbranch(b.icmp_unsigned("!=", entry, c64(0)), found, miss)
    b.position_at_end(found)
    return slot, entry, miss


def _find_function(module: ir.Module, *, inline: bool) -> ir.Function:
    """The module's `bpf_hash_find(desc, key) -> (slot, entry)`, built on first use."""
    existing = module.globals.get(FIND_NAME)
    if isinstance(existing, ir.Function):
        return existing
    fn = ir.Function(module, FIND_TYPE, FIND_NAME)
    fn.linkage = "internal"
    if inline:
        fn.attributes.add("alwaysinline")
    desc, keyp = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    ksize = desc_word(b, desc, MapDesc.KEY_SIZE)
    found = fn.append_basic_block("found")
    miss = fn.append_basic_block("miss")
    generic = fn.append_basic_block("key_any")
    switch = b.switch(ksize, generic)
    hits: list[tuple[ir.Value, ir.Value, ir.Block]] = []
    for size in SPECIALISED_KEY_SIZES:
        block = fn.append_basic_block(f"key{size}")
        switch.add_case(c64(size), block)
        b.position_at_end(block)
        hits.append(_probe(fn, b, desc, keyp, c64(size), found, miss))
    b.position_at_end(generic)
    hits.append(_probe(fn, b, desc, keyp, ksize, found, miss))
    b.position_at_end(found)
    slot = b.phi(I64)
    entry = b.phi(I64)
    for s, e, block in hits:
        slot.add_incoming(s, block)
        entry.add_incoming(e, block)
    out = b.insert_value(ir.Constant(FOUND_TYPE, ir.Undefined), slot, 0)
    b.ret(b.insert_value(out, entry, 1))
    b.position_at_end(miss)
    b.ret(ir.Constant(FOUND_TYPE, [c64(0), c64(0)]))
    return fn


def _fnv1a(fn: ir.Function, b: ir.IRBuilder, keyp: ir.Value, ksize: ir.Value) -> ir.Value:
    """The 32-bit FNV-1a hash of the `ksize` bytes at keyp (a loop LLVM unrolls for a constant size)."""
    head = b.block
    loop = fn.append_basic_block()
    body = fn.append_basic_block()
    done = fn.append_basic_block()
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(I64)
    h = b.phi(I32)
    i.add_incoming(c64(0), head)
    h.add_incoming(ir.Constant(I32, FNV_OFFSET), head)
    b.cbranch(b.icmp_unsigned("<", i, ksize), body, done)
    b.position_at_end(body)
    byte = b.zext(b.load(b.gep(keyp, [i])), I32)
    i.add_incoming(b.add(i, c64(1)), body)
    h.add_incoming(b.mul(b.xor(h, byte), ir.Constant(I32, FNV_PRIME)), body)
    b.branch(loop)
    b.position_at_end(done)
    return h


def _probe(
    fn: ir.Function, b: ir.IRBuilder, desc: ir.Value, keyp: ir.Value, ksize: ir.Value,
    found: ir.Block, miss: ir.Block,
) -> tuple[ir.Value, ir.Value, ir.Block]:
    """Hash, then probe from bucket h & mask until the key (-> found) or an empty bucket (-> miss);
    returns (slot, entry address, the block that branches to found)."""
    h = _fnv1a(fn, b, keyp, ksize)
    base = desc_word(b, desc, MapDesc.BASE)
    mask = desc_word(b, desc, MapDesc.MASK)
    buckets = b.inttoptr(b.add(base, desc_word(b, desc, MapDesc.BUCKETS_OFF)), I32P)
    entries = b.add(base, desc_word(b, desc, MapDesc.ENTRIES_OFF))
    esize = desc_word(b, desc, MapDesc.ELEM_SIZE)
    key_off = desc_word(b, desc, MapDesc.KEY_OFF)
    memcmp = extern_function(b.module, "memcmp", ir.FunctionType(I32, [I8P, I8P, I64]))
    start = b.and_(b.zext(h, I64), mask)
    pre = b.block
    loop = fn.append_basic_block()
    body = fn.append_basic_block()
    live = fn.append_basic_block()
    nxt = fn.append_basic_block()
    check = fn.append_basic_block()
    compare = fn.append_basic_block()
    b.branch(loop)
    b.position_at_end(loop)
    bucket_i = b.phi(I64)
    probes = b.phi(I64)
    bucket_i.add_incoming(start, pre)
    probes.add_incoming(c64(0), pre)
    b.cbranch(b.icmp_unsigned("<=", probes, mask), body, miss)
    b.position_at_end(body)
    bucket = b.load(b.gep(buckets, [bucket_i]))
    b.cbranch(b.icmp_unsigned("==", bucket, ir.Constant(I32, EMPTY)), miss, live)
    b.position_at_end(live)
    b.cbranch(b.icmp_unsigned("==", bucket, ir.Constant(I32, TOMBSTONE)), nxt, check)
    b.position_at_end(check)
    slot = b.zext(b.sub(bucket, ir.Constant(I32, 1)), I64)
    entry = b.add(entries, b.mul(slot, esize))
    same_hash = b.icmp_unsigned("==", b.load(b.inttoptr(entry, I32P)), h)
    b.cbranch(same_hash, compare, nxt)
    b.position_at_end(compare)
    diff = b.call(memcmp, [b.inttoptr(b.add(entry, key_off), I8P), keyp, ksize])
    b.cbranch(b.icmp_signed("==", diff, ir.Constant(I32, 0)), found, nxt)
    b.position_at_end(nxt)
    bucket_i.add_incoming(b.and_(b.add(bucket_i, c64(1)), mask), nxt)
    probes.add_incoming(b.add(probes, c64(1)), nxt)
    b.branch(loop)
    return slot, entry, compare
