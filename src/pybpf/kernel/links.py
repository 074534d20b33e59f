"""Attaching programs to hooks; every attachment is a Link (a context manager that detaches on close)."""

from __future__ import annotations

import ctypes
import errno
import os
import socket
from typing import Any, Protocol, Self

from pybpf.abi import AttachType, ProgramType
from pybpf.errors import KernelError, LoadError
from pybpf.kernel.attr import LinkCreateAttr, LinkDetachAttr, ProgAttachAttr, RawTracepointAttr, ptr
from pybpf.kernel.fd import FD
from pybpf.kernel.syscall import Cmd, bpf

XDP_FLAGS_UPDATE_IF_NOEXIST = 1
XDP_FLAGS_SKB_MODE = 2
XDP_FLAGS_DRV_MODE = 4
SO_ATTACH_BPF = 50
SO_DETACH_BPF = 27

CGROUP_ATTACH = {
    "ingress": AttachType.CGROUP_INET_INGRESS, "egress": AttachType.CGROUP_INET_EGRESS,
    "sock_create": AttachType.CGROUP_INET_SOCK_CREATE, "sock_release": AttachType.CGROUP_INET_SOCK_RELEASE,
    "sock_ops": AttachType.CGROUP_SOCK_OPS, "device": AttachType.CGROUP_DEVICE,
    "bind4": AttachType.CGROUP_INET4_BIND, "bind6": AttachType.CGROUP_INET6_BIND,
    "connect4": AttachType.CGROUP_INET4_CONNECT, "connect6": AttachType.CGROUP_INET6_CONNECT,
    "post_bind4": AttachType.CGROUP_INET4_POST_BIND, "post_bind6": AttachType.CGROUP_INET6_POST_BIND,
    "sendmsg4": AttachType.CGROUP_UDP4_SENDMSG, "sendmsg6": AttachType.CGROUP_UDP6_SENDMSG,
    "recvmsg4": AttachType.CGROUP_UDP4_RECVMSG, "recvmsg6": AttachType.CGROUP_UDP6_RECVMSG,
    "sysctl": AttachType.CGROUP_SYSCTL, "getsockopt": AttachType.CGROUP_GETSOCKOPT,
    "setsockopt": AttachType.CGROUP_SETSOCKOPT,
}


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


def attach_xdp(prog: ProgLike, interface: str | int, *, mode: str = "") -> BpfLink:
    """XDP on an interface through a bpf_link: mode "skb"/"generic", "drv"/"native", or "" (the
    default: native where the driver takes it, else generic/skb mode, as `ip link set xdp` does;
    the link's description then says which mode and why)."""
    flags = {"": 0, "skb": XDP_FLAGS_SKB_MODE, "generic": XDP_FLAGS_SKB_MODE, "drv": XDP_FLAGS_DRV_MODE,
             "native": XDP_FLAGS_DRV_MODE}.get(mode)
    if flags is None:
        raise LoadError(f"unknown XDP mode {mode!r} (native, skb)")
    expect_type(prog, {ProgramType.XDP}, "XDP")
    idx = ifindex(interface)
    description = f"xdp on {interface}" + (f", {mode} mode" if mode else "")
    try:
        fd = link_create(prog, idx, AttachType.XDP, flags=flags, description=description)
    except KernelError as exc:
        if exc.errno in (errno.EEXIST, errno.EBUSY):
            raise KernelError(f"interface {interface} already has an XDP program attached ({exc})",
                              errno=exc.errno) from None
        if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTSUP) or flags == XDP_FLAGS_SKB_MODE:
            raise
        if flags == XDP_FLAGS_DRV_MODE:
            raise KernelError(f"{exc}: the driver of {interface} has no native XDP support;"
                              f" use generic mode (--xdp {interface}:skb)", errno=exc.errno) from None
        # The driver has an XDP hook but refuses this program (ENOTSUP): generic mode runs it.
        fd = link_create(prog, idx, AttachType.XDP, flags=XDP_FLAGS_SKB_MODE, description=description)
        description = (f"xdp on {interface}, skb mode: the driver refused native XDP"
                       f" ({os.strerror(exc.errno)}); --xdp {interface}:native insists")
    return BpfLink(fd, description)


# clsact qdiscs this process created, by (network namespace inode, ifindex): removed again when our
# last filter on them goes and no other filter is left
_OUR_CLSACT: set[tuple[int, int]] = set()


def _netns_id() -> int:
    try:
        return os.stat("/proc/thread-self/ns/net").st_ino
    except OSError:
        return 0


class TcFilterLink(Link):
    """A legacy cls_bpf filter (direct action) on a clsact qdisc; close() removes the filter."""

    kind = "tc_filter"

    def __init__(self, sock: socket.socket, index: int, direction: str, priority: int, netns: int,
                 description: str) -> None:
        super().__init__(description)
        self._sock = sock  # opened where the interface lives: removal happens in the same namespace
        self._index, self._direction, self._priority = index, direction, priority
        self._qdisc_key = (netns, index)
        self._attached = True

    @property
    def closed(self) -> bool:
        return not self._attached

    def close(self) -> None:
        from pybpf.kernel import netlink

        if not self._attached:
            return
        self._attached = False
        try:
            netlink.del_bpf_filter(self._sock, self._index, self._direction, priority=self._priority)
            # the clsact qdisc goes too if we made it and nobody's filter is left on it
            if self._qdisc_key in _OUR_CLSACT and not any(
                    netlink.count_filters(self._sock, self._index, d) for d in ("ingress", "egress")):
                _OUR_CLSACT.discard(self._qdisc_key)
                netlink.del_clsact(self._sock, self._index)
        except (KernelError, OSError):
            pass  # the interface is gone already
        finally:
            self._sock.close()


def attach_tc_legacy(prog: ProgLike, interface: str | int, direction: str = "ingress", *,
                     priority: int | None = None) -> TcFilterLink:
    """tc ingress/egress the pre-6.6 way: clsact qdisc + direct-action cls_bpf filter over rtnetlink.

    Without `priority`, the first free one from 1 up is taken, so several programs can share a hook.
    """
    from pybpf.kernel import netlink

    if direction not in ("ingress", "egress"):
        raise LoadError(f"tc direction must be ingress or egress, not {direction!r}")
    idx = ifindex(interface)
    sock = netlink.open_socket()
    try:
        created = netlink.add_clsact(sock, idx)
        candidates = [priority] if priority is not None else list(range(1, 65))
        for prio in candidates:
            try:
                netlink.add_bpf_filter(sock, idx, direction, _fd(prog), priority=prio)
                priority = prio
                break
            except KernelError as exc:
                if exc.errno == errno.EEXIST and prio != candidates[-1]:
                    continue  # that priority is taken: try the next one
                if created:
                    netlink.del_clsact(sock, idx)
                raise KernelError(f"cannot attach tc {direction} filter on {interface}: {exc}",
                                  errno=exc.errno) from None
    except BaseException:
        sock.close()
        raise
    assert priority is not None
    netns = _netns_id()
    if created:
        _OUR_CLSACT.add((netns, idx))
    return TcFilterLink(sock, idx, direction, priority, netns,
                        f"tc {direction} filter (priority {priority}) on {interface}")


def attach_tc(prog: ProgLike, interface: str | int, direction: str = "ingress",
              *, legacy: bool | None = None) -> Link:
    """tc ingress/egress: a tcx bpf_link (Linux 6.6+), else (or with legacy=True) a cls_bpf filter."""
    types = {"ingress": AttachType.TCX_INGRESS, "egress": AttachType.TCX_EGRESS}
    if direction not in types:
        raise LoadError(f"tc direction must be ingress or egress, not {direction!r}")
    expect_type(prog, {ProgramType.SCHED_CLS, ProgramType.SCHED_ACT}, "tc")
    if legacy:
        return attach_tc_legacy(prog, interface, direction)
    idx = ifindex(interface)
    try:
        fd = link_create(prog, idx, types[direction], description=f"tcx {direction} on {interface}")
    except KernelError as exc:
        if exc.errno == errno.EINVAL and legacy is None:
            return attach_tc_legacy(prog, interface, direction)  # kernel without tcx
        raise
    return BpfLink(fd, f"tc {direction} on {interface}")


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


def attach_tracing(prog: ProgLike) -> BpfLink:
    """fentry/fexit/fmod_ret/LSM/tp_btf: the target was fixed at load time (attach_btf_id)."""
    return attach_raw_tracepoint(prog, None)


def attach_cgroup(prog: ProgLike, cgroup: str, attach: str | int) -> BpfLink:
    """A cgroup v2 hook (ingress, egress, sock_create, sysctl, connect4, ...) on the cgroup at `cgroup`."""
    if isinstance(attach, str):
        if attach not in CGROUP_ATTACH:
            raise LoadError(f"unknown cgroup attach point {attach!r} (choose from {', '.join(CGROUP_ATTACH)})")
        attach_type = int(CGROUP_ATTACH[attach])
    else:
        attach_type = attach
    try:
        cg = FD(os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    except OSError as exc:
        raise LoadError(f"cannot open cgroup {cgroup}: {exc.strerror}") from None
    with cg:
        fd = link_create(prog, cg.fd, attach_type, description=f"cgroup {cgroup} {attach}")
    return BpfLink(fd, f"cgroup {attach} on {cgroup}")


def query_attached(target: str | int, attach: str | int) -> list[int]:
    """BPF_PROG_QUERY: ids of the programs attached to a cgroup (path) or target fd at `attach`."""
    from pybpf.kernel.attr import ProgQueryAttr

    attach_type = int(CGROUP_ATTACH[attach]) if isinstance(attach, str) and attach in CGROUP_ATTACH else attach
    if isinstance(attach_type, str):
        raise LoadError(f"unknown attach point {attach!r}")
    ids = (ctypes.c_uint32 * 64)()
    try:
        tfd = FD(os.open(target, os.O_RDONLY | os.O_CLOEXEC)) if isinstance(target, str) else FD(os.dup(target))
    except OSError as exc:
        raise LoadError(f"cannot open {target}: {exc.strerror}") from None
    with tfd:
        a = ProgQueryAttr(target_fd=tfd.fd, attach_type=attach_type, prog_ids=ctypes.addressof(ids), prog_cnt=64)
        buf = a.raw()
        bpf(Cmd.PROG_QUERY, buf)
        a.load(buf)
    return list(ids[: min(a.prog_cnt, 64)])


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


def attach_socket(prog: ProgLike, sock: socket.socket) -> SocketFilterLink:
    """A socket filter program on a socket (SO_ATTACH_BPF)."""
    expect_type(prog, {ProgramType.SOCKET_FILTER}, "a socket")
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, _fd(prog))
    except OSError as exc:
        raise KernelError(f"SO_ATTACH_BPF failed: {exc.strerror}", errno=exc.errno or 0) from None
    return SocketFilterLink(sock, f"socket filter on fd {sock.fileno()}")


def attach_auto(prog: Any, target: str = "") -> Link:
    """Attach a loaded program where its section says (tracepoint/..., raw_tp/..., fentry/..., uprobe/...)."""
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
    if ptype == ProgramType.KPROBE and kind in ("uprobe", "uretprobe"):
        binary, _, symbol = rest.rpartition(":")
        return attach_uprobe(prog, binary, symbol, retprobe=kind == "uretprobe")
    if ptype == ProgramType.KPROBE:
        return attach_kprobe(prog, rest, retprobe=kind == "kretprobe")
    raise LoadError(f"program {spec.name!r} (section {section!r}) needs an explicit attach target")


# Perf-event based attachments live in their own module; their names stay importable from here.
from pybpf.kernel.perflinks import (  # noqa: E402
    PerfEventLink,
    _online_cpus,
    attach_kprobe,
    attach_perf_event,
    attach_sampling,
    attach_tracepoint,
    attach_uprobe,
    kprobes_supported,
)

__all__ = [
    "BpfLink", "HasFd", "Link", "MultiLink", "PerfEventLink", "ProgAttachLink", "SocketFilterLink",
    "TcFilterLink", "attach_auto", "attach_cgroup", "attach_kprobe", "attach_perf_event",
    "attach_raw_tracepoint", "attach_sampling", "attach_socket", "attach_tc", "attach_tc_legacy",
    "attach_tracepoint", "attach_tracing", "attach_uprobe", "attach_xdp", "ifindex", "kprobes_supported",
    "link_create", "prog_attach", "query_attached", "_online_cpus",
]
