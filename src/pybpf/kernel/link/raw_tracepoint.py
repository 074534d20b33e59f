"""Raw tracepoint links: BPF_RAW_TRACEPOINT_OPEN by tracepoint name."""

from __future__ import annotations

import ctypes
import errno

from pybpf.abi import ProgramType
from pybpf.errors import KernelError, LoadError
from pybpf.kernel.attr import RawTracepointAttr, ptr
from pybpf.kernel.fd import FD
from pybpf.kernel.link.base import (
    BpfLink,
    ProgLike,
    _fd,
    expect_type,
)
from pybpf.kernel.syscall import Cmd, bpf


def attach_raw_tracepoint(prog: ProgLike, name: str | None) -> BpfLink:
    """BPF_RAW_TRACEPOINT_OPEN: a raw tracepoint by name, or (name None) a tracing/LSM/tp_btf program."""
    if name:
        expect_type(prog, {ProgramType.RAW_TRACEPOINT, ProgramType.RAW_TRACEPOINT_WRITABLE}, "a raw tracepoint")
    else:
        expect_type(prog, {ProgramType.TRACING, ProgramType.LSM, ProgramType.EXT}, "a tracing attachment")
    buf = ctypes.create_string_buffer(name.encode()) if name else None
    a = RawTracepointAttr(name=ptr(buf), prog_fd=_fd(prog))
    what = f"raw tracepoint {name}" if name else "tracing program"
    try:
        return BpfLink(FD(bpf(Cmd.RAW_TRACEPOINT_OPEN, a.raw())), what)
    except KernelError as exc:
        if exc.errno == errno.ENOENT and name:
            raise LoadError(f"no raw tracepoint {name!r} in this kernel") from None
        raise KernelError(f"cannot attach {what}: {exc}", errno=exc.errno) from None
