"""XDP links: a program on a network interface through a bpf_link, native or generic (skb) mode."""

from __future__ import annotations

import errno
import os

from pybpf.abi import AttachType, ProgramType
from pybpf.errors import KernelError, LoadError
from pybpf.kernel.link.base import (
    BpfLink,
    ProgLike,
    expect_type,
    ifindex,
    link_create,
)

XDP_FLAGS_UPDATE_IF_NOEXIST = 1


XDP_FLAGS_SKB_MODE = 2


XDP_FLAGS_DRV_MODE = 4


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
