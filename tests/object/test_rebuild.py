"""The committed test objects are what their C sources compile to (so the sources document them)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.object import load_bytes

OBJECTS = Path(__file__).resolve().parent.parent / "data" / "objects"
SOURCES = sorted(p.name for p in OBJECTS.glob("*.c"))


@pytest.mark.skipif(importlib.util.find_spec("ziglang") is None, reason="ziglang is not installed")
@pytest.mark.parametrize("source", SOURCES)
def test_object_matches_source(source: str, tmp_path: Path) -> None:
    out = tmp_path / "x.o"
    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", "bpfel-freestanding", "-O2", "-g", "-c",
           str(OBJECTS / source), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    fresh = load_bytes(out.read_bytes(), source)
    committed = load_bytes((OBJECTS / source.replace(".c", ".o")).read_bytes(), source)
    assert {n: p.instructions for n, p in fresh.programs.items()} == {
        n: p.instructions for n, p in committed.programs.items()}
    assert dict(fresh.maps) == dict(committed.maps)
