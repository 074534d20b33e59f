"""Feature probes against the running kernel, with precise "not supported" messages."""

from __future__ import annotations

import pytest

from pybpf.abi import MapType, ProgramType
from pybpf.errors import KernelError
from pybpf.kernel import features

pytestmark = pytest.mark.kernel


def test_basic_program_and_map_types_supported() -> None:
    for t in (ProgramType.XDP, ProgramType.SOCKET_FILTER, ProgramType.SCHED_CLS, ProgramType.TRACEPOINT):
        assert features.program_type(t), t
    for m in (MapType.HASH, MapType.ARRAY, MapType.RINGBUF, MapType.PERCPU_ARRAY, MapType.LPM_TRIE,
              MapType.ARRAY_OF_MAPS, MapType.QUEUE):
        assert features.map_type(m), m


def test_helper_availability_per_program_type() -> None:
    assert features.helper(ProgramType.XDP, 1)  # map_lookup_elem
    assert features.helper(ProgramType.TRACEPOINT, 14)  # get_current_pid_tgid
    no = features.helper(ProgramType.SOCKET_FILTER, 44)  # xdp_adjust_head outside XDP
    assert not no and "xdp_adjust_head" in no.name
    with pytest.raises(KernelError) as exc:
        no.require()
    assert "not supported by this kernel" in str(exc.value)


def test_unknown_program_type_reports_clearly() -> None:
    f = features.program_type(ProgramType.LIRC_MODE2)
    if f:
        pytest.skip("this kernel has lirc_mode2")
    assert "EINVAL" in f.detail


def test_attach_kinds_listed() -> None:
    names = {f.name: f for f in features.attach_kinds()}
    assert names["tracepoint"] and names["uprobe/uretprobe"]
    if not names["kprobe/kretprobe"]:
        assert "kprobe" in names["kprobe/kretprobe"].detail.lower()
