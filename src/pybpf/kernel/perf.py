"""perf_event_open(2) through ctypes: struct perf_event_attr, the syscall and the ioctls BPF uses."""

from __future__ import annotations

import ctypes
import fcntl
from enum import IntEnum

from pybpf.errors import KernelError
from pybpf.kernel.fd import FD
from pybpf.kernel.syscall import raw_syscall

u16, u32, u64 = ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64

PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_BPF = 0x40042408
PERF_FLAG_FD_CLOEXEC = 1 << 3

FLAG_DISABLED = 1 << 0
FLAG_FREQ = 1 << 10
FLAG_WATERMARK = 1 << 14

PERF_SAMPLE_RAW = 1 << 10


class PerfType(IntEnum):
    """enum perf_type_id (dynamic PMUs such as uprobe have their type in sysfs)."""

    HARDWARE = 0
    SOFTWARE = 1
    TRACEPOINT = 2
    HW_CACHE = 3
    RAW = 4
    BREAKPOINT = 5


class SwEvent(IntEnum):
    """enum perf_sw_ids."""

    CPU_CLOCK = 0
    TASK_CLOCK = 1
    PAGE_FAULTS = 2
    CONTEXT_SWITCHES = 3
    CPU_MIGRATIONS = 4
    BPF_OUTPUT = 10


class PerfEventAttr(ctypes.Structure):
    _fields_ = [
        ("type", u32), ("size", u32), ("config", u64), ("sample_period", u64), ("sample_type", u64),
        ("read_format", u64), ("flags", u64), ("wakeup_events", u32), ("bp_type", u32), ("config1", u64),
        ("config2", u64), ("branch_sample_type", u64), ("sample_regs_user", u64), ("sample_stack_user", u32),
        ("clockid", ctypes.c_int32), ("sample_regs_intr", u64), ("aux_watermark", u32),
        ("sample_max_stack", u16), ("_reserved_2", u16), ("aux_sample_size", u32), ("_reserved_3", u32),
        ("sig_data", u64), ("config3", u64),
    ]


def perf_event_open(attr: PerfEventAttr, pid: int = -1, cpu: int = 0, group_fd: int = -1) -> FD:
    """perf_event_open(attr, pid, cpu, group_fd, PERF_FLAG_FD_CLOEXEC)."""
    attr.size = ctypes.sizeof(PerfEventAttr)
    try:
        return FD(raw_syscall("perf_event_open", ctypes.byref(attr), pid, cpu, group_fd,  # type: ignore[arg-type]
                              PERF_FLAG_FD_CLOEXEC))
    except KernelError as exc:
        raise KernelError(f"perf_event_open(type={attr.type}, config={attr.config}) failed: {exc}",
                          errno=exc.errno) from None


def ioctl(fd: int, request: int, arg: int = 0) -> None:
    """An ioctl on a perf event fd, raising KernelError on failure."""
    try:
        fcntl.ioctl(fd, request, arg)
    except OSError as exc:
        raise KernelError(f"perf ioctl {request:#x} failed: {exc.strerror}", errno=exc.errno or 0) from None


def pmu_type(name: str) -> int:
    """The dynamic type number of PMU `name` (e.g. "uprobe", "kprobe") from sysfs."""
    try:
        with open(f"/sys/bus/event_source/devices/{name}/type") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        raise KernelError(f"the {name} PMU is not available: this kernel was built without {name}s "
                          f"(/sys/bus/event_source/devices/{name} is absent)", errno=2) from None


def pmu_retprobe_bit(name: str) -> int:
    """The config bit that turns a k/uprobe PMU event into a return probe (format/retprobe)."""
    try:
        with open(f"/sys/bus/event_source/devices/{name}/format/retprobe") as f:
            text = f.read().strip()  # e.g. "config:0"
        return int(text.split(":", 1)[1])
    except (OSError, ValueError, IndexError):
        return 0
