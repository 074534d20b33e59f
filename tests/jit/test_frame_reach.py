"""How many stack bytes the JIT zeroes at entry (pybpf.vm.jit.framereach): what a program can
reach below r10 through copies of r10, and the whole frame whenever a copy escapes the analysis.
The expected sizes are read off the programs by hand."""

from __future__ import annotations

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.isa import assemble
from pybpf.isa.instruction import iter_slots
from pybpf.object.spec import ProgramSpec
from pybpf.vm.jit.cfg import find_functions
from pybpf.vm.jit.framereach import frame_bytes_reached


def reach(text: str) -> int:
    insns = list(assemble(text, syntax="llvm"))
    return frame_bytes_reached(dict(iter_slots(insns)), find_functions(insns))


@pytest.mark.parametrize("text,expected", [
    ("r0 = 0\nexit", 0),
    ("*(u64 *)(r10 - 24) = r1\nr0 = 0\nexit", 24),
    ("r2 = r10\nr2 += -4\ncall 1\nr0 = 0\nexit", 8),  # a helper reads from the pointer upwards
    ("r2 = r10\nr2 += -16\nr3 = r2\nr3 += 8\nr0 = *(u32 *)(r3 - 12)\nexit", 24),
    ("r2 = r10\nif r1 == 0 goto +1\nr2 += -32\nr2 += -8\nr0 = *(u64 *)(r2 + 0)\nexit", 40),
    ("r2 = r10\nr2 -= 100\n*(u8 *)(r2 + 0) = 1\nr0 = 0\nexit", 104),
    ("r2 = r10\nif r2 > r1 goto +0\nr0 = 0\nexit", 0),  # compared only
])
def test_followed_pointers(text: str, expected: int) -> None:
    assert reach(text) == expected


@pytest.mark.parametrize("text", [
    "r2 = r10\n*(u64 *)(r10 - 8) = r2\nr0 = 0\nexit",  # stored to memory
    "r0 = r10\nexit",  # returned
    "r2 = r10\nr2 += r1\n*(u8 *)(r2 - 1) = 0\nr0 = 0\nexit",  # an unknown offset
    "r2 = r10\nr2 &= -8\nr0 = 0\nexit",  # not a plain offset
    "w2 = w10\nr0 = 0\nexit",  # truncated
    "r1 = r10\ncall local fn\nexit\nfn:\nr0 = *(u64 *)(r1 - 8)\nexit",  # into a callee
    "r2 = r10\nloop:\nr2 += -8\n*(u64 *)(r2 + 0) = 0\nif r1 != 0 goto loop\nr0 = 0\nexit",  # walking
    "r2 = r10\nr2 += -520\nr0 = 0\n*(u8 *)(r2 + 0) = 0\nexit",  # beyond the frame
])
def test_escaping_pointers_cost_the_whole_frame(text: str) -> None:
    assert reach(text) == 512


# The first byte of the packet picks a path: write a pattern below r10 through a copy of r10,
# or read the same bytes without writing them. The interpreter's stack starts zeroed on every run.
WRITE_THEN_READ = """
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u8 *)(r2 + 0)
    r6 = r10
    r6 += -64
    r0 = 0
    if r3 == 0 goto read
    r4 = 0x5555
    *(u64 *)(r6 + 0) = r4
    *(u64 *)(r6 + 24) = r4
    *(u64 *)(r6 + 56) = r4
    exit
read:
    r0 = *(u64 *)(r6 + 0)
    r5 = *(u64 *)(r6 + 24)
    r0 += r5
    r5 = *(u64 *)(r6 + 56)
    r0 += r5
    exit
"""


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_a_run_never_sees_the_previous_runs_stack(engine: str) -> None:
    spec = ProgramSpec("p", tuple(assemble(WRITE_THEN_READ, syntax="llvm")), type=ProgramType.XDP)
    with Runtime(engine, verify=False).load(spec) as coll:
        program = coll.programs["p"]
        assert program.run(bytes([1]) + bytes(15)).retval == 0
        assert program.run(bytes(16)).retval == 0
