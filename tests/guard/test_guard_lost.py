"""Events the ring buffer has no room for are counted by the kernel programs, never silently dropped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

POLICY = """\
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: every-open
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    selectors:
    - matchArgs:
      - index: 6
        operator: Equal
        values: ["{path}"]
"""


def test_events_beyond_the_ring_buffer_are_counted_as_lost(tmp_path: Path) -> None:
    from pybpf.guard.codegen import RINGBUF_SIZE
    from pybpf.guard.policy import parse_policies
    from pybpf.guard.runner import Guard

    target = Path(os.path.realpath(tmp_path)) / "hot.txt"
    target.write_text("x")
    with Guard(parse_policies(POLICY.format(path=target), "p.yaml")) as guard:
        record = guard.hooks[0].record_size
        opens = 2 * RINGBUF_SIZE // record  # twice what the ring holds, none consumed meanwhile
        loop = f"import os\nfor _ in range({opens}): os.close(os.open({str(target)!r}, os.O_RDONLY))"
        subprocess.run([sys.executable, "-c", loop], check=True, timeout=120)
        posted = 0
        while True:
            batch = guard.poll(0.5)
            if not batch:
                break
            posted += sum(1 for e in batch if "process_tracepoint" in e)
        lost = guard.lost()
    assert 0 < posted < opens
    assert lost > 0
    assert posted + lost >= opens  # every matching open was either posted or counted
