"""The current-task helpers in user space return what the kernel returns for the same thread
(BPF_PROG_TEST_RUN runs the program in the calling thread's context)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybpf.engines import Runtime

pytestmark = pytest.mark.kernel

SOURCE = Path(__file__).parent / "data" / "task.c"


def test_task_helpers_match_kernel(tmp_path: Path) -> None:
    from pybpf.toolchain import compile_c, zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed")
    from pybpf.object import load_file

    st = os.stat("/proc/self/ns/pid")
    obj = compile_c(
        SOURCE, tmp_path / "task.o", defines=(f"NS_DEV={st.st_dev}ULL", f"NS_INO={st.st_ino}ULL")
    )
    spec = load_file(obj)
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        results = {}
        for engine in ("kernel", "interp"):
            with Runtime(engine, verify=False).load(spec) as coll:
                coll.programs["task"].run(bytes(64))
                results[engine] = [int.from_bytes(coll.maps["out"][i], "little") for i in range(16)]  # type: ignore[arg-type]
    finally:
        os.sched_setaffinity(0, old)
    assert results["interp"] == results["kernel"]
    assert results["kernel"][0] >> 32 == os.getpid() and results["kernel"][10] == 0
