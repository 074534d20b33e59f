"""Shared fixtures: paths to ../shared, the engine fixture, and the kernel marker's skip rule."""

from __future__ import annotations

import pytest

from testlib import ROOT, SHARED, shared_path  # noqa: F401  (re-exported for old imports)


def _bpf_permission() -> str | None:
    """None when bpf() may be used here, else the reason it may not (an ImportError fails loudly)."""
    from pybpf.kernel.probe import bpf_permission_error

    return bpf_permission_error()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Where bpf() works, the verifier and the helper catalogue judge by this kernel's probed facts."""
    if _bpf_permission() is None:
        from pybpf.engines import use_kernel_facts

        reason = use_kernel_facts()
        if reason:
            raise pytest.UsageError(f"probing the running kernel failed: {reason}")


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
ENGINE_PARAMS = ["interp", "jit", pytest.param("kernel", marks=pytest.mark.kernel)]


@pytest.fixture(params=ENGINE_PARAMS)
def engine(request: pytest.FixtureRequest) -> str:
    """Each engine-independent test runs on every engine (kernel ones marked and skipped as above)."""
    name: str = request.param
    if name == "kernel":
        reason = _bpf_permission()
        if reason:
            pytest.skip(f"bpf() not permitted here: {reason}")
    return name
