"""Tracepoint links: perf_event_open on a tracefs tracepoint id, then the program on that event."""

from __future__ import annotations

from pybpf.abi import ProgramType
from pybpf.kernel import perf
from pybpf.kernel.link.base import (
    ProgLike,
    expect_type,
)
from pybpf.kernel.link.perf_event import PerfEventLink, attach_perf_event


def attach_tracepoint(prog: ProgLike, category: str, name: str | None = None) -> PerfEventLink:
    """A tracepoint CATEGORY/NAME: perf_event_open on its tracefs id, then the program on that event."""
    from pybpf.kernel.tracefs import _split, tracepoint_id

    category, name = _split(category, name)
    expect_type(prog, {ProgramType.TRACEPOINT}, "a tracepoint")
    attr = perf.PerfEventAttr(type=perf.PerfType.TRACEPOINT, config=tracepoint_id(category, name),
                              sample_period=1, wakeup_events=1)
    pfd = perf.perf_event_open(attr, pid=-1, cpu=0)
    return attach_perf_event(prog, pfd, f"tracepoint {category}/{name}")
