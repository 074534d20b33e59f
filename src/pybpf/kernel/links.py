"""Links of every kind under one name: a thin re-export of `pybpf.kernel.link.*`, one module per kind.

Existing code imports `from pybpf.kernel.links import attach_xdp` and the like; new hooks go in
`pybpf/kernel/link/<kind>.py` and are re-exported here.
"""

from __future__ import annotations

from pybpf.kernel.link.auto import attach_auto, syscall_function
from pybpf.kernel.link.base import (
    BpfLink,
    HasFd,
    Link,
    MultiLink,
    ProgAttachLink,
    ProgLike,
    _fd,
    expect_type,
    ifindex,
    link_create,
    prog_attach,
)
from pybpf.kernel.link.cgroup import CGROUP_ATTACH, attach_cgroup, query_attached
from pybpf.kernel.link.kprobe import attach_kprobe, kprobes_supported
from pybpf.kernel.link.perf_event import (
    PerfEventLink,
    _online_cpus,
    attach_perf_event,
    attach_sampling,
)
from pybpf.kernel.link.raw_tracepoint import attach_raw_tracepoint
from pybpf.kernel.link.socket_filter import (
    SO_ATTACH_BPF,
    SO_DETACH_BPF,
    SocketFilterLink,
    attach_socket,
)
from pybpf.kernel.link.tc import TcFilterLink, attach_tc, attach_tc_legacy
from pybpf.kernel.link.tracepoint import attach_tracepoint
from pybpf.kernel.link.tracing import attach_tracing
from pybpf.kernel.link.uprobe import attach_uprobe
from pybpf.kernel.link.usdt import UsdtLink, attach_usdt, parse_usdt_target
from pybpf.kernel.link.xdp import (
    XDP_FLAGS_DRV_MODE,
    XDP_FLAGS_SKB_MODE,
    XDP_FLAGS_UPDATE_IF_NOEXIST,
    attach_xdp,
)

__all__ = [
    "CGROUP_ATTACH", "SO_ATTACH_BPF", "SO_DETACH_BPF", "XDP_FLAGS_DRV_MODE", "XDP_FLAGS_SKB_MODE",
    "XDP_FLAGS_UPDATE_IF_NOEXIST",
    "BpfLink", "HasFd", "Link", "MultiLink", "PerfEventLink", "ProgAttachLink", "ProgLike", "SocketFilterLink",
    "TcFilterLink", "UsdtLink", "attach_auto", "attach_cgroup", "attach_kprobe", "attach_perf_event",
    "attach_raw_tracepoint", "attach_sampling", "attach_socket", "attach_tc", "attach_tc_legacy",
    "attach_tracepoint", "attach_tracing", "attach_uprobe", "attach_usdt", "attach_xdp", "expect_type", "ifindex",
    "kprobes_supported", "link_create", "parse_usdt_target", "prog_attach", "query_attached", "syscall_function",
    "_fd", "_online_cpus",
]
