"""Code generation for @maps: keys (tuples included), plain stores, compound updates and aggregations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf.trace import ast
from pybpf.trace.emit import FP, R0, R1, R2, R3, R4, R6
from pybpf.trace.types import MapInfo

if TYPE_CHECKING:
    from pybpf.trace.codegen_values import ValueCompiler as ProbeCompiler

AGG_KINDS = ("count", "sum", "avg", "min", "max", "stats", "hist", "lhist")
H_LOOKUP, H_UPDATE = 1, 2
BPF_NOEXIST = 1


def build_key(pc: ProbeCompiler, ref: ast.MapRef, info: MapInfo) -> int:
    """The key of `ref` on the stack (plus a zeroed bucket slot for hist/lhist); returns its offset."""
    key = pc.alloc(info.bpf_key_size)
    if ref.keys is None or info.key is None:
        pc.zero(key, info.bpf_key_size)
        return key
    if len(ref.keys) == 1 and info.key.kind == "tuple":  # @m[$tuple]: the tuple's items are the key
        pc.evs(ref.keys[0], key, info.key_storage, info.key)
        if info.bpf_key_size > info.key_storage:
            pc.zero(key + info.key_storage, 8)
        return key
    items = info.key.items if info.key.kind == "tuple" else (info.key,)
    pos = key
    for k, t in zip(ref.keys, items, strict=True):
        if t.is_buffer:
            pc.evs(k, pos, t.storage, t)  # a tuple item (nested tuple) is laid out as the key's type
        else:
            pc.ev(k)
            pc.e.stx(8, FP, pos, R0)
        pos += t.storage
    if info.bpf_key_size > info.key_storage:
        pc.zero(pos, 8)
    return key


def lookup(pc: ProbeCompiler, ref: ast.MapRef, key: int) -> None:
    e = pc.e
    e.ld_map(R1, pc.prog.map_names[ref.name])
    e.stack_ptr(R2, key)
    e.call(H_LOOKUP)


def lookup_or_init(pc: ProbeCompiler, ref: ast.MapRef, info: MapInfo, key: int, skip: int) -> None:
    """r6 = pointer to the value of key (created zeroed when absent); jumps to `skip` if that fails."""
    e = pc.e
    have = e.label()
    lookup(pc, ref, key)
    e.jcci("!=", R0, 0, have)
    zero = pc.alloc(info.bpf_value_size)
    pc.zero(zero, info.bpf_value_size)
    e.ld_map(R1, pc.prog.map_names[ref.name])
    e.stack_ptr(R2, key)
    e.stack_ptr(R3, zero)
    e.mov(R4, BPF_NOEXIST)
    e.call(H_UPDATE)
    lookup(pc, ref, key)
    e.jcci("==", R0, 0, skip)
    e.place(have)
    e.movr(R6, R0)


def aggregate(pc: ProbeCompiler, ref: ast.MapRef, call: ast.Call) -> None:
    e = pc.e
    info = pc.prog.maps[ref.name]
    kind = call.name
    val = None
    if call.args:
        pc.ev(call.args[0])
        val = pc.alloc(8)
        e.stx(8, FP, val, R0)
    key = build_key(pc, ref, info)
    if kind in ("hist", "lhist"):
        assert val is not None
        e.ldx(8, R1, FP, val)
        if kind == "hist":
            log2_bucket(pc)
        else:
            linear_bucket(pc, *info.lhist)
        e.stx(8, FP, key + info.key_storage, R0)
    skip = e.label()
    lookup_or_init(pc, ref, info, key, skip)
    if kind in ("count", "hist", "lhist"):
        e.ldx(8, R1, R6, 0)
        e.alui("+", R1, 1)
        e.stx(8, R6, 0, R1)
    elif kind == "sum":
        e.ldx(8, R1, R6, 0)
        e.ldx(8, R2, FP, val)  # type: ignore[arg-type]
        e.alu("+", R1, R2)
        e.stx(8, R6, 0, R1)
    elif kind in ("avg", "stats"):
        e.ldx(8, R1, R6, 0)
        e.ldx(8, R2, FP, val)  # type: ignore[arg-type]
        e.alu("+", R1, R2)
        e.stx(8, R6, 0, R1)
        e.ldx(8, R1, R6, 8)
        e.alui("+", R1, 1)
        e.stx(8, R6, 8, R1)
    elif kind in ("min", "max"):
        store = e.label()
        e.ldx(8, R2, FP, val)  # type: ignore[arg-type]
        e.ldx(8, R1, R6, 8)
        e.jcci("==", R1, 0, store)
        e.ldx(8, R1, R6, 0)
        e.jcc("<" if kind == "min" else ">", R2, R1, store, signed=True)
        e.jmp(skip)
        e.place(store)
        e.stx(8, R6, 0, R2)
        e.st(8, R6, 8, 1)
    e.place(skip)


def log2_bucket(pc: ProbeCompiler) -> None:
    """r0 = bpftrace's hist bucket of the signed value in r1: 0 below zero, 1 for 0, log2(v) + 2 otherwise."""
    e = pc.e
    done = e.label()
    e.mov(R0, 0)
    e.jcci("<", R1, 0, done, signed=True)
    e.mov(R0, 1)
    e.jcci("==", R1, 0, done)
    e.mov(R2, 0)
    for shift in (32, 16, 8, 4, 2, 1):
        nxt = e.label()
        e.movr(R3, R1)
        e.alui(">>", R3, shift)
        e.jcci("==", R3, 0, nxt)
        e.movr(R1, R3)
        e.alui("+", R2, shift)
        e.place(nxt)
    e.movr(R0, R2)
    e.alui("+", R0, 2)
    e.place(done)


def linear_bucket(pc: ProbeCompiler, lo: int, hi: int, step: int) -> None:
    """r0 = lhist bucket of the signed value in r1: 0 below min, 1 + (v - min) / step, last at >= max."""
    e = pc.e
    done = e.label()
    e.mov(R0, 0)
    e.jcci("<", R1, lo, done, signed=True)
    e.mov(R0, (hi - lo) // step + 1)
    e.jcci(">=", R1, hi, done, signed=True)
    e.movr(R0, R1)
    e.alui("-", R0, lo)
    e.alui("/", R0, step)
    e.alui("+", R0, 1)
    e.place(done)


def store(pc: ProbeCompiler, ref: ast.MapRef, op: str, value: ast.Expr) -> None:
    """@m[k] = v, @m[k] op= v (int), @m[k] = "str"."""
    e = pc.e
    info = pc.prog.maps[ref.name]
    val = pc.alloc(info.bpf_value_size)
    if info.kind == "str":
        pc.evs(value, val, info.bpf_value_size, info.value)
        key = build_key(pc, ref, info)
    else:
        pc.ev(value)
        e.stx(8, FP, val, R0)
        key = build_key(pc, ref, info)
        if op != "=":
            got = e.label()
            lookup(pc, ref, key)
            e.movr(R1, R0)
            e.mov(R0, 0)
            e.jcci("==", R1, 0, got)
            e.ldx(8, R0, R1, 0)
            e.place(got)
            e.ldx(8, R1, FP, val)
            signed = info.value.signed and (value.type is None or value.type.signed)
            e.alu(op[:-1], R0, R1, signed=signed)
            e.stx(8, FP, val, R0)
    e.ld_map(R1, pc.prog.map_names[ref.name])
    e.stack_ptr(R2, key)
    e.stack_ptr(R3, val)
    e.mov(R4, 0)
    e.call(H_UPDATE)


def read_int(pc: ProbeCompiler, ref: ast.MapRef) -> None:
    """r0 = the map's integer value for the key (0 when absent; this CPU's slot for per-CPU aggregates)."""
    e = pc.e
    info = pc.prog.maps[ref.name]
    key = build_key(pc, ref, info)
    lookup(pc, ref, key)
    done = e.label()
    e.jcci("==", R0, 0, done)
    e.ldx(8, R0, R0, 0)
    e.place(done)


def read_str(pc: ProbeCompiler, ref: ast.MapRef, dst: int, size: int) -> None:
    e = pc.e
    info = pc.prog.maps[ref.name]
    key = build_key(pc, ref, info)
    pc.zero(dst, size)
    lookup(pc, ref, key)
    done = e.label()
    e.jcci("==", R0, 0, done)
    n = min(size, info.bpf_value_size)
    for i in range(0, n, 8):
        e.ldx(8, R1, R0, i)
        e.stx(8, FP, dst + i, R1)
    e.place(done)
