"""A C program driving every user-space map and helper (tests/maps/data/maps_mix.c), run on the
interpreter (and the JIT) and in the kernel on the same packets: every map must end up identical."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from pybpf.collection import Collection
from pybpf.engines import Runtime
from pybpf.errors import MapError

pytestmark = pytest.mark.kernel

SOURCE = Path(__file__).parent / "data" / "maps_mix.c"
TEXTS = [b"123", b"  -42xyz", b"0x1F", b"017", b"hello world", b"hello", b"help", b"", b"-",
         b"9223372036854775808", b"18446744073709551615", b"\t7", b"0xg", b"+5", b"99999999999999999999"]  # fmt: skip


def packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        op = rng.randrange(1, 23)
        flags = rng.choice([0, 0, 0, 1, 2, 3, 4, 8, 10, 16])
        a = rng.choice(
            [
                0,
                1,
                2,
                3,
                5,
                7,
                8,
                9,
                rng.getrandbits(32),
                (rng.randrange(33) | (rng.randrange(99) << 8)),
            ]
        )
        b = rng.choice(
            [0, 1, 0x0A000000, 0x0A010000, 0x0A010200, 0x0000000A, 0x00010A0A, rng.getrandbits(32)]
        )
        text = rng.choice(TEXTS).ljust(16, b"\0")[:16] + rng.randbytes(16)
        out.append(
            b"\xff" * 6
            + b"\x02" * 6
            + b"\x08\x00"
            + struct.pack("<BBII", op, flags, a, b)
            + text
            + bytes(8)
        )
    return out


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from pybpf.toolchain import compile_c, zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed")
    from pybpf.object import load_file

    return load_file(compile_c(SOURCE, tmp_path_factory.mktemp("mix") / "maps_mix.o"))


def drain(m: Any) -> list[bytes]:
    out = []
    for _ in range(16):
        try:
            value = m.lookup_and_delete(None) if hasattr(m, "fd") else m.pop()
        except MapError:
            break
        if value is None:
            break
        out.append(value)
    return out


def snapshot(coll: Collection) -> dict[str, Any]:
    maps = coll.maps
    ring = maps["rb"]
    if coll.engine == "kernel":
        from pybpf.kernel.ringbuf import RingBuffer

        reader = RingBuffer(ring)
        try:
            records = reader.read_available()
        finally:
            reader.close()
    else:
        records = ring.consume()  # type: ignore[attr-defined]
    return {
        "results": [maps["results"][i] for i in range(64)],
        "h": dict(maps["h"].items()),
        "ph": dict(maps["ph"].items()),
        "pa": [maps["pa"][i] for i in range(4)],
        "lpm": list(maps["lpm"].items()),
        "q": drain(maps["q"]),
        "st": drain(maps["st"]),
        "rb": records,
    }


def run(engine: str, spec: Any, frames: list[bytes]) -> dict[str, Any]:
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(
        0, {0}
    )  # per-CPU maps: the kernel runs the program on CPU 0, like the interpreter
    try:
        with Runtime(engine, verify=False).load(spec) as coll:
            prog = coll.programs["mix"]
            for frame in frames:
                assert prog.run(frame).retval == 2
            return snapshot(coll)
    finally:
        os.sched_setaffinity(0, old)


@pytest.mark.parametrize(
    ("engine", "seed"), [("interp", 1), ("interp", 2), ("interp", 3), ("jit", 4)]
)
def test_user_space_maps_match_kernel(spec: Any, engine: str, seed: int) -> None:
    frames = packets(seed, 400)
    kernel = run("kernel", spec, frames)
    ours = run(engine, spec, frames)
    for name in kernel:
        assert ours[name] == kernel[name], name
    assert any(kernel["rb"]) and kernel["h"] and kernel["lpm"]
