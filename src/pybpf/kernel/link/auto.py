"""Attach a loaded program where its ELF section says (tracepoint/..., raw_tp/..., ksyscall/..., uprobe[.multi]/...)."""

from __future__ import annotations

import os
from typing import Any

from pybpf.abi import ProgramType
from pybpf.errors import LoadError
from pybpf.kernel.link.base import (
    Link,
)
from pybpf.kernel.link.kprobe import attach_kprobe
from pybpf.kernel.link.raw_tracepoint import attach_raw_tracepoint
from pybpf.kernel.link.tracepoint import attach_tracepoint
from pybpf.kernel.link.tracing import attach_tracing
from pybpf.kernel.link.uprobe import attach_uprobe
from pybpf.kernel.link.uprobe_multi import attach_uprobe_multi
from pybpf.kernel.link.usdt import attach_usdt, parse_usdt_target

_SYSCALL_PREFIX = {"x86_64": "__x64_", "aarch64": "__arm64_", "s390x": "__s390x_", "riscv64": "__riscv_"}


def syscall_function(name: str) -> str:
    """The kernel function a `ksyscall/NAME` probe goes on: `__x64_sys_NAME` behind the syscall
    wrappers of this architecture, `sys_NAME` without them (as LINUX_HAS_SYSCALL_WRAPPER says)."""
    from pybpf.object.kconfig import system_kconfig

    wrapped = system_kconfig().get("LINUX_HAS_SYSCALL_WRAPPER") == "y"
    prefix = _SYSCALL_PREFIX.get(os.uname().machine, "") if wrapped else ""
    return f"{prefix}sys_{name}"


def attach_auto(prog: Any, target: str = "", *, pid: int = -1) -> Link:
    """Attach a loaded program where its section says (tracepoint/..., raw_tp/..., fentry/..., uprobe/...,
    usdt/...); `pid` limits uprobes and USDT probes to one process (-1: every process)."""
    spec = prog.spec
    section: str = spec.section or ""
    kind, _, rest = section.partition("/")
    kind = kind.removesuffix(".s")
    rest = target or spec.attach_to or rest
    ptype = spec.type
    if ptype == ProgramType.TRACEPOINT or kind in ("tracepoint", "tp"):
        return attach_tracepoint(prog, rest)
    if ptype in (ProgramType.RAW_TRACEPOINT, ProgramType.RAW_TRACEPOINT_WRITABLE):
        return attach_raw_tracepoint(prog, rest)
    if ptype in (ProgramType.TRACING, ProgramType.LSM):
        return attach_tracing(prog)
    if ptype == ProgramType.KPROBE and kind in ("ksyscall", "kretsyscall"):
        return attach_kprobe(prog, syscall_function(rest), retprobe=kind == "kretsyscall")
    if ptype == ProgramType.KPROBE and kind == "usdt":
        if not rest:
            raise LoadError(f"program {spec.name!r} (section {section!r}) names no probe: attach it with "
                            "attach_usdt(prog, BINARY, PROVIDER, NAME)")
        binary, provider, name = parse_usdt_target(rest)
        return attach_usdt(prog, binary, provider, name, pid=pid)
    if ptype == ProgramType.KPROBE and kind in ("uprobe.multi", "uretprobe.multi"):
        binary, _, pattern = rest.rpartition(":")
        if not binary or not pattern:
            raise LoadError(f"program {spec.name!r} (section {section!r}): expected {kind}/BINARY:PATTERN")
        return attach_uprobe_multi(prog, binary, pattern, retprobe=kind == "uretprobe.multi", pid=pid)
    if ptype == ProgramType.KPROBE and kind in ("uprobe", "uretprobe"):
        binary, _, symbol = rest.rpartition(":")
        return attach_uprobe(prog, binary, symbol, retprobe=kind == "uretprobe", pid=pid)
    if ptype == ProgramType.KPROBE:
        return attach_kprobe(prog, rest, retprobe=kind == "kretprobe")
    raise LoadError(f"program {spec.name!r} (section {section!r}) needs an explicit attach target")
