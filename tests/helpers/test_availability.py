"""Helper availability per program type: the catalogue against the running kernel."""

from __future__ import annotations

import pytest

from pybpf.abi import ProgramType
from pybpf.helpers import HELPERS, allowed, by_name
from pybpf.helpers.availability import PROBED


def test_probed_types_cover_the_common_ones() -> None:
    for name in (
        "XDP",
        "SCHED_CLS",
        "SOCKET_FILTER",
        "KPROBE",
        "TRACEPOINT",
        "RAW_TRACEPOINT",
        "CGROUP_SKB",
    ):
        assert name in PROBED


def test_known_facts() -> None:
    assert allowed(by_name("xdp_adjust_tail").id, ProgramType.XDP)
    assert not allowed(by_name("xdp_adjust_tail").id, ProgramType.SCHED_CLS)
    assert allowed(by_name("skb_load_bytes").id, ProgramType.SOCKET_FILTER)
    assert not allowed(by_name("skb_load_bytes").id, ProgramType.XDP)
    assert allowed(by_name("get_current_pid_tgid").id, ProgramType.TRACEPOINT)
    assert allowed(by_name("ringbuf_output").id, ProgramType.XDP)
    assert not allowed(by_name("probe_read").id, ProgramType.XDP)
    # unprobed types fall back to the documented family
    assert allowed(by_name("get_func_arg").id, ProgramType.TRACING)
    assert not HELPERS[0].program_types


SAMPLE = [
    ("map_lookup_elem", "XDP"),
    ("xdp_adjust_head", "XDP"),
    ("xdp_adjust_head", "SCHED_CLS"),
    ("skb_store_bytes", "SCHED_CLS"),
    ("skb_store_bytes", "XDP"),
    ("probe_read_kernel", "KPROBE"),
    ("get_current_comm", "SOCKET_FILTER"),
    ("get_stackid", "TRACEPOINT"),
    ("get_stackid", "XDP"),
    ("redirect_map", "XDP"),
    ("redirect_map", "SCHED_CLS"),
    ("perf_event_output", "SOCKET_FILTER"),
    ("loop", "CGROUP_SKB"),
    ("csum_diff", "KPROBE"),
]


@pytest.mark.kernel
@pytest.mark.parametrize(("helper", "ptype"), SAMPLE)
def test_catalogue_matches_kernel(helper: str, ptype: str) -> None:
    from helpers.gen_availability import available, settings

    t = ProgramType[ptype]
    kernel = available(t, by_name(helper).id, settings()[t])
    assert kernel is not None
    assert allowed(by_name(helper).id, t) == kernel
