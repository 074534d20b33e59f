"""The README's four gadget commands (build, push, pull, run), run as written from the checkout.

Only the registry address changes (the test's docker-registry on a free port instead of
127.0.0.1:5000) and `--duration 10` becomes 4 s; an exec during the run must show up as a row.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gadget_support import cache_fixture, registry_fixture  # noqa: F401 - fixtures "cache", "registry"

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def readme_commands() -> list[str]:
    """The indented lines of the block after 'From source to events'."""
    text = (ROOT / "README.md").read_text()
    lines = text[text.index("From source to events"):].splitlines()[1:]
    block: list[str] = []
    for line in lines:
        if line.startswith("    ") and line.strip():
            block.append(line.strip())
        elif block:
            break
    return block


def test_the_readme_shows_four_commands() -> None:
    assert [c.split()[:3] for c in readme_commands()] == [
        ["pybpf", "gadget", "build"], ["pybpf", "gadget", "push"], ["pybpf", "gadget", "pull"],
        ["pybpf", "gadget", "run"]]


@pytest.mark.kernel
def test_the_readme_commands_run_as_written(cache: Path, registry: tuple[str, Path], tmp_path: Path) -> None:
    host, _ = registry
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    build, push, pull, run = (c.replace("127.0.0.1:5000", host) for c in readme_commands())
    for command in (build, push, pull):
        done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, f"{command}: {done.stderr}"
    marker = tmp_path / "pbgadget-readme"
    shutil.copy("/bin/true", marker)
    proc = subprocess.Popen(["bash", "-c", run.replace("--duration 10", "--duration 4")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith(f"running {host}/execsnoop:v1"), first + proc.stderr.read()
    subprocess.run([str(marker)], check=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["PID", "TID", "UID", "COMM", "FILENAME"]
    assert any(line.split()[-1] == str(marker) and line.split()[3] == "pbgadget-readme" for line in lines[1:]), out
