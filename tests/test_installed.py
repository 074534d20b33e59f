"""pybpf installed, not only checked out: the package data `bench` and the demo need, and a wheel
built and run outside the checkout (slow)."""

from __future__ import annotations

import fnmatch
import io
import os
import shutil
import subprocess
import sys
import tomllib
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from testlib import ROOT

PACKAGE = ROOT / "src" / "pybpf"


def _package_data_globs() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs: list[str] = config["tool"]["setuptools"]["package-data"]["pybpf"]
    return globs


def _shipped(relative: str) -> bool:
    return any(fnmatch.fnmatch(relative, g) for g in _package_data_globs())


def test_demo_examples_are_package_data() -> None:
    from pybpf import demo

    assert demo.EXAMPLE.is_file() and demo.EXAMPLES == Path(demo.__file__).resolve().parent / "examples"
    for source in ("xdp_firewall.c", "xdp_bounce.c", "parse.h"):
        assert (demo.EXAMPLES / source).is_file()
        assert _shipped(f"examples/{source}"), source


def test_bench_programs_are_package_data() -> None:
    from pybpf.bench import suite

    for bench in suite.BENCHMARKS:
        assert (suite.PROGRAMS_DIR / bench.source).is_file(), bench.source
    files = sorted(p.relative_to(PACKAGE).as_posix() for p in suite.PROGRAMS_DIR.iterdir())
    assert "bench/programs/harness.c" in files and "bench/programs/bench.h" in files
    assert all(_shipped(f) for f in files), [f for f in files if not _shipped(f)]


def test_demo_exits_non_zero_when_a_step_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from pybpf import demo

    def broken(*_: object) -> None:
        raise RuntimeError("engine broke")

    monkeypatch.setattr(demo, "FAILED", [])
    monkeypatch.setattr(demo, "run_engine", broken)
    for quick in ("bounce", "time_engine", "live_veth"):
        monkeypatch.setattr(demo, quick, lambda *a: None)
    out = io.StringIO()
    with redirect_stdout(out):
        status = demo.main()
    assert status == 1
    assert "the interp engine failed: RuntimeError: engine broke" in out.getvalue()
    assert out.getvalue().rstrip().splitlines()[-1].startswith("FAILED after")


def test_demo_without_its_examples_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pybpf import demo

    monkeypatch.setattr(demo, "EXAMPLE", tmp_path / "missing.c")
    with redirect_stdout(io.StringIO()):
        assert demo.main() == 1


@pytest.mark.slow
def test_wheel_runs_bench_and_demo_outside_the_checkout(tmp_path: Path) -> None:
    """Build the wheel (non-editable) from a copy of the sources, install it with --target and run
    it from elsewhere."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    sources = tmp_path / "sources"  # setuptools builds in place: keep build/ out of the checkout
    sources.mkdir()
    for name in ("pyproject.toml", "README.md", "src", "examples"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, sources / name, symlinks=True)
        else:
            shutil.copy2(ROOT / name, sources / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                            str(tmp_path / "dist"), str(sources)], capture_output=True, text=True,
                           timeout=600, env=env, check=False)
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("pybpf-*.whl")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, timeout=300, env=env, capture_output=True)
    run_env = {**env, "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import pybpf; print(pybpf.__file__)"], cwd=tmp_path,
                           env=run_env, capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(target))
    bench = subprocess.run([sys.executable, "-m", "pybpf", "bench", "--quick", "--only", "simple",
                            "--engines", "jit,interp"], cwd=tmp_path, env=run_env, capture_output=True,
                           text=True, timeout=600, check=False)
    assert bench.returncode == 0, bench.stderr
    assert bench.stdout.splitlines()[3].split()[0] == "simple"
    demo = subprocess.run([sys.executable, "-m", "pybpf.demo"], cwd=tmp_path, env=run_env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Done in" in demo.stdout
