"""The block fast path gives exactly the per-instruction interpreter's results and counts."""

from __future__ import annotations

import pytest

from pybpf.conformance import UBPF_HELPERS, parse_data_file, program_of
from pybpf.errors import BpfError, RuntimeFault
from pybpf.isa import assemble
from pybpf.vm.blocks import leaders
from pybpf.vm.interpreter import Machine
from pybpf.vm.loadcheck import slot_table
from pybpf.vm.memory import Region
from pybpf.vm.run_env import RunEnv
from testlib import SHARED

CONFORMANCE = SHARED / "conformance" / "tests"


def _run(insns: list, mem: bytes, blocks: bool, budget: int = 1_000_000) -> tuple[str, int, int]:
    env = RunEnv()
    machine = Machine(insns, env, helpers=UBPF_HELPERS, use_blocks=blocks)
    address = 0
    if mem:
        address = env.add_run_region(Region.allocate(len(mem), name="mem", init=mem)).address
    try:
        return "ok", machine.run(address, len(mem), budget=budget), machine.instructions
    except BpfError as exc:
        return type(exc).__name__, getattr(exc, "pc", None) or 0, 0


def test_leaders() -> None:
    insns = assemble("""
        mov %r0, 0
        mov %r1, 3
    loop:
        add %r0, %r1
        sub %r1, 1
        jne %r1, 0, loop
        lddw %r2, 5
        call local fn
        exit
    fn:
        mov %r0, 1
        exit
    """, syntax="ubpf")
    assert leaders(slot_table(insns)) == [0, 2, 5, 8, 9]  # loop, after jne, after call, fn


def test_every_conformance_vector_same_in_both_modes() -> None:
    if not CONFORMANCE.is_dir():
        pytest.skip("../shared is absent")
    for path in sorted(CONFORMANCE.glob("*.data")):
        test = parse_data_file(path)
        insns = program_of(test)
        assert _run(insns, test.mem, True) == _run(insns, test.mem, False), path.name


@pytest.mark.parametrize("budget", [1, 2, 3, 7, 8, 9, 100, 101])
def test_budget_exhaustion_is_exact(budget: int) -> None:
    insns = assemble("mov %r0, 0\nl:\nadd %r0, 1\nadd %r0, 1\nadd %r0, 1\nja l\nexit",
                     syntax="ubpf")
    fast = _run(insns, b"", True, budget)
    slow = _run(insns, b"", False, budget)
    assert fast == slow and fast[0] == "RuntimeFault"


def test_fault_pc_inside_a_block() -> None:
    insns = assemble("mov %r0, 1\nadd %r0, 2\nldxw %r0, [%r1+6]\nadd %r0, 1\nexit", syntax="ubpf")
    env = RunEnv()
    machine = Machine(insns, env)
    mem = env.add_run_region(Region.allocate(8, name="mem"))
    with pytest.raises(RuntimeFault) as info:
        machine.run(mem.address, 8)
    assert info.value.pc == 2 and info.value.size == 4
