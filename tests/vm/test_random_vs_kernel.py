"""Random programs with branches, stack loads/stores (sign-extending too) and atomics, run on the
interpreter and in the kernel (BPF_PROG_TEST_RUN): registers and stack come back in the packet."""

from __future__ import annotations

import random

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.isa import Instruction as I
from pybpf.object.spec import ProgramSpec

NREGS = 10
SLOTS = 8  # scratch stack slots r10-8 .. r10-64
SPECIAL = [0, 1, 2, 0xFFFFFFFFFFFFFFFF, 0x8000000000000000, 0x7FFFFFFFFFFFFFFF, 0x80000000,
           0x7FFFFFFF, 0xFFFFFFFF, 0x100000000, 0xFFFF, 0x8000, 0xFF, 0x80, 63, 64]
ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0]
JMP_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0]
ATOMIC_OPS = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xA0, 0xA1, 0xE1, 0xF1]
SIZES = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}
PACKET = 8 * (NREGS + SLOTS)


def _value(rng: random.Random) -> int:
    return rng.choice(SPECIAL) if rng.random() < 0.4 else rng.getrandbits(rng.choice((8, 16, 32, 64)))


def _imm(rng: random.Random) -> int:
    v = _value(rng) & 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _alu(rng: random.Random) -> I:
    cls = rng.choice((0x04, 0x07))
    dst = rng.randrange(NREGS)
    op = rng.choice(ALU_OPS)
    if op == 0x80:
        return I(cls | op, dst)
    off = 1 if op in (0x30, 0x90) and rng.random() < 0.5 else 0
    if rng.random() < 0.5:
        return I(cls | op | 0x08, dst, rng.randrange(NREGS), off)
    imm = _imm(rng)
    if op in (0x60, 0x70, 0xC0):
        imm = rng.randrange(32 if cls == 0x04 else 64)
    elif op in (0x30, 0x90) and imm == 0:
        imm = -3
    return I(cls | op, dst, 0, off, imm)


def _slot_address(rng: random.Random, size: int) -> int:
    slot = rng.randrange(SLOTS)
    return -8 * (slot + 1) + size * rng.randrange(8 // size)


def _memory(rng: random.Random) -> I:
    kind = rng.random()
    if kind < 0.3:
        size = rng.choice((1, 2, 4, 8))
        return I(0x63 | SIZES[size], 10, rng.randrange(NREGS), _slot_address(rng, size))
    if kind < 0.4:
        size = rng.choice((1, 2, 4, 8))
        return I(0x62 | SIZES[size], 10, 0, _slot_address(rng, size), _imm(rng))
    if kind < 0.7:
        size = rng.choice((1, 2, 4, 8))
        return I(0x61 | SIZES[size], rng.randrange(NREGS), 10, _slot_address(rng, size))
    if kind < 0.85:
        size = rng.choice((1, 2, 4))
        return I(0x81 | SIZES[size], rng.randrange(NREGS), 10, _slot_address(rng, size))
    size = rng.choice((4, 8))
    return I(0xC3 | SIZES[size], 10, rng.randrange(NREGS), _slot_address(rng, size),
             rng.choice(ATOMIC_OPS))


def _jump(rng: random.Random, skip: int) -> I:
    cls = rng.choice((0x05, 0x06))
    op = rng.choice(JMP_OPS)
    if rng.random() < 0.5:
        return I(cls | op | 0x08, rng.randrange(NREGS), rng.randrange(NREGS), skip)
    return I(cls | op, rng.randrange(NREGS), 0, skip, _imm(rng))


def _body(rng: random.Random, blocks: int, branches: int) -> list[I]:
    """Straight-line blocks of ALU and stack instructions with some forward branches."""
    insns: list[I] = []
    branch_at = set(rng.sample(range(blocks), min(branches, blocks)))
    for block in range(blocks):
        if block in branch_at:
            body = [_alu(rng) if rng.random() < 0.5 else _memory(rng)
                    for _ in range(rng.randrange(1, 4))]
            insns += [_jump(rng, len(body)), *body]
        else:
            insns.append(_alu(rng) if rng.random() < 0.6 else _memory(rng))
    return insns


def _init_slots(rng: random.Random) -> list[I]:
    insns = []
    for slot in range(SLOTS):
        insns += [I(0x18, 1, 0, 0, _value(rng)), I(0x7B, 10, 1, -8 * (slot + 1))]
    return insns


def _subprogram(rng: random.Random) -> list[I]:
    """A callee: its own stack slots and r0, r6-r9 set up (r1-r5 are the arguments)."""
    saved_args = [I(0x7B, 10, r, -8 * (SLOTS + r)) for r in range(1, 6)]
    restore_args = [I(0x79, r, 10, -8 * (SLOTS + r)) for r in range(1, 6)]
    init = [I(0x18, r, 0, 0, _value(rng)) for r in (0, 6, 7, 8, 9)]
    return [*saved_args, *_init_slots(rng), *restore_args, *init,
            *_body(rng, 12, 3), I(0x95)]


def random_program(seed: int, blocks: int = 30, branches: int = 6) -> tuple[I, ...]:
    rng = random.Random(seed)
    spill = -8 * SLOTS
    insns = [I(0x61, 2, 1, 0), I(0x61, 3, 1, 4),  # data, data_end
             I(0x7B, 10, 2, spill - 8 * NREGS - 8), I(0x7B, 10, 3, spill - 8 * NREGS - 16)]
    insns += _init_slots(rng)
    insns += [I(0x18, r, 0, 0, _value(rng)) for r in range(NREGS)]
    body = _body(rng, blocks, branches)
    # call sites outside every branch's skipped range (a branch never lands inside a call block)
    inside = {site for j, i in enumerate(body) if i.opcode & 0x07 in (0x05, 0x06)
              for site in range(j + 1, j + i.off + 1)}
    sites = [site for site in range(len(body) + 1) if site not in inside]
    calls = rng.choice((0, 0, 1, 2))
    for site in sorted(rng.sample(sites, calls), reverse=True):
        # a call clobbers r1-r5: give them fresh values after it
        body[site:site] = [I(0x85, 0, 1, 0, -1),  # call local (target patched below)
                           *(I(0x18, r, 0, 0, _value(rng)) for r in range(1, 6))]
    insns += body
    insns += [I(0x7B, 10, r, spill - 8 * (r + 1)) for r in range(NREGS)]
    insns += [I(0x79, 2, 10, spill - 8 * NREGS - 8), I(0x79, 3, 10, spill - 8 * NREGS - 16),
              I(0xBF, 4, 2), I(0x07, 4, 0, 0, PACKET),
              I(0x2D, 4, 3, 2 * (NREGS + SLOTS), 0)]  # if data + PACKET > data_end: skip copy
    for k in range(NREGS + SLOTS):
        insns += [I(0x79, 1, 10, -8 * (k + 1)), I(0x7B, 2, 1, 8 * k)]
    insns += [I(0xB7, 0, 0, 0, 2), I(0x95)]
    if not calls:
        return tuple(insns)
    callee = sum(i.slots for i in insns)
    out, pc = [], 0
    for insn in insns:
        if insn.opcode == 0x85 and insn.src == 1:
            insn = insn.replace(imm=callee - pc - 1)
        out.append(insn)
        pc += insn.slots
    return (*out, *_subprogram(rng))


def _run(engine: str, insns: tuple[I, ...]) -> bytes:
    spec = ProgramSpec("rnd", insns, type=ProgramType.XDP, license="GPL")
    with Runtime(engine, verify=False).load(spec) as collection:
        result = collection.programs["rnd"].run(bytes(PACKET))
    assert result.retval == 2 and result.data_out is not None
    return result.data_out


def test_random_programs_run_on_the_interpreter() -> None:
    for seed in range(20):
        out = _run("interp", random_program(seed))
        assert len(out) == PACKET


@pytest.mark.kernel
@pytest.mark.parametrize("seed", range(60))
def test_random_programs_same_as_kernel(seed: int) -> None:
    insns = random_program(seed)
    assert _run("interp", insns) == _run("kernel", insns)


@pytest.mark.slow
@pytest.mark.kernel
@pytest.mark.parametrize("seed", range(60, 2060))
def test_random_programs_same_as_kernel_long(seed: int) -> None:
    insns = random_program(seed, blocks=60, branches=8)
    assert _run("interp", insns) == _run("kernel", insns)
