"""Context fields read through r1 as the run began: one test at entry, no classification.

Most programs read ctx->data and ctx->data_end straight off r1 (or a copy of it). Such a load
otherwise goes through the general classification of pybpf.vm.jit.irmem (frame? context? which
field?) on every run. Here the main function tests once, at entry, that r1 is the converted
context (of full size, outside the frame), and each load whose base is known to be that r1 plus
a constant (pybpf.vm.jit.ctxflow.entry_ctx_offsets) reads its field's slot when the test held;
otherwise it takes the general path, so any other r1 behaves exactly as before.

The main function is translated twice for that (`split_entry_ctx`): a copy where the test held
(the field loads read their slots, the packet accesses pybpf.vm.jit.pktrange proved need no
check) and an out-of-line copy where it did not (everything classified); a small dispatcher
makes the test and calls one of them. The likely copy then carries no branch on the test and
none of the general path's registers, so its prologue stays as small as its own code needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llvmlite import ir

from pybpf.isa.opcodes import STACK_SIZE, InsnClass, Mode, Size
from pybpf.vm.jit.cfg import reachable, successors
from pybpf.vm.jit.ctxflow import entry_ctx_offsets
from pybpf.vm.jit.ircalls import load_slot
from pybpf.vm.jit.irops import I1, c64, cbranch_likely
from pybpf.vm.jit.layout import CTX_POINTER_FIELDS, Slot

if TYPE_CHECKING:
    from pybpf.vm.jit.irgen import ModuleTranslator

LDX_W = InsnClass.LDX | Mode.MEM | Size.W


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
    assume_entry_ctx: bool | None = None  # this copy's answer to the entry test (None: test here)

    def init_entry_ctx(self, b: ir.IRBuilder) -> None:
        """At the main function's entry: is r1 the whole converted context, clear of the frame?"""
        if self.entry_pc != 0 or not CTX_POINTER_FIELDS.get(self.opt.ctx_kind):
            return
        self.entry_offsets = entry_ctx_offsets(
            self.mt.slots, self.pcs, lambda pc: successors(self.mt.slots, pc))
        if self.assume_entry_ctx is not None:
            self.entry_ctx = ir.Constant(I1, int(self.assume_entry_ctx))
            return
        self.entry_ctx = entry_ctx_test(b, self.opt.ctx_kind, self.args[1], self.ctx_start,
                                        self.ctx_len, self.fp, self.stack_low)

    def entry_ctx_field(self, pc: int, base: int, off: int, size: int, signed: bool) -> int | None:
        """The slot a load reads when the entry test held, or None (not a known field)."""
        if size != 4 or signed or pc in self.unchecked:
            return None
        known = self.entry_offsets.get(pc, {}).get(base)
        if known is None:
            return None
        return CTX_POINTER_FIELDS[self.opt.ctx_kind].get(known + off)


def entry_ctx_test(b: ir.IRBuilder, ctx_kind: str, r1: ir.Value, start: ir.Value, length: ir.Value,
                   fp: ir.Value, stack_low: ir.Value) -> ir.Value:
    """Whether r1 is the whole converted context (every pointer field inside it), clear of the frame."""
    need = max(CTX_POINTER_FIELDS[ctx_kind]) + 4
    clear = b.or_(b.icmp_unsigned(">=", start, fp),
                  b.icmp_unsigned("<=", b.add(start, length), stack_low))
    return b.and_(b.and_(b.icmp_unsigned("==", r1, start), b.icmp_unsigned(">=", length, c64(need))),
                  clear)


def split_entry_ctx(mt: ModuleTranslator, fn: ir.Function, translate: Callable[[ir.Function, bool], None]) -> None:
    """Make `fn` (the main function) a dispatcher: the entry test, then a tail call of the copy
    translated with the test held (inlined here) or of the one without (kept out of line)."""
    likely = ir.Function(mt.module, fn.function_type, name=f"{fn.name}_ctx")
    other = ir.Function(mt.module, fn.function_type, name=f"{fn.name}_any")
    for copy in (likely, other):
        copy.linkage = "internal"
    likely.attributes.add("alwaysinline")
    other.attributes.add("noinline")
    other.attributes.add("cold")
    translate(likely, True)
    translate(other, False)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    jctx, fp = fn.args[0], fn.args[1]
    start = load_slot(b, jctx, Slot.CTX_START)
    length = load_slot(b, jctx, Slot.CTX_LEN)
    test = entry_ctx_test(b, mt.options.ctx_kind, fn.args[4], start, length, fp,
                          b.sub(fp, c64(STACK_SIZE)))
    yes, no = fn.append_basic_block("ctx"), fn.append_basic_block("any")
    cbranch_likely(b, test, yes, no)
    for block, copy in ((yes, likely), (no, other)):
        b.position_at_end(block)
        b.ret(b.call(copy, list(fn.args), tail="tail"))


def wants_split(mt: ModuleTranslator, pc: int) -> bool:
    """Whether the function at `pc` is translated twice around the entry test: the main
    function, when it reads a context pointer field off r1 (else the test buys nothing)."""
    fields = CTX_POINTER_FIELDS.get(mt.options.ctx_kind)
    if pc != 0 or not fields:
        return False
    pcs = reachable(mt.slots, 0)
    offsets = entry_ctx_offsets(mt.slots, pcs, lambda at: successors(mt.slots, at))
    for at in pcs:
        insn = mt.slots[at]
        if insn.opcode != LDX_W:
            continue
        known = offsets.get(at, {}).get(insn.src)
        if known is not None and known + insn.off in fields:
            return True
    return False
