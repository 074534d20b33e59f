"""Which helpers may receive which map types (the kernel's check_map_func_compatibility, both ways)."""

from __future__ import annotations

from pybpf.abi import MapType as M
from pybpf.helpers.ids import HELPER_NAMES

_ID = {name: i for i, name in enumerate(HELPER_NAMES)}


def _ids(*names: str) -> frozenset[int]:
    return frozenset(_ID[n] for n in names)


_STORAGE_EXTRA = ("kptr_xchg",)

# Map types that only these helpers may receive (every other helper is refused:
# "cannot pass map_type N into func bpf_xxx#M"). Map types absent here accept the generic
# map helpers (lookup, update, delete, for_each...) subject to each helper's own map_types.
MAP_TYPE_HELPERS: dict[M, frozenset[int]] = {
    M.PROG_ARRAY: _ids("tail_call"),
    M.PERF_EVENT_ARRAY: _ids(
        "perf_event_read", "perf_event_output", "perf_event_read_value", "skb_output", "xdp_output"
    ),
    M.RINGBUF: _ids(
        "ringbuf_output",
        "ringbuf_reserve",
        "ringbuf_query",
        "ringbuf_reserve_dynptr",
        "ringbuf_submit_dynptr",
        "ringbuf_discard_dynptr",
    ),
    M.USER_RINGBUF: _ids("user_ringbuf_drain"),
    M.STACK_TRACE: _ids("get_stackid"),
    M.CGROUP_ARRAY: _ids("skb_under_cgroup", "current_task_under_cgroup"),
    M.CGROUP_STORAGE: _ids("get_local_storage"),
    M.PERCPU_CGROUP_STORAGE: _ids("get_local_storage"),
    M.DEVMAP: _ids("redirect_map", "map_lookup_elem"),
    M.DEVMAP_HASH: _ids("redirect_map", "map_lookup_elem"),
    M.CPUMAP: _ids("redirect_map"),
    M.XSKMAP: _ids("redirect_map", "map_lookup_elem"),
    M.ARRAY_OF_MAPS: _ids("map_lookup_elem"),
    M.HASH_OF_MAPS: _ids("map_lookup_elem"),
    M.SOCKMAP: _ids(
        "sk_redirect_map",
        "sock_map_update",
        "msg_redirect_map",
        "sk_select_reuseport",
        "map_lookup_elem",
        "map_update_elem",
        "map_delete_elem",
    ),
    M.SOCKHASH: _ids(
        "sk_redirect_hash",
        "sock_hash_update",
        "msg_redirect_hash",
        "sk_select_reuseport",
        "map_lookup_elem",
        "map_update_elem",
        "map_delete_elem",
    ),
    M.REUSEPORT_SOCKARRAY: _ids("sk_select_reuseport"),
    M.QUEUE: _ids("map_peek_elem", "map_pop_elem", "map_push_elem"),
    M.STACK: _ids("map_peek_elem", "map_pop_elem", "map_push_elem"),
    M.BLOOM_FILTER: _ids("map_peek_elem", "map_push_elem"),
    M.SK_STORAGE: _ids("sk_storage_get", "sk_storage_delete", *_STORAGE_EXTRA),
    M.INODE_STORAGE: _ids("inode_storage_get", "inode_storage_delete", *_STORAGE_EXTRA),
    M.TASK_STORAGE: _ids("task_storage_get", "task_storage_delete", *_STORAGE_EXTRA),
    M.CGRP_STORAGE: _ids("cgrp_storage_get", "cgrp_storage_delete", *_STORAGE_EXTRA),
    M.STRUCT_OPS: frozenset(),
    M.ARENA: frozenset(),
}


def map_compatible(map_type: M | int, helper_id: int) -> bool:
    """Whether a map of `map_type` may be passed to helper `helper_id` as its ARG_CONST_MAP_PTR."""
    from pybpf.helpers import HELPERS  # the catalogue imports this module

    try:
        mt = M(map_type)
    except ValueError:
        return False
    allowed = MAP_TYPE_HELPERS.get(mt)
    if allowed is not None and helper_id not in allowed:
        return False
    proto = HELPERS.get(helper_id)
    if proto is None:
        return False
    return proto.map_types is None or mt in proto.map_types
