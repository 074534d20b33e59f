"""The raw bpf() system call through ctypes: command numbers, the call itself and KernelError."""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from enum import IntEnum

from pybpf.errors import KernelError


class Cmd(IntEnum):
    """enum bpf_cmd (include/uapi/linux/bpf.h)."""

    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    MAP_GET_NEXT_KEY = 4
    PROG_LOAD = 5
    OBJ_PIN = 6
    OBJ_GET = 7
    PROG_ATTACH = 8
    PROG_DETACH = 9
    PROG_TEST_RUN = 10
    PROG_GET_NEXT_ID = 11
    MAP_GET_NEXT_ID = 12
    PROG_GET_FD_BY_ID = 13
    MAP_GET_FD_BY_ID = 14
    OBJ_GET_INFO_BY_FD = 15
    PROG_QUERY = 16
    RAW_TRACEPOINT_OPEN = 17
    BTF_LOAD = 18
    BTF_GET_FD_BY_ID = 19
    TASK_FD_QUERY = 20
    MAP_LOOKUP_AND_DELETE_ELEM = 21
    MAP_FREEZE = 22
    BTF_GET_NEXT_ID = 23
    MAP_LOOKUP_BATCH = 24
    MAP_LOOKUP_AND_DELETE_BATCH = 25
    MAP_UPDATE_BATCH = 26
    MAP_DELETE_BATCH = 27
    LINK_CREATE = 28
    LINK_UPDATE = 29
    LINK_GET_FD_BY_ID = 30
    LINK_GET_NEXT_ID = 31
    ENABLE_STATS = 32
    ITER_CREATE = 33
    LINK_DETACH = 34
    PROG_BIND_MAP = 35
    TOKEN_CREATE = 36


# __NR_bpf and __NR_perf_event_open per architecture.
_SYSCALLS = {
    "x86_64": {"bpf": 321, "perf_event_open": 298},
    "aarch64": {"bpf": 280, "perf_event_open": 241},
    "arm64": {"bpf": 280, "perf_event_open": 241},
    "riscv64": {"bpf": 280, "perf_event_open": 241},
    "i686": {"bpf": 357, "perf_event_open": 336},
}

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def syscall_number(name: str) -> int:
    """The system call number of `name` on this machine's architecture."""
    arch = os.uname().machine
    try:
        return _SYSCALLS[arch][name]
    except KeyError:
        raise KernelError(f"{name}() is not supported on architecture {arch}", errno=_errno.ENOSYS) from None


def errno_name(code: int) -> str:
    """E.g. 'EPERM' for 1."""
    return _errno.errorcode.get(code, f"errno {code}")


def bpf(cmd: int, attr: ctypes.Array[ctypes.c_char] | bytearray, size: int | None = None) -> int:
    """Call bpf(cmd, attr, size) and return its result; raise KernelError naming the command on failure.

    `attr` is a mutable buffer holding the union bpf_attr member for `cmd` (the kernel may write
    results back into it, e.g. the duration of a test run).
    """
    if isinstance(attr, bytearray):
        buf = (ctypes.c_char * len(attr)).from_buffer(attr)
    else:
        buf = attr
    length = ctypes.sizeof(buf) if size is None else size
    nr = syscall_number("bpf")
    while True:
        ret = _syscall(ctypes.c_long(nr), ctypes.c_long(int(cmd)), buf, ctypes.c_long(length))
        if ret >= 0:
            return int(ret)
        err = ctypes.get_errno()
        if err != _errno.EINTR:
            break
    try:
        name = Cmd(cmd).name
    except ValueError:
        name = str(cmd)
    raise KernelError(f"bpf({name}) failed: {errno_name(err)} ({os.strerror(err)})", errno=err)


def raw_syscall(name: str, *args: int | ctypes.c_void_p | ctypes.Array[ctypes.c_char]) -> int:
    """Call a system call by name with integer or buffer arguments; raise KernelError on failure."""
    nr = syscall_number(name)
    conv = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    ret = _syscall(ctypes.c_long(nr), *conv)
    if ret < 0:
        err = ctypes.get_errno()
        raise KernelError(f"{name}() failed: {errno_name(err)} ({os.strerror(err)})", errno=err)
    return int(ret)
