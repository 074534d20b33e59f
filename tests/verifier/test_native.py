"""The mypyc-compiled verifier: used only while built from this exact source, and deciding as the Python one does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.verifier import native

ROOT = Path(__file__).resolve().parents[2]
FINGERPRINT = ROOT / "tools" / "verifier_fingerprint.py"
SOURCES = ["verifier/checker.py", "verifier/tnum.py", "abi.py"]


def _manifest(**changes: object) -> dict[str, object]:
    manifest: dict[str, object] = {"python": sys.implementation.cache_tag, "hot": list(native.HOT),
                                   "sources": native.source_crcs(SOURCES)}
    manifest.update(changes)
    return manifest


def test_a_build_of_the_present_sources_is_fresh() -> None:
    assert native.is_fresh(_manifest())


def test_one_changed_byte_makes_the_build_stale(tmp_path: Path) -> None:
    root = Path(native.__file__).resolve().parents[1]
    for rel in SOURCES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((root / rel).read_bytes())
    manifest = _manifest()
    assert native.is_fresh(manifest, str(tmp_path))
    text = (tmp_path / "verifier/tnum.py").read_bytes()
    (tmp_path / "verifier/tnum.py").write_bytes(text.replace(b"mask", b"mAsk", 1))
    assert not native.is_fresh(manifest, str(tmp_path))
    (tmp_path / "verifier/tnum.py").unlink()
    assert not native.is_fresh(manifest, str(tmp_path))


def test_a_build_for_another_python_or_of_nothing_is_not_used() -> None:
    assert not native.is_fresh(_manifest(python="cpython-399"))
    assert not native.is_fresh(_manifest(sources={}))
    assert not native.is_fresh(_manifest(sources=None))


def test_activate_takes_only_a_fresh_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYBPF_NATIVE_DIR", str(tmp_path))
    path: list[str] = ["src"]
    assert not native.activate(path) and path == ["src"]  # no manifest at all
    (tmp_path / native.MANIFEST).write_text("{not json")
    assert not native.activate(path) and path == ["src"]
    (tmp_path / native.MANIFEST).write_text(json.dumps(_manifest(sources={"abi.py": "00000000:1"})))
    assert not native.activate(path) and path == ["src"]
    (tmp_path / native.MANIFEST).write_text(json.dumps(_manifest()))
    monkeypatch.setenv("PYBPF_NATIVE", "0")
    assert not native.activate(path) and path == ["src"]
    monkeypatch.delenv("PYBPF_NATIVE")
    sys_path = list(sys.path)
    try:
        assert native.activate(path) and path == [str(tmp_path / "pkg"), "src"]
        assert sys.path[-1] == str(tmp_path / "lib")
    finally:
        sys.path[:] = sys_path


def _fingerprints(tmp_path: Path, pure: bool) -> tuple[dict[str, list[object]], str]:
    out = tmp_path / ("pure.json" if pure else "native.json")
    env = dict(os.environ, PYBPF_NATIVE="0" if pure else "1", PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, str(FINGERPRINT), str(out), "--every", "4"], env=env,
                          capture_output=True, text=True, check=True, timeout=900)
    return json.loads(out.read_text()), proc.stderr


def test_compiled_verifier_decides_every_sampled_case_as_python_does(tmp_path: Path) -> None:
    if not native.active():
        if os.environ.get("PYBPF_EXPECT_NATIVE") == "1":
            pytest.fail(f"`make test` built the compiled verifier, but this process runs {native.status()}")
        pytest.skip(f"verifier: {native.status()}")
    pure, pure_log = _fingerprints(tmp_path, pure=True)
    compiled, compiled_log = _fingerprints(tmp_path, pure=False)
    assert "pure Python (PYBPF_NATIVE=0)" in pure_log and "compiled (mypyc)" in compiled_log
    assert len(pure) > 400  # a quarter of the labelled corpus: verdicts, messages, counts, log hashes
    assert {k for k, v in pure.items() if v[0] == "rej"} and {k for k, v in pure.items() if v[0] == "ok"}
    assert compiled == pure
