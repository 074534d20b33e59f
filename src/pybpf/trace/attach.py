"""Attaching one compiled probe program to its kernel hook; only the link module of that kind is imported."""

from __future__ import annotations

from typing import Any

from pybpf.errors import BpfError
from pybpf.trace.probes import KERNEL_SPACE, ConcreteProbe

KPROBES_UNSUPPORTED = ("kprobes are not supported by this kernel (no kprobe PMU: CONFIG_KPROBE_EVENTS is off); "
                       "use fentry/fexit (kfunc/kretfunc) or a tracepoint instead")


def attach_probe(prog: Any, p: ConcreteProbe, pid: int, traced: int) -> Any:
    """The link of `prog` at probe `p`: uprobes filtered to `pid` (-p; 0 for every process), watchpoints on a
    user address set in `traced` (the -p process or the -c command)."""
    prov = p.provider
    if prov == "tracepoint":
        from pybpf.kernel.link.tracepoint import attach_tracepoint

        return attach_tracepoint(prog, p.target, p.func)
    if prov == "rawtracepoint":
        from pybpf.kernel.link.raw_tracepoint import attach_raw_tracepoint

        return attach_raw_tracepoint(prog, p.func)
    if prov in ("uprobe", "uretprobe", "usdt"):
        from pybpf.kernel.link.uprobe import attach_uprobe

        if prov == "usdt":
            return attach_uprobe(prog, p.target, offset=p.usdt.offset, pid=pid or -1, ref_ctr_offset=p.usdt.semaphore)
        return attach_uprobe(prog, p.target, p.func, retprobe=prov == "uretprobe", pid=pid or -1)
    if prov in ("kprobe", "kretprobe"):
        from pybpf.kernel.link.kprobe import attach_kprobe, kprobes_supported

        if not kprobes_supported():
            raise BpfError(f"cannot attach {p.name}: {KPROBES_UNSUPPORTED}")
        return attach_kprobe(prog, p.func, retprobe=prov == "kretprobe")
    if prov in ("interval", "profile", "software", "hardware"):
        return _attach_perf(prog, p)
    if prov in ("fentry", "fexit"):
        from pybpf.kernel.link.tracing import attach_tracing

        return attach_tracing(prog)
    if prov == "watchpoint":
        from pybpf.kernel.link.breakpoint import attach_breakpoint

        if p.period < KERNEL_SPACE and traced <= 0:
            raise BpfError(f"cannot attach {p.probe_text}: a watchpoint on a user address needs the process: "
                           "-p PID or -c CMD")
        return attach_breakpoint(prog, p.period, p.frequency, p.func, pid=traced if p.period < KERNEL_SPACE else -1)
    if prov == "iter":
        from pybpf.kernel.link.iter import attach_iter

        return attach_iter(prog, p.func)
    raise BpfError(f"cannot attach {p.name}")


def _attach_perf(prog: Any, p: ConcreteProbe) -> Any:
    """interval (CPU 0 only), profile (every CPU) and software/hardware events (config in `frequency`)."""
    from pybpf.kernel.link.perf_event import attach_sampling

    if p.provider == "interval":
        return attach_sampling(prog, period=p.period, cpus=[0])
    if p.provider == "profile":
        if p.frequency:
            return attach_sampling(prog, frequency=p.frequency)
        return attach_sampling(prog, period=p.period)
    from pybpf.kernel.perf import PerfType

    kind = PerfType.SOFTWARE if p.provider == "software" else PerfType.HARDWARE
    try:
        return attach_sampling(prog, period=p.period, event_type=kind, config=p.frequency)
    except BpfError as exc:
        if p.provider == "hardware":
            raise BpfError(f"hardware event {p.target} is not available on this machine (no PMU counter for it, "
                           f"e.g. in a VM): {exc}") from None
        raise
