"""Helpers unprivileged programs may not call: the kernel's CAP_BPF and CAP_PERFMON groups.

PERFMON_HELPERS were measured on Linux 6.18 by probing with CAP_PERFMON and CAP_SYS_ADMIN
dropped from the bounding set (tests/helpers/test_privilege.py re-checks them); CAP_BPF_HELPERS
follow the CAP_BPF section of the kernel's bpf_base_func_proto (spin locks, jiffies, per-CPU
pointers, timers, kptrs, cgroup storage), plus the dynptr helpers, refused conservatively. Without
CAP_BPF only socket filter and cgroup skb programs load at all (and only when the
kernel.unprivileged_bpf_disabled sysctl is 0).
"""

from __future__ import annotations

from pybpf.helpers.ids import HELPER_NAMES

_ID = {name: i for i, name in enumerate(HELPER_NAMES)}

PERFMON_HELPERS: frozenset[int] = frozenset(
    _ID[name]
    for name in (
        "trace_printk", "get_current_comm", "perf_event_read", "get_current_task",
        "perf_event_read_value", "send_signal", "probe_read_user", "probe_read_kernel",
        "probe_read_user_str", "probe_read_kernel_str", "send_signal_thread", "skc_to_tcp6_sock",
        "skc_to_tcp_sock", "skc_to_tcp_timewait_sock", "skc_to_tcp_request_sock", "skc_to_udp6_sock",
        "get_task_stack", "copy_from_user", "snprintf_btf", "get_current_task_btf", "snprintf",
        "task_pt_regs", "get_branch_snapshot", "trace_vprintk", "skc_to_unix_sock", "find_vma",
        "copy_from_user_task", "skc_to_mptcp_sock",
    )
)  # fmt: skip

CAP_BPF_HELPERS: frozenset[int] = frozenset(
    _ID[name]
    for name in (
        "spin_lock", "spin_unlock", "jiffies64", "per_cpu_ptr", "this_cpu_ptr", "timer_init",
        "timer_set_callback", "timer_start", "timer_cancel", "kptr_xchg", "cgrp_storage_get",
        "cgrp_storage_delete", "dynptr_from_mem", "dynptr_read", "dynptr_write", "dynptr_data",
        "ringbuf_reserve_dynptr", "ringbuf_submit_dynptr", "ringbuf_discard_dynptr",
        "user_ringbuf_drain",
    )
)  # fmt: skip

PRIVILEGED_HELPERS = PERFMON_HELPERS | CAP_BPF_HELPERS
