"""Shared fixtures: paths to ../shared, the engine fixture, and the kernel marker's skip rule."""

from __future__ import annotations

import pytest

from testlib import ROOT, SHARED, shared_path  # noqa: F401  (re-exported for old imports)


def _bpf_permission() -> str | None:
    """None when bpf() may be used here, else the reason it may not."""
    try:
        from pybpf.kernel.probe import bpf_permission_error
    except ImportError:
        return "pybpf.kernel is not built yet"
    return bpf_permission_error()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kernel_items = [i for i in items if i.get_closest_marker("kernel")]
    if not kernel_items:
        return
    reason = _bpf_permission()
    if reason:
        skip = pytest.mark.skip(reason=f"bpf() not permitted here: {reason}")
        for item in kernel_items:
            item.add_marker(skip)


ENGINES = ["interp", "jit", "kernel"]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each engine-independent test runs on every engine (kernel ones marked and skipped as above)."""
    name: str = request.param
    if name == "kernel":
        reason = _bpf_permission()
        if reason:
            pytest.skip(f"bpf() not permitted here: {reason}")
    return name
