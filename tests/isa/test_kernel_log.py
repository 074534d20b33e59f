"""The kernel's own verifier log: our kernel syntax prints its lines and reads them back."""

from __future__ import annotations

import re

import pytest

from pybpf.isa import Instruction, assemble, iter_slots, kernel_log_line

# A socket filter the kernel accepts that uses most instruction kinds (ALU, movsx, byte swaps,
# sdiv/smod, lddw, loads/stores, atomics, conditional jumps, JMP32, gotol, helper and local calls).
PROGRAM = """
    r6 = r1
    r0 = 0
    *(u64 *)(r10 - 8) = r0
    *(u32 *)(r10 - 16) = 7
    r1 = 5
    r2 = 3
    r1 += r2
    r1 -= 1
    r1 *= r2
    r1 /= 3
    r1 s/= r2
    r1 %= 5
    r1 s%= r2
    r1 |= 0x10
    r1 &= r2
    r1 <<= 3
    r1 >>= 1
    r1 s>>= 1
    r1 ^= -1
    r1 = -r1
    w1 += w2
    w1 = (s8)w2
    r1 = (s16)r2
    r1 = (s32)r2
    r1 = be16 r1
    r1 = le32 r1
    r1 = bswap64 r1
    r3 = 0x1122334455667788 ll
    r3 = 5 ll
    r4 = *(u64 *)(r10 - 8)
    r4 = *(s32 *)(r10 - 16)
    r4 = *(u16 *)(r10 - 16)
    *(u8 *)(r10 - 1) = w4
    r5 = 1
    lock *(u64 *)(r10 - 8) += r5
    lock *(u32 *)(r10 - 16) |= w5
    r5 = atomic_fetch_add((u64 *)(r10 - 8), r5)
    r5 = xchg_64(r10 - 8, r5)
    r0 = 0
    r0 = cmpxchg_64(r10 - 8, r0, r5)
    if r1 > 0x5 goto +1
    r1 = 1
    if w1 s< w2 goto +1
    r1 = 2
    if r1 & 3 goto +0
    if r1 != r2 goto +0
    if w1 s>= -3 goto +0
    call bpf_ktime_get_ns
    call sub
    gotol +0
    goto +0
    r0 = 0
    exit
sub:
    r0 = 1
    exit
"""
# `12: (07) r2 += -8   ; R2=fp-8`, and in the "Live regs before insn" block `  12: .12....... (07) ...`.
_LOG_LINE = re.compile(r"^\s*(\d+): (?:[.0-9]{10}\s+)?\(([0-9a-f]{2})\) (.*?)(?:\s+;.*)?$")


@pytest.mark.kernel
def test_kernel_log_lines_match_and_reassemble() -> None:
    from pybpf.helpers import HELPERS
    from pybpf.kernel.programs import load_program

    names = {helper_id: proto.full_name for helper_id, proto in HELPERS.items()}
    ids = {name: helper_id for helper_id, name in names.items()}
    insns = assemble(PROGRAM, syntax="llvm", helper_ids=ids)
    by_pc: dict[int, Instruction] = dict(iter_slots(insns))
    logs: list[str] = []
    load_program(1, insns, log_level=2, log_out=logs).close()  # 1 = BPF_PROG_TYPE_SOCKET_FILTER
    seen: set[int] = set()
    for raw in "\n".join(logs).splitlines():
        match = _LOG_LINE.match(raw)
        if not match:
            continue
        pc = int(match.group(1))
        line = f"{pc}: ({match.group(2)}) {match.group(3)}"
        assert kernel_log_line(pc, by_pc[pc], names) == line
        assert assemble(raw, helper_ids=ids) == [by_pc[pc]], raw
        seen.add(pc)
    assert seen == set(by_pc)
