"""pybpf's verifier against the kernel's recorded verdicts (tests/data/verifier/labels_*.json).

The hard rule: never accept a program the kernel rejects for safety. Then accept what it accepts,
rejecting at the same instruction with the same kind of message.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from testlib import ROOT, SHARED, sampled

sys.path.insert(0, str(ROOT / "tools"))

from verifier_agreement import Figures, compare, load_cases  # noqa: E402

LIMITS = ("BPF program is too large", "BPF program is too complex")


def _too_large(case: dict[str, Any]) -> bool:
    return any(m.startswith(LIMITS) for m in case.get("kernel", {}).get("messages", []))


ASM = load_cases("asm")
C = load_cases("c")
RANDOM = load_cases("random")
SAMPLES = load_cases("samples")


def _figures(cases: list[dict[str, Any]]) -> Figures:
    figs = Figures()
    for case in cases:
        o = compare(case)
        if o is not None:
            figs.add(o)
    return figs


@pytest.mark.parametrize("case", [c for c in ASM if not _too_large(c)], ids=lambda c: c["name"])
def test_asm_case_matches_kernel(case: dict[str, Any]) -> None:
    o = compare(case)
    assert o is not None
    assert o.pybpf_ok == o.kernel_ok or (o.kernel_ok is False and not o.safety and not o.pybpf_ok), (
        f"kernel: {o.kernel or 'accepted'}; pybpf: {o.mine or 'accepted'}"
    )
    if not o.kernel_ok and o.safety:
        assert o.same_class, f"kernel: {o.kernel}; pybpf: {o.mine}"


def test_asm_corpus_figures() -> None:
    figs = _figures([c for c in ASM if not _too_large(c)])
    assert figs.cases >= 75
    assert figs.unsafe_accepts == []
    assert figs.both_accept == figs.kernel_accepts
    assert figs.same_insn >= 0.9 * figs.both_reject


def test_c_corpus_matches_kernel() -> None:
    pytest.importorskip("ziglang")
    figs = _figures(C)
    assert figs.cases >= 10
    assert figs.unsafe_accepts == []
    assert figs.both_accept >= 0.98 * figs.kernel_accepts
    assert figs.same_class == figs.both_reject


def test_random_corpus_never_accepts_unsafe() -> None:
    cases = [c for c in RANDOM if not _too_large(c)]
    figs = _figures(cases)
    assert figs.cases >= 1000
    assert figs.unsafe_accepts == [], figs.unsafe_accepts
    assert figs.both_accept >= 0.98 * figs.kernel_accepts
    assert figs.same_insn >= 0.95 * figs.both_reject
    assert figs.same_class >= 0.95 * figs.both_reject


@pytest.mark.slow
def test_random_corpus_too_complex_programs_rejected() -> None:
    """The 50 cases the kernel refused as too large or complex (seconds each), a quarter of
    them unless PYBPF_FULL=1."""
    figs = _figures(list(sampled([c for c in RANDOM if _too_large(c)], 4)))
    assert figs.cases >= 10
    assert figs.both_accept == 0 and not figs.unsafe_accepts and not figs.nonsafety_accepts


def _sample_subset(cases: list[dict[str, Any]], every: int) -> list[dict[str, Any]]:
    usable = [c for c in cases if "unusable" not in c and not _too_large(c)]
    return usable[::every]


def test_ebpf_samples_sampled() -> None:
    if not SAMPLES:
        pytest.skip("labels_samples.json not generated")
    if not (SHARED / "ebpf-samples").exists():
        pytest.skip("../shared/ebpf-samples is absent")
    small = [c for c in _sample_subset(SAMPLES, 1) if (c["kernel"].get("processed") or 0) < 600]
    figs = _figures(small[::2])
    assert figs.cases >= 50
    assert figs.unsafe_accepts == [], figs.unsafe_accepts


@pytest.mark.slow
def test_ebpf_samples_full() -> None:
    if not SAMPLES or not (SHARED / "ebpf-samples").exists():
        pytest.skip("no ebpf-samples labels or data")
    figs = _figures(_sample_subset(SAMPLES, 1))
    assert figs.unsafe_accepts == [], figs.unsafe_accepts
