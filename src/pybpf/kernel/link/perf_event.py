"""Perf event links: a program on a perf event fd, and sampling programs on every CPU."""

from __future__ import annotations

import errno

from pybpf.abi import AttachType, ProgramType
from pybpf.errors import KernelError, LoadError
from pybpf.kernel import perf
from pybpf.kernel.fd import FD
from pybpf.kernel.link.base import (
    Link,
    MultiLink,
    ProgLike,
    _fd,
    expect_type,
    link_create,
)


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


def attach_perf_event(prog: ProgLike, perf_fd: FD, description: str, *, cookie: int = 0) -> PerfEventLink:
    """Run `prog` on a perf event: a bpf_link when the kernel allows, else PERF_EVENT_IOC_SET_BPF.

    `cookie` is the BPF cookie the program reads with bpf_get_attach_cookie() (bpf_link only, Linux 5.15+)."""
    try:
        link = link_create(prog, perf_fd.fd, AttachType.PERF_EVENT, description=description,
                           extra=(cookie,) if cookie else ())
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
