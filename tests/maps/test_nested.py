"""Maps of maps and program arrays declared statically in C (tests/maps/data/nested.c), on every engine."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from pybpf.engines import Runtime

SOURCE = Path(__file__).parent / "data" / "nested.c"
XDP_DROP, XDP_PASS, XDP_TX = 1, 2, 3


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from pybpf.toolchain import compile_c, zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed")
    from pybpf.object import load_file

    return load_file(compile_c(SOURCE, tmp_path_factory.mktemp("nested") / "nested.o"))


def u64(m: Any, i: int) -> int:
    return int(struct.unpack("<Q", m[i])[0])


def test_inner_maps_and_tail_calls(spec: Any, engine: str) -> None:
    with Runtime(engine, verify=False).load(spec) as coll:
        entry = coll.programs["entry"]
        rets = []
        for which in (0, 1, 2, 0):
            for slot in (0, 1, 2, 3):
                rets.append(entry.run(bytes(14) + bytes([which, slot]) + bytes(8)).retval)
        # slot 0 -> target0 (PASS), 1 -> target1 (DROP), 2 and 3 are empty: the call falls through (TX)
        assert rets == [XDP_PASS, XDP_DROP, XDP_TX, XDP_TX] * 4
        maps = coll.maps
        assert u64(maps["inner_a"], 0) == 8  # outer[0], twice four packets
        assert u64(maps["inner_b"], 0) == 4  # outer[1]
        hits = [u64(maps["hits"], i) for i in range(4)]
        assert hits == [4, 4, 8, 4]  # target0, target1, fall-throughs, outer[2] missing
        assert maps["outer"].lookup(struct.pack("<I", 2)) is None
