"""Section names -> program type, attach type, target: libbpf's rules, legacy spellings, unknown names."""

from __future__ import annotations

import pytest

from pybpf.abi import AttachType as A
from pybpf.abi import ProgramType as P
from pybpf.object.sections import classify_section, is_program_section_name


@pytest.mark.parametrize(
    ("name", "ptype", "atype", "target", "sleepable"),
    [
        ("xdp", P.XDP, A.XDP, "", False),
        ("tc/egress", P.SCHED_CLS, A.TCX_EGRESS, "", False),
        ("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS, "", False),
        ("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, "", False),
        ("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT, "", False),
        ("kprobe.multi/tcp_*", P.KPROBE, A.TRACE_KPROBE_MULTI, "tcp_*", False),
        ("ksyscall/openat", P.KPROBE, None, "openat", False),
        ("usdt/libc.so.6:libc:setjmp", P.KPROBE, None, "libc.so.6:libc:setjmp", False),
        ("raw_tp.w/bpf_test_finish", P.RAW_TRACEPOINT_WRITABLE, None, "bpf_test_finish", False),
        ("fentry.s/do_sys_open", P.TRACING, A.TRACE_FENTRY, "do_sys_open", True),
        ("freplace/handler", P.EXT, None, "handler", False),
        ("lsm.s/bprm_check_security", P.LSM, A.LSM_MAC, "bprm_check_security", True),
        ("lsm_cgroup/socket_bind", P.LSM, A.LSM_CGROUP, "socket_bind", False),
        ("iter.s/task_file", P.TRACING, A.TRACE_ITER, "task_file", True),
        ("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, "", False),
        ("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND, "", False),
        ("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG, "", False),
        ("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, "", False),
        ("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, "", False),
        ("sk_skb/verdict", P.SK_SKB, A.SK_SKB_VERDICT, "", False),
        ("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2, "", False),
        ("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, "", False),
        ("struct_ops.s/init", P.STRUCT_OPS, None, "init", True),
        ("?xdp", P.XDP, A.XDP, "", False),
        ("?tp/sched/sched_switch", P.TRACEPOINT, None, "sched/sched_switch", False),
        # legacy spellings from older objects
        ("xdp_prog", P.XDP, A.XDP, "", False),
        ("xdp_devmap/redirect", P.XDP, A.XDP_DEVMAP, "", False),
        ("socket1", P.SOCKET_FILTER, None, "", False),
        ("classifier/ingress", P.SCHED_CLS, None, "ingress", False),
        ("kprobe_sys_write", P.KPROBE, None, "", False),
        # unknown
        (".text", P.UNSPEC, None, "", False),
        ("bind/0", P.UNSPEC, None, "", False),
    ],
)
def test_classify(name: str, ptype: P, atype: A | None, target: str, sleepable: bool) -> None:
    info = classify_section(name)
    assert (info.type, info.attach_type, info.attach_to, info.sleepable) == (ptype, atype, target, sleepable)


def test_plus_needs_a_slash_separator() -> None:
    # "tracepoint+" matches "tracepoint" and "tracepoint/..." but not "tracepointX" strictly.
    assert is_program_section_name("tracepoint/sched/sched_switch")
    assert is_program_section_name("tracepoint")
    assert not is_program_section_name("tracepointX")
    assert not is_program_section_name("xdp_prog")
    assert classify_section("xdp.frags").frags
