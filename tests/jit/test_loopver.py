"""Which loops the JIT versions (pybpf.vm.jit.loopver), read off small programs by hand: the
induction variable, the exit test that bounds the loop and the accesses the guard covers."""

from __future__ import annotations

from pybpf.isa import assemble
from pybpf.isa.instruction import iter_slots
from pybpf.vm.jit.cfg import block_bodies, block_leaders, budget_regions
from pybpf.vm.jit.loopver import Affine, LoopPlan, plan_loops


def plans(text: str) -> dict[int, LoopPlan]:
    insns = list(assemble(text, syntax="llvm"))
    slots = dict(iter_slots(insns))
    pcs = sorted(slots)
    bodies = block_bodies(slots, pcs, block_leaders(slots, pcs, 0))  # the blocks the JIT builds
    checkpoints, maxpath = budget_regions(slots, 0, bodies)
    return plan_loops(slots, bodies, checkpoints, maxpath, 0)


def test_counted_walk_over_two_strings() -> None:
    found = plans("""
        r2 = *(u32 *)(r1 + 0)
        r3 = 0
    loop:
        r4 = r2
        r4 += r3
        r5 = *(u8 *)(r4 + 0)
        r6 = *(u8 *)(r4 + 20)
        r3 += 1
        if r3 != 20 goto loop
        exit
    """)
    plan = found[2]
    # r3 as it is when the test runs: the header's r3 plus one
    assert (plan.test.x, plan.test.y, plan.test.pred, plan.test.stride) == (
        Affine(((3, 1),), 1), Affine((), 20), "!=", 1)
    assert [(a.pc, a.base, a.off, a.stride) for a in plan.accesses] == [
        (4, Affine(((2, 1), (3, 1)), 0), 0, 1), (5, Affine(((2, 1), (3, 1)), 0), 20, 1)]
    assert plan.cost == 7  # the six of the loop, then the exit


def test_thirty_two_bit_counter() -> None:
    found = plans("""
        w3 = 0
    loop:
        r0 += 1
        w3 += 2
        if w3 < 100 goto loop
        exit
    """)
    test = found[1].test
    assert (test.pred, test.w32, test.stride) == ("<", True, 2)


def test_loops_left_alone() -> None:
    # a call in the body; an inner loop; a bound that moves with the counter; no exit test on
    # every way around (the exit is on one branch only)
    assert plans("r3 = 0\nloop:\ncall 7\nr3 += 1\nif r3 < 9 goto loop\nexit") == {}
    inner = plans("""
        r3 = 0
    outer:
        r4 = 0
    inner:
        r4 += 1
        if r4 < 4 goto inner
        r3 += 1
        if r3 < 4 goto outer
        exit
    """)
    assert set(inner) == {2}  # the inner loop only
    assert plans("r3 = 0\nr4 = 9\nloop:\nr3 += 1\nr4 += 1\nif r3 < r4 goto loop\nexit") == {}
    assert plans("""
        r3 = 0
    loop:
        r3 += 1
        if r1 == 0 goto skip
        if r3 > 50 goto out
    skip:
        goto loop
    out:
        exit
    """) == {}
