"""The JIT's native bpf_xdp_adjust_head and its native lookups in per-CPU/LRU hash maps give the
interpreter's results: verdicts, moved packets and metadata, per-CPU values, LRU reference bits."""

from __future__ import annotations

import dataclasses
import struct

import pytest

from pybpf.abi import MapType, ProgramType
from pybpf.engines import Runtime
from pybpf.isa import assemble
from pybpf.isa.instruction import iter_slots
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec

ENGINES = ["interp", "jit"]

# delta = the packet's first u32; r0 = (length after) << 8 | low byte of adjust_head's result
ADJUST_BY_FIRST_WORD = """
r6 = r1
r2 = *(u32 *)(r1 + 0)
r2 = *(u32 *)(r2 + 0)
r1 = r6
call 44
r7 = r0
r2 = *(u32 *)(r6 + 0)
r3 = *(u32 *)(r6 + 4)
r0 = r3
r0 -= r2
r0 <<= 8
r7 &= 255
r0 |= r7
exit
"""

# 8 bytes of metadata (adjust_meta, a Python helper), then adjust_head(14) natively: the
# metadata moves with data
META_THEN_HEAD = """
r6 = r1
r2 = -8
call 54
r2 = *(u32 *)(r6 + 8)
r3 = 0x11223344
*(u32 *)(r2 + 0) = r3
*(u32 *)(r2 + 4) = r3
r1 = r6
r2 = 14
call 44
r0 = 2
exit
"""


def _xdp(text: str, refs: tuple[str, ...] = (), maps: tuple[MapSpec, ...] = ()) -> CollectionSpec:
    insns = tuple(assemble(text, syntax="llvm"))
    lddw = [pc for pc, insn in iter_slots(insns) if insn.opcode == 0x18]
    references = tuple(MapReference(pc=pc, map_name=m, kind="fd") for pc, m in zip(lddw, refs, strict=True))
    prog = ProgramSpec("p", insns, type=ProgramType.XDP, map_references=references)
    return CollectionSpec(programs={"p": prog}, maps={m.name: m for m in maps})


def _packet(delta: int, size: int = 64) -> bytes:
    return struct.pack("<i", delta) + bytes(range(4, size))


def _results(engine: str, spec: CollectionSpec, packets: list[bytes], **options: object) -> list[tuple]:
    with Runtime(engine, verify=False, **options).load(spec) as coll:
        return [(r.retval, r.data_out, r.ctx_out) for r in (coll.programs["p"].run(p) for p in packets)]


def test_adjust_head_moves_and_refuses_like_the_interpreter() -> None:
    deltas = [14, 0, -16, -216, -217, 50, 51, 100]  # 64-byte packets: 50 is the last valid shrink
    packets = [_packet(d) for d in deltas]
    jit = _results("jit", _xdp(ADJUST_BY_FIRST_WORD), packets)
    assert jit == _results("interp", _xdp(ADJUST_BY_FIRST_WORD), packets)
    einval = 256 - 22
    assert [r[0] for r in jit] == [
        50 << 8, 64 << 8, 80 << 8, 280 << 8, 64 << 8 | einval, 14 << 8, 64 << 8 | einval,
        64 << 8 | einval,
    ]
    assert jit[0][1] == packets[0][14:]
    assert jit[2][1] == bytes(16) + packets[2]  # grown into the (zeroed) headroom


def test_metadata_moves_with_data() -> None:
    packet = bytes(range(64))
    jit = _results("jit", _xdp(META_THEN_HEAD), [packet, packet])
    assert jit == _results("interp", _xdp(META_THEN_HEAD), [packet, packet])
    meta = struct.pack("<2I", 0x11223344, 0x11223344)
    assert jit[0] == (2, meta + packet[14:], struct.pack("<6I", 8, 58, 0, 1, 0, 0))


def test_batch_and_bound_runs_see_the_moved_packet() -> None:
    packets = [_packet(14), _packet(-8), _packet(99), _packet(20)]
    with Runtime("jit", verify=False).load(_xdp(ADJUST_BY_FIRST_WORD)) as coll:
        prog = coll.programs["p"]
        batch = prog.run_batch(packets, keep_output=True)
        assert list(batch.retvals) == [50 << 8, 72 << 8, 64 << 8 | 234, 44 << 8]
        assert batch.outputs == [packets[0][14:], bytes(8) + packets[1], packets[2], packets[3][20:]]
        with prog.bind(_packet(14, 100)) as bound:
            assert bound() == 86 << 8
            assert bound() == (86 << 8) | 234  # the first word now is bytes 14..17: no valid delta
            assert bound.data_out() == _packet(14, 100)[14:]


CONNS = MapSpec("conns", MapType.LRU_PERCPU_HASH, key_size=4, value_size=8, max_entries=64)

# key = packet byte 0; found: value += 1 and return it; absent: insert 100 (a Python helper), 0
COUNT_CONNS = """
r6 = r1
r2 = *(u32 *)(r1 + 0)
r3 = *(u8 *)(r2 + 0)
*(u32 *)(r10 - 4) = r3
r1 = 0 ll
r2 = r10
r2 += -4
call 1
if r0 == 0 goto insert
r1 = *(u64 *)(r0 + 0)
r1 += 1
*(u64 *)(r0 + 0) = r1
r0 = r1
exit
insert:
r1 = 100
*(u64 *)(r10 - 16) = r1
r1 = 0 ll
r2 = r10
r2 += -4
r3 = r10
r3 += -16
r4 = 0
call 2
r0 = 0
exit
"""


@pytest.mark.parametrize("cpu", [0, 1])
def test_per_cpu_lru_lookups_match_the_interpreter(cpu: int) -> None:
    spec = _xdp(COUNT_CONNS, refs=("conns", "conns"), maps=(CONNS,))
    packets = [bytes([k]) + bytes(63) for k in (1, 2, 1, 1, 3, 2, 1)]
    outcomes = []
    for engine in ENGINES:
        with Runtime(engine, verify=False, cpu=cpu).load(spec) as coll:
            verdicts = [coll.programs["p"].run(p).retval for p in packets]
            outcomes.append((verdicts, sorted(coll.maps["conns"].items())))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][0] == [0, 0, 101, 102, 0, 101, 103]


def test_a_native_lookup_marks_the_lru_element_referenced() -> None:
    spec = _xdp(COUNT_CONNS, refs=("conns", "conns"), maps=(CONNS,))
    with Runtime("jit", verify=False).load(spec) as coll:
        prog = coll.programs["p"]
        conns = coll.maps["conns"]
        prog.run(bytes([5]) + bytes(63))  # inserts key 5
        slot = conns.table.find(struct.pack("<I", 5))  # type: ignore[attr-defined]
        conns.lru_state.ref[slot] = 0  # type: ignore[attr-defined]
        assert prog.run(bytes([5]) + bytes(63)).retval == 101
        assert conns.lru_state.ref[slot] == 1  # type: ignore[attr-defined]


def test_a_tail_called_program_moves_the_packet_through_python() -> None:
    """The target of a tail call has no frame of its own: its adjust_head goes through Python and
    the caller's stale slots must not undo it when the run ends."""
    from pybpf.vm.jit.fastrun import HOT_RUNS

    jmp = MapSpec("jmp", MapType.PROG_ARRAY, 4, 4, 1, initial_slots=((0, "target"),))
    entry = _xdp("r2 = 0 ll\nr3 = 0\ncall 12\nr0 = 77\nexit", refs=("jmp",), maps=(jmp,)).programs["p"]
    target = _xdp("r2 = 14\ncall 44\nr0 = 2\nexit").programs["p"]
    spec = CollectionSpec(programs={"p": entry, "target": dataclasses.replace(target, name="target")},
                          maps={"jmp": jmp})
    packets = [bytes(range(60))] * (HOT_RUNS + 2)
    jit = _results("jit", spec, packets)
    assert jit == _results("interp", spec, packets)
    assert jit[0] == (2, bytes(range(14, 60)), struct.pack("<6I", 0, 46, 0, 1, 0, 0))
