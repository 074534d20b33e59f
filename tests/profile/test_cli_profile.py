"""`pybpf profile` on the command line: bad arguments give one line and status 2; a run writes its file."""
# ruff: noqa: F811 - the fixtures come from profile_support (no conftest.py: see there)

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from profile_support import burn  # noqa: F401


def pybpf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pybpf", "profile", *args], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize(("args", "message"), [
    (["-F", "0"], "out of range (1..999)"),
    (["-F", "1000"], "out of range (1..999)"),
    (["-F", "fast"], "is not a whole number of Hz"),
    (["-c", "/nonexistent/program"], "no such command or not executable"),
    (["-p", "1", "-c", "true"], "give -p PID or -c CMD, not both"),
    (["-c", "true", "-o", "x.svg", "--format", "png"], "invalid choice: 'png'"),
    (["-c", "true", "-d", "-1"], "the duration must be positive"),
    (["-e", "bogus"], "invalid choice: 'bogus'"),
])
def test_bad_arguments(args: list[str], message: str) -> None:
    done = pybpf(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2


@pytest.mark.kernel
def test_profile_a_command_to_a_folded_file(burn: Path, tmp_path: Path) -> None:
    out = tmp_path / "burn.folded"
    done = pybpf("-F", "199", "-c", f"{burn} 1 0", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr and "stack-map collisions" in done.stderr and "lost" in done.stderr
    lines = out.read_text().splitlines()
    assert any(line.startswith("burn;") and ";main;burn_three " in line for line in lines)
    assert all(line.rsplit(" ", 1)[1].isdigit() for line in lines)


@pytest.mark.kernel
def test_top_view_and_missing_pid(burn: Path) -> None:
    done = pybpf("-F", "99", "-c", f"{burn} 1 0")
    assert done.returncode == 0, done.stderr
    assert "burn_three" in done.stdout and "self %" in done.stdout
    gone = pybpf("-p", "999999999", "-d", "1")
    assert gone.returncode == 1 and "no process with pid 999999999" in gone.stderr


@pytest.mark.kernel
def test_hardware_event_without_a_pmu_says_why(burn: Path) -> None:
    if Path("/sys/bus/event_source/devices/cpu").exists():
        pytest.skip("this machine has a CPU PMU: hardware events work")
    done = pybpf("-e", "cycles", "-c", f"{burn} 0.2 0")
    assert done.returncode == 1
    assert "no CPU PMU" in done.stderr and "Traceback" not in done.stderr
