"""Hardware breakpoints (watchpoints): a perf event of type PERF_TYPE_BREAKPOINT on an address runs the
program when it is read, written or executed."""

from __future__ import annotations

from pybpf.abi import ProgramType
from pybpf.kernel import perf
from pybpf.kernel.link.base import Link, MultiLink, ProgLike, expect_type
from pybpf.kernel.link.perf_event import _online_cpus, attach_perf_event

HW_BREAKPOINT = {"r": 1, "w": 2, "x": 4}  # enum hw_breakpoint_type (r and w combine; x stands alone)


def breakpoint_type(mode: str) -> int:
    """`r`, `w`, `rw`, `x` (bpftrace's watchpoint modes) as the kernel's bp_type bits; ValueError otherwise."""
    if not mode or any(c not in HW_BREAKPOINT for c in mode) or len(set(mode)) != len(mode) or (
            "x" in mode and len(mode) > 1):
        raise ValueError(f"invalid watchpoint mode {mode!r} (r, w, rw or x)")
    bits = 0
    for c in mode:
        bits |= HW_BREAKPOINT[c]
    return bits


def attach_breakpoint(prog: ProgLike, address: int, length: int, mode: str, *, pid: int = -1) -> Link:
    """Run a perf_event program on every access of `mode` to [address, address + length): in process
    `pid` (a user address), or on every CPU for a kernel address (pid -1)."""
    from pybpf.kernel.maps import possible_cpus

    expect_type(prog, {ProgramType.PERF_EVENT}, "watchpoint")
    bp_type = breakpoint_type(mode)

    def event(target_pid: int, cpu: int) -> Link:
        attr = perf.PerfEventAttr(type=perf.PerfType.BREAKPOINT, sample_period=1, bp_type=bp_type,
                                  config1=address, config2=length)
        pfd = perf.perf_event_open(attr, pid=target_pid, cpu=cpu)
        return attach_perf_event(prog, pfd, f"watchpoint {address:#x}:{length}:{mode}")

    if pid > 0:
        return event(pid, -1)
    links: list[Link] = []
    try:
        for cpu in _online_cpus(possible_cpus()):
            links.append(event(-1, cpu))
    except BaseException:
        for link in links:
            link.close()
        raise
    return MultiLink(links, f"watchpoint {address:#x} on {len(links)} CPUs")
