"""The shortcuts of the reused skb frame (pybpf.vm.skb_context.SkbFrames) both engines' ordinary
`run()` takes: `skb_fits` answers as `skb_refusal` does, `load` leaves the fields a fresh
`SkbContext` holds, and `outputs` (which keeps the last packet view and ctx_out) follows every run:
each expectation here comes from the one-off path or from the packet itself."""

from __future__ import annotations

import struct

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.isa import assemble
from pybpf.object.spec import CollectionSpec, ProgramSpec
from pybpf.vm.jit.fastrun import HOT_RUNS
from pybpf.vm.run_env import RunEnv
from pybpf.vm.skb_context import (
    SK_BUFF_FIELDS,
    SK_BUFF_SIZE,
    SKB_MAX_TEST_SIZE,
    SkbContext,
    SkbFrames,
    skb_fits,
    skb_refusal,
)

ETHERTYPES = [b"\x08\x00", b"\x86\xdd", b"\x08\x06", b"\x00\x00"]  # IPv4, IPv6, ARP, none


@pytest.mark.parametrize("ethertype", ETHERTYPES, ids=["ipv4", "ipv6", "arp", "zero"])
def test_skb_fits_answers_as_skb_refusal(ethertype: bytes) -> None:
    for size in range(0, SKB_MAX_TEST_SIZE + 100):
        packet = (bytes(12) + ethertype).ljust(size, b"\x01")[:size]
        assert skb_fits(packet) == (not skb_refusal(packet)), size


DESTINATIONS = [bytes(6), b"\xff" * 6, b"\x01\x00\x5e\x00\x00\x01", b"\x02\x00\x00\x00\x00\x01",
                b"\xff" * 5 + b"\xfe"]  # host, broadcast, multicast, other host, multicast (not all ones)


@pytest.mark.parametrize("ptype", [ProgramType.SCHED_CLS, ProgramType.SOCKET_FILTER, ProgramType.CGROUP_SKB])
def test_load_leaves_the_fields_of_a_fresh_context(ptype: ProgramType) -> None:
    frames = SkbFrames(ptype)
    for dest in DESTINATIONS:
        for ethertype in ETHERTYPES:
            for size in (60, 14 + 40, 1500):
                packet = (dest + bytes(6) + ethertype).ljust(size, b"\x07")
                frames.load(packet)
                fresh = SkbContext(RunEnv(), packet, None, ptype)
                assert fresh.ctx_region is not None
                assert frames.fields.tobytes() == bytes(fresh.ctx_region.buffer), (dest, ethertype, size)
                assert frames.data_end - frames.data == fresh.data_end - fresh.data


# mark = packet byte 0 (a context store), r0 = the packet's length (the kernel's verifier takes it)
MARK_FROM_BYTE_0 = """
r2 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r0 = r3
r0 -= r2
r4 = r2
r4 += 1
if r4 > r3 goto +2
r4 = *(u8 *)(r2 + 0)
*(u32 *)(r1 + 8) = r4
exit
"""
_MARK = SK_BUFF_FIELDS["mark"][0]
_WIRE_LEN = SK_BUFF_FIELDS["wire_len"][0]


def _packets() -> list[bytes]:
    """Runs of one length with byte 0 changing, the same packet twice, longer then shorter ones."""
    sizes = [60, 60, 60, 80, 80, 60, 3000, 60, 64, 64]
    return [bytes([i % 3]) + bytes(j % 251 for j in range(1, size)) for i, size in enumerate(sizes * 4)]


def _mark_spec() -> CollectionSpec:
    insns = tuple(assemble(MARK_FROM_BYTE_0, syntax="llvm"))
    return CollectionSpec.single(ProgramSpec("p", insns, type=ProgramType.SCHED_CLS, license="GPL"))


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_outputs_follow_every_run(engine: str) -> None:
    spec = _mark_spec()
    packets = _packets()
    assert len(packets) > HOT_RUNS  # the JIT's native set-up takes the later runs
    with Runtime(engine, verify=False).load(spec) as coll:
        prog = coll.programs["p"]
        reused = [prog.run(packet) for packet in packets]
        # an all-zero ctx_in takes the one-off path: a fresh SkbContext per run
        fresh = [prog.run(packet, ctx=bytes(SK_BUFF_SIZE)) for packet in packets]
    for packet, a, b in zip(packets, reused, fresh, strict=True):
        assert (a.retval, a.data_out, a.ctx_out) == (b.retval, b.data_out, b.ctx_out)
        assert a.retval == len(packet) and a.data_out == packet
        assert a.ctx_out is not None
        assert struct.unpack_from("<I", a.ctx_out, _MARK)[0] == packet[0]
        assert struct.unpack_from("<I", a.ctx_out, _WIRE_LEN)[0] == len(packet)


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_an_l3_programs_outputs_follow_every_run(engine: str) -> None:
    # a socket filter sees the packet from L3 and gets its link-layer header back zeroed
    text = "r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\nr0 = r3\nr0 -= r2\nexit"
    spec = CollectionSpec.single(ProgramSpec("p", tuple(assemble(text, syntax="llvm")),
                                             type=ProgramType.SOCKET_FILTER))
    packets = _packets()
    with Runtime(engine, verify=False).load(spec) as coll:
        prog = coll.programs["p"]
        for packet in packets:
            result = prog.run(packet)
            assert result.retval == len(packet) - 14
            assert result.data_out == bytes(14) + packet[14:]
            assert result.ctx_out is not None
            assert struct.unpack_from("<I", result.ctx_out, _WIRE_LEN)[0] == len(packet)


@pytest.mark.kernel
@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_outputs_follow_every_run_as_in_the_kernel(engine: str) -> None:
    # the kernel copies __sk_buff out only for a ctx_in (all zero: what an ordinary run starts from)
    packets = _packets()
    with Runtime(engine, verify=False).load(_mark_spec()) as coll:
        ours = [(r.retval, r.data_out, r.ctx_out) for r in map(coll.programs["p"].run, packets)]
    with Runtime("kernel", verify=False).load(_mark_spec()) as coll:
        prog = coll.programs["p"]
        kernel = [(r.retval, r.data_out, r.ctx_out) for r in (prog.run(p, ctx=bytes(SK_BUFF_SIZE)) for p in packets)]
    assert ours == kernel
