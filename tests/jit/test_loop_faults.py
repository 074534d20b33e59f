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


# --- versioned loops (pybpf.vm.jit.loopver): the guard at the loop's entry must send every run
# that could fault, run out of budget or wrap its induction variable to the checked copy.

# A signed, downward walk by 2 from an index the packet gives; reads 4 bytes above the index.
SIGNED_DOWN = """
    r2 = *(u32 *)(r1 + 0)
    r7 = *(u8 *)(r2 + 0)
    r0 = 0
loop:
    r4 = r2
    r4 += r7
    r5 = *(u8 *)(r4 + 3)
    r0 += r5
    r7 += -2
    if r7 s>= 1 goto loop
    exit
"""

# A 32-bit counter that starts just below 2**32 (or, past byte 16, wraps to a small value and
# would count for four billion iterations) beside a 64-bit pointer walking the packet.
W32_UP = """
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u8 *)(r2 + 0)
    w3 += -16
    r0 = 0
    r6 = r2
loop:
    r5 = *(u8 *)(r6 + 1)
    r0 += r5
    r6 += 1
    w3 += 1
    if w3 < -4 goto loop
    exit
"""

# `r3 <= r7` with r7 the largest value never stops (r3 wraps to 0): only the budget ends it.
WRAP_LE = """
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u8 *)(r2 + 0)
    r3 += -8
    r7 = *(u8 *)(r2 + 1)
    r7 = -r7
    r0 = 0
loop:
    r0 += 1
    r3 += 1
    if r3 <= r7 goto loop
    exit
"""

# A stride of 16 against a limit near the top of the range: r3 can jump over it and wrap.
STRIDE_LT = """
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u8 *)(r2 + 0)
    r3 += -40
    r7 = *(u8 *)(r2 + 1)
    r7 = -r7
    r0 = 0
loop:
    r0 += r3
    r3 += 16
    if r3 < r7 goto loop
    exit
"""

# Writes every byte of a range the packet gives, counting down with `!=` (stride -1).
STORE_DOWN = """
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u8 *)(r2 + 0)
    r0 = 0
loop:
    r4 = r2
    r4 += r3
    *(u8 *)(r4 + 0) = r3
    r3 += -1
    if r3 != 0 goto loop
    exit
"""


@pytest.mark.parametrize("start,size", [(1, 14), (9, 16), (12, 16), (13, 16), (14, 16), (40, 16)])
def test_signed_downward_walk(start: int, size: int) -> None:
    expected = same(SIGNED_DOWN, bytes([start]) + bytes(range(50, 49 + size)))
    assert (expected[0] == "fault") == (start + 3 >= size)


@pytest.mark.parametrize("first", [0, 5, 11, 12, 15, 16, 20, 200])
def test_32_bit_counter_that_may_wrap(first: int) -> None:
    expected = same(W32_UP, bytes([first]) + bytes(range(1, 40)), budget=5000)
    # from 15 on the first step wraps the counter to 0: the walk leaves the packet at byte 39
    assert (expected[0] == "fault") == (first >= 15)


@pytest.mark.parametrize("first,second", [(0, 1), (3, 1), (0, 2), (5, 3), (200, 1)])
def test_limit_at_the_top_of_the_range(first: int, second: int) -> None:
    expected = same(WRAP_LE, bytes([first, second]) + bytes(30), budget=3000)
    assert (expected[0] == "fault") == (second == 1)


# r3 goes from first - 40 by 16 towards the limit -second: (0, 16) stops at -8, (7, 17) at -17;
# (0, 1) jumps over -1 to 8, (39, 30) wraps at once to 15, (200, 1) starts far below the limit:
# those count until the budget ends them.
@pytest.mark.parametrize("first,second,faults", [
    (0, 1, True), (0, 16, False), (7, 17, False), (39, 30, True), (200, 1, True)])
def test_stride_that_could_jump_over_the_limit(first: int, second: int, faults: bool) -> None:
    expected = same(STRIDE_LT, bytes([first, second]) + bytes(30), budget=3000)
    assert (expected[0] == "fault") == faults


@pytest.mark.parametrize("count,size", [(1, 16), (15, 16), (16, 16), (30, 64), (63, 64), (64, 64)])
def test_stores_counting_down(count: int, size: int) -> None:
    expected = same(STORE_DOWN, bytes([count]) + bytes(size - 1))
    assert (expected[0] == "fault") == (count >= size)


# PAIR_WALK on 64 bytes runs 3 + 20 * 8 + 1 = 164 instructions: budgets around that end it in the
# last iterations (checked copy) or just cover it (the copy without comparisons).
@pytest.mark.parametrize("budget", [150, 155, 156, 157, 160, 162, 163, 164, 165, 170, 1000])
def test_budget_around_a_versioned_loops_total(budget: int) -> None:
    expected = same(PAIR_WALK, bytes(range(3, 67)), budget=budget)
    assert (expected[0] == "fault") == (budget < 164)
