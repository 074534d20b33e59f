"""The link kinds' common ground: the Link classes, program fds, type checks, BPF_LINK_CREATE and BPF_PROG_ATTACH."""

from __future__ import annotations

import errno
import os
from typing import Any, Protocol, Self

from pybpf.abi import AttachType, ProgramType
from pybpf.errors import KernelError, LoadError
from pybpf.kernel.attr import LinkCreateAttr, LinkDetachAttr, ProgAttachAttr
from pybpf.kernel.fd import FD
from pybpf.kernel.syscall import Cmd, bpf


class HasFd(Protocol):
    @property
    def fd(self) -> int: ...


ProgLike = HasFd | int


def _fd(prog: ProgLike) -> int:
    return prog if isinstance(prog, int) else prog.fd


def expect_type(prog: ProgLike, allowed: set[ProgramType], hook: str) -> None:
    """A clear LoadError when a loaded program's type cannot go on `hook` (before the kernel says EINVAL)."""
    spec = getattr(prog, "spec", None)
    ptype = getattr(spec, "type", None)
    if ptype is None or ptype in allowed:
        return
    wanted = " or ".join(sorted(t.name.lower() for t in allowed))
    raise LoadError(f"program {spec.name!r} is a {ProgramType(ptype).name.lower()} program; "  # type: ignore[union-attr]
                    f"{hook} needs {wanted}")


def ifindex(interface: str | int) -> int:
    """The index of a network interface given by name or index."""
    if isinstance(interface, int):
        return interface
    try:
        import socket

        return socket.if_nametoindex(interface)
    except OSError:
        raise LoadError(f"no network interface {interface!r}") from None


class Link:
    """An attachment of a program to a hook; close() (or leaving a with-block) detaches it."""

    kind = "link"

    def __init__(self, description: str) -> None:
        self.description = description

    @property
    def closed(self) -> bool:
        return True

    def close(self) -> None:
        """Detach the program from the hook."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}{' closed' if self.closed else ''}>"


class BpfLink(Link):
    """A kernel bpf_link (LINK_CREATE or RAW_TRACEPOINT_OPEN): detached when its last fd closes."""

    kind = "bpf_link"

    def __init__(self, fd: FD, description: str, owned: tuple[FD, ...] = ()) -> None:
        super().__init__(description)
        self._fd = fd
        self._owned = owned

    @property
    def fd(self) -> int:
        return self._fd.fd

    @property
    def closed(self) -> bool:
        return self._fd.closed

    def detach(self) -> None:
        """BPF_LINK_DETACH: detach now, even if the link is pinned or shared."""
        bpf(Cmd.LINK_DETACH, LinkDetachAttr(link_fd=self.fd).raw())

    def pin(self, path: str) -> None:
        from pybpf.kernel.pin import pin_object

        pin_object(self.fd, path)

    def info(self) -> Any:
        from pybpf.kernel.info import link_info

        return link_info(self.fd)

    def close(self) -> None:
        self._fd.close()
        for fd in self._owned:
            fd.close()


class ProgAttachLink(Link):
    """A legacy BPF_PROG_ATTACH attachment; close() runs BPF_PROG_DETACH."""

    kind = "prog_attach"

    def __init__(self, target: FD, prog_fd: int, attach_type: int, description: str) -> None:
        super().__init__(description)
        self._target = target
        self._prog_fd = prog_fd
        self._attach_type = attach_type

    @property
    def closed(self) -> bool:
        return self._target.closed

    def close(self) -> None:
        if self._target.closed:
            return
        a = ProgAttachAttr(target_fd=self._target.fd, attach_bpf_fd=self._prog_fd, attach_type=self._attach_type)
        try:
            bpf(Cmd.PROG_DETACH, a.raw())
        except KernelError:
            pass
        self._target.close()


class MultiLink(Link):
    """Several links that belong together (e.g. one perf event per CPU)."""

    kind = "multi"

    def __init__(self, links: list[Link], description: str) -> None:
        super().__init__(description)
        self.links = links

    @property
    def closed(self) -> bool:
        return all(link.closed for link in self.links)

    def close(self) -> None:
        for link in self.links:
            link.close()


def link_create(prog: ProgLike, target_fd: int, attach_type: int, *, flags: int = 0,
                extra: tuple[int, ...] = (), description: str = "") -> FD:
    """BPF_LINK_CREATE; `extra` fills the per-kind union as u64 words."""
    a = LinkCreateAttr(prog_fd=_fd(prog), target_fd=target_fd, attach_type=attach_type, flags=flags)
    for i, word in enumerate(extra):
        a.extra[i] = word
    try:
        return FD(bpf(Cmd.LINK_CREATE, a.raw()))
    except KernelError as exc:
        try:
            kind = AttachType(attach_type).name.lower()
        except ValueError:
            kind = str(attach_type)
        hint = ""
        if exc.errno == errno.EINVAL:
            hint = " (attach type not supported by this kernel or not matching the program's)"
        raise KernelError(f"cannot attach {description or kind}: {exc}{hint}", errno=exc.errno) from None


def prog_attach(prog: ProgLike, target: str | int, attach_type: int, *, flags: int = 0) -> ProgAttachLink:
    """Legacy BPF_PROG_ATTACH to a cgroup directory (path) or another target fd."""
    if isinstance(target, str):
        try:
            tfd = FD(os.open(target, os.O_RDONLY | os.O_CLOEXEC))
        except OSError as exc:
            raise LoadError(f"cannot open {target}: {exc.strerror}") from None
    else:
        tfd = FD(os.dup(target))
    a = ProgAttachAttr(target_fd=tfd.fd, attach_bpf_fd=_fd(prog), attach_type=attach_type, attach_flags=flags)
    try:
        bpf(Cmd.PROG_ATTACH, a.raw())
    except KernelError:
        tfd.close()
        raise
    return ProgAttachLink(tfd, _fd(prog), attach_type, f"attach type {attach_type} on {target}")
