"""LLVM IR for eBPF memory accesses: stack fast path, converted context, checked regions.

Every load/store address is classified at run time, cheapest first:

1. inside the current stack frame ([r10-512, r10)): a direct access (the test folds away for
   constant offsets from r10);
2. inside the converted context (xdp_md, __sk_buff), when the program type has one: the
   field is read like the kernel converts it (see `ModuleTranslator._build_ctx_load`);
3. anything else: with checks on, against a per-function cache of the last region that
   matched (it starts as the packet), then the out-of-line scan of the region table, then the
   Python resolver (which knows the interpreter's memory model and raises its faults).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llvmlite import ir

from pybpf.isa.opcodes import STACK_SIZE
from pybpf.vm.jit.irops import (
    I64,
    c64,
    cbranch_likely,
    cbranch_unlikely,
    emit_load,
    emit_store,
    phi_at,
)
from pybpf.vm.jit.layout import CTX_ATOMIC, CTX_POINTER_FIELDS, CTX_STORE, REGION_WRITABLE, Slot

if TYPE_CHECKING:
    from pybpf.vm.jit.irgen import ModuleTranslator

I64P = I64.as_pointer()
CTX_CB_TYPE = ir.FunctionType(I64, [I64P, I64, I64, I64, I64])


def _slot(b: ir.IRBuilder, jctx: ir.Value, slot: int) -> ir.Value:
    return b.gep(jctx, [c64(slot)])


class MemoryEmitter:
    """Mixin of FunctionTranslator: the memory-access part of a function's code."""

    mt: ModuleTranslator
    fn: ir.Function
    opt: Any
    jctx: ir.Value
    unwind: ir.Block
    stack_low: ir.Value
    fp: ir.Value
    ctx_start: ir.Value
    ctx_len: ir.Value

    if TYPE_CHECKING:  # provided by FunctionTranslator and the other mixin
        def get(self, b: ir.IRBuilder, reg: int) -> ir.Value: ...
        def check_fault_after_call(self, b: ir.IRBuilder) -> None: ...

    # --- the region cache (start, end, writable) of the last region that matched ----------
    # Invariant: the cached region is at least 8 bytes long, so one unsigned comparison
    # `addr - start <= (end - start) - size` tests the whole access. Smaller regions are never
    # cached (the current frame stands in), they are found by the table scan each time.
    def init_region_cache(self, b: ir.IRBuilder) -> None:
        self.cache = [b.alloca(I64, name=n) for n in ("cache_start", "cache_end", "cache_flags")]
        self.reload_region_cache(b)

    def _set_cache(self, b: ir.IRBuilder, start: ir.Value, end: ir.Value, flags: ir.Value,
                   *, fallback_frame: bool) -> None:
        big = b.icmp_unsigned(">=", b.sub(end, start), c64(8))
        if fallback_frame:
            keep = [self.stack_low, self.fp, c64(REGION_WRITABLE)]
        else:
            keep = [b.load(self.cache[i]) for i in range(3)]
        for i, value in enumerate((start, end, flags)):
            b.store(b.select(big, value, keep[i]), self.cache[i])

    def reload_region_cache(self, b: ir.IRBuilder) -> None:
        """Start again from table entry 0 (the packet); after calls, which may move it."""
        if not self.opt.checks:
            return
        table = b.inttoptr(b.load(_slot(b, self.jctx, Slot.REGIONS)), I64P)
        start, end, flags = (b.load(b.gep(table, [c64(i)])) for i in range(3))
        self._set_cache(b, start, end, flags, fallback_frame=True)

    def _cache_from_hit(self, b: ir.IRBuilder) -> None:
        start, end, flags = (
            b.load(_slot(b, self.jctx, s)) for s in (Slot.HIT_START, Slot.HIT_END, Slot.HIT_FLAGS)
        )
        self._set_cache(b, start, end, flags, fallback_frame=False)

    def cache_value(self, b: ir.IRBuilder, start: ir.Value, size: ir.Value, flags: ir.Value) -> None:
        """A helper returned a pointer to `size` bytes the program will use next: cache them."""
        if self.opt.checks:
            self._set_cache(b, start, b.add(start, size), flags, fallback_frame=False)

    def _in_cache(self, b: ir.IRBuilder, addr: ir.Value, size: int, write: bool) -> ir.Value:
        start = b.load(self.cache[0])
        limit = b.sub(b.sub(b.load(self.cache[1]), start), c64(size))
        ok = b.icmp_unsigned("<=", b.sub(addr, start), limit)
        if write:
            writable = b.and_(b.load(self.cache[2]), c64(REGION_WRITABLE))
            ok = b.and_(ok, b.icmp_unsigned("!=", writable, c64(0)))
        return ok

    def checked_address(
        self, b: ir.IRBuilder, pc: int, addr: ir.Value, size: int, write: bool,
        *, frame_first: bool = False,
    ) -> ir.Value:
        """Bounds-check [addr, addr+size): the cached region and the current frame inline (the
        frame test folds away for constant r10 offsets), then the table and Python."""
        if not self.opt.checks:
            return addr
        fast = self.fn.append_basic_block()
        second = self.fn.append_basic_block()
        slow = self.fn.append_basic_block()
        tests = [lambda: self._in_cache(b, addr, size, write), lambda: self._in_frame(b, addr, size)]
        if frame_first:
            tests.reverse()
        cbranch_likely(b, tests[0](), fast, second)
        b.position_at_end(second)
        cbranch_likely(b, tests[1](), fast, slow)
        b.position_at_end(slow)
        found = b.call(self.mt.mem_slow, [self.jctx, addr, c64(size), c64(int(write)), c64(pc)])
        hit = self.fn.append_basic_block()
        cbranch_likely(b, found, hit, self.unwind)
        b.position_at_end(hit)
        self._cache_from_hit(b)
        b.branch(fast)
        b.position_at_end(fast)
        return addr

    # --- classification ---------------------------------------------------------------------
    def _in_frame(self, b: ir.IRBuilder, addr: ir.Value, size: int) -> ir.Value:
        return b.icmp_unsigned("<=", b.sub(addr, self.stack_low), c64(STACK_SIZE - size))

    def _in_ctx(self, b: ir.IRBuilder, addr: ir.Value) -> ir.Value:
        return b.icmp_unsigned("<", b.sub(addr, self.ctx_start), self.ctx_len)

    def _paths(
        self, b: ir.IRBuilder, addr: ir.Value, size: int, pc: int, base: int
    ) -> list[tuple[str, ir.Block]]:
        """Branch on the kind of address; returns (kind, block) for "frame", "ctx", "other"."""
        ctx = bool(self.opt.ctx_kind) and bool(self.mt.ctx_taint.get(pc, -1) >> base & 1)
        if not ctx:  # checked_address tests the frame and the cached region together
            return [("other", b.block)]
        paths: list[tuple[str, ir.Block]] = []
        frame = self.fn.append_basic_block()
        rest = self.fn.append_basic_block()
        b.cbranch(self._in_frame(b, addr, size), frame, rest)
        paths.append(("frame", frame))
        if ctx:
            b.position_at_end(rest)
            ctx_bb = self.fn.append_basic_block()
            other = self.fn.append_basic_block()
            cbranch_unlikely(b, self._in_ctx(b, addr), ctx_bb, other)
            paths.append(("ctx", ctx_bb))
            rest = other
        paths.append(("other", rest))
        return paths

    def ctx_callback(
        self, b: ir.IRBuilder, pc: int, addr: ir.Value, size: int, value: ir.Value, flags: int
    ) -> ir.Value:
        cb = b.inttoptr(b.load(_slot(b, self.jctx, Slot.CTX_CB)), CTX_CB_TYPE.as_pointer())
        result = b.call(cb, [self.jctx, addr, c64(size), value, c64((pc << 8) | flags)])
        self.check_fault_after_call(b)
        return result

    # --- loads, stores, atomics ------------------------------------------------------------
    def emit_mem_load(
        self, b: ir.IRBuilder, pc: int, base: int, off: int, size: int, signed: bool
    ) -> ir.Value:
        addr = b.add(self.get(b, base), c64(off))
        paths = self._paths(b, addr, size, pc, base)
        if len(paths) == 1:
            checked = self.checked_address(b, pc, addr, size, False, frame_first=base == 10)
            return emit_load(b, checked, size, signed)
        join = self.fn.append_basic_block()
        incoming: list[tuple[ir.Value, ir.Block]] = []
        for kind, block in paths:
            b.position_at_end(block)
            if kind == "frame":
                value = emit_load(b, addr, size, signed)
            elif kind == "ctx":
                slot = CTX_POINTER_FIELDS[self.opt.ctx_kind].get(off) if size == 4 else None
                if slot is not None and not signed:
                    # ctx->data and friends with the base at the context itself: inline
                    exact = b.icmp_unsigned("==", b.sub(addr, self.ctx_start), c64(off))
                    inline = self.fn.append_basic_block()
                    general = self.fn.append_basic_block()
                    b.cbranch(exact, inline, general)
                    b.position_at_end(inline)
                    incoming.append((b.load(_slot(b, self.jctx, slot)), b.block))
                    b.branch(join)
                    b.position_at_end(general)
                value = b.call(self.mt.ctx_loads[size], [self.jctx, addr, c64(pc)])
                self.check_fault_after_call(b)
                if signed:  # the interpreter sign-extends the converted value arithmetically
                    sign = c64(1 << (size * 8 - 1))
                    value = b.sub(b.xor(value, sign), sign)
            else:
                value = emit_load(b, self.checked_address(b, pc, addr, size, False), size, signed)
            incoming.append((value, b.block))
            b.branch(join)
        return phi_at(b, join, incoming)

    def emit_mem_store(
        self, b: ir.IRBuilder, pc: int, base: int, off: int, size: int, value: ir.Value
    ) -> None:
        addr = b.add(self.get(b, base), c64(off))
        paths = self._paths(b, addr, size, pc, base)
        if len(paths) == 1:
            checked = self.checked_address(b, pc, addr, size, True, frame_first=base == 10)
            emit_store(b, checked, size, value)
            return
        join = self.fn.append_basic_block()
        for kind, block in paths:
            b.position_at_end(block)
            if kind == "frame":
                emit_store(b, addr, size, value)
            elif kind == "ctx":
                self.ctx_callback(b, pc, addr, size, value, CTX_STORE)
            else:
                emit_store(b, self.checked_address(b, pc, addr, size, True), size, value)
            b.branch(join)
        b.position_at_end(join)

    def atomic_address(self, b: ir.IRBuilder, pc: int, base: int, off: int, size: int) -> ir.Value:
        """The address of an atomic (never the context: that faults like the interpreter)."""
        addr = b.add(self.get(b, base), c64(off))
        paths = self._paths(b, addr, size, pc, base)
        if len(paths) == 1:
            return self.checked_address(b, pc, addr, size, True, frame_first=base == 10)
        join = self.fn.append_basic_block()
        for kind, block in paths:
            b.position_at_end(block)
            if kind == "ctx":
                self.ctx_callback(b, pc, addr, size, c64(0), CTX_ATOMIC)
                b.branch(self.unwind)  # the callback always faults
                continue
            if kind == "other":
                self.checked_address(b, pc, addr, size, True)
            b.branch(join)
        b.position_at_end(join)
        return addr
