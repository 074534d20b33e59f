"""The Linux kernel as the judge of the loader: linked programs, relocated maps, global data and CO-RE load and run."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pybpf.engines import Runtime
from pybpf.object import load_file
from testlib import scalar

OBJECTS = Path(__file__).resolve().parent.parent / "data" / "objects"
pytestmark = pytest.mark.kernel


@pytest.mark.parametrize("name", ["xdp_counter.o", "calls.o", "map_in_map.o", "legacy_maps.o", "core.o", "map_extra.o", "strings.o", "kconfig.o", "kfunc.o"])
def test_kernel_accepts_every_program(name: str) -> None:
    spec = load_file(OBJECTS / name)
    col = Runtime(engine="kernel", verify=False, pin_path=None).load(spec)
    try:
        assert set(col.programs) == set(spec.programs)
    finally:
        col.close()


def test_kernel_runs_linked_calls_and_callback() -> None:
    col = Runtime(engine="kernel", verify=False, pin_path=None).load(load_file(OBJECTS / "calls.o"))
    try:
        # global_fn(64) = middle(64) + leaf(64) = 130 + 65; the bpf_loop callback adds 0+1+2+3.
        assert col.programs["caller"].run(bytes(64)).retval == 201
    finally:
        col.close()


def test_kernel_sees_maps_and_global_data() -> None:
    col = Runtime(engine="kernel", verify=False, pin_path=None).load(load_file(OBJECTS / "xdp_counter.o"))
    try:
        for _ in range(3):
            assert col.programs["count_packets"].run(bytes(64)).retval == 2  # helper(0) = 0*7 + 5 != 0
        assert struct.unpack("<Q", scalar(col.maps["counts"][bytes(4)]))[0] == 3
        assert struct.unpack("<I", scalar(col.maps[".bss"][bytes(4)]))[0] == 3
        assert scalar(col.maps[".data.custom"][bytes(4)]).startswith(b"Custom\0")
    finally:
        col.close()
