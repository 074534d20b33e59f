"""Context fields read through r1 as the run began: one well-predicted test, no classification.

Most programs read ctx->data and ctx->data_end straight off r1 (or a copy of it). Such a load
otherwise goes through the general classification of pybpf.vm.jit.irmem (frame? context? which
field?) on every run. Here the main function tests once, at entry, that r1 is the converted
context (of full size, outside the frame), and each load whose base is known to be that r1 plus
a constant (pybpf.vm.jit.ctxflow.entry_ctx_offsets) reads its field's slot when the test held;
otherwise it takes the general path, so any other r1 behaves exactly as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llvmlite import ir

from pybpf.vm.jit.cfg import successors
from pybpf.vm.jit.ctxflow import entry_ctx_offsets
from pybpf.vm.jit.irops import I1, c64
from pybpf.vm.jit.layout import CTX_POINTER_FIELDS

if TYPE_CHECKING:
    from pybpf.vm.jit.irgen import ModuleTranslator


class EntryCtxEmitter:
    """Mixin of FunctionTranslator: the entry test and the loads it lets skip classification."""

    mt: ModuleTranslator
    opt: Any
    entry_pc: int
    pcs: list[int]
    args: list[ir.Value]
    fp: ir.Value
    stack_low: ir.Value
    ctx_start: ir.Value
    ctx_len: ir.Value
    unchecked: frozenset[int]
    entry_ctx: ir.Value = ir.Constant(I1, 0)
    entry_offsets: dict[int, dict[int, int]] = {}

    def init_entry_ctx(self, b: ir.IRBuilder) -> None:
        """At the main function's entry: is r1 the whole converted context, clear of the frame?"""
        fields = CTX_POINTER_FIELDS.get(self.opt.ctx_kind, {})
        if self.entry_pc != 0 or not fields:
            return
        self.entry_offsets = entry_ctx_offsets(
            self.mt.slots, self.pcs, lambda pc: successors(self.mt.slots, pc))
        need = max(fields) + 4
        start, length = self.ctx_start, self.ctx_len
        clear = b.or_(b.icmp_unsigned(">=", start, self.fp),
                      b.icmp_unsigned("<=", b.add(start, length), self.stack_low))
        self.entry_ctx = b.and_(
            b.and_(b.icmp_unsigned("==", self.args[1], start),
                   b.icmp_unsigned(">=", length, c64(need))),
            clear)

    def entry_ctx_field(self, pc: int, base: int, off: int, size: int, signed: bool) -> int | None:
        """The slot a load reads when the entry test held, or None (not a known field)."""
        if size != 4 or signed or pc in self.unchecked:
            return None
        known = self.entry_offsets.get(pc, {}).get(base)
        if known is None:
            return None
        return CTX_POINTER_FIELDS[self.opt.ctx_kind].get(known + off)
