"""Helpers refused to unprivileged programs (the CAP_PERFMON group measured against the kernel)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.helpers import HELPERS, by_name
from pybpf.helpers.privilege import CAP_BPF_HELPERS, PERFMON_HELPERS

ROOT = Path(__file__).resolve().parents[2]


def test_privileged_flags() -> None:
    for name in (
        "trace_printk",
        "probe_read_kernel",
        "snprintf",
        "spin_lock",
        "jiffies64",
        "timer_init",
    ):
        assert by_name(name).privileged_only, name
    for name in (
        "map_lookup_elem",
        "ktime_get_ns",
        "get_prandom_u32",
        "tail_call",
        "ringbuf_output",
        "loop",
    ):
        assert not by_name(name).privileged_only, name
    assert all(HELPERS[i].privileged_only for i in PERFMON_HELPERS)


PROBE = """
import sys
sys.path.insert(0, {tests!r})
from helpers.gen_availability import available
print(sorted(i for i in range(1, 212) if available(1, i, {{}})))
"""


@pytest.mark.kernel
def test_perfmon_group_matches_kernel() -> None:
    capsh = shutil.which("capsh")
    if capsh is None or os.geteuid() != 0:
        pytest.skip("needs root and capsh to drop CAP_PERFMON")
    script = PROBE.format(tests=str(ROOT / "tests"))

    def probe(*prefix: str) -> set[int]:
        out = subprocess.run([*prefix, sys.executable, "-c", script], capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
        return set(eval(out.stdout))  # noqa: S307 - our own subprocess printing a list

    full = probe()
    reduced = probe(capsh, "--drop=cap_perfmon,cap_sys_admin", "--", "-c", 'exec "$@"', "sh")
    refused = full - reduced
    # every helper the kernel keeps from a program without CAP_PERFMON is privileged in the catalogue;
    # builds move a few helpers between the CAP_BPF and CAP_PERFMON groups (per_cpu_ptr, this_cpu_ptr)
    assert set(PERFMON_HELPERS) <= refused
    assert refused - set(PERFMON_HELPERS) <= set(CAP_BPF_HELPERS)
    assert all(HELPERS[i].privileged_only for i in refused)
