"""Pruning as strong as the kernel's: on real Cilium programs pybpf processes at most 1.5x the
instructions the running kernel's verifier processes for the same program (measured live)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pybpf.object import load_file
from pybpf.object.spec import CollectionSpec
from pybpf.verifier import verify
from testlib import shared_path

# (object, program): a few thousand kernel instructions each, with branches on packet fields,
# spilled scalars, constant map keys and `x s>>= 31; x &= K` masks (the kernel's maybe_fork_scalars)
PROGRAMS = [
    ("cilium-core/bpf_xdp.o", "tail_nodeport_nat_egress_ipv4"),
    ("cilium-core/bpf_overlay.o", "tail_handle_nat_fwd_ipv6"),
    ("cilium-core/bpf_sock.o", "cil_sock6_sendmsg"),
]


@pytest.mark.kernel
@pytest.mark.parametrize(("obj", "name"), PROGRAMS, ids=[p for _, p in PROGRAMS])
def test_processed_insns_within_kernel_tolerance(obj: str, name: str) -> None:
    from pybpf.kernel.verdict import kernel_verdicts

    spec = load_file(shared_path("ebpf-samples", obj))
    prog = replace(spec.programs[name], license=spec.programs[name].license or "GPL")  # as the labels were made
    kernel = kernel_verdicts(CollectionSpec(programs={name: prog}, maps=spec.maps))[name]
    assert kernel.accepted, kernel.message
    assert kernel.processed_insns
    mine = verify(prog, prog.type, maps=spec.maps)
    ratio = mine.processed_insns / kernel.processed_insns
    assert ratio <= 1.5, f"pybpf processed {mine.processed_insns}, the kernel {kernel.processed_insns}"
