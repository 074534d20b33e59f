"""The JIT's modulo by a register takes a mask instead of a division for a power-of-two divisor
(pybpf.vm.jit.irops): every divisor kind against the eBPF rule, computed here in Python."""

from __future__ import annotations

import struct

import pytest

from pybpf.engines import Runtime
from pybpf.isa import assemble
from pybpf.object.spec import ProgramSpec

M32, M64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF
DIVIDENDS = (0, 1, 5, 255, 0x1234_5678_9ABC_DEF0, 1 << 63 | 12345, M64, 0x8000_0001)
DIVISORS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 64, 0x2_0000_0005, 1 << 31, 0xFFFFFFFF, 1 << 32, 0x1_0000_0002,
            0x3_0000_0004, 1 << 63, M64, (1 << 63) + 1)
PROGRAMS = {
    64: "r2 = *(u64 *)(r1 + 0)\nr3 = *(u64 *)(r1 + 8)\nr2 %= r3\nr0 = r2\nexit",
    32: "r2 = *(u64 *)(r1 + 0)\nr3 = *(u64 *)(r1 + 8)\nw2 %= w3\nr0 = r2\nexit",
}


def _rule(bits: int, x: int, d: int) -> int:
    """eBPF's unsigned modulo: x % d, x itself for d == 0; the 32-bit form works on the low halves."""
    if bits == 32:
        x, d = x & M32, d & M32
    return x % d if d else x


@pytest.mark.parametrize("bits", [64, 32])
@pytest.mark.parametrize("unsafe", [False, True], ids=["checked", "unsafe"])
def test_modulo_by_a_register_follows_the_rule(bits: int, unsafe: bool) -> None:
    spec = ProgramSpec("p", tuple(assemble(PROGRAMS[bits], syntax="llvm")))
    with Runtime("jit", verify=False, unsafe_fast=unsafe).load(spec) as coll:
        program = coll.programs["p"]
        for x in DIVIDENDS:
            for d in DIVISORS:
                got = program.run(struct.pack("<QQ", x, d)).retval
                assert got == _rule(bits, x, d), (bits, hex(x), hex(d))
