"""The JIT's reused run state for skb programs (pybpf.vm.jit.skbrun): `run()` on tc and socket
filter programs gives the interpreter's results, faults and errors, and nothing of one run leaks
into the next (fields written, packet bytes, a fault)."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.errors import RuntimeFault
from pybpf.isa import assemble
from pybpf.object.spec import CollectionSpec, ProgramSpec
from pybpf.vm.jit.skbrun import SkbRunState
from pybpf.vm.skb_context import SK_BUFF_SIZE
from testlib import jit_program, run_outcomes

ENGINES = ["interp", "jit"]

# r0 = len + protocol + pkt_type + ifindex + mark (each __sk_buff field at its offset) + data_end - data
FIELDS = """
r0 = *(u32 *)(r1 + 0)
r2 = *(u32 *)(r1 + 16)
r0 += r2
r2 = *(u32 *)(r1 + 4)
r0 += r2
r2 = *(u32 *)(r1 + 40)
r0 += r2
r2 = *(u32 *)(r1 + 8)
r0 += r2
r2 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r3 -= r2
r0 += r3
exit
"""

# skb->mark = 7 + old mark (a context store: a Python callback); packet byte 0 += 1; r0 = mark
MARK_AND_WRITE = """
r6 = r1
r2 = *(u32 *)(r6 + 8)
r2 += 7
*(u32 *)(r6 + 8) = r2
r3 = *(u32 *)(r6 + 76)
r4 = *(u8 *)(r3 + 0)
r4 += 1
*(u8 *)(r3 + 0) = r4
r0 = *(u32 *)(r6 + 8)
exit
"""

# reads the byte at data + 100 without testing data_end
READ_AT_100 = """
r2 = *(u32 *)(r1 + 76)
r0 = *(u8 *)(r2 + 100)
exit
"""

# bpf_skb_load_bytes(skb, 0, fp - 8, 4) (a helper in Python), r0 = the bytes read
LOAD_BYTES = """
r2 = 0
r3 = r10
r3 += -8
r4 = 4
call 26
r0 = *(u32 *)(r10 - 8)
exit
"""

IPV4 = bytes(12) + b"\x08\x00" + bytes([0x45]) + bytes(range(1, 60))
BROADCAST = b"\xff" * 6 + bytes(range(6, 80))
OTHER_HOST = bytes([2, 0, 0, 0, 0, 1]) + bytes(range(6, 40))


def _collection(engine: str, text: str, ptype: ProgramType) -> Any:
    spec = CollectionSpec.single(ProgramSpec("p", tuple(assemble(text, syntax="llvm")), type=ptype))
    return Runtime(engine, verify=False).load(spec)


def _outcomes(engine: str, text: str, ptype: ProgramType, packets: list[bytes]) -> list[Any]:
    return run_outcomes(engine, text, ptype, packets)


PACKETS = [IPV4, BROADCAST, OTHER_HOST, IPV4[:40], bytes(3000), IPV4]


@pytest.mark.parametrize("ptype", [ProgramType.SCHED_CLS, ProgramType.SOCKET_FILTER, ProgramType.CGROUP_SKB])
@pytest.mark.parametrize("text", [FIELDS, MARK_AND_WRITE, READ_AT_100, LOAD_BYTES],
                         ids=["fields", "mark_and_write", "read_at_100", "load_bytes"])
def test_runs_match_the_interpreter(text: str, ptype: ProgramType) -> None:
    assert _outcomes("jit", text, ptype, PACKETS) == _outcomes("interp", text, ptype, PACKETS)


def test_the_reused_state_is_taken_and_leaks_nothing() -> None:
    with _collection("jit", MARK_AND_WRITE, ProgramType.SCHED_CLS) as coll:
        prog = jit_program(coll, "p")
        assert isinstance(prog._state, SkbRunState)
        first, second = prog.run(IPV4), prog.run(IPV4)
        # the mark written by the first run is gone in the second; each run's packet is a fresh copy
        assert first.retval == second.retval == 7
        assert first.data_out == second.data_out == b"\x01" + IPV4[1:]
        assert first.ctx_out is not None and struct.unpack_from("<I", first.ctx_out, 8)[0] == 7  # mark copied back


def test_fields_read_off_the_packet() -> None:
    # tc sees the frame from Ethernet, a socket filter from L3 (its output gets a zeroed header)
    tc = _outcomes("jit", FIELDS, ProgramType.SCHED_CLS, [BROADCAST])[0]
    sf = _outcomes("jit", FIELDS, ProgramType.SOCKET_FILTER, [BROADCAST])[0]
    length = len(BROADCAST)
    protocol = int.from_bytes(BROADCAST[12:14], "little")
    assert tc[0] == length + protocol + 1 + 1 + 0 + length  # pkt_type 1 (broadcast), ifindex 1 (lo)
    assert sf[0] == (length - 14) + protocol + 1 + 1 + 0 + (length - 14)
    assert sf[1] == bytes(14) + BROADCAST[14:]


def test_a_fault_then_a_clean_run() -> None:
    with _collection("jit", READ_AT_100, ProgramType.SCHED_CLS) as coll:
        prog = coll.programs["p"]
        assert prog.run(bytes(range(200))).retval == 100
        with pytest.raises(RuntimeFault) as info:
            prog.run(IPV4)  # the frame still holds byte 100 of the last run
        assert info.value.pc == 1
        assert prog.run(bytes(range(150))).retval == 100


def test_refused_packets_say_why_on_both_engines() -> None:
    for packet in (bytes(10), bytes(4000), IPV4[:20]):
        outcomes = [_outcomes(e, FIELDS, ProgramType.SCHED_CLS, [packet])[0] for e in ENGINES]
        assert outcomes[0] == outcomes[1]
        assert outcomes[0][0] == "error"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("text", [FIELDS, MARK_AND_WRITE, LOAD_BYTES], ids=["fields", "mark_and_write", "load_bytes"])
def test_reused_frames_give_what_a_fresh_context_gives(engine: str, text: str) -> None:
    # an all-zero ctx (ctx_in) makes every run build a fresh SkbContext (the one-off path)
    with _collection(engine, text, ProgramType.SCHED_CLS) as coll:
        prog = coll.programs["p"]
        for packet in PACKETS[:5]:
            reused, fresh = prog.run(packet), prog.run(packet, ctx=bytes(SK_BUFF_SIZE))
            assert (reused.retval, reused.data_out, reused.ctx_out, reused.instructions) == \
                (fresh.retval, fresh.data_out, fresh.ctx_out, fresh.instructions)


@pytest.mark.parametrize("ptype", [ProgramType.SCHED_CLS, ProgramType.SOCKET_FILTER])
@pytest.mark.parametrize("text", [FIELDS, MARK_AND_WRITE, READ_AT_100, LOAD_BYTES],
                         ids=["fields", "mark_and_write", "read_at_100", "load_bytes"])
def test_a_hot_program_keeps_its_results(text: str, ptype: ProgramType) -> None:
    """After HOT_RUNS runs the set-up is native code: the same results, faults and errors."""
    from pybpf.vm.jit.fastrun import HOT_RUNS

    packets = (PACKETS * (HOT_RUNS // len(PACKETS) + 2))[: HOT_RUNS + 8] + [bytes(5), IPV4]
    with _collection("jit", text, ptype) as coll:
        prog = jit_program(coll, "p")
        for _ in range(HOT_RUNS):
            try:
                prog.run(bytes(range(200)))
            except RuntimeFault:
                pass  # a fault counts as a run too
        assert getattr(prog._state, "native", None) is not None  # the native set-up from here on
    assert _outcomes("jit", text, ptype, packets) == _outcomes("interp", text, ptype, packets)
