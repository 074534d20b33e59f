"""The bpf_conformance suite and uBPF's vectors on the JIT engine (every test must pass)."""

from __future__ import annotations

from pybpf.conformance import run_paths, summary
from testlib import shared_path


def test_conformance_suite_on_jit() -> None:
    outcomes = run_paths([shared_path("conformance", "tests")], engine="jit")
    failed = [f"{o.name}: {o.reason}" for o in outcomes if o.status == "fail"]
    assert not failed, "\n".join(failed)
    assert sum(o.status == "pass" for o in outcomes) == 313, summary(outcomes)


def test_ubpf_vectors_on_jit() -> None:
    outcomes = run_paths([shared_path("ubpf-tests")], engine="jit")
    failed = [f"{o.name}: {o.reason}" for o in outcomes if o.status == "fail"]
    assert not failed, "\n".join(failed)
    assert sum(o.status == "pass" for o in outcomes) > 70, summary(outcomes)
