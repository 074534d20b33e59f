"""Out-of-bounds accesses inside loops: the JIT's checked default (budget fast copy, combined
checks, frame accesses folded into addressing modes) must fault at the same instruction, with the
same reason, r0 and packet as the interpreter, whichever iteration first leaves the region.

Every expectation is the interpreter's outcome on the same input; nothing here is a figure the
JIT computed itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.errors import RuntimeFault
from pybpf.isa import assemble
from pybpf.object.spec import ProgramSpec

# A counted loop reading two bytes per iteration at a growing offset (like strcmp over two
# strings): it leaves the packet at the iteration the packet's length decides.
PAIR_WALK = """
    r2 = *(u32 *)(r1 + 0)
    r0 = 0
    r3 = 0
loop:
    r4 = r2
    r4 += r3
    r5 = *(u8 *)(r4 + 0)
    r6 = *(u8 *)(r4 + 20)
    r5 ^= r6
    r0 += r5
    r3 += 1
    if r3 != 20 goto loop
    exit
"""

# The loop's trip count comes from the packet itself (its first byte); it writes each byte back.
DATA_BOUND = """
    r2 = *(u32 *)(r1 + 0)
    r7 = *(u8 *)(r2 + 0)
    r0 = 0
    r3 = 1
loop:
    if r3 > r7 goto out
    r4 = r2
    r4 += r3
    r5 = *(u8 *)(r4 + 0)
    r0 += r5
    r5 += 1
    *(u8 *)(r4 + 0) = r5
    r3 += 1
    goto loop
out:
    exit
"""

# Walking backwards from an offset the packet gives: the last iterations use negative offsets
# from the packet's start.
BACKWARDS = """
    r2 = *(u32 *)(r1 + 0)
    r7 = *(u8 *)(r2 + 0)
    r0 = 0
    r3 = 0
loop:
    r4 = r2
    r4 += r7
    r4 -= r3
    r5 = *(u8 *)(r4 - 1)
    r0 += r5
    r3 += 1
    if r3 < 12 goto loop
    exit
"""

# A stack copy loop: stores at r10 offsets and through a pointer walking the frame; the pointer
# leaves the 512-byte frame when the packet's first byte asks for too many words.
FRAME_WALK = """
    r2 = *(u32 *)(r1 + 0)
    r7 = *(u8 *)(r2 + 0)
    r0 = 0
    r3 = 0
    r6 = r10
    r6 += -8
loop:
    *(u64 *)(r10 - 16) = r3
    r5 = *(u64 *)(r10 - 16)
    *(u64 *)(r6 + 0) = r5
    r0 += r5
    r6 += -8
    r3 += 1
    if r3 < r7 goto loop
    exit
"""


def outcome(engine: str, text: str, data: bytes, **options):
    spec = ProgramSpec("p", tuple(assemble(text, syntax="llvm")), type=ProgramType.XDP)
    with Runtime(engine, verify=False, **options).load(spec) as coll:
        return run(coll.programs["p"], data)


def run(program, data: bytes):
    try:
        r = program.run(data)
    except RuntimeFault as exc:
        return ("fault", exc.reason.split(" at 0x")[0], exc.pc, exc.size)
    return (r.retval, r.data_out, r.instructions)


def same(text: str, data: bytes, **options):
    expected = outcome("interp", text, data, **options)
    assert outcome("jit", text, data, **options) == expected
    return expected


# 40 bytes cover all 20 iterations (the second read is at +20..+39); shorter packets fault at
# the first (20 bytes), a middle (30) or the last (39) iteration, one byte past the end.
@pytest.mark.parametrize("size", [14, 20, 21, 30, 39, 40, 64])
def test_pair_walk_faults_at_the_iteration_that_leaves_the_packet(size: int) -> None:
    expected = same(PAIR_WALK, bytes(range(3, 3 + size)))
    assert (expected[0] == "fault") == (size < 40)


@pytest.mark.parametrize("count", [0, 1, 13, 31, 32, 33, 200])
def test_trip_count_from_packet_data(count: int) -> None:
    data = bytes([count]) + bytes(range(50, 81))  # 32 bytes: count 32 and beyond run off the end
    expected = same(DATA_BOUND, data)
    assert (expected[0] == "fault") == (count >= 32)


@pytest.mark.parametrize("start", [0, 1, 6, 11, 12, 13, 40])
def test_negative_offsets_below_the_packet_start(start: int) -> None:
    data = bytes([start]) + bytes(range(100, 163))
    expected = same(BACKWARDS, data)
    assert (expected[0] == "fault") == (start < 12)


@pytest.mark.parametrize("words", [1, 2, 30, 63, 64, 65, 90])
def test_frame_walk_leaves_the_stack_frame(words: int) -> None:
    expected = same(FRAME_WALK, bytes([words]) + bytes(20))
    assert (expected[0] == "fault") == (words > 64)  # r10 - 8 * words: 64 still inside


@pytest.mark.parametrize("budget", [3, 40, 77, 78, 200])
def test_budget_runs_out_inside_a_frame_loop(budget: int) -> None:
    same(FRAME_WALK, bytes([50]) + bytes(20), budget=budget)


READ_ONLY_SOURCE = r"""
#include <bpf_helpers.h>

const volatile unsigned char table[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

SEC("xdp")
int write_table(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 2 > end)
        return 0;
    unsigned int n = data[0], at = data[1], sum = 0;
    for (unsigned int i = 0; i < n && i < 16; i++) {
        sum += table[i];
        if (i == at)
            *(volatile unsigned char *)&table[i] = 0;  /* a write into .rodata */
    }
    return sum;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("n,at", [(16, 200), (16, 0), (16, 7), (16, 15), (5, 15)])
def test_write_into_read_only_map_in_a_loop(tmp_path: Path, n: int, at: int) -> None:
    from pybpf.object import load_file
    from pybpf.toolchain import compile_c, zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed")
    source = tmp_path / "ro.c"
    source.write_text(READ_ONLY_SOURCE)
    spec = load_file(compile_c(source, tmp_path / "ro.o"))
    data = bytes([n, at]) + bytes(30)
    results = {}
    for engine in ("interp", "jit"):
        with Runtime(engine, verify=False).load(spec) as coll:
            results[engine] = run(next(iter(coll.programs.values())), data)
    assert results["jit"] == results["interp"]
    assert (results["interp"][0] == "fault") == (at < n)
