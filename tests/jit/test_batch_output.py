"""run_batch(keep_output=True): the packets as the program left them, as run() gives them; and
per-CPU array maps reached natively (the run's CPU copy) with the interpreter's results."""

from __future__ import annotations

from pybpf.abi import MapType, ProgramType
from pybpf.engines import Runtime
from pybpf.isa import assemble
from pybpf.isa.instruction import iter_slots
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec
from testlib import jit_program, per_cpu

# Grow the packet by 4 bytes in front (bpf_xdp_adjust_head), write the first packet byte and
# its length there, count the packet in a per-CPU array, return XDP_TX.
TEXT = """
    r6 = r1
    r7 = *(u32 *)(r6 + 4)
    r8 = *(u32 *)(r6 + 0)
    r7 -= r8
    r1 = r6
    r2 = -4
    call 44
    if r0 != 0 goto out
    r2 = *(u32 *)(r6 + 0)
    r3 = *(u32 *)(r6 + 4)
    r4 = r2
    r4 += 5
    if r4 > r3 goto out
    r5 = *(u8 *)(r2 + 4)
    *(u8 *)(r2 + 0) = r5
    *(u8 *)(r2 + 1) = r7
    *(u16 *)(r2 + 2) = 0
    *(u32 *)(r10 - 4) = 0
    r2 = r10
    r2 += -4
    r1 = 0 ll
    call 1
    if r0 == 0 goto out
    r1 = *(u64 *)(r0 + 0)
    r1 += 1
    *(u64 *)(r0 + 0) = r1
out:
    r0 = 3
    exit
"""


def spec() -> CollectionSpec:
    insns = tuple(assemble(TEXT))
    lddw = next(pc for pc, i in iter_slots(insns) if i.is_wide)
    p = ProgramSpec(name="p", instructions=insns, type=ProgramType.XDP,
                    map_references=(MapReference(lddw, "counts"),))
    return CollectionSpec(programs={"p": p},
                          maps={"counts": MapSpec("counts", MapType.PERCPU_ARRAY, 4, 8, 1)})


def test_batch_keeps_output_packets_like_run() -> None:
    packets = [bytes([k]) + bytes(range(20 + k)) for k in range(1, 40)]
    with Runtime("interp", verify=False).load(spec()) as ref:
        expected = [ref.programs["p"].run(p).data_out for p in packets]
        ref_count = ref.maps["counts"][0]
    with Runtime("jit", verify=False).load(spec()) as coll:
        result = jit_program(coll, "p").run_batch(packets, keep_output=True)
        assert list(result.retvals) == [3] * len(packets)
        assert result.outputs == expected
        assert result.outputs[0][:2] == bytes([1, 22])  # written in the headroom
        assert coll.maps["counts"][0] == ref_count
        assert int.from_bytes(per_cpu(coll.maps["counts"][0])[0], "little") == len(packets)
        plain = jit_program(coll, "p").run_batch(packets)
        assert plain.outputs is None
        assert int.from_bytes(per_cpu(coll.maps["counts"][0])[0], "little") == 2 * len(packets)
