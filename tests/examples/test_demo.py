"""`make demo` (python -m pybpf.demo) runs to the end and shows the firewall's verdicts."""

from __future__ import annotations

import re

import pytest

from pybpf import demo
from pybpf.toolchain import zig_available


@pytest.mark.skipif(not zig_available(), reason="ziglang is not installed")
def test_demo_runs_and_shows_verdicts(capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "SPEED_RUNS", 40)  # keep the timing step short in tests
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "1. Compile examples/xdp_firewall.c" in out
    assert "Traceback" not in out
    rows = [line for line in out.splitlines() if re.match(r"\s+IPv[46] ", line)]
    assert len(rows) == len(demo.traffic())
    # blocked ports 22 and 3389: packets 1, 4 and 5 are dropped, the rest pass, on every engine
    for i, row in enumerate(rows):
        verdicts = {w for w in row.split() if w in demo.VERDICT.values()}
        assert verdicts == {"DROP" if i in (0, 3, 4) else "PASS"}, row
    assert "7. Live" in out and "Done in" in out
    replies = [line for line in out.splitlines() if line.strip().startswith("out ")]
    assert replies and all("XDP_TX" in r and "ICMP type 0" in r and "checksums ok" in r
                           for r in replies)


@pytest.mark.skipif(not zig_available(), reason="ziglang is not installed")
def test_demo_falls_back_to_user_space(capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Without bpf() permission the demo says so and runs everything in user space."""
    monkeypatch.setattr(demo, "SPEED_RUNS", 40)
    monkeypatch.setattr(demo, "kernel_unavailable", lambda: "not root and no CAP_BPF")
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "kernel: not used (not root and no CAP_BPF); everything ran in user space" in out
    assert "skipped: needs root with bpf()" in out
    assert "BPF_PROG_TEST_RUN" not in out and "Traceback" not in out
