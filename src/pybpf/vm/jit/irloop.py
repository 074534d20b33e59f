"""LLVM IR for a versioned loop's guard (see pybpf.vm.jit.loopver).

At the loop's entry the guard computes, from the registers there, how many times the header can
be reached at most (the exit test's bound), and takes the loop's check-free copy only when the
budget left covers that many iterations of the longest way around and the range each analysed
access can touch over them lies in the packet, the current frame or the cached region (writable
for stores). Otherwise the ordinary copy runs, which compares the budget and checks every access,
so a fault is reported exactly where the interpreter reports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llvmlite import ir

from pybpf.isa.opcodes import STACK_SIZE, InsnClass
from pybpf.vm.jit.irops import I32, I64, c64, cbranch_likely
from pybpf.vm.jit.layout import REGION_WRITABLE
from pybpf.vm.jit.loopver import Access, Affine, ExitTest, LoopPlan
from pybpf.vm.jit.pktrange import packet_pointers_at

MAX_VISITS = 1 << 32  # more header visits than this are never versioned


def _const(ty: ir.IntType, value: int) -> ir.Constant:
    return ir.Constant(ty, value & ((1 << ty.width) - 1))


class LoopGuardEmitter:
    """Mixin of FunctionTranslator: the entry test of a versioned loop."""

    mt: Any
    fn: ir.Function
    opt: Any

    if TYPE_CHECKING:  # provided by FunctionTranslator and MemoryEmitter
        def get(self, b: ir.IRBuilder, reg: int) -> ir.Value: ...
        def budget_left(self, b: ir.IRBuilder) -> ir.Value: ...

    def _affine(self, b: ir.IRBuilder, value: Affine) -> ir.Value:
        """The value of `value` for the registers here (i32 when it is a 32-bit value)."""
        total: ir.Value = c64(value.const)
        for reg, coeff in value.terms:
            term = self.get(b, reg)
            total = b.add(total, term if coeff == 1 else b.mul(term, c64(coeff)))
        return b.trunc(total, I32) if value.w32 else total

    def _stay_count(self, b: ir.IRBuilder, test: ExitTest) -> tuple[ir.Value, ir.Value]:
        """(n, ok): the exit test lets the loop stay at most n times (i64); ok is false when the
        bound cannot be trusted (a limit so close to the end of the range that the induction
        variable could wrap past it)."""
        x, y = self._affine(b, test.x), self._affine(b, test.y)
        if test.w32:  # a 32-bit test compares the low halves
            x, y = (v if v.type == I32 else b.trunc(v, I32) for v in (x, y))
        ty = x.type
        bits = ty.width
        cmp = b.icmp_signed if test.signed else b.icmp_unsigned
        top = (1 << (bits - 1)) - 1 if test.signed else (1 << bits) - 1
        bottom = -(1 << (bits - 1)) if test.signed else 0
        step = abs(test.stride)
        ok: ir.Value = ir.Constant(ir.IntType(1), 1)
        pred = test.pred
        if pred == "!=":  # stride +-1: it meets y after exactly this many steps
            n = b.sub(y, x) if test.stride > 0 else b.sub(x, y)
        else:
            if pred == "<=":  # x <= y is x < y + 1 (y below the top)
                ok = cmp("!=", y, _const(ty, top))
                y, pred = b.add(y, _const(ty, 1)), "<"
            elif pred == ">=":
                ok = cmp("!=", y, _const(ty, bottom))
                y, pred = b.sub(y, _const(ty, 1)), ">"
            if pred == "<":
                inside, diff = cmp("<", x, y), b.sub(y, x)
                limit_ok = cmp("<=", y, _const(ty, top - (step - 1)))
            else:
                inside, diff = cmp(">", x, y), b.sub(x, y)
                limit_ok = cmp(">=", y, _const(ty, bottom + (step - 1)))
            ok = b.and_(ok, limit_ok)
            steps = diff
            if step > 1:  # ceil(diff / step)
                rest = b.icmp_unsigned("!=", b.urem(diff, _const(ty, step)), _const(ty, 0))
                steps = b.add(b.udiv(diff, _const(ty, step)), b.zext(rest, ty))
            n = b.select(inside, steps, _const(ty, 0))
        return (b.zext(n, I64) if bits < 64 else n), ok

    def _spans(self, plan: LoopPlan) -> list[tuple[Access, int, bool]]:
        """The accesses merged by base and stride: (first access, span, write) per group, the
        span covering every member's bytes in one iteration (one check per group at entry)."""
        groups: dict[tuple[Affine, int, bool], list[Access]] = {}
        taint = self.mt.ctx_taint
        for access in plan.accesses:
            insn = self.mt.slots[access.pc]
            base = insn.src if (insn.opcode & 0x07) == InsnClass.LDX else insn.dst
            ctx = bool(self.opt.ctx_kind) and bool(taint.get(access.pc, -1) >> base & 1)
            groups.setdefault((access.base, access.stride, ctx), []).append(access)
        merged = []
        for (_, _, ctx), members in groups.items():
            low = min(a.off for a in members)
            high = max(a.off + a.size for a in members)
            first = min(members, key=lambda a: a.off)
            merged.append((first, high - low, any(a.write for a in members), ctx))
        return [(Access(a.pc, a.base, a.off, span, write, a.stride), span, ctx)
                for a, span, write, ctx in merged]

    def _proven_test(self, b: ir.IRBuilder, header: int, base: Affine, low: ir.Value,
                     span: ir.Value) -> ir.Value | None:
        """[low, low + span) lies in packet bytes the program's own tests proved at the loop's
        header (pybpf.vm.jit.pktrange), for a base that adds a packet pointer: no region table
        needed (and it folds away when the range is constant), or None."""
        states = self.packet_states  # type: ignore[attr-defined]
        if not states or base.w32:
            return None
        pointers = packet_pointers_at(states, header)
        for reg, coeff in base.terms:
            if coeff == 1 and reg in pointers:
                k, n = pointers[reg]
                start = b.sub(self.get(b, reg), c64(k))
                ok = b.and_(b.icmp_unsigned("<=", span, c64(n)),
                            b.icmp_unsigned("<=", b.sub(low, start), b.sub(c64(n), span)))
                return b.and_(self.entry_ctx, ok)  # type: ignore[attr-defined]
        return None

    def _region_tests(self, b: ir.IRBuilder, low: ir.Value, span: ir.Value, write: bool,
                      ctx: bool) -> list[ir.Value]:
        """i1 values, one per region (packet, frame, cached region unless the base may be the
        context): [low, low + span) lies in it (and it is writable when `write`)."""
        regions = [self.packet] if ctx else [self.packet, self.cache]  # type: ignore[attr-defined]
        tests = []
        for region in regions:
            start = b.load(region[0])
            length = b.sub(b.load(region[1]), start)
            ok = b.and_(b.icmp_unsigned("<=", span, length),
                        b.icmp_unsigned("<=", b.sub(low, start), b.sub(length, span)))
            if write:
                ok = b.and_(ok, b.icmp_unsigned(
                    "!=", b.and_(b.load(region[2]), c64(REGION_WRITABLE)), c64(0)))
            tests.append(ok)
        stack_low = self.stack_low  # type: ignore[attr-defined]
        tests.insert(1, b.and_(
            b.icmp_unsigned("<=", span, c64(STACK_SIZE)),
            b.icmp_unsigned("<=", b.sub(low, stack_low), b.sub(c64(STACK_SIZE), span))))
        return tests

    def emit_loop_guard(self, b: ir.IRBuilder, plan: LoopPlan, free: ir.Block, checked: ir.Block) -> None:
        """Branch to the loop's check-free copy `free` when the guard holds, else to `checked`.
        A chain of likely branches: the usual case (a packet access) tests one region."""
        stays, ok = self._stay_count(b, plan.test)
        ok = b.and_(ok, b.icmp_unsigned("<", stays, c64(MAX_VISITS)))
        visits = b.add(stays, c64(1))
        ok = b.and_(ok, b.icmp_signed(">=", self.budget_left(b), b.mul(visits, c64(plan.cost))))
        for access, span_one, ctx in self._spans(plan):
            nxt = self.fn.append_basic_block()
            cbranch_likely(b, ok, nxt, checked)
            b.position_at_end(nxt)
            first = b.add(self._affine(b, access.base), c64(access.off))
            last_off = b.mul(b.sub(visits, c64(1)), c64(abs(access.stride)))
            low = first if access.stride >= 0 else b.sub(first, last_off)
            span = b.add(last_off, c64(span_one))
            found = self.fn.append_basic_block()
            tests = self._region_tests(b, low, span, access.write, ctx)
            proven = self._proven_test(b, plan.header, access.base, low, span)
            if proven is not None:
                tests.insert(0, proven)
            for k, test in enumerate(tests):
                other = self.fn.append_basic_block() if k + 1 < len(tests) else checked
                cbranch_likely(b, test, found, other)
                if k + 1 < len(tests):
                    b.position_at_end(other)
            b.position_at_end(found)
            ok = ir.Constant(ir.IntType(1), 1)
        cbranch_likely(b, ok, free, checked)
