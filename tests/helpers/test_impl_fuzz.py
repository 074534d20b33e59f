"""Helper implementations called with random registers only ever return a value or raise RuntimeFault."""

from __future__ import annotations

import random

from helpers.fakeenv import FakeEnv
from pybpf.abi import MapType
from pybpf.errors import BpfError
from pybpf.maps import create_map
from pybpf.object.spec import MapSpec
from pybpf.vm.helper_registry import REGISTRY
from pybpf.vm.helpers_impl import (
    dynptr,
    map_ops,
    output,
    printk,
    probe_read,
    strings,
    task,
    time_ops,
)

MODULES = (dynptr, map_ops, output, printk, probe_read, strings, task, time_ops)
OURS = sorted(i for i, fn in REGISTRY.items() if any(fn.__module__ == m.__name__ for m in MODULES))


def test_our_helpers_are_registered() -> None:
    for helper_id in (1, 2, 3, 5, 6, 7, 8, 14, 15, 16, 25, 28, 87, 88, 89, 105, 106, 130, 131, 132, 133, 134,
                      165, 177, 182):  # fmt: skip
        assert helper_id in OURS


def test_random_registers() -> None:
    rng = random.Random(99)
    env = FakeEnv()
    maps = [
        create_map(MapSpec("h", MapType.HASH, 4, 8, 8)),
        create_map(MapSpec("a", MapType.PERCPU_ARRAY, 4, 8, 2)),
        create_map(MapSpec("q", MapType.QUEUE, 0, 8, 2)),
        create_map(MapSpec("r", MapType.RINGBUF, 0, 0, 4096)),
        create_map(MapSpec("p", MapType.PERF_EVENT_ARRAY, 4, 4, 2)),
        create_map(MapSpec("l", MapType.LPM_TRIE, 8, 4, 4, flags=1)),
    ]
    pointers = [env.map_pointer(m) for m in maps]
    buffers = [env.alloc(rng.randbytes(n)) for n in (1, 8, 16, 64, 128)]
    readonly = env.alloc(b"%d %s %llx %c\0", writable=False)

    def register() -> int:
        choice = rng.random()
        if choice < 0.3:
            return rng.choice(pointers)
        if choice < 0.6:
            return rng.choice(buffers + [readonly]) + rng.choice([0, 0, 1, 7, 100])
        return rng.choice(
            [0, 1, 4, 8, 16, 64, 0xFFFFFFFF, 2**64 - 1, rng.getrandbits(64), rng.getrandbits(8)]
        )

    for _ in range(3000):
        helper_id = rng.choice(OURS)
        regs = [register() for _ in range(5)]
        try:
            result = REGISTRY[helper_id](env, *regs)
        except BpfError:
            continue
        assert isinstance(result, int) and 0 <= result < 2**64, (helper_id, regs)
