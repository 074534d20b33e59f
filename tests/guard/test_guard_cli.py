"""`pybpf guard run`: -c CMD with compact and JSON output (exported to a file)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

POLICY = """\
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: cli-test
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    selectors:
    - matchArgs:
      - index: 6
        operator: Prefix
        values: ["{dir}/"]
      matchActions:
      - action: Sigkill
"""


def guard(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY.format(dir=tmp / "locked"))
    return subprocess.run([sys.executable, "-m", "pybpf", "guard", "run", str(policy), *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    root = Path(os.path.realpath(tmp_path))
    (root / "locked").mkdir()
    (root / "locked" / "file").write_text("x\n")
    return root


def test_compact_output_shows_exec_hook_and_kill(tmp: Path) -> None:
    cat = os.path.realpath(shutil.which("cat") or "/bin/cat")
    target = tmp / "locked" / "file"
    proc = guard(tmp, "-o", "compact", "--node-name", "testnode", "-c", f"{cat} {target}")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert f"🚀 process testnode {cat} {target}" in lines
    assert f"⁉️ tracepoint testnode {cat} syscalls sys_enter_openat" in lines
    assert f"💥 exit    testnode {cat} {target} SIGKILL" in lines


def test_json_lines_exported_to_a_file(tmp: Path) -> None:
    cat = os.path.realpath(shutil.which("cat") or "/bin/cat")
    target = tmp / "locked" / "file"
    out = tmp / "events.json"
    proc = guard(tmp, "-o", "json", "--export", str(out), "-c", f"{cat} {target}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    events = [json.loads(line) for line in out.read_text().splitlines()]
    execs = [e["process_exec"] for e in events if "process_exec" in e
             and e["process_exec"]["process"]["arguments"] == str(target)]
    assert len(execs) == 1 and execs[0]["process"]["binary"] == cat
    pid = execs[0]["process"]["pid"]
    (tp,) = [e["process_tracepoint"] for e in events if "process_tracepoint" in e
             and e["process_tracepoint"]["process"]["pid"] == pid]
    assert tp["policy_name"] == "cli-test" and tp["action"] == "KPROBE_ACTION_SIGKILL"
    assert tp["args"] == [{"string_arg": str(target)}]
    (exit_,) = [e["process_exit"] for e in events if "process_exit" in e
                and e["process_exit"]["process"]["pid"] == pid]
    assert exit_["signal"] == "SIGKILL"


def test_duration_without_policies(tmp: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pybpf", "guard", "run", "--duration", "0.5", "-o", "compact"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for line in proc.stdout.splitlines():
        assert line.startswith(("🚀 process ", "💥 exit ")), line


def test_check_lists_the_bound_hooks() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "guard" / "secret-files.yaml"
    proc = subprocess.run([sys.executable, "-m", "pybpf", "guard", "check", str(example)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "secret-files: tracepoint syscalls/sys_enter_openat (2 args, 2 selectors)\n"
