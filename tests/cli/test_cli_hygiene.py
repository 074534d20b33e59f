"""Unix hygiene of the `pybpf` command: bad input fails loudly with one line, pipes close quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYBPF = [sys.executable, "-m", "pybpf"]
MOV_R0_1 = bytes.fromhex("b700000001000000")
EXIT = bytes.fromhex("9500000000000000")


def pybpf(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PYBPF, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          check=False)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_cc_refuses_a_file_that_is_not_c(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    done = pybpf("cc", "notes.txt", "-o", "out.o", cwd=tmp_path)
    assert done.returncode == 2
    assert "notes.txt: not a C source file" in one_line(done.stderr)
    assert not (tmp_path / "out.o").exists()


def test_cc_does_not_create_a_missing_output_directory(tmp_path: Path) -> None:
    done = pybpf("cc", str(ROOT / "examples" / "xdp_firewall.c"), "-o", "missing/fw.o", cwd=tmp_path)
    assert done.returncode == 2
    assert "missing: output directory does not exist" in one_line(done.stderr)
    assert not (tmp_path / "missing").exists()


def test_conformance_without_vectors_fails(tmp_path: Path) -> None:
    done = pybpf("conformance", str(tmp_path))
    assert done.returncode == 2
    assert "no .data test vectors" in one_line(done.stderr)


def test_bench_rejects_an_unknown_engine_and_an_unwritable_save() -> None:
    done = pybpf("bench", "--quick", "--engines", "bogus")
    assert done.returncode == 2
    assert "bogus" in one_line(done.stderr)
    assert done.stdout == ""
    done = pybpf("bench", "--quick", "--only", "simple", "--save", "/nonexistent-dir/results.json")
    assert done.returncode == 2
    assert "nonexistent-dir" in one_line(done.stderr)
    assert done.stdout == ""


def test_verify_empty_file_is_unusable_input(tmp_path: Path) -> None:
    (tmp_path / "empty.o").write_bytes(b"")
    done = pybpf("verify", "empty.o", cwd=tmp_path)
    assert done.returncode == 2
    assert one_line(done.stderr).startswith("pybpf verify: empty.o: empty file")


@pytest.mark.parametrize(("name", "content"), [
    ("bad.s", b"abc\n"),
    ("odd.bin", b"\x01\x02\x03"),
    ("trunc.o", b"\x7fELF\x02\x01"),
])
def test_unusable_input_messages_name_the_file(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / name).write_bytes(content)
    for verb in ("verify", "run"):
        done = pybpf(verb, name, cwd=tmp_path)
        assert done.returncode == 2
        assert one_line(done.stderr).startswith(f"pybpf {verb}: {name}: ")


def test_no_broken_pipe_noise_under_head(tmp_path: Path) -> None:
    program = tmp_path / "long.bin"
    program.write_bytes(MOV_R0_1 * 20_000 + EXIT)  # ~300 kB of text: more than a pipe holds
    reader = subprocess.Popen(["head", "-n", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    writer = subprocess.run([*PYBPF, "disasm", str(program)], stdout=reader.stdin,
                            stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert reader.stdin is not None and reader.stdout is not None
    reader.stdin.close()
    first = reader.stdout.read().decode()
    reader.wait(timeout=60)
    assert first.strip() != ""
    assert writer.stderr == ""
    assert writer.returncode == 0
