"""The helper catalogue: ids and names as the uapi lists them, prototypes of the common helpers."""

from __future__ import annotations

import pytest

from pybpf.abi import MapType, ProgramType
from pybpf.helpers import HELPERS, ArgType, RetType, allowed, by_name, helper_name, map_compatible

A = ArgType
R = RetType


def test_every_id_present_and_dense() -> None:
    assert sorted(HELPERS) == list(range(212))
    assert all(p.id == i for i, p in HELPERS.items())


@pytest.mark.parametrize(
    ("helper_id", "name"),
    [
        (1, "map_lookup_elem"),
        (6, "trace_printk"),
        (12, "tail_call"),
        (25, "perf_event_output"),
        (44, "xdp_adjust_head"),
        (93, "spin_lock"),
        (131, "ringbuf_reserve"),
        (164, "for_each_map_elem"),
        (181, "loop"),
        (182, "strncmp"),
        (211, "cgrp_storage_delete"),
    ],
)
def test_ids_match_uapi(helper_id: int, name: str) -> None:
    assert HELPERS[helper_id].name == name
    assert by_name(name).id == helper_id
    assert by_name("bpf_" + name).id == helper_id
    assert by_name("BPF_FUNC_" + name).id == helper_id


def test_unknown_name_raises_keyerror() -> None:
    with pytest.raises(KeyError):
        by_name("no_such_helper")
    assert helper_name(9999) == "#9999"
    assert helper_name(1) == "bpf_map_lookup_elem"


def test_map_helper_prototypes() -> None:
    lookup = by_name("map_lookup_elem")
    assert lookup.ret is R.RET_PTR_TO_MAP_VALUE_OR_NULL and lookup.ret.nullable
    assert lookup.args == (A.ARG_CONST_MAP_PTR, A.ARG_PTR_TO_MAP_KEY)
    update = by_name("map_update_elem")
    assert update.args == (
        A.ARG_CONST_MAP_PTR,
        A.ARG_PTR_TO_MAP_KEY,
        A.ARG_PTR_TO_MAP_VALUE,
        A.ARG_ANYTHING,
    )
    assert by_name("map_pop_elem").args[1] is A.ARG_PTR_TO_UNINIT_MAP_VALUE
    assert by_name("map_pop_elem").args[1].uninit


def test_ringbuf_reference_tracking() -> None:
    reserve = by_name("ringbuf_reserve")
    assert reserve.ret is R.RET_PTR_TO_RINGBUF_MEM_OR_NULL
    assert reserve.acquires and reserve.ret_size_arg == 1
    assert reserve.args[1] is A.ARG_CONST_ALLOC_SIZE_OR_ZERO
    for name in ("ringbuf_submit", "ringbuf_discard"):
        p = by_name(name)
        assert p.ret is R.RET_VOID
        assert p.release_arg == 0
        assert p.args[0] is A.ARG_PTR_TO_RINGBUF_MEM
    assert by_name("sk_lookup_tcp").acquires
    assert by_name("sk_release").release_arg == 0


def test_memory_and_size_pairs() -> None:
    # every sized memory argument is followed by its size argument
    for p in HELPERS.values():
        for i, arg in enumerate(p.args):
            if arg.is_memory:
                assert i + 1 < len(p.args) and p.args[i + 1].is_size, p
    printk = by_name("trace_printk")
    assert printk.args == (A.ARG_PTR_TO_MEM_RDONLY, A.ARG_CONST_SIZE) and printk.gpl_only
    assert by_name("probe_read_kernel").args[0] is A.ARG_PTR_TO_UNINIT_MEM
    assert by_name("strtol").args[3] is A.ARG_PTR_TO_LONG and A.ARG_PTR_TO_LONG.fixed_size == 8
    assert by_name("snprintf").args[2] is A.ARG_PTR_TO_CONST_STR
    assert by_name("csum_diff").args[0].nullable


def test_callbacks() -> None:
    loop = by_name("loop")
    assert (
        loop.args[1] is A.ARG_PTR_TO_FUNC and loop.callback is not None and loop.callback.arg == 1
    )
    each = by_name("for_each_map_elem")
    assert each.callback is not None and each.callback.nargs == 4


def test_program_type_restrictions() -> None:
    assert allowed(by_name("xdp_adjust_head").id, ProgramType.XDP)
    assert not allowed(by_name("xdp_adjust_head").id, ProgramType.SCHED_CLS)
    assert by_name("xdp_adjust_head").changes_pkt_data
    assert allowed(by_name("skb_store_bytes").id, ProgramType.SCHED_CLS)
    assert not allowed(by_name("skb_store_bytes").id, ProgramType.XDP)
    assert allowed(1, ProgramType.XDP) and allowed(1, ProgramType.KPROBE)
    assert not allowed(9999, ProgramType.XDP)


def test_map_compatibility() -> None:
    lookup, tail_call = by_name("map_lookup_elem").id, by_name("tail_call").id
    assert map_compatible(MapType.HASH, lookup)
    assert not map_compatible(MapType.RINGBUF, lookup)
    assert not map_compatible(MapType.PROG_ARRAY, lookup)
    assert map_compatible(MapType.PROG_ARRAY, tail_call)
    assert not map_compatible(MapType.ARRAY, tail_call)
    assert map_compatible(MapType.ARRAY_OF_MAPS, lookup)
    assert not map_compatible(MapType.ARRAY_OF_MAPS, by_name("map_update_elem").id)
    assert map_compatible(MapType.QUEUE, by_name("map_push_elem").id)
    assert not map_compatible(MapType.HASH, by_name("map_push_elem").id)
    assert map_compatible(MapType.RINGBUF, by_name("ringbuf_output").id)
    assert not map_compatible(MapType.PERF_EVENT_ARRAY, by_name("ringbuf_output").id)
    assert map_compatible(MapType.ARRAY, by_name("for_each_map_elem").id)
    assert not map_compatible(MapType.QUEUE, by_name("for_each_map_elem").id)
