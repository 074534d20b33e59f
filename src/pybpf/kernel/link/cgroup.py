"""cgroup v2 links: a program on a cgroup hook (ingress, egress, sock_create, sysctl, ...), and BPF_PROG_QUERY."""

from __future__ import annotations

import ctypes
import os

from pybpf.abi import AttachType
from pybpf.errors import LoadError
from pybpf.kernel.fd import FD
from pybpf.kernel.link.base import (
    BpfLink,
    ProgLike,
    link_create,
)
from pybpf.kernel.syscall import Cmd, bpf

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
