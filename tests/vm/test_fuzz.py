"""Random bytecode never crashes the interpreter: every failure is a BpfError with context."""

from __future__ import annotations

import random

import pytest

from pybpf.conformance import UBPF_HELPERS
from pybpf.errors import BpfError
from pybpf.isa import decode
from pybpf.isa.instruction import VALID_OPCODES
from pybpf.vm.interpreter import Machine
from pybpf.vm.memory import Region
from pybpf.vm.run_env import RunEnv

OPCODES = sorted(VALID_OPCODES)


def _slot(rng: random.Random) -> bytes:
    opcode = rng.choice(OPCODES) if rng.random() < 0.9 else rng.randrange(256)
    regs = rng.randrange(11) | (rng.randrange(11) << 4) if rng.random() < 0.9 else rng.randrange(256)
    off = rng.choice((0, 1, 2, -1, -8, 8, 16, 32, rng.randrange(-0x8000, 0x8000)))
    imm = rng.choice((0, 1, 5, -1, 16, 32, 64, 0xF1, 0xE1, rng.randrange(-(1 << 31), 1 << 31)))
    return bytes([opcode, regs]) + off.to_bytes(2, "little", signed=True) + imm.to_bytes(
        4, "little", signed=True
    )


def _helper_call(rng: random.Random, ids: list[int]) -> bytes:
    return bytes([0x85, 0, 0, 0]) + rng.choice(ids).to_bytes(4, "little")


def _exercise(seed: int, length: int, helpers: dict | None = None) -> str:
    rng = random.Random(seed)
    table = UBPF_HELPERS if helpers is None else helpers
    ids = sorted(table)
    slots = [_slot(rng) if rng.random() > 0.2 else _helper_call(rng, ids) for _ in range(length)]
    code = b"".join(slots) + bytes.fromhex("9500000000000000")
    try:
        insns = decode(code)
        env = RunEnv()
        machine = Machine(insns, env, helpers=table)
        mem = env.add_run_region(Region.allocate(64, name="mem", init=bytes(range(64))))
        machine.run(mem.address, 64, budget=2000)
    except BpfError as exc:
        return type(exc).__name__
    return "ok"


def test_random_bytecode_fails_cleanly() -> None:
    outcomes = [_exercise(seed, 1 + seed % 12) for seed in range(3000)]
    assert "ok" in outcomes and "LoadError" in outcomes and "RuntimeFault" in outcomes


def _kernel_helpers() -> dict:
    from pybpf.vm import interp_engine
    from pybpf.vm.helper_registry import REGISTRY

    interp_engine._register_helpers()
    return dict(REGISTRY)


def test_random_helper_calls_fail_cleanly() -> None:
    table = _kernel_helpers()
    outcomes = [_exercise(seed, 1 + seed % 8, table) for seed in range(2000)]
    assert "RuntimeFault" in outcomes


@pytest.mark.slow
def test_random_bytecode_fails_cleanly_long() -> None:
    table = _kernel_helpers()
    for seed in range(3000, 100_000):
        _exercise(seed, 1 + seed % 24, table if seed % 2 else None)
