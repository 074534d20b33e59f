"""Without privileges (user nobody), the probe says why bpf() cannot be used, in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel
SRC = Path(__file__).resolve().parents[2] / "src"


def test_probe_as_unprivileged_user() -> None:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to drop to user nobody")
    if not os.access(sys.executable, os.X_OK) or not all(os.stat(p).st_mode & 0o005 for p in (SRC, SRC / "pybpf")):
        pytest.skip("the sources are not readable by other users")
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    code = "from pybpf.kernel.probe import bpf_permission_error as e; print(e())"
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", python, "-c", code],
        capture_output=True, text=True, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, cwd="/tmp")
    if proc.returncode != 0:
        pytest.skip(f"cannot run python as nobody here: {proc.stderr.strip()[-200:]}")
    line = proc.stdout.strip()
    if line == "None":
        pytest.skip("this kernel allows unprivileged bpf()")
    assert line.startswith("bpf() returned EPERM") and "CAP_BPF" in line and "\n" not in line
