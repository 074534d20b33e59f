"""The profiler against real workloads: known CPU proportions, a shared library, kernel and Python frames."""
# ruff: noqa: F811 - the fixtures come from profile_support (no conftest.py: see there)

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from profile_support import LIB_BUILD_ID, WORKLOADS, burn  # noqa: F401

from pybpf.profile import Profile, ProfileOptions, record
from pybpf.profile.report import render

pytestmark = pytest.mark.kernel


def share(profile: Profile, frame: str) -> int:
    """Samples whose stack holds a frame named `frame`."""
    return sum(s.count for s in profile.samples if any(f.name == frame for f in s.frames))


@pytest.fixture(scope="module")
def burners(burn: Path) -> Profile:
    """burn_one/two/three at 1:2:3, sampled at 999 Hz for 4 s."""
    return record(ProfileOptions(frequency=999, command=[str(burn), "4", "0"]))


@pytest.fixture(scope="module")
def library_and_syscalls(burn: Path) -> Profile:
    return record(ProfileOptions(frequency=499, command=[str(burn), "2", "1"]))


def test_three_functions_in_their_proportions(burners: Profile) -> None:
    counts = {name: share(burners, name) for name in ("burn_one", "burn_two", "burn_three")}
    total = sum(counts.values())
    assert total >= 1000, f"too few samples to judge proportions: {counts}"
    for name, expected in (("burn_one", 1 / 6), ("burn_two", 2 / 6), ("burn_three", 3 / 6)):
        assert abs(counts[name] / total - expected) < 0.04, (name, counts)


def test_main_below_every_burner(burners: Profile) -> None:
    burning = [s for s in burners.samples if s.frames and s.frames[-1].name.startswith("burn_")]
    assert burning
    for s in burning:
        names = [f.name for f in s.frames]
        assert "main" in names and names.index("main") == len(names) - 2, names
        assert s.comm == "burn"
    assert burners.stats["samples"] >= burners.total
    assert burners.stats["lost"] == 0


def test_shared_library_function_and_kernel_frames(library_and_syscalls: Profile, burn: Path) -> None:
    lib = [f for s in library_and_syscalls.samples for f in s.frames if f.name == "lib_burn"]
    assert lib and all(f.module == "libburn.so" for f in lib)
    assert lib[0].mapping is not None and lib[0].mapping.path == str(burn.parent / "libburn.so")
    assert lib[0].mapping.build_id == LIB_BUILD_ID
    kernel = [s for s in library_and_syscalls.samples if any(f.kind == "kernel" for f in s.frames)]
    assert kernel, "a getppid() loop spends time in the kernel"
    names = {f.name for s in kernel for f in s.frames if f.kind == "kernel"}
    assert "__x64_sys_getppid" in names or "do_syscall_64" in names, names
    # kernel frames sit above the user frames that made the system call
    for s in kernel:
        kinds = [f.kind for f in s.frames]
        assert kinds == sorted(kinds, key=lambda k: k == "kernel"), kinds


def test_python_functions_in_stacks() -> None:
    script = WORKLOADS / "pyburn.py"
    profile = record(ProfileOptions(frequency=499, command=[sys.executable, str(script), "3"]))
    assert share(profile, "pyburn:burn_large") > 0 and share(profile, "pyburn:burn_small") > 0
    for s in profile.samples:
        names = [f.name for f in s.frames]
        if "pyburn:burn_large" in names:
            assert names.index("pyburn:main") < names.index("pyburn:burn_large")
            assert names.index("pyburn:<module>") < names.index("pyburn:main")
    # twice the work, about twice the samples (loose: interpreter noise)
    ratio = share(profile, "pyburn:burn_large") / share(profile, "pyburn:burn_small")
    assert 1.3 < ratio < 3.0, ratio


def test_pprof_read_back_by_go_tool_pprof(burners: Profile, tmp_path: Path) -> None:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go (Debian golang-go) is not installed: go tool pprof cannot read the profile back")
    path = tmp_path / "burn.pb.gz"
    path.write_bytes(render(burners, "pprof"))
    assert gzip.decompress(path.read_bytes())  # gzipped
    env = {**os.environ, "HOME": str(tmp_path), "GOPATH": str(tmp_path / "gopath"),
           "GOCACHE": str(tmp_path / "gocache"), "GOTOOLCHAIN": "local", "GOFLAGS": ""}
    out = subprocess.run([go, "tool", "pprof", "-top", "-nodecount=50", str(path)], capture_output=True,
                         text=True, env=env, timeout=120, check=True).stdout
    # flat flat% sum% cum cum% name: the cumulative column counts every stack holding the function
    rows = {line.split()[-1]: int(line.split()[3]) for line in out.splitlines()
            if line.strip() and line.split()[0].isdigit() and len(line.split()) >= 6}
    for name in ("burn_one", "burn_two", "burn_three"):
        assert rows.get(name) == share(burners, name), (name, out)
    assert f"Total samples = {burners.total}" in out
    cpu = subprocess.run([go, "tool", "pprof", "-top", "-sample_index=cpu", str(path)], capture_output=True,
                         text=True, env=env, timeout=120, check=True).stdout
    assert "Type: cpu" in cpu
