"""Which programs' main function is marked to go into bpf_entry (pybpf.vm.jit.irgen): programs
without loops, and small checked loop programs; long loops and unchecked loops are left to
LLVM's own inliner."""

from __future__ import annotations

import re

import pytest

from pybpf.isa import assemble
from pybpf.vm.jit.compiler import optimized_ir
from pybpf.vm.jit.irgen import INLINE_LOOP_SLOTS, ModuleTranslator, TranslateOptions

LOOP = """
    r0 = 0
    r1 = 10
loop:
    BODY
    r0 += r1
    r1 -= 1
    if r1 != 0 goto loop
    exit
"""


def program(body_insns: int) -> list:
    return list(assemble(LOOP.replace("BODY", "\n    ".join(["r0 ^= r1"] * body_insns)), syntax="llvm"))


def options(checks: bool) -> TranslateOptions:
    return TranslateOptions(checks=checks, budget=checks, zero_stack=checks)


def marked_inline(insns: list, checks: bool) -> bool:
    module = ModuleTranslator(insns, options(checks)).translate()
    return "alwaysinline" in module.get_global("bpf_fn_0").attributes


@pytest.mark.parametrize(("body", "checks", "inlined"), [
    (1, True, True),
    (INLINE_LOOP_SLOTS - 6, True, True),  # 64 instructions in all
    (INLINE_LOOP_SLOTS - 5, True, False),
    (1, False, False),
])
def test_which_loop_programs_are_inlined(body: int, checks: bool, inlined: bool) -> None:
    assert marked_inline(program(body), checks) == inlined


def test_programs_without_loops_are_inlined() -> None:
    assert marked_inline(list(assemble("r0 = 1\nexit", syntax="llvm")), True)
    assert marked_inline(list(assemble("r0 = 1\nexit", syntax="llvm")), False)


def test_the_small_checked_loop_leaves_no_call_in_the_entry() -> None:
    text = optimized_ir(program(1), options(True))
    entry = text[text.index("@bpf_entry("):]
    entry = entry[: entry.index("\n}\n")]
    assert re.search(r"call [^\n]*@bpf_fn_0\(", entry) is None
