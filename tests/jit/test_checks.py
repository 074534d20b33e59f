"""Bounds checks of the JIT's default mode: combined per-block checks, the packet region kept in
registers, and the budget's fast copy must fault, count and write exactly like the interpreter."""

from __future__ import annotations

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.errors import RuntimeFault
from pybpf.isa import assemble
from pybpf.object.spec import ProgramSpec
from pybpf.vm.jit.ircombine import MIN_GROUP, plan_checks

# A loop whose body reads four bytes and writes one off the same pointer: one combined check
# per iteration, and the pointer walks past the packet's end when the packet is short.
WALK = """
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r0 = 0
    r4 = 0
loop:
    r5 = r2
    r5 += r4
    r6 = *(u8 *)(r5 + 0)
    r7 = *(u8 *)(r5 + 1)
    r8 = *(u8 *)(r5 + 2)
    r9 = *(u8 *)(r5 + 3)
    *(u8 *)(r5 + 1) = r9
    r0 += r6
    r0 += r7
    r0 += r8
    r4 += 1
    if r4 < 40 goto loop
    exit
"""


def outcome(engine: str, text: str, data: bytes, **options):  # type: ignore[no-untyped-def]
    spec = ProgramSpec("p", tuple(assemble(text, syntax="llvm")), type=ProgramType.XDP)
    with Runtime(engine, verify=False, **options).load(spec) as coll:
        try:
            r = coll.programs["p"].run(data)
        except RuntimeFault as exc:
            return ("fault", exc.reason.split(" at 0x")[0], exc.pc, exc.size)
        return (r.retval, r.data_out, r.instructions)


@pytest.mark.parametrize("size", [14, 30, 41, 42, 43, 44, 60])
def test_combined_checks_fault_at_the_exact_instruction(size: int) -> None:
    data = bytes(range(7, 7 + size))
    expected = outcome("interp", WALK, data)
    assert outcome("jit", WALK, data) == expected
    if size >= 43:  # long enough for all 40 iterations
        assert expected[0] != "fault"
    else:
        assert expected[0] == "fault"


@pytest.mark.parametrize("budget", [5, 17, 100, 163, 164, 250])
def test_budget_fast_copy_runs_out_where_the_interpreter_does(budget: int) -> None:
    data = bytes(range(64))
    assert outcome("jit", WALK, data, budget=budget) == outcome("interp", WALK, data, budget=budget)


def test_plan_groups_accesses_off_one_register_value() -> None:
    insns = assemble(WALK, syntax="llvm")
    slots = dict(enumerate(insns))
    body = list(range(4, 15))  # the loop body up to the conditional jump
    plan = plan_checks(slots, body)
    assert plan is not None
    assert plan.at == 2  # after `r5 += r4`, the last write of the base
    (group,) = plan.groups
    assert (group.reg, group.low, group.high, group.write) == (5, 0, 4, True)
    assert len(group.pcs) == 5 >= MIN_GROUP


def test_plan_leaves_a_redefined_base_to_single_checks() -> None:
    text = """
        r6 = *(u8 *)(r5 + 0)
        r7 = *(u8 *)(r5 + 1)
        r5 += 8
        r8 = *(u8 *)(r5 + 2)
        r9 = *(u8 *)(r5 + 3)
        exit
    """
    insns = assemble(text, syntax="llvm")
    assert plan_checks(dict(enumerate(insns)), list(range(len(insns)))) is None


# A loop whose body is a tree of branches that meet again: the fast copy counts constants along
# the tree and a sum where paths of different lengths meet.
BRANCHY = """
    r0 = 0
    r2 = 0x12345
    r4 = 0
loop:
    r3 = r2
    r3 &= 3
    if r3 > 1 goto high
    if r3 == 0 goto zero
    r0 += 1
    goto join
zero:
    r0 += 2
    r0 ^= 5
    goto join
high:
    if r3 == 2 goto join
    r0 *= 3
join:
    r2 *= 1103515245
    r2 += 12345
    r4 += 1
    if r4 < 30 goto loop
    exit
"""


@pytest.mark.parametrize("budget", [1, 4, 9, 23, 50, 111, 200, 1000])
def test_budget_through_branch_trees_matches_the_interpreter(budget: int) -> None:
    jit = outcome("jit", BRANCHY, b"\0" * 20, budget=budget)
    assert jit == outcome("interp", BRANCHY, b"\0" * 20, budget=budget)
    if budget == 1000:
        assert jit[0] != "fault"
