"""tc links: tcx bpf_links (Linux 6.6+), else a clsact qdisc with a direct-action cls_bpf filter."""

from __future__ import annotations

import errno
import os
import socket

from pybpf.abi import AttachType, ProgramType
from pybpf.errors import KernelError, LoadError
from pybpf.kernel.link.base import (
    BpfLink,
    Link,
    ProgLike,
    _fd,
    expect_type,
    ifindex,
    link_create,
)

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
