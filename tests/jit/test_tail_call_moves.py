"""A tail-called program that moves the packet (bpf_xdp_adjust_head) inside `bind()`, `run_batch()`
and `run()`: the caller's view of the packet follows, as on the interpreter and the kernel."""

from __future__ import annotations

import pytest

from pybpf.abi import MapType
from pybpf.engines import Runtime
from pybpf.object.spec import CollectionSpec, MapSpec
from testlib import jit_program, xdp_asm_program

# entry: packets shorter than 30 bytes return their length; longer ones tail-call `target`, which
# drops their first 8 bytes (bpf_xdp_adjust_head(ctx, 8)), writes 0xAA at the new start and
# returns XDP_TX (3)
ENTRY = """
r6 = r1
r2 = *(u32 *)(r6 + 4)
r3 = *(u32 *)(r6 + 0)
r2 -= r3
if r2 < 30 goto +6
r1 = r6
r2 = 0 ll
r3 = 0
call 12
r2 = 99
r0 = r2
exit
"""
TARGET = """
r6 = r1
r2 = 8
call 44
if r0 != 0 goto +7
r2 = *(u32 *)(r6 + 0)
r3 = *(u32 *)(r6 + 4)
r4 = r2
r4 += 1
if r4 > r3 goto +2
r5 = 0xaa
*(u8 *)(r2 + 0) = r5
r0 = 3
exit
"""


def _spec() -> CollectionSpec:
    jmp = MapSpec("jmp", MapType.PROG_ARRAY, 4, 4, 1, initial_slots=((0, "target"),))
    return CollectionSpec(
        programs={"entry": xdp_asm_program("entry", ENTRY, ("jmp",)), "target": xdp_asm_program("target", TARGET)},
        maps={"jmp": jmp},
    )


def _packet(n: int, first: int = 0) -> bytes:
    return bytes((first + i) & 0xFF for i in range(n))


def _moved(packet: bytes) -> bytes:
    """What one run of entry leaves of a packet of 30 bytes or more (written by hand)."""
    return b"\xaa" + packet[9:]


ENGINES = ["interp", "jit", pytest.param("kernel", marks=pytest.mark.kernel)]


@pytest.mark.parametrize("engine", ENGINES)
def test_run_output_follows_the_tail_called_move(engine: str) -> None:
    with Runtime(engine, verify=False).load(_spec()) as coll:
        entry = coll.programs["entry"]
        for i in range(20):  # past the JIT's switch to its native per-program set-up
            packet = _packet(40 + i, i)
            result = entry.run(packet)
            assert (result.retval, result.data_out) == (3, _moved(packet))
        assert entry.run(_packet(20)).retval == 20


def test_bound_runs_see_the_packet_a_tail_call_moved() -> None:
    """A bound context persists across calls: each call sees the packet the previous one left,
    the caller's own native packet pointers included (they were left stale)."""
    packet = _packet(60)
    with Runtime("jit", verify=False).load(_spec()) as coll:
        with jit_program(coll, "entry").bind(packet) as bound:
            got = []
            for _ in range(4):
                got.append(bound())
                if got[-1] == 3:
                    out = bound.data_out()
            final = bound.data_out()
    # 60 -> 52 -> 44 -> 36 bytes, then 36 >= 30: one more move to 28, then 28 < 30
    assert got == [3, 3, 3, 3]
    assert out == final
    expected = packet
    for _ in range(4):
        expected = _moved(expected)
    assert final == expected and len(final) == 28


def test_bound_run_then_entry_returns_the_moved_length() -> None:
    packet = _packet(60)
    with Runtime("jit", verify=False).load(_spec()) as coll:
        with jit_program(coll, "entry").bind(packet) as bound:
            got = [bound() for _ in range(6)]
    assert got == [3, 3, 3, 3, 28, 28]


@pytest.mark.parametrize("engine", ["interp", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_bound_sequence_matches_runs_on_each_output(engine: str) -> None:
    """The reference for bind(): run each call on the previous call's output packet."""
    packet = _packet(60)
    got = []
    with Runtime(engine, verify=False).load(_spec()) as coll:
        for _ in range(6):
            result = coll.programs["entry"].run(packet)
            got.append(result.retval)
            assert result.data_out is not None
            packet = result.data_out
    assert got == [3, 3, 3, 3, 28, 28]
    assert len(packet) == 28


def test_batch_outputs_follow_the_tail_called_move() -> None:
    packets = [_packet(30 + 7 * i, i) for i in range(12)] + [_packet(20)]
    with Runtime("interp", verify=False).load(_spec()) as coll:
        expected = [coll.programs["entry"].run(p) for p in packets]
    with Runtime("jit", verify=False).load(_spec()) as coll:
        batch = jit_program(coll, "entry").run_batch(packets, keep_output=True)
        after = coll.programs["entry"].run(_packet(50, 5))  # a run after the batch still works
    assert list(batch.retvals) == [r.retval for r in expected] == [3] * 12 + [20]
    assert batch.outputs == [r.data_out for r in expected]
    assert batch.outputs[0] == _moved(packets[0])
    assert (after.retval, after.data_out) == (3, _moved(_packet(50, 5)))
