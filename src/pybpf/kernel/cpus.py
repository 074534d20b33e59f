"""The number of possible CPUs, read once from sysfs (per-CPU map values and perf buffers have a slot each)."""

from __future__ import annotations

import functools


@functools.cache
def possible_cpus() -> int:
    """The number of possible CPUs (per-CPU map values hold one slot per possible CPU)."""
    try:
        text = open("/sys/devices/system/cpu/possible").read().strip()
    except OSError:
        import os

        return os.cpu_count() or 1
    count = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        count = max(count, int(hi or lo) + 1)
    return count
