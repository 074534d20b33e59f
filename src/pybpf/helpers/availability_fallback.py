"""Fallback helper availability per program type, generated once on one kernel build; used only where bpf() cannot probe the running kernel."""

from __future__ import annotations

KERNEL = "6.18.44-fc-v669"
# Program types that were probed (others: availability unknown, use the prototype's program_types).
PROBED: tuple[str, ...] = (
    "SOCKET_FILTER",
    "KPROBE",
    "SCHED_CLS",
    "SCHED_ACT",
    "TRACEPOINT",
    "XDP",
    "PERF_EVENT",
    "CGROUP_SKB",
    "CGROUP_SOCK",
    "LWT_IN",
    "LWT_OUT",
    "LWT_XMIT",
    "SOCK_OPS",
    "SK_SKB",
    "CGROUP_DEVICE",
    "SK_MSG",
    "RAW_TRACEPOINT",
    "CGROUP_SOCK_ADDR",
    "LWT_SEG6LOCAL",
    "SK_REUSEPORT",
    "FLOW_DISSECTOR",
    "CGROUP_SYSCTL",
    "RAW_TRACEPOINT_WRITABLE",
    "CGROUP_SOCKOPT",
    "SK_LOOKUP",
    "SYSCALL",
    "NETFILTER",
)
_ALL = PROBED
# helper id -> names of the program types (pybpf.abi.ProgramType) that may call it.
# fmt: off
AVAILABLE: dict[int, tuple[str, ...]] = {
    1: _ALL,  # map_lookup_elem
    2: _ALL,  # map_update_elem
    3: _ALL,  # map_delete_elem
    4: ('KPROBE', 'TRACEPOINT', 'PERF_EVENT', 'RAW_TRACEPOINT', 'RAW_TRACEPOINT_WRITABLE', 'SYSCALL'),  # probe_read
    5: _ALL,  # ktime_get_ns
    6: _ALL,  # trace_printk
    7: _ALL,  # get_prandom_u32
    8: _ALL,  # get_smp_processor_id
    9: ('SCHED_CLS', 'SCHED_ACT', 'LWT_XMIT', 'SK_SKB'),  # skb_store_bytes
    10: ('SCHED_CLS', 'SCHED_ACT', 'LWT_XMIT'),  # l3_csum_replace
    11: ('SCHED_CLS', 'SCHED_ACT', 'LWT_XMIT'),  # l4_csum_replace
    12: _ALL,  # tail_call
    13: ('SCHED_CLS', 'SCHED_ACT', 'LWT_XMIT'),  # clone_redirect
    14: _ALL,  # get_current_pid_tgid
    15: _ALL,  # get_current_uid_gid
    16: _ALL,  # get_current_comm
    17: _ALL,  # get_cgroup_classid
    18: ('SCHED_CLS', 'SCHED_ACT'),  # skb_vlan_push
    19: ('SCHED_CLS', 'SCHED_ACT'),  # skb_vlan_pop
    20: ('SCHED_CLS', 'SCHED_ACT', 'LWT_XMIT'),  # skb_get_tunnel_key
    21: ('SCHED_CLS', 'SCHED_ACT', 'LWT_XMIT'),  # skb_set_tunnel_key
    22: _ALL,  # perf_event_read
    23: ('SCHED_CLS', 'SCHED_ACT', 'XDP', 'LWT_XMIT'),  # redirect
    24: ('SCHED_CLS', 'SCHED_ACT', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'LWT_SEG6LOCAL'),  # get_route_realm
    25: ('SOCKET_FILTER', 'KPROBE', 'SCHED_CLS', 'SCHED_ACT', 'TRACEPOINT', 'XDP', 'PERF_EVENT', 'CGROUP_SKB', 'CGROUP_SOCK', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'SOCK_OPS', 'SK_SKB', 'CGROUP_DEVICE', 'SK_MSG', 'RAW_TRACEPOINT', 'CGROUP_SOCK_ADDR', 'LWT_SEG6LOCAL', 'CGROUP_SYSCTL', 'RAW_TRACEPOINT_WRITABLE', 'CGROUP_SOCKOPT', 'SK_LOOKUP', 'SYSCALL'),  # perf_event_output
    26: ('SOCKET_FILTER', 'SCHED_CLS', 'SCHED_ACT', 'CGROUP_SKB', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'SK_SKB', 'LWT_SEG6LOCAL', 'SK_REUSEPORT', 'FLOW_DISSECTOR'),  # skb_load_bytes
    27: ('KPROBE', 'TRACEPOINT', 'PERF_EVENT', 'RAW_TRACEPOINT', 'RAW_TRACEPOINT_WRITABLE', 'SYSCALL'),  # get_stackid
    28: ('SCHED_CLS', 'SCHED_ACT', 'XDP', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'LWT_SEG6LOCAL'),  # csum_diff
    29: ('SCHED_CLS', 'SCHED_ACT', 'LWT_XMIT'),  # skb_get_tunnel_opt
    30: ('SCHED_CLS', 'SCHED_ACT', 'LWT_XMIT'),  # skb_set_tunnel_opt
    31: ('SCHED_CLS', 'SCHED_ACT'),  # skb_change_proto
    32: ('SCHED_CLS', 'SCHED_ACT'),  # skb_change_type
    33: ('SCHED_CLS', 'SCHED_ACT', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'LWT_SEG6LOCAL'),  # skb_under_cgroup
    34: ('SCHED_CLS', 'SCHED_ACT', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'LWT_SEG6LOCAL'),  # get_hash_recalc
    35: _ALL,  # get_current_task
    36: (),  # probe_write_user
    37: _ALL,  # current_task_under_cgroup
    38: ('SCHED_CLS', 'SCHED_ACT', 'LWT_XMIT', 'SK_SKB'),  # skb_change_tail
    39: ('SCHED_CLS', 'SCHED_ACT', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'SK_SKB', 'LWT_SEG6LOCAL'),  # skb_pull_data
    40: ('SCHED_CLS', 'SCHED_ACT', 'LWT_XMIT'),  # csum_update
    41: ('SCHED_CLS', 'SCHED_ACT', 'LWT_XMIT'),  # set_hash_invalid
    42: _ALL,  # get_numa_node_id
    43: ('SCHED_CLS', 'SCHED_ACT', 'LWT_XMIT', 'SK_SKB'),  # skb_change_head
    44: ('XDP',),  # xdp_adjust_head
    45: ('KPROBE', 'TRACEPOINT', 'PERF_EVENT', 'RAW_TRACEPOINT', 'RAW_TRACEPOINT_WRITABLE', 'SYSCALL'),  # probe_read_str
    46: ('SOCKET_FILTER', 'SCHED_CLS', 'SCHED_ACT', 'CGROUP_SKB', 'CGROUP_SOCK', 'SOCK_OPS', 'SK_SKB', 'CGROUP_SOCK_ADDR', 'SK_REUSEPORT', 'SYSCALL'),  # get_socket_cookie
    47: ('SOCKET_FILTER', 'SCHED_CLS', 'SCHED_ACT', 'CGROUP_SKB', 'SK_SKB'),  # get_socket_uid
    48: ('SCHED_CLS', 'SCHED_ACT'),  # set_hash
    49: ('SOCK_OPS', 'CGROUP_SOCK_ADDR'),  # setsockopt
    50: ('SCHED_CLS', 'SCHED_ACT', 'SK_SKB'),  # skb_adjust_room
    51: ('XDP',),  # redirect_map
    52: ('SK_SKB',),  # sk_redirect_map
    53: ('SOCK_OPS',),  # sock_map_update
    54: ('XDP',),  # xdp_adjust_meta
    55: _ALL,  # perf_event_read_value
    56: ('PERF_EVENT',),  # perf_prog_read_value
    57: ('SOCK_OPS', 'CGROUP_SOCK_ADDR'),  # getsockopt
    58: (),  # override_return
    59: ('SOCK_OPS',),  # sock_ops_cb_flags_set
    60: ('SK_MSG',),  # msg_redirect_map
    61: ('SK_MSG',),  # msg_apply_bytes
    62: ('SK_MSG',),  # msg_cork_bytes
    63: ('SK_MSG',),  # msg_pull_data
    64: ('CGROUP_SOCK_ADDR',),  # bind
    65: ('XDP',),  # xdp_adjust_tail
    66: ('SCHED_CLS', 'SCHED_ACT'),  # skb_get_xfrm_state
    67: ('KPROBE', 'TRACEPOINT', 'PERF_EVENT', 'RAW_TRACEPOINT', 'RAW_TRACEPOINT_WRITABLE', 'SYSCALL'),  # get_stack
    68: ('SOCKET_FILTER', 'SCHED_CLS', 'SCHED_ACT', 'CGROUP_SKB', 'SK_REUSEPORT'),  # skb_load_bytes_relative
    69: ('SCHED_CLS', 'SCHED_ACT', 'XDP'),  # fib_lookup
    70: ('SOCK_OPS',),  # sock_hash_update
    71: ('SK_MSG',),  # msg_redirect_hash
    72: ('SK_SKB',),  # sk_redirect_hash
    73: ('LWT_IN', 'LWT_XMIT'),  # lwt_push_encap
    74: ('LWT_SEG6LOCAL',),  # lwt_seg6_store_bytes
    75: ('LWT_SEG6LOCAL',),  # lwt_seg6_adjust_srh
    76: ('LWT_SEG6LOCAL',),  # lwt_seg6_action
    77: (),  # rc_repeat
    78: (),  # rc_keydown
    79: ('SCHED_CLS', 'SCHED_ACT', 'CGROUP_SKB'),  # skb_cgroup_id
    80: _ALL,  # get_current_cgroup_id
    81: ('CGROUP_SKB', 'CGROUP_SOCK', 'SOCK_OPS', 'CGROUP_DEVICE', 'CGROUP_SOCK_ADDR', 'CGROUP_SYSCTL', 'CGROUP_SOCKOPT'),  # get_local_storage
    82: ('SK_REUSEPORT',),  # sk_select_reuseport
    83: ('SCHED_CLS', 'SCHED_ACT', 'CGROUP_SKB'),  # skb_ancestor_cgroup_id
    84: ('SCHED_CLS', 'SCHED_ACT', 'XDP', 'CGROUP_SKB', 'SK_SKB', 'CGROUP_SOCK_ADDR'),  # sk_lookup_tcp
    85: ('SCHED_CLS', 'SCHED_ACT', 'XDP', 'CGROUP_SKB', 'SK_SKB', 'CGROUP_SOCK_ADDR'),  # sk_lookup_udp
    86: ('SCHED_CLS', 'SCHED_ACT', 'XDP', 'CGROUP_SKB', 'SK_SKB', 'CGROUP_SOCK_ADDR', 'SK_LOOKUP'),  # sk_release
    87: _ALL,  # map_push_elem
    88: _ALL,  # map_pop_elem
    89: _ALL,  # map_peek_elem
    90: ('SK_MSG',),  # msg_push_data
    91: ('SK_MSG',),  # msg_pop_data
    92: (),  # rc_pointer_rel
    93: _ALL,  # spin_lock
    94: _ALL,  # spin_unlock
    95: ('SCHED_CLS', 'SCHED_ACT', 'CGROUP_SKB'),  # sk_fullsock
    96: ('SCHED_CLS', 'SCHED_ACT', 'CGROUP_SKB', 'SOCK_OPS', 'CGROUP_SOCKOPT'),  # tcp_sock
    97: ('SCHED_CLS', 'SCHED_ACT', 'CGROUP_SKB'),  # skb_ecn_set_ce
    98: ('SCHED_CLS', 'SCHED_ACT', 'CGROUP_SKB'),  # get_listener_sock
    99: ('SCHED_CLS', 'SCHED_ACT', 'XDP', 'CGROUP_SKB', 'SK_SKB', 'CGROUP_SOCK_ADDR'),  # skc_lookup_tcp
    100: ('SCHED_CLS', 'SCHED_ACT', 'XDP'),  # tcp_check_syncookie
    101: ('CGROUP_SYSCTL',),  # sysctl_get_name
    102: ('CGROUP_SYSCTL',),  # sysctl_get_current_value
    103: ('CGROUP_SYSCTL',),  # sysctl_get_new_value
    104: ('CGROUP_SYSCTL',),  # sysctl_set_new_value
    105: _ALL,  # strtol
    106: _ALL,  # strtoul
    107: ('SCHED_CLS', 'SCHED_ACT', 'CGROUP_SKB', 'CGROUP_SOCK', 'SOCK_OPS', 'SK_MSG', 'CGROUP_SOCK_ADDR', 'CGROUP_SOCKOPT'),  # sk_storage_get
    108: ('SCHED_CLS', 'SCHED_ACT', 'CGROUP_SKB', 'SOCK_OPS', 'SK_MSG', 'CGROUP_SOCK_ADDR', 'CGROUP_SOCKOPT'),  # sk_storage_delete
    109: _ALL,  # send_signal
    110: ('SCHED_CLS', 'SCHED_ACT', 'XDP'),  # tcp_gen_syncookie
    111: ('SYSCALL',),  # skb_output
    112: _ALL,  # probe_read_user
    113: _ALL,  # probe_read_kernel
    114: _ALL,  # probe_read_user_str
    115: _ALL,  # probe_read_kernel_str
    116: (),  # tcp_send_ack
    117: _ALL,  # send_signal_thread
    118: _ALL,  # jiffies64
    119: ('PERF_EVENT',),  # read_branch_records
    120: _ALL,  # get_ns_current_pid_tgid
    121: ('SYSCALL',),  # xdp_output
    122: ('SOCKET_FILTER', 'SCHED_CLS', 'SCHED_ACT', 'CGROUP_SKB', 'CGROUP_SOCK', 'SOCK_OPS', 'SK_MSG', 'CGROUP_SOCK_ADDR', 'CGROUP_SOCKOPT'),  # get_netns_cookie
    123: _ALL,  # get_current_ancestor_cgroup_id
    124: ('SCHED_CLS', 'SCHED_ACT', 'SK_LOOKUP'),  # sk_assign
    125: _ALL,  # ktime_get_boot_ns
    126: (),  # seq_printf
    127: (),  # seq_write
    128: ('CGROUP_SKB',),  # sk_cgroup_id
    129: ('CGROUP_SKB',),  # sk_ancestor_cgroup_id
    130: _ALL,  # ringbuf_output
    131: _ALL,  # ringbuf_reserve
    132: _ALL,  # ringbuf_submit
    133: _ALL,  # ringbuf_discard
    134: _ALL,  # ringbuf_query
    135: ('SCHED_CLS', 'SCHED_ACT', 'LWT_XMIT'),  # csum_level
    136: ('SOCKET_FILTER', 'SCHED_CLS', 'SCHED_ACT', 'XDP', 'CGROUP_SKB', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'SOCK_OPS', 'SK_SKB', 'SK_MSG', 'CGROUP_SOCK_ADDR', 'LWT_SEG6LOCAL', 'FLOW_DISSECTOR', 'SK_LOOKUP', 'SYSCALL'),  # skc_to_tcp6_sock
    137: ('SOCKET_FILTER', 'SCHED_CLS', 'SCHED_ACT', 'XDP', 'CGROUP_SKB', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'SOCK_OPS', 'SK_SKB', 'SK_MSG', 'CGROUP_SOCK_ADDR', 'LWT_SEG6LOCAL', 'FLOW_DISSECTOR', 'SK_LOOKUP', 'SYSCALL'),  # skc_to_tcp_sock
    138: ('SOCKET_FILTER', 'SCHED_CLS', 'SCHED_ACT', 'XDP', 'CGROUP_SKB', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'SOCK_OPS', 'SK_SKB', 'SK_MSG', 'CGROUP_SOCK_ADDR', 'LWT_SEG6LOCAL', 'FLOW_DISSECTOR', 'SK_LOOKUP', 'SYSCALL'),  # skc_to_tcp_timewait_sock
    139: ('SOCKET_FILTER', 'SCHED_CLS', 'SCHED_ACT', 'XDP', 'CGROUP_SKB', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'SOCK_OPS', 'SK_SKB', 'SK_MSG', 'CGROUP_SOCK_ADDR', 'LWT_SEG6LOCAL', 'FLOW_DISSECTOR', 'SK_LOOKUP', 'SYSCALL'),  # skc_to_tcp_request_sock
    140: ('SOCKET_FILTER', 'SCHED_CLS', 'SCHED_ACT', 'XDP', 'CGROUP_SKB', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'SOCK_OPS', 'SK_SKB', 'SK_MSG', 'CGROUP_SOCK_ADDR', 'LWT_SEG6LOCAL', 'FLOW_DISSECTOR', 'SK_LOOKUP', 'SYSCALL'),  # skc_to_udp6_sock
    141: _ALL,  # get_task_stack
    142: ('SOCK_OPS',),  # load_hdr_opt
    143: ('SOCK_OPS',),  # store_hdr_opt
    144: ('SOCK_OPS',),  # reserve_hdr_opt
    145: (),  # inode_storage_get
    146: (),  # inode_storage_delete
    147: (),  # d_path
    148: _ALL,  # copy_from_user
    149: _ALL,  # snprintf_btf
    150: (),  # seq_printf_btf
    151: ('SCHED_CLS', 'SCHED_ACT'),  # skb_cgroup_classid
    152: ('SCHED_CLS', 'SCHED_ACT'),  # redirect_neigh
    153: _ALL,  # per_cpu_ptr
    154: _ALL,  # this_cpu_ptr
    155: ('SCHED_CLS', 'SCHED_ACT'),  # redirect_peer
    156: _ALL,  # task_storage_get
    157: _ALL,  # task_storage_delete
    158: _ALL,  # get_current_task_btf
    159: (),  # bprm_opts_set
    160: ('SOCKET_FILTER', 'SCHED_CLS', 'SCHED_ACT', 'XDP', 'CGROUP_SKB', 'CGROUP_SOCK', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'SOCK_OPS', 'SK_SKB', 'SK_MSG', 'CGROUP_SOCK_ADDR', 'LWT_SEG6LOCAL', 'SK_REUSEPORT', 'FLOW_DISSECTOR', 'CGROUP_SYSCTL', 'SK_LOOKUP'),  # ktime_get_coarse_ns
    161: (),  # ima_inode_hash
    162: ('SYSCALL',),  # sock_from_file
    163: ('SCHED_CLS', 'SCHED_ACT', 'XDP'),  # check_mtu
    164: _ALL,  # for_each_map_elem
    165: _ALL,  # snprintf
    166: ('SYSCALL',),  # sys_bpf
    167: ('SYSCALL',),  # btf_find_by_name_kind
    168: ('SYSCALL',),  # sys_close
    169: _ALL,  # timer_init
    170: _ALL,  # timer_set_callback
    171: _ALL,  # timer_start
    172: _ALL,  # timer_cancel
    173: ('KPROBE', 'TRACEPOINT', 'PERF_EVENT', 'RAW_TRACEPOINT', 'RAW_TRACEPOINT_WRITABLE', 'SYSCALL'),  # get_func_ip
    174: ('KPROBE', 'TRACEPOINT', 'PERF_EVENT', 'RAW_TRACEPOINT', 'RAW_TRACEPOINT_WRITABLE'),  # get_attach_cookie
    175: _ALL,  # task_pt_regs
    176: _ALL,  # get_branch_snapshot
    177: _ALL,  # trace_vprintk
    178: ('SOCKET_FILTER', 'SCHED_CLS', 'SCHED_ACT', 'XDP', 'CGROUP_SKB', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'SOCK_OPS', 'SK_SKB', 'SK_MSG', 'CGROUP_SOCK_ADDR', 'LWT_SEG6LOCAL', 'FLOW_DISSECTOR', 'SK_LOOKUP', 'SYSCALL'),  # skc_to_unix_sock
    179: ('SYSCALL',),  # kallsyms_lookup_name
    180: _ALL,  # find_vma
    181: _ALL,  # loop
    182: _ALL,  # strncmp
    183: (),  # get_func_arg
    184: (),  # get_func_ret
    185: (),  # get_func_arg_cnt
    186: ('CGROUP_SOCK', 'CGROUP_SOCK_ADDR', 'CGROUP_SOCKOPT'),  # get_retval
    187: ('CGROUP_SOCK', 'CGROUP_SOCK_ADDR', 'CGROUP_SOCKOPT'),  # set_retval
    188: ('XDP', 'SYSCALL'),  # xdp_get_buff_len
    189: ('XDP',),  # xdp_load_bytes
    190: ('XDP',),  # xdp_store_bytes
    191: _ALL,  # copy_from_user_task
    192: ('SCHED_CLS', 'SCHED_ACT'),  # skb_set_tstamp
    193: (),  # ima_file_hash
    194: _ALL,  # kptr_xchg
    195: _ALL,  # map_lookup_percpu_elem
    196: ('SOCKET_FILTER', 'SCHED_CLS', 'SCHED_ACT', 'XDP', 'CGROUP_SKB', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'SOCK_OPS', 'SK_SKB', 'SK_MSG', 'CGROUP_SOCK_ADDR', 'LWT_SEG6LOCAL', 'FLOW_DISSECTOR', 'SK_LOOKUP', 'SYSCALL'),  # skc_to_mptcp_sock
    197: _ALL,  # dynptr_from_mem
    198: _ALL,  # ringbuf_reserve_dynptr
    199: _ALL,  # ringbuf_submit_dynptr
    200: _ALL,  # ringbuf_discard_dynptr
    201: _ALL,  # dynptr_read
    202: _ALL,  # dynptr_write
    203: _ALL,  # dynptr_data
    204: ('SCHED_CLS', 'SCHED_ACT', 'XDP'),  # tcp_raw_gen_syncookie_ipv4
    205: ('SCHED_CLS', 'SCHED_ACT', 'XDP'),  # tcp_raw_gen_syncookie_ipv6
    206: ('SCHED_CLS', 'SCHED_ACT', 'XDP'),  # tcp_raw_check_syncookie_ipv4
    207: ('SCHED_CLS', 'SCHED_ACT', 'XDP'),  # tcp_raw_check_syncookie_ipv6
    208: _ALL,  # ktime_get_tai_ns
    209: _ALL,  # user_ringbuf_drain
    210: _ALL,  # cgrp_storage_get
    211: _ALL,  # cgrp_storage_delete
}
# fmt: on
