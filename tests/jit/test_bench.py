"""Smoke test of the benchmark suite: `pybpf bench --quick --json` runs and reports every column."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAMES = {"simple", "memory_a_plus_b", "log2_int", "prime", "switch", "strcmp_full",
         "strcmp_fail", "memcpy", "xdp_parser", "hash_counter"}


def test_bench_quick_json() -> None:
    import pybpf.toolchain as toolchain
    if not toolchain.zig_available():
        pytest.skip("ziglang is not installed")
    proc = subprocess.run(
        [sys.executable, "-m", "pybpf", "bench", "--quick", "--json"],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert isinstance(document["machine"], str) and document["machine"]
    results = {r["program"]: r for r in document["results"]}
    assert set(results) == NAMES
    have_cc = any(shutil.which(c) for c in ("cc", "gcc", "clang"))
    for row in results.values():
        for key in ("native_ns", "jit_ns", "interp_ns", "kernel_ns"):
            assert key in row
        assert row["jit_ns"] is not None and row["jit_ns"] > 0
        assert row["interp_ns"] is not None and row["interp_ns"] > 0
        assert row["interp_insn_per_s"] > 0
        if have_cc:
            assert row["native_ns"] is not None and row["jit_ratio"] is not None
        if "kernel_skipped" not in document:
            assert row["kernel_ns"] is not None, row.get("notes")
        # every engine computed the same result as native C
        assert len(set(row["retvals"].values())) == 1, row["retvals"]
    calls = document["calls"]["ns"]
    for name in ("ctypes_noop", "interp_run", "jit_run", "jit_bound", "fire_empty", "fire_jit",
                 "hook_bound", "jit_run_2mib_read", "jit_run_2mib_write", "jit_run_2mib_write_bytearray",
                 "interp_run_2mib_write_bytearray"):
        assert calls[name] > 0, name
    if "kernel_skipped" not in document:
        assert calls["kernel_run"] > 0 and calls["raw_test_run"] > 0
    # the verifier against the kernel's, program by program (the suite's C and straight lines)
    verifier = document["verifier"]
    rows = {r["program"]: r for r in [*verifier["growth"], *verifier["programs"]]}
    assert {"straight line 1000", "simple.c:simple", "xdp_parser.c:xdp_parser"} <= set(rows)
    for r in rows.values():
        assert r["verdict"] in ("accepted", "skipped (--quick)"), r
    line = rows["straight line 1000"]
    assert line["pybpf_insns"] == 1002 and line["usec_per_insn"] > 0  # every insn once: no branch to explore
    if "kernel_skipped" not in document:
        assert line["kernel_insns"] == 1002 and line["insns_ratio"] == 1.0
    assert verifier["summary"]["usec_per_insn"] > 0
    # trace start-up: every variant launched the traced command (a run that never got there is NaN)
    trace = document["trace"]
    if os.geteuid() != 0:
        assert "root" in trace["skipped"]
        return
    for name in ("python -c (floor)", "pybpf cached", "pybpf compiling"):
        assert math.isfinite(trace["rows"][name]["ms"]) and trace["rows"][name]["ms"] > 0, name
    assert trace["goal_met"] == (trace["rows"]["pybpf cached"]["ms"] <= trace["goal_ms"])
    if shutil.which("bpftrace"):
        assert math.isfinite(trace["rows"]["bpftrace"]["ms"]) and trace["cached_over_bpftrace"] > 0


def test_bench_rejects_unknown_names() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pybpf", "bench", "--only", "nope"],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "unknown benchmark" in proc.stderr and "Traceback" not in proc.stderr
