"""Fresh random programs judged by the running kernel and by pybpf: pybpf must never accept what the
kernel rejects for safety (the fast run uses seeds the labelled corpus does not contain)."""

from __future__ import annotations

import sys
from collections.abc import Iterable

import pytest

from pybpf.abi import ProgramType
from pybpf.errors import VerifierError
from pybpf.object.spec import CollectionSpec, ProgramSpec
from pybpf.verifier import verify
from testlib import ROOT, sampled

sys.path.insert(0, str(ROOT / "tools"))

from verifier_progen import generate  # noqa: E402

LIMITS = ("BPF program is too large", "BPF program is too complex")


def _fuzz(seeds: Iterable[int]) -> tuple[int, int, list[str]]:
    from pybpf.kernel.verdict import kernel_verdicts

    agree = total = 0
    unsafe: list[str] = []
    for seed in seeds:
        g = generate(seed)
        prog = ProgramSpec(g.name, tuple(g.insns), type=ProgramType(g.program_type), map_references=tuple(g.refs))
        k = kernel_verdicts(CollectionSpec(programs={g.name: prog}, maps=g.maps))[g.name]
        if (k.processed_insns or 0) > 100_000 or "too large" in (k.log or "") or k.message.startswith(LIMITS):
            continue  # the kernel's instruction limit: pybpf needs seconds to reach it too
        try:
            verify(prog, maps=g.maps)
            mine = True
        except VerifierError:
            mine = False
        total += 1
        agree += mine == k.accepted
        if mine and not k.accepted:
            unsafe.append(f"seed {seed}: kernel said {k.message}")
    return agree, total, unsafe


@pytest.mark.kernel
def test_fuzz_fresh_seeds_against_kernel() -> None:
    agree, total, unsafe = _fuzz(range(100_000, 100_060))
    assert unsafe == []
    assert total >= 40 and agree >= 0.97 * total


@pytest.mark.kernel
@pytest.mark.slow
def test_fuzz_long_run_against_kernel() -> None:
    """5,000 fresh programs, a third of them unless PYBPF_FULL=1."""
    agree, total, unsafe = _fuzz(sampled(range(200_000, 205_000), 3))
    assert unsafe == []
    assert agree >= 0.97 * total
