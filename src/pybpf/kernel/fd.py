"""An owned file descriptor of a kernel object: closed by close(), a with-block or garbage collection."""

from __future__ import annotations

import os
import weakref
from typing import Self

from pybpf.errors import KernelError


class FD:
    """Owns one fd; closing twice is harmless, using it after close raises KernelError."""

    __slots__ = ("_fd", "_finalizer", "__weakref__")

    def __init__(self, fd: int) -> None:
        if fd < 0:
            raise KernelError(f"invalid file descriptor {fd}")
        self._fd = fd
        self._finalizer = weakref.finalize(self, _close_quietly, fd)

    @property
    def fd(self) -> int:
        if self._fd < 0:
            raise KernelError("file descriptor used after close", errno=9)
        return self._fd

    def fileno(self) -> int:
        return self.fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        if self._fd >= 0:
            self._fd = -1
            self._finalizer()

    def detach(self) -> int:
        """Give up ownership and return the raw fd (the caller must close it)."""
        fd = self.fd
        self._finalizer.detach()
        self._fd = -1
        return fd

    def dup(self) -> FD:
        return FD(os.dup(self.fd))

    def __int__(self) -> int:
        return self.fd

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FD {self._fd if self._fd >= 0 else 'closed'}>"


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class FdBacked:
    """Mixin for kernel objects held through an owned FD in `self._fd`: fd, fileno() and closed."""

    _fd: FD

    @property
    def fd(self) -> int:
        return self._fd.fd

    def fileno(self) -> int:
        return self._fd.fd

    @property
    def closed(self) -> bool:
        return self._fd.closed

    def pin(self, path: str) -> None:
        """Pin the object at `path` in bpffs (BPF_OBJ_PIN)."""
        from pybpf.kernel.pin import pin_object

        pin_object(self.fd, path)

    def close(self) -> None:
        self._fd.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
