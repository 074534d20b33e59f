"""User ring buffers: Python produces, a program drains - by hand and against the kernel."""

from __future__ import annotations

import errno
import mmap
import struct
from pathlib import Path
from typing import Any

import pytest

from pybpf.abi import MapType
from pybpf.engines import Runtime
from pybpf.errors import MapError
from pybpf.maps import UserRingBuffer, create_map
from pybpf.object.spec import MapSpec

SOURCE = Path(__file__).parent / "data" / "user_ringbuf.c"
SAMPLES = [b"first...", b"second..", b"", b"tiny", b"Stop....", b"after..."]


def test_produce_and_drain_in_python() -> None:
    urb = create_map(MapSpec("in", MapType.USER_RINGBUF, 0, 0, 4096))
    assert isinstance(urb, UserRingBuffer)
    for sample in SAMPLES[:2]:
        urb.push(sample)
    dropped = urb.reserve_sample(4)
    assert dropped is not None
    urb.discard(dropped)
    seen: list[bytes] = []

    def callback(address: int, size: int) -> int:
        off = address - urb.base
        seen.append(bytes(urb.mem[off : off + size]))
        return 0

    assert urb.drain(callback) == 2  # the discarded sample is skipped, not counted
    assert seen == SAMPLES[:2]
    assert urb.drain(callback) == 0
    with pytest.raises(MapError) as info:
        urb.reserve_sample(5000)
    assert info.value.errno == errno.E2BIG


def produce_kernel(m: Any, samples: list[bytes]) -> None:
    """libbpf's user_ring_buffer__reserve/submit over the map's mmap."""
    page = mmap.PAGESIZE
    size = m.spec.max_entries
    cons = mmap.mmap(m.fd, page, mmap.MAP_SHARED, mmap.PROT_READ, offset=0)
    prod = mmap.mmap(
        m.fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=page
    )
    try:
        for sample in samples:
            pos = struct.unpack_from("<Q", prod, 0)[0]
            off = page + (pos & (size - 1))
            struct.pack_into("<II", prod, off, len(sample), 0)
            prod[off + 8 : off + 8 + len(sample)] = sample
            struct.pack_into("<Q", prod, 0, pos + ((len(sample) + 15) & ~7))
        del cons
    finally:
        prod.close()


def run(engine: str, spec: Any) -> list[Any]:
    with Runtime(engine, verify=False).load(spec) as coll:
        if engine == "kernel":
            produce_kernel(coll.maps["input"], SAMPLES)
        else:
            for sample in SAMPLES:
                coll.maps["input"].push(sample)  # type: ignore[attr-defined]
        out = []
        for _ in range(2):
            coll.programs["drain"].run(bytes(64))
            out.append([coll.maps["log"][i] for i in range(16)])
        return out


@pytest.mark.kernel
def test_drain_matches_kernel(tmp_path: Path) -> None:
    from pybpf.toolchain import compile_c, zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed")
    from pybpf.object import load_file

    spec = load_file(compile_c(SOURCE, tmp_path / "user_ringbuf.o"))
    kernel = run("kernel", spec)
    assert run("interp", spec) == kernel
    assert struct.unpack("<Q", kernel[0][0])[0] == 5  # stopped after the 'S' sample
