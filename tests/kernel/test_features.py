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
    assert "uprobe_multi link" in names  # probed: yes on 6.6+, else a reason
    if not names["kprobe/kretprobe"]:
        assert "kprobe" in names["kprobe/kretprobe"].detail.lower()


def test_helper_probe_agrees_with_the_catalogue() -> None:
    """The catalogue in use was probed on this very kernel (conftest installs it): both probes agree."""
    from pybpf.helpers.availability import AVAILABLE, SOURCE

    assert SOURCE.startswith("probed on the running kernel"), SOURCE
    for name in ("XDP", "SOCKET_FILTER", "TRACEPOINT"):
        ptype = ProgramType[name]
        mine = {h for h in AVAILABLE if h and features.helper(ptype, h)}
        theirs = {h for h, types in AVAILABLE.items() if h and name in types}
        assert mine == theirs, name


def test_feature_cli_lists_helpers(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from pybpf.cli.main import main

    assert main(["feature", "--helpers", "xdp", "--json"]) == 0
    helpers = {h["name"]: h["supported"] for h in json.loads(capsys.readouterr().out)["helpers"]}
    assert helpers["helper map_lookup_elem in xdp programs"] is True
    assert helpers["helper skb_store_bytes in xdp programs"] is False
    assert main(["feature", "--helpers", "no_such_type"]) == 2
