"""Typed map views: BTF-described keys and values as Python data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pybpf.engines import Runtime
from pybpf.errors import BpfError
from pybpf.maps import TypedMap, create_map, possible_cpus

SOURCE = Path(__file__).parent / "data" / "typed.c"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from pybpf.toolchain import compile_c, zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed")
    from pybpf.object import load_file

    return load_file(compile_c(SOURCE, tmp_path_factory.mktemp("typed") / "typed.o"))


def test_struct_keys_and_values(spec: Any) -> None:
    flows = TypedMap(create_map(spec.maps["flows"]), spec.btf)
    key = {"addr": 0x0A000001, "port": 443, "proto": 6, "pad": 0}
    flows[key] = {"packets": 3, "bytes": 180, "name": "web", "color": "GREEN", "samples": [7, 9]}
    assert flows[key] == {
        "packets": 3,
        "bytes": 180,
        "name": "web",
        "color": "GREEN",
        "samples": [7, 9],
    }
    assert key in flows and {"addr": 2, "port": 1, "proto": 17, "pad": 0} not in flows
    raw = flows.map.lookup(flows.encode_key(key))
    assert isinstance(raw, bytes) and raw[:8] == (3).to_bytes(
        8, "little"
    )  # packets first, little-endian
    assert raw[16:19] == b"web" and raw[24:28] == (2).to_bytes(4, "little")  # name, then the enum
    assert list(flows.items()) == [(key, flows[key])]
    del flows[key]
    assert len(flows) == 0
    with pytest.raises(KeyError):
        flows[key]
    with pytest.raises(BpfError):
        flows[{"addr": 1}] = {"color": "PURPLE"}


def test_per_cpu_values(spec: Any) -> None:
    deltas = TypedMap(create_map(spec.maps["deltas"]), spec.btf)
    deltas[0] = -5
    assert deltas[0] == [-5] * possible_cpus()
    deltas[1] = list(range(possible_cpus()))
    assert deltas[1] == list(range(possible_cpus()))


def test_typed_view_of_a_running_collection(spec: Any, engine: str) -> None:
    with Runtime(engine, verify=False).load(spec) as coll:
        flows = TypedMap(coll.maps["flows"], spec.btf)
        key = {"addr": 1, "port": 80, "proto": 6, "pad": 0}
        flows[key] = {"packets": 10}
        coll.programs["touch"].run(b"\0" * 64)
        assert flows[key]["packets"] == 11
