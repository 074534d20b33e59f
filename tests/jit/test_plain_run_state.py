"""The JIT's reused run state for programs on plain data (pybpf.vm.jit.plainrun): `run()` gives the
interpreter's results, faults and outputs, reads a read-only program's input in place, never writes
the caller's bytes, and nothing of one run leaks into the next."""

from __future__ import annotations

from typing import Any

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.isa import assemble
from pybpf.object.spec import CollectionSpec, ProgramSpec
from pybpf.vm.contexts import OUTPUT_IN_PLACE_MIN
from pybpf.vm.jit.plainrun import PlainRunState
from testlib import jit_program, run_outcomes

# r0 = data[0] + data[len - 1] (r2 is the length)
READ_ENDS = """
r0 = *(u8 *)(r1 + 0)
r1 += r2
r3 = *(u8 *)(r1 - 1)
r0 += r3
exit
"""

# data[1] = data[0] + 1 (after reading data[1]); r0 = the old data[1]
WRITE_SECOND = """
r0 = *(u8 *)(r1 + 1)
r3 = *(u8 *)(r1 + 0)
r3 += 1
*(u8 *)(r1 + 1) = r3
exit
"""

# r0 = data[100], no length check
READ_AT_100 = "r0 = *(u8 *)(r1 + 100)\nexit"

# bpf_probe_read_kernel(fp - 8, 4, data) (a helper in Python, reading the input through the memory model)
CALLS_PYTHON = """
r6 = r1
r1 = r10
r1 += -8
r2 = 4
r3 = r6
call 113
r0 = *(u32 *)(r10 - 8)
r1 = *(u8 *)(r6 + 0)
r0 += r1
exit
"""

# a 64-bit r0 (typed programs report it cut to 32 bits)
WIDE = "r0 = -1\nexit"


def _outcomes(engine: str, text: str, packets: list[bytes], ptype: ProgramType = ProgramType.UNSPEC) -> list[Any]:
    return run_outcomes(engine, text, ptype, packets)


PACKETS = [bytes(range(1, 201)), bytes([7, 8, 9]), bytes(range(1, 201)), bytes([250]) * 120, b"\x01\x02"]


@pytest.mark.parametrize("text", [READ_ENDS, WRITE_SECOND, READ_AT_100, CALLS_PYTHON],
                         ids=["read_ends", "write_second", "read_at_100", "calls_python"])
@pytest.mark.parametrize("ptype", [ProgramType.UNSPEC, ProgramType.RAW_TRACEPOINT])
def test_runs_match_the_interpreter(text: str, ptype: ProgramType) -> None:
    assert _outcomes("jit", text, PACKETS, ptype) == _outcomes("interp", text, PACKETS, ptype)


def test_the_state_is_taken_and_the_caller_bytes_stay_as_they_were() -> None:
    spec = CollectionSpec.single(ProgramSpec("p", tuple(assemble(WRITE_SECOND, syntax="llvm"))))
    with Runtime("jit", verify=False).load(spec) as coll:
        prog = jit_program(coll, "p")
        assert isinstance(prog._state, PlainRunState)
        data = bytes([5, 0, 0])
        first, second = prog.run(data), prog.run(data)
        assert first.data_out == second.data_out == bytes([5, 6, 0])  # each run on a fresh copy
        assert first.retval == second.retval == 0
        assert data == bytes([5, 0, 0])


def test_a_read_only_program_reads_the_input_in_place() -> None:
    spec = CollectionSpec.single(ProgramSpec("p", tuple(assemble(READ_ENDS, syntax="llvm"))))
    with Runtime("jit", verify=False).load(spec) as coll:
        prog = coll.programs["p"]
        data = bytes([3]) + bytes(1000) + bytes([4])
        result = prog.run(data)
        assert result.retval == 7 and result.data_out is data  # no copy either way
        other = bytes([1]) + bytes(10) + bytes([1])  # another object: its own address
        assert prog.run(other).retval == 2 and prog.run(data).retval == 7


def test_a_large_writable_input_and_a_fault_then_clean_runs() -> None:
    big = bytes([1, 1]) + bytes(OUTPUT_IN_PLACE_MIN)  # the one-off path (one copy, into the output)
    assert _outcomes("jit", WRITE_SECOND, [big, PACKETS[1]]) == _outcomes("interp", WRITE_SECOND, [big, PACKETS[1]])
    got = _outcomes("jit", READ_AT_100, [bytes(range(101)), bytes(50), bytes(range(120))])
    assert got[0][0] == 100 and got[1][0] == "fault" and got[2][0] == 100


def test_typed_programs_cut_r0_to_32_bits() -> None:
    assert _outcomes("jit", WIDE, [b"x"])[0][0] == (1 << 64) - 1
    assert _outcomes("jit", WIDE, [b"x"], ProgramType.RAW_TRACEPOINT)[0][0] == 0xFFFFFFFF
    assert _outcomes("interp", WIDE, [b"x"], ProgramType.RAW_TRACEPOINT)[0][0] == 0xFFFFFFFF
