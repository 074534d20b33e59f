"""Tracing links: fentry/fexit/fmod_ret/LSM/tp_btf, whose target was fixed at load time."""

from __future__ import annotations

from pybpf.kernel.link.base import (
    BpfLink,
    ProgLike,
)
from pybpf.kernel.link.raw_tracepoint import attach_raw_tracepoint


def attach_tracing(prog: ProgLike) -> BpfLink:
    """fentry/fexit/fmod_ret/LSM/tp_btf: the target was fixed at load time (attach_btf_id)."""
    return attach_raw_tracepoint(prog, None)
