"""A tail-called XDP program reads the caller's ctx and packet on every engine (the JIT gave it none)."""

from __future__ import annotations

import pytest
from test_engine import program

from pybpf.abi import MapType
from pybpf.engines import Runtime
from pybpf.object.spec import CollectionSpec, MapSpec

# entry tail-calls target; target returns data_end - data + the packet's first byte
ENTRY = "r2 = 0 ll\nr3 = 0\ncall 12\nr0 = 77\nexit"
TARGET = ("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr0 = r3\nr0 -= r2\n"
          "r5 = r2\nr5 += 1\nif r5 > r3 goto +2\nr4 = *(u8 *)(r2 + 0)\nr0 += r4\nexit")


def _spec() -> CollectionSpec:
    jmp = MapSpec("jmp", MapType.PROG_ARRAY, 4, 4, 1, initial_slots=((0, "target"),))
    return CollectionSpec(
        programs={"entry": program("entry", ENTRY, {0: ("jmp", "fd")}), "target": program("target", TARGET)},
        maps={"jmp": jmp},
    )


@pytest.mark.parametrize("engine", ["interp", "jit", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_tail_called_program_sees_the_packet(engine: str) -> None:
    with Runtime(engine, verify=False).load(_spec()) as coll:
        # 20 runs: past the JIT's switch to its compiled per-program set-up too
        got = [coll.programs["entry"].run(bytes([i % 3]) + bytes(59 + i % 3)).retval for i in range(20)]
    assert got == [60 + 2 * (i % 3) for i in range(20)]  # length 60/61/62 plus first byte 0/1/2
