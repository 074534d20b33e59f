"""perf_event_output samples read back from pybpf's perf event array as from the kernel's perf buffer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pybpf.engines import Runtime
from pybpf.maps.perf_event_array import PerfEventArray

pytestmark = pytest.mark.kernel

SOURCE = Path(__file__).parent / "data" / "perf_out.c"


def frames() -> list[bytes]:
    return [bytes(14) + bytes([n, 0]) + bytes(range(100, 132)) for n in range(0, 32)]


def samples(engine: str, spec: Any) -> list[bytes]:
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        with Runtime(engine, verify=False).load(spec) as coll:
            if engine == "kernel":
                from pybpf.kernel.perfbuf import PerfBuffer

                reader = PerfBuffer(coll.maps["samples"])
                try:
                    for frame in frames():
                        coll.programs["send"].run(frame)
                    return reader.read_available()
                finally:
                    reader.close()
            for frame in frames():
                coll.programs["send"].run(frame)
            perf = coll.maps["samples"]
            assert isinstance(perf, PerfEventArray)
            return perf.read_available()
    finally:
        os.sched_setaffinity(0, old)


def test_perf_samples_match_kernel(tmp_path: Path) -> None:
    from pybpf.toolchain import compile_c, zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed")
    from pybpf.object import load_file

    spec = load_file(compile_c(SOURCE, tmp_path / "perf_out.o"))
    kernel = samples("kernel", spec)
    assert len(kernel) == 32
    assert samples("interp", spec) == kernel
