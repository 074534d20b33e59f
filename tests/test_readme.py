"""Every command of the README's shell section, run as written in a fresh directory (in order).

Only two things change: `eth0` becomes a veth inside a network namespace the test creates (the
attach then runs inside it, while the test sends a SYN to port 22), and `--duration 10` becomes 3 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testlib import ROOT

README = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent
TAG = "pbfrontrd"  # namespaces pbfrontrda / pbfrontrdb


def shell_commands() -> list[str]:
    """The indented lines of the block after 'The same from the shell'."""
    text = README.read_text()
    start = text.index("The same from the shell")
    lines = text[start:].splitlines()[1:]
    block: list[str] = []
    for line in lines:
        if line.startswith("    ") and line.strip():
            block.append(line.strip())
        elif block and line.strip():
            break
    return block


COMMANDS = shell_commands()


def _needs_kernel(command: str) -> bool:
    return any(word in command for word in ("--engine kernel", "pybpf attach", "pybpf trace"))


def _param(i: int, command: str) -> object:
    marks = [pytest.mark.kernel] if _needs_kernel(command) else []
    return pytest.param(i, command, marks=marks, id=f"{i}-{command.split()[1]}")


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh directory holding what a checkout holds that the commands read (examples/)."""
    where = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", where / "examples")
    return where


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_the_readme_has_a_shell_section() -> None:
    assert COMMANDS[0] == ". .venv/bin/activate"
    assert all(c.startswith("pybpf ") for c in COMMANDS[1:])


def test_activate_puts_pybpf_on_path() -> None:
    activate = VENV_BIN / "activate"
    if not activate.is_file():
        pytest.skip(f"the tests do not run from a venv ({VENV_BIN})")
    done = subprocess.run(["bash", "-c", f". {activate} && command -v pybpf"], capture_output=True,
                          text=True, check=False, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stdout.strip() == str(VENV_BIN / "pybpf")


def _run(command: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=_env(), check=False)


def _attach_in_netns(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the attach inside namespace a on veth `va`, and knock on port 22 from namespace b."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is not installed")
    a, b = f"{TAG}a", f"{TAG}b"
    subprocess.run(["ip", "netns", "add", a], check=True)
    try:
        subprocess.run(["ip", "netns", "add", b], check=True)
        try:
            for args in (["-n", a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b],
                         ["-n", a, "addr", "add", "10.197.0.1/30", "dev", "va"],
                         ["-n", b, "addr", "add", "10.197.0.2/30", "dev", "vb"],
                         ["-n", a, "link", "set", "va", "up"], ["-n", b, "link", "set", "vb", "up"]):
                subprocess.run(["ip", *args], check=True)
            local = command.replace("--xdp eth0", "--xdp va").replace("--duration 10", "--duration 3")
            proc = subprocess.Popen(["bash", "-c", f"ip netns exec {a} {local}"], cwd=cwd, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
            assert proc.stderr is not None
            first = proc.stderr.readline()
            knock = "import socket\ntry: socket.create_connection(('10.197.0.1', 22), timeout=0.5)\nexcept OSError: pass"
            subprocess.run(["ip", "netns", "exec", b, sys.executable, "-c", knock], check=True, timeout=30)
            out, err = proc.communicate(timeout=60)
            return subprocess.CompletedProcess(proc.args, proc.returncode, out, first + err)
        finally:
            subprocess.run(["ip", "netns", "del", b], capture_output=True, check=False)
    finally:
        subprocess.run(["ip", "netns", "del", a], capture_output=True, check=False)


@pytest.mark.parametrize(("index", "command"),
                         [_param(i, c) for i, c in enumerate(COMMANDS) if c.startswith("pybpf ")])
def test_readme_command(index: int, command: str, clone: Path) -> None:
    verb = command.split()[1]
    if verb == "attach":
        assert "--xdp eth0" in command
        done = _attach_in_netns(command, clone)
    else:
        done = _run(command, clone)
    assert done.returncode == 0, f"{command}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    if verb == "cc":
        assert (clone / "fw.o").read_bytes()[:4] == b"\x7fELF"
    elif verb == "inspect":
        assert "xdp_firewall" in done.stdout
    elif verb == "verify":
        assert "accepted" in done.stdout
    elif verb == "packet":
        assert len((clone / "pkt.bin").read_bytes()) == 54  # Ethernet 14 + IPv4 20 + TCP 20
    elif verb == "run" and "--json" in command:
        result = json.loads(done.stdout)
        assert [r["retval"] for r in result["runs"]] == [1 if "--map" in command else 2]
        maps = {m["name"]: m["entries"] for m in result["maps"]}
        blocked = [e["formatted"] for e in maps["blocked_ports"]]
        assert blocked == ([{"key": 22, "value": 1}] if "--map" in command else [])
    elif verb == "run":
        assert "retval 1 (XDP_DROP)" in done.stdout
    elif verb == "attach":
        assert "attached xdp_firewall (xdp on va" in done.stderr
        # the SYN to port 22 was dropped and counted (TCP may retransmit it within the timeout)
        counted = [line for line in done.stdout.splitlines() if line.strip().startswith("key: 22  value: ")]
        assert len(counted) == 1 and int(counted[0].split()[-1]) >= 1, done.stdout
    elif verb == "trace":
        assert "@[cat]:" in done.stdout
