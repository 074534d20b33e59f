"""libbpf's section-name conventions: SEC("...") name -> program type, expected attach type, attach target."""

from __future__ import annotations

from dataclasses import dataclass

from pybpf.abi import AttachType as A
from pybpf.abi import ProgramType as P


@dataclass(frozen=True, slots=True)
class SectionDef:
    """One libbpf section definition.

    `prefix` ending in "+" matches the bare name or "name/extras" (extras become the attach target);
    ending in "/" needs extras; otherwise the name must match exactly.
    """

    prefix: str
    type: P
    attach_type: A | None = None
    sleepable: bool = False
    frags: bool = False


@dataclass(frozen=True, slots=True)
class SectionInfo:
    """What a section name says about the programs in it."""

    type: P
    attach_type: A | None
    attach_to: str
    sleepable: bool
    frags: bool = False


_D = SectionDef

# Order matters: the first match wins (as in libbpf's section_defs table).
SECTION_DEFS: tuple[SectionDef, ...] = (
    _D("socket", P.SOCKET_FILTER),
    _D("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE),
    _D("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT),
    _D("kprobe+", P.KPROBE),
    _D("uprobe+", P.KPROBE),
    _D("uprobe.s+", P.KPROBE, sleepable=True),
    _D("kretprobe+", P.KPROBE),
    _D("uretprobe+", P.KPROBE),
    _D("uretprobe.s+", P.KPROBE, sleepable=True),
    _D("kprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI),
    _D("kretprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI),
    _D("kprobe.session+", P.KPROBE, A.TRACE_KPROBE_SESSION),
    _D("uprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI),
    _D("uretprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI),
    _D("uprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, sleepable=True),
    _D("uretprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, sleepable=True),
    _D("ksyscall+", P.KPROBE),
    _D("kretsyscall+", P.KPROBE),
    _D("usdt+", P.KPROBE),
    _D("usdt.s+", P.KPROBE, sleepable=True),
    _D("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS),
    _D("tc/egress", P.SCHED_CLS, A.TCX_EGRESS),
    _D("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS),
    _D("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS),
    _D("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY),
    _D("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER),
    _D("tc", P.SCHED_CLS),
    _D("classifier", P.SCHED_CLS),
    _D("action", P.SCHED_ACT),
    _D("tracepoint+", P.TRACEPOINT),
    _D("tp+", P.TRACEPOINT),
    _D("raw_tracepoint+", P.RAW_TRACEPOINT),
    _D("raw_tp+", P.RAW_TRACEPOINT),
    _D("raw_tracepoint.w+", P.RAW_TRACEPOINT_WRITABLE),
    _D("raw_tp.w+", P.RAW_TRACEPOINT_WRITABLE),
    _D("tp_btf+", P.TRACING, A.TRACE_RAW_TP),
    _D("fentry+", P.TRACING, A.TRACE_FENTRY),
    _D("fmod_ret+", P.TRACING, A.MODIFY_RETURN),
    _D("fexit+", P.TRACING, A.TRACE_FEXIT),
    _D("fentry.s+", P.TRACING, A.TRACE_FENTRY, sleepable=True),
    _D("fmod_ret.s+", P.TRACING, A.MODIFY_RETURN, sleepable=True),
    _D("fexit.s+", P.TRACING, A.TRACE_FEXIT, sleepable=True),
    _D("freplace+", P.EXT),
    _D("lsm+", P.LSM, A.LSM_MAC),
    _D("lsm.s+", P.LSM, A.LSM_MAC, sleepable=True),
    _D("lsm_cgroup+", P.LSM, A.LSM_CGROUP),
    _D("iter+", P.TRACING, A.TRACE_ITER),
    _D("iter.s+", P.TRACING, A.TRACE_ITER, sleepable=True),
    _D("syscall", P.SYSCALL, sleepable=True),
    _D("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, frags=True),
    _D("xdp/devmap", P.XDP, A.XDP_DEVMAP),
    _D("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, frags=True),
    _D("xdp/cpumap", P.XDP, A.XDP_CPUMAP),
    _D("xdp.frags", P.XDP, A.XDP, frags=True),
    _D("xdp", P.XDP, A.XDP),
    _D("perf_event", P.PERF_EVENT),
    _D("lwt_in", P.LWT_IN),
    _D("lwt_out", P.LWT_OUT),
    _D("lwt_xmit", P.LWT_XMIT),
    _D("lwt_seg6local", P.LWT_SEG6LOCAL),
    _D("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS),
    _D("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER),
    _D("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT),
    _D("sk_skb/verdict", P.SK_SKB, A.SK_SKB_VERDICT),
    _D("sk_skb", P.SK_SKB),
    _D("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT),
    _D("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2),
    _D("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR),
    _D("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS),
    _D("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS),
    _D("cgroup/skb", P.CGROUP_SKB),
    _D("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE),
    _D("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE),
    _D("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE),
    _D("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND),
    _D("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND),
    _D("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND),
    _D("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND),
    _D("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT),
    _D("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT),
    _D("cgroup/connect_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT),
    _D("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG),
    _D("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG),
    _D("cgroup/sendmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_SENDMSG),
    _D("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG),
    _D("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG),
    _D("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG),
    _D("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME),
    _D("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME),
    _D("cgroup/getpeername_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME),
    _D("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME),
    _D("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME),
    _D("cgroup/getsockname_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETSOCKNAME),
    _D("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL),
    _D("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT),
    _D("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT),
    _D("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE),
    _D("struct_ops+", P.STRUCT_OPS),
    _D("struct_ops.s+", P.STRUCT_OPS, sleepable=True),
    _D("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP),
    _D("netfilter", P.NETFILTER, A.NETFILTER),
)

# Legacy spellings seen in older objects (pre-libbpf-1.0 "sloppy" prefixes), tried after SECTION_DEFS.
_LEGACY_PREFIXES: tuple[tuple[str, P, A | None], ...] = (
    ("socket", P.SOCKET_FILTER, None),
    ("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS),
    ("sk_skb", P.SK_SKB, None),
    ("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT),
    ("kprobe", P.KPROBE, None),
    ("kretprobe", P.KPROBE, None),
    ("uprobe", P.KPROBE, None),
    ("uretprobe", P.KPROBE, None),
    ("tracepoint", P.TRACEPOINT, None),
    ("raw_tracepoint", P.RAW_TRACEPOINT, None),
    ("xdp_devmap/", P.XDP, A.XDP_DEVMAP),
    ("xdp_cpumap/", P.XDP, A.XDP_CPUMAP),
    ("xdp", P.XDP, A.XDP),
    ("perf_event", P.PERF_EVENT, None),
    ("classifier", P.SCHED_CLS, None),
    ("tc", P.SCHED_CLS, None),
    ("action", P.SCHED_ACT, None),
    ("cgroup/skb", P.CGROUP_SKB, None),
    ("cgroup_skb", P.CGROUP_SKB, None),
    ("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE),
    ("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE),
    ("lwt_in", P.LWT_IN, None),
    ("lwt_out", P.LWT_OUT, None),
    ("lwt_xmit", P.LWT_XMIT, None),
    ("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR),
)


def _matches(prefix: str, name: str) -> tuple[bool, str]:
    """Whether a section definition matches, and the extras after "prefix/"."""
    if prefix.endswith("+"):
        base = prefix[:-1]
        if name == base:
            return True, ""
        if name.startswith(base + "/"):
            return True, name[len(base) + 1 :]
        return False, ""
    if prefix.endswith("/"):
        return (name.startswith(prefix), name[len(prefix) :]) if name.startswith(prefix) else (False, "")
    return name == prefix, ""


def classify_section(name: str) -> SectionInfo:
    """Program type, expected attach type and attach target of the programs in section `name`.

    Unknown names give ProgramType.UNSPEC (the caller may still choose a type when loading).
    A leading "?" (libbpf: not loaded automatically) does not change the type.
    """
    name = name.removeprefix("?")
    for d in SECTION_DEFS:
        ok, extras = _matches(d.prefix, name)
        if ok:
            return SectionInfo(d.type, d.attach_type, extras, d.sleepable, d.frags)
    for prefix, ptype, atype in _LEGACY_PREFIXES:
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            return SectionInfo(ptype, atype, rest[1:] if rest.startswith("/") else "", False)
    return SectionInfo(P.UNSPEC, None, "", False)


def is_program_section_name(name: str) -> bool:
    """Whether libbpf (strictly) knows this section name as a program section."""
    return any(_matches(d.prefix, name)[0] for d in SECTION_DEFS)
