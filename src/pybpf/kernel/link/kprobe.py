"""Kprobe links: a kprobe or kretprobe on a kernel function, where the kernel has the kprobe PMU."""

from __future__ import annotations

import ctypes
import errno
import os

from pybpf.errors import KernelError
from pybpf.kernel import perf
from pybpf.kernel.link.base import (
    ProgLike,
)
from pybpf.kernel.link.perf_event import PerfEventLink, attach_perf_event


def kprobes_supported() -> bool:
    """True when this kernel has the kprobe PMU."""
    return os.path.exists("/sys/bus/event_source/devices/kprobe/type")


def attach_kprobe(prog: ProgLike, function: str, *, retprobe: bool = False) -> PerfEventLink:
    """A kprobe/kretprobe on a kernel function (reports clearly when kprobes are not configured)."""
    if not kprobes_supported():
        raise KernelError("kprobes are not supported by this kernel (CONFIG_KPROBE_EVENTS is off: no kprobe "
                          "PMU); use fentry/fexit or a tracepoint instead", errno=errno.EOPNOTSUPP)
    pmu = perf.pmu_type("kprobe")
    config = (1 << perf.pmu_retprobe_bit("kprobe")) if retprobe else 0
    cname = ctypes.create_string_buffer(function.encode())
    attr = perf.PerfEventAttr(type=pmu, config=config, config1=ctypes.addressof(cname), sample_period=1,
                              wakeup_events=1)
    pfd = perf.perf_event_open(attr, pid=-1, cpu=0)
    return attach_perf_event(prog, pfd, f"{'kretprobe' if retprobe else 'kprobe'} {function}")
