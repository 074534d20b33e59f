"""LRU maps evict exactly the keys the kernel evicts: random program lookups/updates and bpf()
updates on one CPU, compared key set by key set (common and per-CPU LRU lists, per-CPU values)."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import pytest

from pybpf.engines import Runtime
from pybpf.errors import MapError

pytestmark = pytest.mark.kernel

SOURCE = Path(__file__).parent / "data" / "lru_prog.c"
NO_COMMON_LRU = 2


def trace(engine: str, spec: object, ops: list[tuple[int, int]], percpu: bool) -> list[object]:
    out: list[object] = []
    with Runtime(engine, verify=False).load(spec) as coll:  # type: ignore[arg-type]
        m = coll.maps["lru"]
        prog = coll.programs["p"]
        for op, key in ops:
            if op == 2:  # an update from user space
                value = struct.pack("<I", key)
                try:
                    m.update(struct.pack("<I", key), [value] * os.cpu_count() if percpu else value)  # type: ignore[operator]
                    result: object = 0
                except MapError as exc:
                    result = exc.errno
            else:
                result = prog.run(
                    bytes(14) + bytes([op, 0]) + struct.pack("<I", key) + bytes(10)
                ).retval
            out.append((result, sorted(m.keys())))
    return out


@pytest.mark.parametrize(
    ("map_type", "flags", "max_entries", "keys"),
    [
        ("BPF_MAP_TYPE_LRU_HASH", 0, 4, 8),
        ("BPF_MAP_TYPE_LRU_HASH", 0, 64, 100),
        ("BPF_MAP_TYPE_LRU_HASH", NO_COMMON_LRU, 8, 14),
        ("BPF_MAP_TYPE_LRU_PERCPU_HASH", 0, 16, 30),
        ("BPF_MAP_TYPE_LRU_PERCPU_HASH", NO_COMMON_LRU, 6, 10),
        ("BPF_MAP_TYPE_LRU_HASH", 0, 300, 500),
    ],
)
def test_lru_matches_kernel(
    tmp_path: Path, map_type: str, flags: int, max_entries: int, keys: int
) -> None:
    from pybpf.toolchain import compile_c, zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed")
    from pybpf.maps import possible_cpus
    from pybpf.object import load_file

    if possible_cpus() != os.cpu_count():
        pytest.skip("possible and online CPUs differ")
    defines = (f"MAP_TYPE={map_type}", f"MAX_ENTRIES={max_entries}", f"MAP_FLAGS={flags}")
    spec = load_file(compile_c(SOURCE, tmp_path / "lru.o", defines=defines))
    rng = random.Random(max_entries)
    ops = [(rng.choice([0, 0, 1, 1, 2]), rng.randrange(keys)) for _ in range(1000)]
    percpu = "PERCPU" in map_type
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})  # LRU free lists are per CPU: run everything on CPU 0
    try:
        assert trace("interp", spec, ops, percpu) == trace("kernel", spec, ops, percpu)
    finally:
        os.sched_setaffinity(0, old)
