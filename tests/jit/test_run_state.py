"""The JIT's reused run state: `run()` on an XDP program, context calls (hook points) and global data
pinned in the region table give the interpreter's results, faults and isolation between runs."""

from __future__ import annotations

import ctypes
import struct
import threading

import pytest

from pybpf.abi import MapType, ProgramType
from pybpf.engines import Runtime
from pybpf.errors import RuntimeFault
from pybpf.isa import assemble
from pybpf.isa.instruction import iter_slots
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec

ENGINES = ["interp", "jit"]

# r0 = the packet's length; byte 0 is incremented (a packet write)
LENGTH_AND_WRITE = """
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r0 = r3
r0 -= r2
r4 = *(u8 *)(r2 + 0)
r4 += 1
*(u8 *)(r2 + 0) = r4
exit
"""

# reads the byte at offset 100 without a bounds check against data_end
READ_AT_100 = """
r2 = *(u32 *)(r1 + 0)
r0 = *(u8 *)(r2 + 100)
exit
"""

# bpf_xdp_adjust_head(ctx, 14): drop the Ethernet header (a helper in Python), return XDP_PASS
ADJUST_HEAD = """
r2 = 14
call 44
r0 = 2
exit
"""


def _spec(text: str, name: str = "p", ptype: ProgramType = ProgramType.XDP,
          refs: dict[int, str] | None = None, maps: tuple[MapSpec, ...] = ()) -> CollectionSpec:
    insns = tuple(assemble(text, syntax="llvm"))
    lddw = [pc for pc, insn in iter_slots(insns) if insn.opcode == 0x18]
    references = tuple(MapReference(pc=lddw[n], map_name=m, kind="value") for n, m in (refs or {}).items())
    prog = ProgramSpec(name, insns, type=ptype, map_references=references)
    return CollectionSpec(programs={name: prog}, maps={m.name: m for m in maps})


def _runs(engine: str, text: str, packets: list[bytes]) -> list[tuple[int, bytes | None, bytes | None]]:
    with Runtime(engine, verify=False).load(_spec(text)) as coll:
        prog = coll.programs["p"]
        return [(r.retval, r.data_out, r.ctx_out) for r in (prog.run(p) for p in packets)]


def test_runs_reuse_nothing_of_the_previous_packet() -> None:
    packets = [bytes(range(64)), bytes([200]) * 3000, bytes(range(20)), bytes(range(64))]
    got = _runs("jit", LENGTH_AND_WRITE, packets)
    assert [g[0] for g in got] == [64, 3000, 20, 64]
    for (_, out, ctx), packet in zip(got, packets, strict=True):
        assert out == bytes([(packet[0] + 1) & 0xFF]) + packet[1:]  # a fresh copy every run
        assert ctx == struct.pack("<6I", 0, len(packet), 0, 1, 0, 0)
    assert got == _runs("interp", LENGTH_AND_WRITE, packets)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_short_packet_after_a_long_one_faults(engine: str) -> None:
    with Runtime(engine, verify=False).load(_spec(READ_AT_100)) as coll:
        prog = coll.programs["p"]
        assert prog.run(bytes(range(200))).retval == 100
        with pytest.raises(RuntimeFault) as info:
            prog.run(bytes(range(64)))  # the frame still holds byte 100 of the last run
        assert info.value.pc == 1
        assert prog.run(bytes(range(101))).retval == 100  # and the state is usable again


def test_a_python_helper_sees_the_run_and_moves_the_packet() -> None:
    packet = bytes(range(60))
    results = []
    for engine in ENGINES:
        with Runtime(engine, verify=False).load(_spec(ADJUST_HEAD)) as coll:
            prog = coll.programs["p"]
            results.append([(r.retval, r.data_out, r.ctx_out) for r in (prog.run(packet) for _ in range(3))])
    assert results[0] == results[1]
    assert results[1][0] == (2, packet[14:], struct.pack("<6I", 0, 46, 0, 1, 0, 0))


def test_run_inside_a_bound_run_takes_the_one_off_path() -> None:
    with Runtime("jit", verify=False).load(_spec(LENGTH_AND_WRITE)) as coll:
        prog = coll.programs["p"]
        with prog.bind(bytes(30)) as bound:
            assert bound() == 30
            assert prog.run(bytes(40)).retval == 40  # the same thread: the one-off path
        assert prog.run(bytes(50)).retval == 50


# r0 = (ctx->a + ctx->b) + rodata[0]; data[0] += 1 (globals: .rodata read-only, .data writable)
GLOBALS = """
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r0 = r2
r0 += r3
r4 = 0 ll
r5 = *(u8 *)(r4 + 0)
r0 += r5
r4 = 0 ll
r5 = *(u64 *)(r4 + 0)
r5 += 1
*(u64 *)(r4 + 0) = r5
exit
"""
RODATA = MapSpec(".rodata", MapType.ARRAY, 4, 8, 1, contents=((bytes(4), b"\x05" + bytes(7)),),
                 frozen=True, flags=0x80)
DATA = MapSpec(".data", MapType.ARRAY, 4, 8, 1)


def _hook_spec(text: str = GLOBALS) -> CollectionSpec:
    return _spec(text, ptype=ProgramType.RAW_TRACEPOINT, refs={0: ".rodata", 1: ".data"},
                 maps=(RODATA, DATA))


def test_context_calls_read_the_context_and_globals() -> None:
    with Runtime("jit", verify=False).load(_hook_spec()) as coll:
        call = coll.programs["p"].ctx_call(96, 8).call
        source = (ctypes.c_uint32 * 2)(3, 4)
        assert [call(ctypes.addressof(source)) for _ in range(3)] == [12, 12, 12]
        assert coll.maps[".data"][0] == struct.pack("<Q", 3)
        assert coll.programs["p"].run(ctx=struct.pack("<2I", 1, 1).ljust(96, b"\0")).retval == 7


@pytest.mark.parametrize("engine", ENGINES)
def test_read_only_globals_stay_read_only(engine: str) -> None:
    write = "r1 = 0 ll\n*(u8 *)(r1 + 0) = 1\nr0 = 0\nexit"
    spec = _spec(write, ptype=ProgramType.RAW_TRACEPOINT, refs={0: ".rodata"}, maps=(RODATA,))
    with Runtime(engine, verify=False).load(spec) as coll:
        with pytest.raises(RuntimeFault, match="read-only"):
            coll.programs["p"].run(ctx=bytes(96))
        if engine == "jit":
            with pytest.raises(RuntimeFault, match="read-only"):
                coll.programs["p"].ctx_call(96, 8).call(ctypes.addressof(ctypes.create_string_buffer(8)))


def test_context_calls_from_threads_each_get_their_verdicts() -> None:
    with Runtime("jit", verify=False).load(_hook_spec()) as coll:
        call = coll.programs["p"].ctx_call(96, 8).call
        wrong: list[tuple[int, int]] = []

        def worker(tid: int) -> None:
            for i in range(2000):
                source = (ctypes.c_uint32 * 2)(tid * 1000, i)
                if call(ctypes.addressof(source)) != tid * 1000 + i + 5:
                    wrong.append((tid, i))

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert not wrong, wrong[:5]
        assert coll.maps[".data"][0] == struct.pack("<Q", 8000)


# grow into the headroom by 16 bytes, return the first byte there, then write 0xff over it
HEADROOM = """
r6 = r1
r2 = -16
call 44
r2 = *(u32 *)(r6 + 0)
r3 = *(u32 *)(r6 + 4)
r4 = r2
r4 += 16
if r4 > r3 goto out
r0 = *(u8 *)(r2 + 0)
r5 = 255
*(u8 *)(r2 + 0) = r5
exit
out:
r0 = 99
exit
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_each_run_sees_a_zeroed_headroom(engine: str) -> None:
    with Runtime(engine, verify=False).load(_spec(HEADROOM)) as coll:
        prog = coll.programs["p"]
        assert [prog.run(bytes(range(64))).retval for _ in range(3)] == [0, 0, 0]


READ_FIRST = "r0 = *(u8 *)(r1 + 0)\nexit"
WRITE_FIRST = "r2 = *(u8 *)(r1 + 0)\nr2 += 1\n*(u8 *)(r1 + 0) = r2\nr0 = r2\nexit"


@pytest.mark.parametrize("engine", ENGINES)
def test_plain_data_in_place_and_in_a_reused_buffer(engine: str) -> None:
    big = bytes([9]) + bytes(1 << 20)
    with Runtime(engine, verify=False).load(_spec(READ_FIRST, ptype=ProgramType.UNSPEC)) as coll:
        result = coll.programs["p"].run(big)
        assert result.retval == 9 and result.data_out == big
    with Runtime(engine, verify=False).load(_spec(WRITE_FIRST, ptype=ProgramType.UNSPEC)) as coll:
        prog = coll.programs["p"]
        long, short = bytes([1]) + bytes(range(200)), bytes([5, 6, 7])
        assert [(r.retval, r.data_out) for r in (prog.run(long), prog.run(short), prog.run(short))] == [
            (2, bytes([2]) + bytes(range(200))), (6, bytes([6, 6, 7])), (6, bytes([6, 6, 7])),
        ]
        assert long[0] == 1 and short[0] == 5  # the caller's bytes are never written


def test_which_programs_may_write_memory() -> None:
    from pybpf.vm.loadcheck import may_write_memory

    def writes(text: str) -> bool:
        return may_write_memory(assemble(text, syntax="llvm"))

    assert not writes(READ_FIRST)
    assert not writes("r1 = 3\n*(u64 *)(r10 - 8) = r1\nr0 = *(u64 *)(r10 - 8)\nexit")  # the stack
    assert writes(WRITE_FIRST)
    assert writes("r2 = r10\n*(u8 *)(r2 - 1) = 1\nr0 = 0\nexit")  # a copy of r10 may go anywhere
    assert writes("r1 = 1\nlock *(u64 *)(r1 + 0) += r1\nr0 = 0\nexit")
    assert writes("call 5\nexit")  # a helper
    assert not writes("call f\nexit\nf:\nr0 = 1\nexit")  # a bpf-to-bpf call: its body is checked


def test_a_hot_program_keeps_its_results() -> None:
    """After HOT_RUNS runs the set-up is native code: the same results, faults and isolation."""
    from pybpf.vm.jit.fastrun import HOT_RUNS

    packets = [bytes([i]) + bytes(range(1, 64 + i)) for i in range(HOT_RUNS + 4)]
    got = _runs("jit", LENGTH_AND_WRITE, packets)
    assert got == _runs("interp", LENGTH_AND_WRITE, packets)
    with Runtime("jit", verify=False).load(_spec(READ_AT_100)) as coll:
        prog = coll.programs["p"]
        assert [prog.run(bytes(range(200))).retval for _ in range(HOT_RUNS + 1)] == [100] * (HOT_RUNS + 1)
        with pytest.raises(RuntimeFault) as info:
            prog.run(bytes(range(64)))
        assert info.value.pc == 1
    with Runtime("jit", verify=False).load(_spec(HEADROOM)) as coll:
        prog = coll.programs["p"]
        assert [prog.run(bytes(range(64))).retval for _ in range(HOT_RUNS + 3)] == [0] * (HOT_RUNS + 3)
