"""Legacy tc attachment over rtnetlink: a clsact qdisc and a direct-action cls_bpf filter (pre-tcx kernels)."""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from itertools import count

from pybpf.errors import KernelError

NETLINK_ROUTE = 0
RTM_NEWQDISC, RTM_DELQDISC, RTM_NEWTFILTER, RTM_DELTFILTER, RTM_GETTFILTER = 36, 37, 44, 45, 46
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
NLMSG_DONE, NLMSG_ERROR = 3, 2
TCA_KIND, TCA_OPTIONS = 1, 2
TCA_BPF_FD, TCA_BPF_NAME, TCA_BPF_FLAGS = 6, 7, 8
TCA_BPF_FLAG_ACT_DIRECT = 1
TC_H_CLSACT = 0xFFFFFFF1
TC_H_MIN_INGRESS, TC_H_MIN_EGRESS = 0xFFF2, 0xFFF3
ETH_P_ALL = 0x0003
NLA_F_NESTED = 1 << 15

_seq = count(1)


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("<HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _tcmsg(ifindex: int, handle: int, parent: int, info: int) -> bytes:
    return struct.pack("<BBHiIII", socket.AF_UNSPEC, 0, 0, ifindex, handle, parent, info)


def open_socket() -> socket.socket:
    """An rtnetlink socket; it stays in the network namespace it was opened in, whatever the thread does."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    s.bind((0, 0))
    return s


def _replies(s: socket.socket) -> Iterator[tuple[int, int, int]]:
    """Every message the kernel sends back, as (type, sequence number, errno of an NLMSG_ERROR)."""
    while True:
        data = s.recv(65536)
        pos = 0
        while pos + 16 <= len(data):
            length, rtype, _flags, rseq, _pid = struct.unpack_from("<IHHII", data, pos)
            if length < 16:
                raise KernelError("malformed netlink reply")
            err = -struct.unpack_from("<i", data, pos + 16)[0] if rtype == NLMSG_ERROR else 0
            yield rtype, rseq, err
            pos += (length + 3) & ~3


def _request(s: socket.socket, msg_type: int, flags: int, body: bytes) -> None:
    """Send one rtnetlink request and wait for its acknowledgement; KernelError on a negative ack."""
    seq = next(_seq)
    header = struct.pack("<IHHII", 16 + len(body), msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0)
    s.send(header + body)
    for rtype, rseq, err in _replies(s):
        if rtype == NLMSG_ERROR and rseq == seq:
            if err:
                raise KernelError(f"rtnetlink request {msg_type} failed: {errno.errorcode.get(err, err)} "
                                  f"({os.strerror(err)})", errno=err)
            return


def _parent(direction: str) -> int:
    if direction not in ("ingress", "egress"):
        raise KernelError(f"tc direction must be ingress or egress, not {direction!r}", errno=errno.EINVAL)
    return (TC_H_CLSACT & 0xFFFF0000) | (TC_H_MIN_INGRESS if direction == "ingress" else TC_H_MIN_EGRESS)


def add_clsact(s: socket.socket, ifindex: int) -> bool:
    """Create the clsact qdisc on an interface; False when it already existed."""
    body = _tcmsg(ifindex, TC_H_CLSACT & 0xFFFF0000, TC_H_CLSACT, 0) + _attr(TCA_KIND, b"clsact\0")
    try:
        _request(s, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, body)
    except KernelError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise
    return True


def del_clsact(s: socket.socket, ifindex: int) -> None:
    """Remove the clsact qdisc (and every filter on it)."""
    _request(s, RTM_DELQDISC, 0, _tcmsg(ifindex, TC_H_CLSACT & 0xFFFF0000, TC_H_CLSACT, 0)
             + _attr(TCA_KIND, b"clsact\0"))


def _filter_info(priority: int) -> int:
    return (priority << 16) | socket.htons(ETH_P_ALL)


def add_bpf_filter(s: socket.socket, ifindex: int, direction: str, prog_fd: int, *, name: str = "pybpf", priority: int = 1,
                   handle: int = 1) -> None:
    """A cls_bpf filter in direct-action mode running program `prog_fd` on ingress or egress."""
    options = (_attr(TCA_BPF_FD, struct.pack("<I", prog_fd)) + _attr(TCA_BPF_NAME, name.encode()[:255] + b"\0")
               + _attr(TCA_BPF_FLAGS, struct.pack("<I", TCA_BPF_FLAG_ACT_DIRECT)))
    body = (_tcmsg(ifindex, handle, _parent(direction), _filter_info(priority)) + _attr(TCA_KIND, b"bpf\0")
            + _attr(TCA_OPTIONS | NLA_F_NESTED, options))
    _request(s, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, body)


def del_bpf_filter(s: socket.socket, ifindex: int, direction: str, *, priority: int = 1, handle: int = 1) -> None:
    """Remove the filter added by add_bpf_filter."""
    body = _tcmsg(ifindex, handle, _parent(direction), _filter_info(priority)) + _attr(TCA_KIND, b"bpf\0")
    _request(s, RTM_DELTFILTER, 0, body)


def count_filters(s: socket.socket, ifindex: int, direction: str) -> int:
    """How many tc filters sit on the clsact ingress or egress hook of an interface (RTM_GETTFILTER dump)."""
    seq = next(_seq)
    body = _tcmsg(ifindex, 0, _parent(direction), 0)
    s.send(struct.pack("<IHHII", 16 + len(body), RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
    count = 0
    for rtype, rseq, err in _replies(s):
        if rseq == seq:
            if rtype == NLMSG_DONE:
                return count
            if rtype == NLMSG_ERROR:
                if err:
                    raise KernelError(f"tc filter dump failed: {os.strerror(err)}", errno=err)
                return count
            if rtype == RTM_NEWTFILTER:
                count += 1
    raise AssertionError("unreachable: _replies never ends")
