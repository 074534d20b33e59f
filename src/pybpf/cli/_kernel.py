"""Shared piece of the kernel verbs: the permission check with its one-line message."""

from __future__ import annotations

import sys


def permission_denied(verb: str) -> int | None:
    """None when bpf() is usable; else print one line and return exit status 2."""
    from pybpf.kernel.probe import bpf_permission_error

    reason = bpf_permission_error()
    if reason is None:
        return None
    print(f"pybpf {verb}: {reason}", file=sys.stderr)
    return 2
