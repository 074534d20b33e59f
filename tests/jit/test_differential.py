"""Differential fuzzing: random valid programs give identical results on the JIT and the interpreter."""

from __future__ import annotations

import pytest

from pybpf.errors import RuntimeFault
from pybpf.isa.instruction import Instruction
from pybpf.vm.interpreter import Machine
from pybpf.vm.jit import TranslateOptions, compile_program
from pybpf.vm.jit.runner import NativeMachine
from pybpf.vm.memory import Region
from pybpf.vm.run_env import RunEnv
from testlib import sampled

from .proggen import BUF_SIZE, Generator


def _input(seed: int) -> bytes:
    return bytes((seed * 131 + i * 29 + (i * i) % 7) & 0xFF for i in range(BUF_SIZE))


def run_interp(insns: list[Instruction], data: bytes, budget: int) -> tuple[object, bytes, int]:
    env = RunEnv()
    machine = Machine(insns, env, helpers={})
    region = env.add_run_region(Region.allocate(len(data), name="mem", init=data))
    try:
        outcome: object = machine.run(region.address, len(data), budget=budget)
    except RuntimeFault as exc:
        outcome = ("fault", exc.reason, exc.pc, _rel(exc.address, region), exc.size)
    return outcome, region.read(0, region.size), machine.instructions


def run_jit(
    insns: list[Instruction], data: bytes, budget: int, options: TranslateOptions | None = None,
    opt_level: int | None = None,
) -> tuple[object, bytes, int]:
    env = RunEnv()
    code = compile_program(insns, options=options, opt_level=opt_level)
    machine = NativeMachine(insns, code, env, helpers={})
    region = env.add_run_region(Region.allocate(len(data), name="mem", init=data))
    try:
        outcome: object = machine.run(region.address, len(data), budget=budget)
    except RuntimeFault as exc:
        outcome = ("fault", exc.reason, exc.pc, _rel(exc.address, region), exc.size)
    return outcome, region.read(0, region.size), machine.instructions


def _rel(address: int | None, region: Region) -> object:
    """Addresses differ between runs; compare them relative to the buffer (or not at all)."""
    if address is None:
        return None
    off = address - region.address
    return off if -4096 <= off <= 4096 else "elsewhere"


def _normalise(outcome: object) -> object:
    # Fault messages contain absolute addresses; keep the wording up to the first address.
    if isinstance(outcome, tuple):
        kind, reason, pc, addr, size = outcome
        return kind, str(reason).split(" at 0x")[0].split(": ")[0], pc, addr, size
    return outcome


def check_seed(
    seed: int, *, faulty: bool = False, budget: int = 100_000, opt_level: int | None = None
) -> None:
    insns = Generator(seed, faulty=faulty).program()
    data = _input(seed)
    expected = run_interp(insns, data, budget)
    got = run_jit(insns, data, budget, opt_level=opt_level)
    assert _normalise(got[0]) == _normalise(expected[0]), f"seed {seed}: r0/fault differ"
    assert got[1] == expected[1], f"seed {seed}: memory or registers differ"
    if not isinstance(expected[0], tuple):  # a faulting run reports no RunResult
        assert got[2] == expected[2], f"seed {seed}: instruction counts differ"


@pytest.mark.parametrize("seed", range(30))
def test_random_programs_agree(seed: int) -> None:
    check_seed(seed)


@pytest.mark.parametrize("opt_level", [-1, 0, 1])
def test_every_optimisation_tier_agrees(opt_level: int) -> None:
    for seed in range(500, 506):
        check_seed(seed, faulty=seed % 2 == 0, opt_level=opt_level)


@pytest.mark.parametrize("seed", range(1000, 1016))
def test_random_faulting_programs_agree(seed: int) -> None:
    check_seed(seed, faulty=True)


@pytest.mark.parametrize("seed", range(2000, 2008))
def test_budget_exhaustion_agrees(seed: int) -> None:
    insns = Generator(seed).program()
    data = _input(seed)
    full = run_interp(insns, data, 100_000)[2]
    for budget in sorted({1, max(1, full // 2), max(1, full - 1), full}):
        expected = run_interp(insns, data, budget)
        got = run_jit(insns, data, budget)
        assert _normalise(got[0]) == _normalise(expected[0]), f"seed {seed} budget {budget}"
        assert got[2] == expected[2], f"seed {seed} budget {budget}: counts differ"


@pytest.mark.slow
@pytest.mark.parametrize("block", range(20))
def test_random_programs_agree_long(block: int) -> None:
    """2,000 seeds in 20 blocks; a fifth of each block unless PYBPF_FULL=1 (each compiles twice)."""
    for seed in sampled(range(10_000 + block * 100, 10_000 + (block + 1) * 100), 5):
        check_seed(seed, faulty=seed % 3 == 0)


def _xdp_outcome(engine: str, insns: list[Instruction], packet: bytes) -> object:
    from pybpf.abi import ProgramType
    from pybpf.engines import Runtime
    from pybpf.object.spec import ProgramSpec

    spec = ProgramSpec("x", tuple(insns), type=ProgramType.XDP)
    with Runtime(engine, verify=False, budget=100_000).load(spec) as coll:
        try:
            r = coll.programs["x"].run(packet)
        except RuntimeFault as exc:
            return ("fault", exc.reason.split(" at 0x")[0].split(" (")[0], exc.pc)
        return r.retval, r.data_out


def check_xdp_seed(seed: int, faulty: bool) -> None:
    from .proggen import XdpGenerator

    gen = XdpGenerator(seed, faulty=faulty)
    insns = gen.xdp_program()
    packet = bytes((seed * 7 + i * 13) & 0xFF for i in range(gen.rng.choice([14, 40, 64, 100])))
    expected = _xdp_outcome("interp", insns, packet)
    got = _xdp_outcome("jit", insns, packet)
    assert got == expected, f"seed {seed}: {got!r} != {expected!r}"


@pytest.mark.parametrize("seed", range(3000, 3025))
def test_random_xdp_programs_agree(seed: int) -> None:
    check_xdp_seed(seed, faulty=seed % 4 == 0)


@pytest.mark.slow
@pytest.mark.parametrize("block", range(10))
def test_random_xdp_programs_agree_long(block: int) -> None:
    """1,000 seeds in 10 blocks; a fifth of each block unless PYBPF_FULL=1."""
    for seed in sampled(range(20_000 + block * 100, 20_000 + (block + 1) * 100), 5):
        check_xdp_seed(seed, faulty=seed % 3 == 0)


def test_every_budget_of_looping_programs_agrees() -> None:
    """The fast copy's checkpoints must hand over to the exact copy at the right moment."""
    checked = 0
    for seed in range(4000, 4200):
        gen = Generator(seed)
        insns = gen.program()
        if not any(i.opcode == 0x55 and i.off < 0 for i in insns):  # a loop's back edge
            continue
        data = _input(seed)
        full = run_interp(insns, data, 100_000)[2]
        for budget in range(1, full + 2, max(1, full // 40)):
            expected = run_interp(insns, data, budget)
            got = run_jit(insns, data, budget)
            assert _normalise(got[0]) == _normalise(expected[0]), f"seed {seed} budget {budget}"
            assert got[1] == expected[1], f"seed {seed} budget {budget}: memory differs"
            assert got[2] == expected[2], f"seed {seed} budget {budget}: counts differ"
        checked += 1
        if checked == 6:
            break
    assert checked == 6
