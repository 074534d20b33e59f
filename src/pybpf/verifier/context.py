"""Per-program-type context rules: which (offset, size) loads and stores are valid, what they yield, return ranges."""

from __future__ import annotations

from dataclasses import dataclass, field

from pybpf.abi import ProgramType as P
from pybpf.verifier.state import RegType

Span = tuple[int, int]  # [start, end) byte range


@dataclass(frozen=True)
class CtxLayout:
    """The context of one program type: readable and writable fields and the pointers it holds."""

    name: str
    size: int
    # (start, end, sizes): any aligned access of one of `sizes` bytes inside [start, end)
    reads: tuple[tuple[int, int, frozenset[int]], ...] = ()
    writes: tuple[tuple[int, int, frozenset[int]], ...] = ()
    # offset -> (register type, maybe_null) for 4/8-byte loads of pointer fields
    pointers: dict[int, tuple[RegType, bool]] = field(default_factory=dict)

    def valid(self, off: int, size: int, write: bool) -> bool:
        if off < 0 or size <= 0 or off % size:
            return False
        for start, end, sizes in self.writes if write else self.reads:
            if start <= off and off + size <= end and size in sizes:
                return True
        return False


NARROW = frozenset({1, 2, 4})
W4 = frozenset({4})
W8 = frozenset({8})
ANY = frozenset({1, 2, 4, 8})

XDP_MD = CtxLayout(
    "xdp_md",
    24,
    reads=((0, 20, W4),),
    pointers={0: (RegType.PTR_TO_PACKET, False), 4: (RegType.PTR_TO_PACKET_END, False),
              8: (RegType.PTR_TO_PACKET_META, False)},
)

# struct __sk_buff: len..cb[5] (0-68) hash 68 tc_classid 72 data 76 data_end 80 napi_id 84 family 88
# remote_ip4 92 local_ip4 96 remote_ip6 100 local_ip6 116 remote_port 132 local_port 136 data_meta 140
# flow_keys 144 tstamp 152 wire_len 160 gso_segs 164 sk 168 gso_size 176 tstamp_type 180 hwtstamp 184
_CB = (48, 68, NARROW)
_CB8 = (48, 64, W8)
_SK = (168, 176, W8)
SK_FILTER = CtxLayout(
    "__sk_buff",
    192,
    reads=((0, 72, NARROW), (84, 88, NARROW), (164, 168, NARROW), (176, 180, NARROW), _CB8, _SK),
    writes=(_CB, _CB8),
    pointers={168: (RegType.PTR_TO_SOCK_COMMON, True)},
)
TC = CtxLayout(
    "__sk_buff",
    192,
    reads=((0, 76, NARROW), (76, 84, W4), (84, 88, NARROW), (140, 144, W4), (160, 168, NARROW),
           (176, 181, NARROW), _CB8, (152, 160, W8), _SK, (184, 192, W8)),
    writes=(_CB, _CB8, (8, 16, W4), (32, 36, W4), (44, 48, W4), (72, 76, W4), (152, 160, W8)),
    pointers={76: (RegType.PTR_TO_PACKET, False), 80: (RegType.PTR_TO_PACKET_END, False),
              140: (RegType.PTR_TO_PACKET_META, False), 168: (RegType.PTR_TO_SOCK_COMMON, True)},
)
CGROUP_SKB = CtxLayout(
    "__sk_buff",
    192,
    reads=((0, 72, NARROW), (76, 84, W4), (84, 92, NARROW), (92, 132, W4), (132, 140, NARROW),
           (164, 168, NARROW), (176, 180, NARROW), _CB8, (152, 160, W8), _SK, (184, 192, W8)),
    writes=(_CB, _CB8, (8, 12, W4), (32, 36, W4), (152, 160, W8)),
    pointers={76: (RegType.PTR_TO_PACKET, False), 80: (RegType.PTR_TO_PACKET_END, False),
              168: (RegType.PTR_TO_SOCK_COMMON, True)},
)
# Tracepoints: raw record bytes after the 8-byte common header, read only (PERF_MAX_TRACE_SIZE 2048).
TRACEPOINT = CtxLayout("trace_entry", 2048, reads=((8, 2048, ANY),))
# Raw tracepoints: up to 12 u64 arguments.
RAW_TRACEPOINT = CtxLayout("bpf_raw_tracepoint_args", 96, reads=((0, 96, ANY),))
# kprobes: struct pt_regs of x86_64 (21 u64 registers).
PT_REGS = CtxLayout("pt_regs", 168, reads=((0, 168, ANY),))

LAYOUTS: dict[int, CtxLayout] = {
    P.XDP: XDP_MD,
    P.SOCKET_FILTER: SK_FILTER,
    P.SCHED_CLS: TC,
    P.SCHED_ACT: TC,
    P.CGROUP_SKB: CGROUP_SKB,
    P.TRACEPOINT: TRACEPOINT,
    P.RAW_TRACEPOINT: RAW_TRACEPOINT,
    P.KPROBE: PT_REGS,
}

# Allowed R0 ranges at program exit (check_return_code, default attach types).
RETURN_RANGES: dict[int, tuple[int, int]] = {
    P.CGROUP_SKB: (0, 1),
    P.CGROUP_SOCK: (0, 1),
    P.CGROUP_SOCK_ADDR: (0, 1),
    P.SOCK_OPS: (0, 1),
    P.CGROUP_DEVICE: (0, 1),
    P.CGROUP_SYSCTL: (0, 1),
    P.CGROUP_SOCKOPT: (0, 1),
    P.SK_LOOKUP: (0, 1),
    P.NETFILTER: (0, 1),
}

# The context struct names a global function's pointer argument may have to be PTR_TO_CTX
# (the kernel's btf_get_prog_ctx_type).
_SKB = frozenset({"__sk_buff"})
CTX_STRUCTS: dict[int, frozenset[str]] = {
    P.SOCKET_FILTER: _SKB, P.SCHED_CLS: _SKB, P.SCHED_ACT: _SKB, P.CGROUP_SKB: _SKB, P.LWT_IN: _SKB,
    P.LWT_OUT: _SKB, P.LWT_XMIT: _SKB, P.LWT_SEG6LOCAL: _SKB, P.SK_SKB: _SKB, P.FLOW_DISSECTOR: _SKB,
    P.XDP: frozenset({"xdp_md"}), P.KPROBE: frozenset({"pt_regs", "user_pt_regs"}),
    P.PERF_EVENT: frozenset({"bpf_perf_event_data"}), P.RAW_TRACEPOINT: frozenset({"bpf_raw_tracepoint_args"}),
    P.CGROUP_SOCK: frozenset({"bpf_sock"}), P.CGROUP_SOCK_ADDR: frozenset({"bpf_sock_addr"}),
    P.SOCK_OPS: frozenset({"bpf_sock_ops"}), P.SK_MSG: frozenset({"sk_msg_md"}),
    P.CGROUP_DEVICE: frozenset({"bpf_cgroup_dev_ctx"}), P.CGROUP_SYSCTL: frozenset({"bpf_sysctl"}),
    P.CGROUP_SOCKOPT: frozenset({"bpf_sockopt"}), P.SK_LOOKUP: frozenset({"bpf_sk_lookup"}),
    P.SK_REUSEPORT: frozenset({"sk_reuseport_md"}),
}

# Program types with direct packet access (data/data_end loads from the context).
PACKET_ACCESS = frozenset({P.XDP, P.SCHED_CLS, P.SCHED_ACT, P.CGROUP_SKB, P.LWT_IN, P.LWT_OUT, P.LWT_XMIT,
                           P.SK_SKB, P.SK_MSG, P.FLOW_DISSECTOR})
# Program types that may use the legacy ld_abs/ld_ind packet loads.
LD_ABS_TYPES = frozenset({P.SOCKET_FILTER, P.SCHED_CLS, P.SCHED_ACT, P.CGROUP_SKB})


_KINDS = {
    "pkt": (RegType.PTR_TO_PACKET, False),
    "pkt_end": (RegType.PTR_TO_PACKET_END, False),
    "pkt_meta": (RegType.PTR_TO_PACKET_META, False),
    "sock": (RegType.PTR_TO_SOCKET, False),
    "sock_or_null": (RegType.PTR_TO_SOCKET, True),
    "sock_common": (RegType.PTR_TO_SOCK_COMMON, False),
    "sock_common_or_null": (RegType.PTR_TO_SOCK_COMMON, True),
    "flow_keys": (RegType.PTR_TO_FLOW_KEYS, False),
}


@dataclass(frozen=True)
class ProbedLayout:
    """A context whose valid accesses were measured on a kernel (tools/probe_verifier_ctx.py)."""

    name: str
    reads: frozenset[tuple[int, int]]
    writes: frozenset[tuple[int, int]]
    pointers: dict[int, tuple[RegType, bool]]

    def valid(self, off: int, size: int, write: bool) -> bool:
        return (off, size) in (self.writes if write else self.reads)


def _probed(program_type: int) -> ProbedLayout | None:
    from pybpf.verifier.ctx_probed import PROBED

    entry = PROBED.get(program_type)
    if entry is None or not entry[0]:
        return None
    reads, writes, ptrs = entry
    pointers = {off: _KINDS[kind] for off, kind in ptrs.items() if kind in _KINDS}
    return ProbedLayout(P(program_type).name.lower(), reads, writes, pointers)


def layout(program_type: int) -> CtxLayout | ProbedLayout | None:
    """The context layout of a program type, or None when pybpf does not model it."""
    return LAYOUTS.get(program_type) or _probed(program_type)
