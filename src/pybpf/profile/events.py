"""The sampling events `pybpf profile --event` offers: name -> (perf_event type, config), per perf_event_open(2)."""

from __future__ import annotations

PERF_TYPE_HARDWARE, PERF_TYPE_SOFTWARE = 0, 1

EVENTS: dict[str, tuple[int, int]] = {
    "cpu-clock": (PERF_TYPE_SOFTWARE, 0),  # PERF_COUNT_SW_CPU_CLOCK: a timer, works without a PMU
    "task-clock": (PERF_TYPE_SOFTWARE, 1),
    "cycles": (PERF_TYPE_HARDWARE, 0),  # PERF_COUNT_HW_CPU_CYCLES: needs a CPU PMU
    "instructions": (PERF_TYPE_HARDWARE, 1),
    "cache-misses": (PERF_TYPE_HARDWARE, 3),
    "branch-misses": (PERF_TYPE_HARDWARE, 5),
}
