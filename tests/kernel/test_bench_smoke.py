"""The ring buffer benchmark runs end to end (a small run; no timing is asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel
BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "ringbuf_bench.py"


def test_ringbuf_bench_small_run() -> None:
    spec = importlib.util.spec_from_file_location("ringbuf_bench_smoke", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = bench.measure(20_000, 2_000, 1 << 16)
    assert r["events"] == 20_000 and r["lost"] == 0 and r["in_order"]
    alone = bench.measure_reader(3_000, 1 << 16)
    assert alone["events"] == 3_000 and alone["ok"]
