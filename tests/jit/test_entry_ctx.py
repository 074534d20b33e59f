"""Context fields read through r1 as the run began (pybpf.vm.jit.irctx): the known-field path
when r1 is the context, the general path when it is not (a tail call handing on another r1)."""

from __future__ import annotations

import pytest

from pybpf.abi import MapType
from pybpf.engines import Runtime
from pybpf.isa import assemble
from pybpf.isa.instruction import iter_slots
from pybpf.object.spec import CollectionSpec, MapSpec
from pybpf.vm.jit.cfg import reachable, successors
from pybpf.vm.jit.ctxflow import entry_ctx_offsets
from testlib import xdp_asm_program

# data and data_end read through a copy of r1 moved past ctx->data: r0 = the packet's length
LENGTH = """
r6 = r1
r6 += 4
r2 = *(u32 *)(r6 - 4)
r3 = *(u32 *)(r6 + 0)
r3 -= r2
r0 = r3
exit
"""
# hands on r1 = ctx + 4 (not the context) to the tail-called target
ENTRY = """
r1 += 4
r2 = 0 ll
r3 = 0
call 12
r0 = 99
exit
"""
# reads (r1 + 0) and (r1 - 4): with r1 = ctx + 4 that is data_end and data
TARGET = """
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 - 4)
r2 -= r3
r0 = r2
exit
"""


def _offsets(text: str) -> dict[int, dict[int, int]]:
    slots = dict(iter_slots(assemble(text, syntax="llvm")))
    return entry_ctx_offsets(slots, reachable(slots, 0), lambda pc: successors(slots, pc))


def test_offsets_follow_copies_and_constant_adds() -> None:
    got = _offsets(LENGTH)
    assert got[0] == {1: 0}
    assert got[2] == {1: 0, 6: 4}
    assert got[4] == {1: 0, 6: 4}  # r2 and r3 hold loaded values, not the context


def test_offsets_keep_only_what_every_path_agrees_on() -> None:
    got = _offsets("""
r6 = r1
r7 = r1
if r2 == 0 goto +2
r6 += 8
r7 += 0
r0 = *(u32 *)(r7 + 0)
call 5
r0 = 0
exit
""")
    assert got[5] == {1: 0, 7: 0}  # r6 is r1 on one path, r1 + 8 on the other
    assert got[7] == {7: 0}  # a helper call leaves r0-r5 unknown; r7 is r1 on both paths


@pytest.mark.parametrize("unsafe", [False, True])
@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_fields_read_through_an_offset_copy_of_r1(engine: str, unsafe: bool) -> None:
    options = {"unsafe_fast": True} if unsafe and engine == "jit" else {}
    spec = CollectionSpec(programs={"length": xdp_asm_program("length", LENGTH)}, maps={})
    with Runtime(engine, verify=False, **options).load(spec) as coll:
        program = coll.programs["length"]
        for n in (14, 60, 61):
            assert program.run(bytes(n)).retval == n


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_a_target_entered_with_another_r1_takes_the_general_path(engine: str) -> None:
    jmp = MapSpec("jmp", MapType.PROG_ARRAY, 4, 4, 1, initial_slots=((0, "target"),))
    spec = CollectionSpec(
        programs={"entry": xdp_asm_program("entry", ENTRY, ("jmp",)), "target": xdp_asm_program("target", TARGET)},
        maps={"jmp": jmp},
    )
    with Runtime(engine, verify=False).load(spec) as coll:
        entry = coll.programs["entry"]
        for n in (20, 47):
            assert entry.run(bytes(n)).retval == n
