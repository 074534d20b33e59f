"""bpf_ksym_exists(kfunc): the address of a weak __ksym kfunc, judged as the running kernel judges it.

tests/data/verifier/c/ksym_exists.c (also in the labelled C corpus): a kfunc the kernel has is
read-only memory of size 0 (check_pseudo_btf_id, BTF_KIND_FUNC) and non-NULL, so the guarded call
is verified; an absent weak kfunc is the scalar 0 and its call dead code; a socket filter may not
call the task kfuncs; reading a byte at a kfunc's address is out of bounds.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from pybpf.errors import BpfError
from pybpf.object import load_file
from pybpf.object.spec import CollectionSpec
from pybpf.verifier import verify
from testlib import ROOT

SOURCE = ROOT / "tests" / "data" / "verifier" / "c" / "ksym_exists.c"
EXPECTED = {"kfunc_present": True, "kfunc_absent": True, "kfunc_filter": False, "kfunc_deref": False}


def _spec() -> CollectionSpec:
    pytest.importorskip("ziglang")
    from pybpf.toolchain import compile_c

    return load_file(compile_c(SOURCE))


def _pybpf(spec: CollectionSpec) -> dict[str, str]:
    out = {}
    for name, prog in spec.programs.items():
        try:
            verify(prog, maps=spec.maps)
            out[name] = ""
        except BpfError as exc:
            out[name] = str(exc)
    return out


def test_pybpf_verdicts() -> None:
    mine = _pybpf(_spec())
    assert {name: not msg for name, msg in mine.items()} == EXPECTED
    assert "calling kernel function bpf_task_from_pid is not allowed" in mine["kfunc_filter"]
    assert "mem_size=0" in mine["kfunc_deref"]


@pytest.mark.kernel
def test_same_verdicts_as_the_kernel() -> None:
    from pybpf.engines import use_kernel_facts
    from pybpf.kernel.verdict import kernel_verdicts

    spec = _spec()
    assert use_kernel_facts() is None  # the kfunc rules of this kernel, probed
    kernel = kernel_verdicts(spec)
    mine = _pybpf(spec)
    assert {name: v.accepted for name, v in kernel.items()} == EXPECTED
    for name, v in kernel.items():
        assert (not mine[name]) == v.accepted, (name, v.message, mine[name])
    assert kernel["kfunc_filter"].message in mine["kfunc_filter"]


@pytest.mark.kernel
def test_loads_through_the_verifier_on_the_kernel_engine() -> None:
    from pybpf.engines import Runtime

    spec = _spec()
    keep = {n: p for n, p in spec.programs.items() if EXPECTED[n]}
    with Runtime("kernel").load(replace(spec, programs=keep)) as coll:  # pybpf's verifier first
        assert set(coll.programs) == {"kfunc_present", "kfunc_absent"}


def test_fallback_where_the_kernel_cannot_be_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from pybpf.verifier import kfuncs

    monkeypatch.setattr(kfuncs, "_PROBED_TYPES", frozenset())  # as where bpf() is not permitted
    mine = _pybpf(_spec())
    assert {name: not msg for name, msg in mine.items()} == EXPECTED
    assert "calling kernel function bpf_task_from_pid is not allowed" in mine["kfunc_filter"]
