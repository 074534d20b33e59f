"""Whether bpf() may be used by this process, with a one-line reason when it may not (cached)."""

from __future__ import annotations

import errno
import functools
import os
import struct

from pybpf.errors import KernelError


@functools.cache
def bpf_permission_error() -> str | None:
    """None when bpf() is usable here, else a one-line reason (e.g. missing privileges)."""
    try:
        from pybpf.kernel.syscall import Cmd, bpf
    except (OSError, KernelError) as exc:  # no libc / unknown architecture
        return f"bpf() is unavailable: {exc}"
    # A tiny array map: map_type=BPF_MAP_TYPE_ARRAY(2), key 4, value 4, one entry.
    attr = bytearray(struct.pack("<IIII", 2, 4, 4, 1).ljust(72, b"\0"))
    try:
        fd = bpf(Cmd.MAP_CREATE, attr)
    except KernelError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            return f"bpf() returned {errno.errorcode[exc.errno]}: run as root or grant CAP_BPF"
        if exc.errno == errno.ENOSYS:
            return "bpf() returned ENOSYS: this kernel was built without BPF syscall support"
        return f"bpf() returned {errno.errorcode.get(exc.errno, exc.errno)}: {exc}"
    except OSError as exc:
        return f"bpf() is unavailable: {exc}"
    os.close(fd)
    return None
