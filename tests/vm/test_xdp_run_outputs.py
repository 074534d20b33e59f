"""Outputs of XDP runs on the reused per-program frames (interpreter XdpFrames, JIT XdpRunState and
its native set-up): the same packet and xdp_md as a fresh run and as the kernel, also for programs
that move the packet, and a run that faults leaves nothing behind for the next one."""

from __future__ import annotations

import struct

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.errors import RuntimeFault
from pybpf.isa import assemble
from pybpf.object.spec import CollectionSpec, ProgramSpec

# grow the packet by 16 bytes in front (bpf_xdp_adjust_head(ctx, -16)), write 0xff at the new
# start and 0xee at the old one (now byte 16), return XDP_TX
GROW_AND_WRITE = """
r6 = r1
r2 = -16
call 44
r2 = *(u32 *)(r6 + 0)
r3 = *(u32 *)(r6 + 4)
r4 = r2
r4 += 17
if r4 > r3 goto +5
r5 = 0xff
*(u8 *)(r2 + 0) = r5
r5 = 0xee
*(u8 *)(r2 + 16) = r5
r0 = 3
exit
"""

# write 0x77 at byte 0, then read byte 100 without a check: faults on packets of 100 bytes or less
WRITE_THEN_FAULT = """
r2 = *(u32 *)(r1 + 0)
r3 = 0x77
*(u8 *)(r2 + 0) = r3
r0 = *(u8 *)(r2 + 100)
exit
"""

ENGINES = ["interp", "jit", pytest.param("kernel", marks=pytest.mark.kernel)]


def _spec(text: str) -> CollectionSpec:
    insns = tuple(assemble(text, syntax="llvm"))
    return CollectionSpec.single(ProgramSpec("p", insns, type=ProgramType.XDP, license="GPL"))


@pytest.mark.parametrize("engine", ENGINES)
def test_moved_and_written_packets_come_back_whole(engine: str) -> None:
    with Runtime(engine, verify=False).load(_spec(GROW_AND_WRITE)) as coll:
        prog = coll.programs["p"]
        for i in range(24):  # past the JIT's switch to its native set-up
            packet = bytes((i + k) & 0xFF for k in range(40 + i))
            result = prog.run(packet)
            expected = b"\xff" + bytes(15) + b"\xee" + packet[1:]
            assert (result.retval, result.data_out) == (3, expected)
            if engine != "kernel":  # BPF_PROG_TEST_RUN gives no ctx_out without a ctx_in
                assert result.ctx_out == struct.pack("<6I", 0, len(packet) + 16, 0, 1, 0, 0)


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_a_faulting_run_leaves_nothing_for_the_next(engine: str) -> None:
    with Runtime(engine, verify=False).load(_spec(WRITE_THEN_FAULT)) as coll:
        prog = coll.programs["p"]
        for i in range(20):
            with pytest.raises(RuntimeFault) as info:
                prog.run(bytes([i]) * 64)
            assert info.value.pc == 3
            result = prog.run(bytes([i]) * 101 + b"\x05")
            assert (result.retval, result.data_out) == (i, b"\x77" + bytes([i]) * 100 + b"\x05")
