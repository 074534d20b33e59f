"""Perf-event links: tracepoints, uprobes/uretprobes, kprobes (where configured) and sampling programs."""

from __future__ import annotations

import ctypes
import errno
import os

from pybpf.abi import AttachType, ProgramType
from pybpf.errors import KernelError, LoadError
from pybpf.kernel import perf
from pybpf.kernel.fd import FD
from pybpf.kernel.links import Link, MultiLink, ProgLike, _fd, expect_type, link_create


class PerfEventLink(Link):
    """A program on a perf event (tracepoint, uprobe, sampling): via a bpf_link or PERF_EVENT_IOC_SET_BPF."""

    kind = "perf_event"

    def __init__(self, perf_fd: FD, link_fd: FD | None, description: str) -> None:
        super().__init__(description)
        self._perf = perf_fd
        self._link = link_fd

    @property
    def closed(self) -> bool:
        return self._perf.closed

    @property
    def perf_fd(self) -> int:
        return self._perf.fd

    def close(self) -> None:
        if self._perf.closed:
            return
        if self._link is not None:
            self._link.close()
        else:
            try:
                perf.ioctl(self._perf.fd, perf.PERF_EVENT_IOC_DISABLE)
            except KernelError:
                pass
        self._perf.close()


def attach_perf_event(prog: ProgLike, perf_fd: FD, description: str) -> PerfEventLink:
    """Run `prog` on a perf event: a bpf_link when the kernel allows, else PERF_EVENT_IOC_SET_BPF."""
    try:
        link = link_create(prog, perf_fd.fd, AttachType.PERF_EVENT, description=description)
        return PerfEventLink(perf_fd, link, description)
    except KernelError as exc:
        if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            perf_fd.close()
            raise
    try:
        perf.ioctl(perf_fd.fd, perf.PERF_EVENT_IOC_SET_BPF, _fd(prog))
        perf.ioctl(perf_fd.fd, perf.PERF_EVENT_IOC_ENABLE)
    except KernelError:
        perf_fd.close()
        raise
    return PerfEventLink(perf_fd, None, description)


def attach_tracepoint(prog: ProgLike, category: str, name: str | None = None) -> PerfEventLink:
    """A tracepoint CATEGORY/NAME: perf_event_open on its tracefs id, then the program on that event."""
    from pybpf.kernel.tracefs import _split, tracepoint_id

    category, name = _split(category, name)
    expect_type(prog, {ProgramType.TRACEPOINT}, "a tracepoint")
    attr = perf.PerfEventAttr(type=perf.PerfType.TRACEPOINT, config=tracepoint_id(category, name),
                              sample_period=1, wakeup_events=1)
    pfd = perf.perf_event_open(attr, pid=-1, cpu=0)
    return attach_perf_event(prog, pfd, f"tracepoint {category}/{name}")


def attach_uprobe(prog: ProgLike, binary: str, symbol: str | None = None, *, offset: int | None = None,
                  retprobe: bool = False, pid: int = -1, ref_ctr_offset: int = 0) -> PerfEventLink:
    """A uprobe (or uretprobe) on SYMBOL[+OFF] or a file offset of a binary or shared library.

    `ref_ctr_offset`: the file offset of a USDT semaphore that the kernel increments while the probe is attached
    (PERF_UPROBE_REF_CTR_OFFSET_SHIFT: bits 32-63 of the perf config)."""
    from pybpf.kernel.uprobe import resolve_binary, symbol_offset

    expect_type(prog, {ProgramType.KPROBE}, "a uprobe")
    path = resolve_binary(binary)
    if offset is None:
        if not symbol:
            raise LoadError("a uprobe needs a symbol or an offset")
        offset = symbol_offset(path, symbol)
    pmu = perf.pmu_type("uprobe")
    config = (1 << perf.pmu_retprobe_bit("uprobe")) if retprobe else 0
    config |= ref_ctr_offset << 32
    cpath = ctypes.create_string_buffer(os.fsencode(path))
    attr = perf.PerfEventAttr(type=pmu, config=config, config1=ctypes.addressof(cpath), config2=offset,
                              sample_period=1, wakeup_events=1)
    pfd = perf.perf_event_open(attr, pid=pid, cpu=0 if pid == -1 else -1)
    kind = "uretprobe" if retprobe else "uprobe"
    return attach_perf_event(prog, pfd, f"{kind} {path}:{symbol or hex(offset)}")


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


def attach_sampling(prog: ProgLike, *, frequency: int = 0, period: int = 0,
                    event_type: int = perf.PerfType.SOFTWARE, config: int = perf.SwEvent.CPU_CLOCK,
                    cpus: list[int] | None = None) -> MultiLink:
    """A perf_event program sampling on every CPU (e.g. 99 Hz of cpu-clock)."""
    from pybpf.kernel.maps import possible_cpus

    if not frequency and not period:
        raise LoadError("a sampling link needs a frequency or a period")
    expect_type(prog, {ProgramType.PERF_EVENT}, "perf event sampling")
    links: list[Link] = []
    try:
        for cpu in cpus if cpus is not None else _online_cpus(possible_cpus()):
            attr = perf.PerfEventAttr(type=event_type, config=config, sample_period=frequency or period,
                                      flags=perf.FLAG_FREQ if frequency else 0)
            pfd = perf.perf_event_open(attr, pid=-1, cpu=cpu)
            links.append(attach_perf_event(prog, pfd, f"perf_event cpu {cpu}"))
    except BaseException:
        for link in links:
            link.close()
        raise
    return MultiLink(links, f"perf_event sampling on {len(links)} CPUs")


def _online_cpus(count: int) -> list[int]:
    try:
        text = open("/sys/devices/system/cpu/online").read().strip()
    except OSError:
        return list(range(count))
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus
