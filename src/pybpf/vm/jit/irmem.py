"""LLVM IR for eBPF memory accesses: stack fast path, converted context, checked regions.

Every load/store address is classified at run time, cheapest first:

1. inside the current stack frame ([r10-512, r10)): a direct access (no test at all for a
   constant offset from r10 inside the frame, while the function never writes r10);
2. inside the converted context (xdp_md, __sk_buff), when the program type has one: the
   field is read like the kernel converts it (see `pybpf.vm.jit.irslow.build_ctx_load`);
3. anything else: with checks on, against the packet (kept in SSA values reloaded only at entry
   and after calls, so loop-invariant in call-free loops), the frame, a per-function cache of
   the last region the slow path found, then the out-of-line scan of the region table
   (`pybpf.vm.jit.irslow`), then the Python resolver (which knows the interpreter's memory
   model and raises its faults). Blocks with many accesses off one base check their span once
   (`pybpf.vm.jit.ircombine`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llvmlite import ir

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import STACK_SIZE, InsnClass, Mode
from pybpf.vm.jit.ircombine import Group
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


def _writes_r10(insn: Instruction) -> bool:
    """Whether `insn` may write r10 (only an unverified program does): its destination, or an
    atomic's fetched source register."""
    cls = insn.opcode & 0x07
    if cls in (InsnClass.ALU, InsnClass.ALU64, InsnClass.LDX, InsnClass.LD):
        return insn.dst == 10
    # a fetching atomic writes its source (cmpxchg writes r0: counted too, harmlessly)
    return (cls == InsnClass.STX and insn.opcode & 0xE0 == Mode.ATOMIC and insn.src == 10
            and bool(insn.imm & 0x01))


def _frame_off(base: int, off: int) -> int | None:
    """The offset from r10 of an access off register `base`, None when the base is not r10."""
    return off if base == 10 else None


def frame_pointer_fixed(slots: Mapping[int, Instruction], pcs: Sequence[int]) -> bool:
    """Whether r10 keeps the frame pointer throughout the function made of `pcs`, so that
    r10+off with -512 <= off <= -size is in the frame whatever the run."""
    return not any(_writes_r10(slots[pc]) for pc in pcs)


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
    fixed_fp = False  # r10 is the frame pointer throughout the function (frame_pointer_fixed)
    unchecked: frozenset[int] = frozenset()  # pcs a combined check covers in this copy
    proven: frozenset[int] = frozenset()  # pcs in the packet when entry_ctx (pybpf.vm.jit.pktrange)
    packet_states: Mapping[int, set[Any]] = {}  # pktrange's states per pc (XDP, main function)

    if TYPE_CHECKING:  # provided by FunctionTranslator and the other mixins
        entry_ctx: ir.Value
        pcs: list[int]
        def get(self, b: ir.IRBuilder, reg: int) -> ir.Value: ...
        def entry_ctx_field(self, pc: int, base: int, off: int, size: int, signed: bool) -> int | None: ...
        def check_fault_after_call(self, b: ir.IRBuilder) -> None: ...

    # --- two cached regions (start, end, flags): the packet and the last region that matched --
    # The packet (entry 0 of the region table) is loaded at entry and after calls only, so in a
    # loop without calls its bounds are loop-invariant SSA values and LLVM hoists what depends on
    # them; the second cache follows the slow path's hits (map values, other memory).
    # Invariant: a cached region is at least 8 bytes long, so one unsigned comparison
    # `addr - start <= (end - start) - size` tests the whole access. Smaller regions are never
    # cached (the current frame stands in), they are found by the table scan each time.
    def init_region_cache(self, b: ir.IRBuilder) -> None:
        self.cache = [b.alloca(I64, name=n) for n in ("cache_start", "cache_end", "cache_flags")]
        self.packet = [b.alloca(I64, name=n) for n in ("pkt_start", "pkt_end", "pkt_flags")]
        self.fixed_fp = frame_pointer_fixed(self.mt.slots, self.pcs)
        self.reload_region_cache(b)

    def _set(self, b: ir.IRBuilder, target: list[ir.Value], start: ir.Value, end: ir.Value,
             flags: ir.Value, *, fallback_frame: bool) -> None:
        big = b.icmp_unsigned(">=", b.sub(end, start), c64(8))
        if fallback_frame:
            keep = [self.stack_low, self.fp, c64(REGION_WRITABLE)]
        else:
            keep = [b.load(target[i]) for i in range(3)]
        for i, value in enumerate((start, end, flags)):
            b.store(b.select(big, value, keep[i]), target[i])

    def reload_region_cache(self, b: ir.IRBuilder) -> None:
        """The packet from table entry 0, the other cache empty (the frame); at entry and after
        calls, which may move the packet or free what the cache held."""
        if not self.opt.checks:
            return
        table = b.inttoptr(b.load(_slot(b, self.jctx, Slot.REGIONS)), I64P)
        start, end, flags = (b.load(b.gep(table, [c64(i)])) for i in range(3))
        self._set(b, self.packet, start, end, flags, fallback_frame=True)
        for alloca, value in zip(self.cache, (self.stack_low, self.fp, c64(REGION_WRITABLE)), strict=True):
            b.store(value, alloca)

    def _cache_from_hit(self, b: ir.IRBuilder) -> None:
        start, end, flags = (
            b.load(_slot(b, self.jctx, s)) for s in (Slot.HIT_START, Slot.HIT_END, Slot.HIT_FLAGS)
        )
        self._set(b, self.cache, start, end, flags, fallback_frame=False)

    def cache_value(self, b: ir.IRBuilder, start: ir.Value, size: ir.Value, flags: ir.Value) -> None:
        """A helper returned a pointer to `size` bytes the program will use next: cache them."""
        if self.opt.checks:
            self._set(b, self.cache, start, b.add(start, size), flags, fallback_frame=False)

    def _in_region(self, b: ir.IRBuilder, region: list[ir.Value], addr: ir.Value, size: int,
                   write: bool) -> ir.Value:
        start = b.load(region[0])
        length = b.sub(b.load(region[1]), start)
        ok = b.icmp_unsigned("<=", b.sub(addr, start), b.sub(length, c64(size)))
        if size > 8:  # the invariant covers accesses of up to 8 bytes only
            ok = b.and_(ok, b.icmp_unsigned(">=", length, c64(size)))
        if write:
            writable = b.and_(b.load(region[2]), c64(REGION_WRITABLE))
            ok = b.and_(ok, b.icmp_unsigned("!=", writable, c64(0)))
        return ok

    def _in_cache(self, b: ir.IRBuilder, addr: ir.Value, size: int, write: bool) -> ir.Value:
        return self._in_region(b, self.cache, addr, size, write)

    def _in_packet(self, b: ir.IRBuilder, addr: ir.Value, size: int, write: bool) -> ir.Value:
        return self._in_region(b, self.packet, addr, size, write)

    def span_checked(self, b: ir.IRBuilder, groups: Sequence[Group]) -> ir.Value:
        """i1: every group's whole span lies in the cached region or the current frame
        (pybpf.vm.jit.ircombine); never calls out, so it cannot fault."""
        ok: ir.Value = ir.Constant(ir.IntType(1), 1)
        for g in groups:
            addr = b.add(self.get(b, g.reg), c64(g.low))
            span = g.high - g.low
            inside = b.or_(self._in_packet(b, addr, span, g.write),
                           self._in_cache(b, addr, span, g.write))
            if span <= STACK_SIZE:
                inside = b.or_(inside, self._in_frame(b, addr, span))
            ok = b.and_(ok, inside)
        return ok

    def checked_address(
        self, b: ir.IRBuilder, pc: int, addr: ir.Value, size: int, write: bool,
        *, frame_off: int | None = None,
    ) -> ir.Value:
        """Bounds-check [addr, addr+size): the packet, the current frame and the cached region
        inline, then the table and Python. `frame_off` says addr is r10+frame_off: the frame is
        tested first, and when r10 is fixed and the offset in the frame, nothing is emitted (the
        test would fold to true, and LLVM would then delete the rest: building it is the cost)."""
        if not self.opt.checks or pc in self.unchecked:
            return addr
        if frame_off is not None and self.fixed_fp and -STACK_SIZE <= frame_off <= -size:
            return addr
        fast = self.fn.append_basic_block()
        slow = self.fn.append_basic_block()
        tests = [lambda: self._in_packet(b, addr, size, write), lambda: self._in_frame(b, addr, size),
                 lambda: self._in_cache(b, addr, size, write)]
        if frame_off is not None:
            tests.insert(0, tests.pop(1))
        if pc in self.proven:  # the program's own test covered it (r1 was the context)
            tests.insert(0, lambda: self.entry_ctx)
        for k, test in enumerate(tests):
            after = self.fn.append_basic_block() if k + 1 < len(tests) else slow
            cbranch_likely(b, test(), fast, after)
            b.position_at_end(after)
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
        if not ctx or pc in self.unchecked:  # a combined check proved it frame or region  # checked_address tests the frame and the cached region together
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
        slot = self.entry_ctx_field(pc, base, off, size, signed)
        if slot is None:
            return self._emit_mem_load(b, pc, base, off, size, signed)
        # the base is r1 as the run began: when that was the context, this reads a known field
        known = self.fn.append_basic_block()
        general = self.fn.append_basic_block()
        join = self.fn.append_basic_block()
        cbranch_likely(b, self.entry_ctx, known, general)
        b.position_at_end(known)
        incoming = [(b.load(_slot(b, self.jctx, slot)), b.block)]
        b.branch(join)
        b.position_at_end(general)
        incoming.append((self._emit_mem_load(b, pc, base, off, size, signed), b.block))
        b.branch(join)
        return phi_at(b, join, incoming)

    def _emit_mem_load(
        self, b: ir.IRBuilder, pc: int, base: int, off: int, size: int, signed: bool
    ) -> ir.Value:
        addr = b.add(self.get(b, base), c64(off))
        incoming: list[tuple[ir.Value, ir.Block]] = []
        paths = self._paths(b, addr, size, pc, base)
        if len(paths) == 1:
            checked = self.checked_address(b, pc, addr, size, False, frame_off=_frame_off(base, off))
            return emit_load(b, checked, size, signed, frame=base == 10)
        join = self.fn.append_basic_block()
        for kind, block in paths:
            b.position_at_end(block)
            if kind == "frame":
                value = emit_load(b, addr, size, signed, frame=base == 10)
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
            checked = self.checked_address(b, pc, addr, size, True, frame_off=_frame_off(base, off))
            emit_store(b, checked, size, value, frame=base == 10)
            return
        join = self.fn.append_basic_block()
        for kind, block in paths:
            b.position_at_end(block)
            if kind == "frame":
                emit_store(b, addr, size, value, frame=base == 10)
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
            return self.checked_address(b, pc, addr, size, True, frame_off=_frame_off(base, off))
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
