"""Shared bits of the helper implementations: u64 return codes and access to the running env."""

from __future__ import annotations

import errno
from typing import Any

from pybpf.isa.opcodes import M64


def neg(err: int) -> int:
    """A negative errno as the u64 a helper returns in r0."""
    return -abs(err) & M64


def rc(value: int) -> int:
    """A (possibly negative) int return code as u64."""
    return value & M64


def s64(value: int) -> int:
    value &= M64
    return value - (1 << 64) if value >> 63 else value


EINVAL = neg(errno.EINVAL)
ENOENT = neg(errno.ENOENT)
EFAULT = neg(errno.EFAULT)
ERANGE = neg(errno.ERANGE)
E2BIG = neg(errno.E2BIG)
EOPNOTSUPP = neg(errno.EOPNOTSUPP)
ENOTSUPP = neg(524)


def task_override(env: Any) -> dict[str, Any]:
    """Per-runtime stand-ins for the current task: env.extra["task"] = {"pid": ..., "comm": ...}."""
    extra = getattr(env, "extra", None)
    if isinstance(extra, dict):
        task = extra.get("task")
        if isinstance(task, dict):
            return task
    return {}


def expose(env: Any, address: int, size: int, *, writable: bool, name: str, owner: Any) -> None:
    """Make memory a helper hands to the program accessible (runtimes without expose() skip it)."""
    fn = getattr(env, "expose", None)
    if fn is not None and size > 0:
        fn(address, size, writable=writable, name=name, owner=owner)


MAX_BUFFER = 1 << 20  # no program region is this large: bigger sizes fault before allocating


def zero_fill(env: Any, address: int, size: int) -> None:
    """Zero `size` bytes at `address` (as the kernel does on failed copies), bounds-checked."""
    if size > MAX_BUFFER:
        from pybpf.errors import RuntimeFault

        raise RuntimeFault(f"helper buffer of {size} bytes at {address:#x} is out of bounds",
                           address=address, size=size)  # fmt: skip
    env.write(address, bytes(size))
