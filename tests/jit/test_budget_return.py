"""The budget left travels in a function's return value (no store at exit): a caller continues
from what its callee left, and a run's count and budget faults stay the interpreter's."""

from __future__ import annotations

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.errors import RuntimeFault
from pybpf.isa import assemble
from pybpf.object.spec import ProgramSpec

# main calls a sub-program twice (each call runs a short loop), then exits
CALLS = """
    r6 = 0
    r1 = 3
    call sub
    r6 += r0
    r1 = 5
    call sub
    r0 += r6
    exit
sub:
    r0 = 0
loop:
    r0 += r1
    r1 -= 1
    if r1 != 0 goto loop
    exit
"""


def outcome(engine: str, budget: int) -> tuple[object, ...]:
    spec = ProgramSpec("p", tuple(assemble(CALLS, syntax="llvm")), type=ProgramType.XDP)
    with Runtime(engine, verify=False, budget=budget).load(spec) as coll:
        try:
            r = coll.programs["p"].run(bytes(64))
        except RuntimeFault as exc:
            return ("fault", exc.reason.split(" at ")[0], exc.pc)
        return (r.retval, r.instructions)


def test_the_count_through_calls() -> None:
    ran = outcome("interp", 1 << 20)
    assert ran[0] == 3 + 2 + 1 + 5 + 4 + 3 + 2 + 1
    assert outcome("jit", 1 << 20) == ran


@pytest.mark.parametrize("slack", [-9, -1, 0, 1])
def test_budget_faults_at_the_exact_total(slack: int) -> None:
    total = outcome("interp", 1 << 20)[1]
    assert isinstance(total, int)
    expected = outcome("interp", total + slack)
    assert outcome("jit", total + slack) == expected
    assert (expected[0] == "fault") == (slack < 0)
