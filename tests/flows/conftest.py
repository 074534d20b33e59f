"""Fixtures of the flows tests: one two-namespace topology per module (created and removed by the test)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from .topology import Topology, topology


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is not installed")
    from pybpf.kernel.probe import bpf_permission_error

    reason = bpf_permission_error()
    if reason:
        pytest.skip(f"bpf() not permitted here: {reason}")
    with topology() as t:
        yield t
