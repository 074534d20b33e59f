"""Uprobe links: a uprobe or uretprobe on a symbol or file offset of a binary or shared library."""

from __future__ import annotations

import ctypes
import os

from pybpf.abi import ProgramType
from pybpf.errors import LoadError
from pybpf.kernel import perf
from pybpf.kernel.link.base import (
    ProgLike,
    expect_type,
)
from pybpf.kernel.link.perf_event import PerfEventLink, attach_perf_event


def attach_uprobe(prog: ProgLike, binary: str, symbol: str | None = None, *, offset: int | None = None,
                  retprobe: bool = False, pid: int = -1, ref_ctr_offset: int = 0,
                  cookie: int = 0) -> PerfEventLink:
    """A uprobe (or uretprobe) on SYMBOL[+OFF] or a file offset of a binary or shared library.

    `ref_ctr_offset`: the file offset of a USDT semaphore that the kernel increments while the probe is attached
    (PERF_UPROBE_REF_CTR_OFFSET_SHIFT: bits 32-63 of the perf config); `cookie`: the BPF cookie."""
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
    return attach_perf_event(prog, pfd, f"{kind} {path}:{symbol or hex(offset)}", cookie=cookie)
