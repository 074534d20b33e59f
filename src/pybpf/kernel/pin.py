"""Pinning on bpffs: mount /sys/fs/bpf when needed, BPF_OBJ_PIN and BPF_OBJ_GET."""

from __future__ import annotations

import ctypes
import os

from pybpf.errors import KernelError
from pybpf.kernel.attr import ObjAttr, ptr
from pybpf.kernel.fd import FD
from pybpf.kernel.syscall import Cmd, bpf

BPFFS = "/sys/fs/bpf"
BPF_FS_MAGIC = 0xCAFE4A11

_libc = ctypes.CDLL(None, use_errno=True)


def _mounts() -> list[tuple[str, str]]:
    try:
        with open("/proc/self/mounts") as f:
            return [(p[1], p[2]) for p in (line.split() for line in f) if len(p) >= 3]
    except OSError:
        return []


def is_bpffs(path: str) -> bool:
    """True when `path` is a mount point of type bpf."""
    return any(mnt == path and fstype == "bpf" for mnt, fstype in _mounts())


def mount(fstype: str, target: str) -> None:
    """mount -t fstype fstype target (creating target), raising KernelError on failure."""
    os.makedirs(target, exist_ok=True)
    if _libc.mount(fstype.encode(), target.encode(), fstype.encode(), 0, None) != 0:
        err = ctypes.get_errno()
        raise KernelError(f"cannot mount {fstype} at {target}: {os.strerror(err)}", errno=err)


def ensure_bpffs(path: str = BPFFS) -> str:
    """Make sure bpffs is mounted at `path` (mounting it if not) and return `path`."""
    if not is_bpffs(path):
        mount("bpf", path)
    return path


def _in_bpffs(path: str) -> None:
    path = os.path.abspath(path)
    if path.startswith(BPFFS + "/") and not is_bpffs(BPFFS):
        ensure_bpffs(BPFFS)


def pin_object(fd: int, path: str) -> None:
    """BPF_OBJ_PIN: make the object behind `fd` reachable at `path` on bpffs."""
    _in_bpffs(path)
    name = ctypes.create_string_buffer(os.fsencode(path))
    try:
        bpf(Cmd.OBJ_PIN, ObjAttr(pathname=ptr(name), bpf_fd=fd).raw())
    except KernelError as exc:
        raise KernelError(f"cannot pin at {path}: {exc}", errno=exc.errno) from None


def get_object(path: str, *, flags: int = 0) -> FD:
    """BPF_OBJ_GET: open the object pinned at `path`."""
    _in_bpffs(path)
    name = ctypes.create_string_buffer(os.fsencode(path))
    try:
        return FD(bpf(Cmd.OBJ_GET, ObjAttr(pathname=ptr(name), file_flags=flags).raw()))
    except KernelError as exc:
        raise KernelError(f"cannot open pinned object {path}: {exc}", errno=exc.errno) from None


def unpin(path: str) -> None:
    """Remove a pin (the object lives on while other references exist)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
