"""Workloads of the profiler tests, compiled with the project's C compiler (zig cc), and their profiles.

Not a conftest.py (see tests/examples/examples_support.py): test modules import the fixtures by name.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

WORKLOADS = Path(__file__).resolve().parent / "workloads"
LIB_BUILD_ID = "11b0b1d0" * 5  # given to the linker, so the tests know what the images carry
BURN_BUILD_ID = "b0b0cafe" * 5


def zig_cc(args: list[str]) -> None:
    """Run `zig cc` for a userspace x86-64 Linux target with frame pointers."""
    from pybpf.toolchain.cache import cache_root

    env = {"ZIG_GLOBAL_CACHE_DIR": str(cache_root() / "zig"), "ZIG_LOCAL_CACHE_DIR": str(cache_root() / "zig")}
    import os

    proc = subprocess.run([sys.executable, "-m", "ziglang", "cc", "-target", "x86_64-linux-gnu", "-O1",
                           "-fno-omit-frame-pointer", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, check=False)
    if proc.returncode:
        raise AssertionError(f"zig cc {' '.join(args)} failed:\n{proc.stderr}")


@pytest.fixture(scope="session")
def burn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """burn.c linked against libburn.so (with build IDs): the native workload, by path."""
    from pybpf.toolchain import zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed: the workloads cannot be compiled")
    if platform.machine() != "x86_64":
        pytest.skip("the workloads are built for x86-64")
    out = tmp_path_factory.mktemp("workloads")
    zig_cc(["-shared", "-fPIC", f"-Wl,--build-id=0x{LIB_BUILD_ID}", "-o", str(out / "libburn.so"), str(WORKLOADS / "libburn.c")])
    zig_cc([f"-Wl,--build-id=0x{BURN_BUILD_ID}", "-o", str(out / "burn"), str(WORKLOADS / "burn.c"), f"-L{out}", "-lburn",
            f"-Wl,-rpath,{out}"])
    return out / "burn"
