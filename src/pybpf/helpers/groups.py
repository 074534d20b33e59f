"""Program-type families and map-type families used to say where a helper is allowed."""

from __future__ import annotations

from pybpf.abi import MapType, ProgramType

P = ProgramType

XDP = frozenset({P.XDP})
TC = frozenset({P.SCHED_CLS, P.SCHED_ACT})
LWT = frozenset({P.LWT_IN, P.LWT_OUT, P.LWT_XMIT, P.LWT_SEG6LOCAL})
# Programs whose context is a struct __sk_buff.
SKB = (
    frozenset({P.SOCKET_FILTER, P.CGROUP_SKB, P.SK_SKB, P.FLOW_DISSECTOR, P.SK_REUSEPORT})
    | TC
    | LWT
)
# Tracing programs (kernel-internal contexts).
TRACING = frozenset(
    {
        P.KPROBE,
        P.TRACEPOINT,
        P.PERF_EVENT,
        P.RAW_TRACEPOINT,
        P.RAW_TRACEPOINT_WRITABLE,
        P.TRACING,
        P.LSM,
    }
)
CGROUP_SOCK_HOOKS = frozenset({P.CGROUP_SOCK, P.CGROUP_SOCK_ADDR, P.SOCK_OPS, P.CGROUP_SOCKOPT})
# Programs with direct packet access, where pkt_access helpers may take packet pointers.
PACKET = (
    XDP | TC | LWT | frozenset({P.CGROUP_SKB, P.SK_SKB, P.SK_MSG, P.FLOW_DISSECTOR, P.SK_REUSEPORT})
)

M = MapType

# Map types that only a fixed set of helpers may receive (the kernel's check_map_func_compatibility,
# first half: map type -> helpers). Map types not listed accept the generic map helpers.
HASH_LIKE = frozenset({M.HASH, M.PERCPU_HASH, M.LRU_HASH, M.LRU_PERCPU_HASH})
ARRAY_LIKE = frozenset({M.ARRAY, M.PERCPU_ARRAY})
PERCPU = frozenset({M.PERCPU_HASH, M.PERCPU_ARRAY, M.LRU_PERCPU_HASH})
FOR_EACH = HASH_LIKE | ARRAY_LIKE
REDIRECT_MAPS = frozenset({M.DEVMAP, M.DEVMAP_HASH, M.CPUMAP, M.XSKMAP})
QUEUE_STACK = frozenset({M.QUEUE, M.STACK})
SOCK_MAPS = frozenset({M.SOCKMAP, M.SOCKHASH})
