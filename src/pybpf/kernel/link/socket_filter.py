"""Socket filter links: a program on one socket with SO_ATTACH_BPF."""

from __future__ import annotations

import socket

from pybpf.abi import ProgramType
from pybpf.errors import KernelError
from pybpf.kernel.link.base import (
    Link,
    ProgLike,
    _fd,
    expect_type,
)

SO_ATTACH_BPF = 50


SO_DETACH_BPF = 27


class SocketFilterLink(Link):
    """A program attached to a socket with SO_ATTACH_BPF; close() detaches it (the socket stays open)."""

    kind = "socket_filter"

    def __init__(self, sock: socket.socket, description: str) -> None:
        super().__init__(description)
        self.socket = sock
        self._attached = True

    @property
    def closed(self) -> bool:
        return not self._attached

    def close(self) -> None:
        if self._attached:
            self._attached = False
            if self.socket.fileno() >= 0:
                try:
                    self.socket.setsockopt(socket.SOL_SOCKET, SO_DETACH_BPF, 0)
                except OSError:
                    pass


def attach_socket(prog: ProgLike, sock: socket.socket) -> SocketFilterLink:
    """A socket filter program on a socket (SO_ATTACH_BPF)."""
    expect_type(prog, {ProgramType.SOCKET_FILTER}, "a socket")
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, _fd(prog))
    except OSError as exc:
        raise KernelError(f"SO_ATTACH_BPF failed: {exc.strerror}", errno=exc.errno or 0) from None
    return SocketFilterLink(sock, f"socket filter on fd {sock.fileno()}")
