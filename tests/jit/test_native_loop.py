"""bpf_loop on the JIT runs natively: same results and faults as the interpreter, and 8M iterations are cheap."""

from __future__ import annotations

from typing import TypedDict

import pytest

from pybpf.engines import Runtime
from pybpf.errors import RuntimeFault
from pybpf.isa import assemble
from pybpf.object.spec import CollectionSpec, ProgramSpec

# sum of the indices below `stop` (the callback returns 1 at index `stop`), plus bpf_loop's r0 << 32
TEMPLATE = """
    r6 = 0
    *(u64 *)(r10 - 8) = r6
    r1 = {nr}
    r2 = {callback}
    r3 = r10
    r3 += -8
    r4 = {flags}
    call 181
    r0 <<= 32
    r6 = *(u64 *)(r10 - 8)
    r0 += r6
    exit
cb:
    r0 = 0
    if r1 == {stop} goto out
    r3 = *(u64 *)(r2 + 0)
    r3 += r1
    *(u64 *)(r2 + 0) = r3
    exit
out:
    r0 = 1
    exit
"""


class LoopCase(TypedDict, total=False):
    """The bpf_loop arguments one case sets."""

    nr: int
    stop: int
    flags: int


def _run(engine: str, *, nr: int, stop: int = -1, flags: int = 0, callback: str = "func(cb)") -> int:
    text = TEMPLATE.format(nr=nr, stop=stop, flags=flags, callback=callback)
    spec = CollectionSpec.single(ProgramSpec("p", tuple(assemble(text, syntax="llvm"))))
    with Runtime(engine, verify=False, budget=10**9).load(spec) as coll:
        return coll.programs["p"].run().retval


@pytest.mark.parametrize(
    "case",
    [dict(nr=0), dict(nr=1), dict(nr=10), dict(nr=10, stop=4), dict(nr=10, stop=0), dict(nr=5, flags=1),
     dict(nr=(1 << 23) + 1), dict(nr=(1 << 32) + 3)],
)  # fmt: skip
def test_same_as_interpreter(case: LoopCase) -> None:
    assert _run("jit", **case) == _run("interp", **case)


def test_results_hand_computed() -> None:
    assert _run("jit", nr=10) == (10 << 32) + 45
    assert _run("jit", nr=10, stop=4) == (5 << 32) + 0 + 1 + 2 + 3
    assert _run("jit", nr=5, flags=1) == ((-22 & (2**64 - 1)) << 32) & (2**64 - 1)
    assert _run("jit", nr=(1 << 23) + 1) == ((2**32 - 7) << 32) & (2**64 - 1)


def test_eight_million_iterations() -> None:
    n = 1 << 23
    assert _run("jit", nr=n) == ((n << 32) + n * (n - 1) // 2) & (2**64 - 1)


def test_a_callback_that_is_not_a_function_faults_like_the_interpreter() -> None:
    for engine in ("interp", "jit"):
        with pytest.raises(RuntimeFault, match="not a function"):
            _run(engine, nr=3, callback="0x1234")
