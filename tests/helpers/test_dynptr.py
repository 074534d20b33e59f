"""Dynptr helpers: by hand on a fake runtime, and against the kernel with a C program."""

from __future__ import annotations

import errno
import os
import random
import struct
from pathlib import Path

import pytest

from helpers.fakeenv import FakeEnv
from pybpf.abi import MapType
from pybpf.maps import RingBuffer, create_map
from pybpf.object.spec import MapSpec
from pybpf.vm.helper_registry import REGISTRY
from pybpf.vm.helpers_impl import dynptr  # noqa: F401 - registers the helpers

M64 = (1 << 64) - 1
SOURCE = Path(__file__).parent / "data" / "dynptr.c"


def neg(e: int) -> int:
    return -e & M64


def call(helper_id: int, env: FakeEnv, *args: int) -> int:
    regs = list(args) + [0] * (5 - len(args))
    return REGISTRY[helper_id](env, *regs)


def test_local_dynptr() -> None:
    env = FakeEnv()
    buf = env.alloc(b"0123456789abcdef")
    d = env.alloc(16)
    assert call(197, env, buf, 16, 0, d) == 0
    data, size_word, offset = struct.unpack("<QII", env.read(d, 16))
    assert (data, size_word & 0xFFFFFF, size_word >> 28, offset) == (buf, 16, 1, 0)  # type 1: local
    out = env.alloc(4)
    assert call(201, env, out, 4, d, 10, 0) == 0 and env.read(out, 4) == b"abcd"
    assert call(201, env, out, 4, d, 13, 0) == neg(errno.E2BIG)  # 13 + 4 > 16
    assert call(201, env, out, 4, d, 0, 1) == neg(errno.EINVAL)  # flags
    assert call(202, env, d, 2, env.alloc(b"XY"), 2, 0) == 0
    assert env.read(buf, 6) == b"01XY45"
    assert call(203, env, d, 12, 4) == buf + 12
    assert call(203, env, d, 13, 4) == 0
    bad = env.alloc(16)
    assert call(197, env, buf, 16, 1, bad) == neg(errno.EINVAL) and env.read(bad, 16) == bytes(16)
    assert call(201, env, out, 1, bad, 0, 0) == neg(errno.EINVAL)  # a null dynptr


def test_ringbuf_dynptr() -> None:
    env = FakeEnv()
    rb = create_map(MapSpec("rb", MapType.RINGBUF, 0, 0, 4096))
    assert isinstance(rb, RingBuffer)
    rp = env.map_pointer(rb)
    d = env.alloc(16)
    assert call(198, env, rp, 8, 0, d) == 0
    assert call(202, env, d, 0, env.alloc(b"RINGDATA"), 8, 0) == 0
    assert call(199, env, d, 0) == 0 and env.read(d, 16) == bytes(
        16
    )  # submitted: the dynptr is null
    assert call(198, env, rp, 8, 0, d) == 0
    assert call(200, env, d, 0) == 0  # discarded
    assert call(198, env, rp, 5000, 0, d) == neg(errno.EINVAL) and env.read(d, 16) == bytes(16)
    assert call(199, env, d, 0) == 0  # submitting a null dynptr does nothing
    assert rb.consume() == [b"RINGDATA"]


@pytest.mark.kernel
def test_dynptr_helpers_match_kernel(tmp_path: Path) -> None:
    from pybpf.toolchain import compile_c, zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed")
    from pybpf.engines import Runtime
    from pybpf.kernel.ringbuf import RingBuffer as KernelRing
    from pybpf.object import load_file

    spec = load_file(compile_c(SOURCE, tmp_path / "dynptr.o"))
    rng = random.Random(3)
    frames = [
        bytes(14)
        + bytes([rng.choice([0, 4, 8, 16, 20, 23, 24, 25, 40]), rng.choice([0, 1, 4, 8, 16, 20, 24, 31]),
                 rng.choice([0, 0, 1, 2, 4, 8, 16, 32, 32])])
        + b"\0" + struct.pack("<H", rng.choice([0, 4, 8, 100, 4000, 5000])) + bytes(8)
        for _ in range(150)
    ]  # fmt: skip
    results = {}
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        for engine in ("kernel", "interp"):
            with Runtime(engine, verify=False).load(spec) as coll:
                rows = []
                for frame in frames:
                    coll.programs["p"].run(frame)
                    rows.append([coll.maps["out"][i] for i in range(8)])
                if engine == "kernel":
                    reader = KernelRing(coll.maps["rb"])
                    records = reader.read_available()
                    reader.close()
                else:
                    records = coll.maps["rb"].consume()  # type: ignore[attr-defined]
                results[engine] = (rows, records)
    finally:
        os.sched_setaffinity(0, old)
    assert results["interp"] == results["kernel"]
    assert results["kernel"][1]
