"""Shared pieces of the kernel verbs: the permission check and bpftool-style value formatting."""

from __future__ import annotations

import sys
from typing import Any


def permission_denied(verb: str) -> int | None:
    """None when bpf() is usable; else print one line and return exit status 2."""
    from pybpf.kernel.probe import bpf_permission_error

    reason = bpf_permission_error()
    if reason is None:
        return None
    print(f"pybpf {verb}: {reason}", file=sys.stderr)
    return 2


def hex_bytes(data: bytes) -> str:
    """bpftool's plain style: space-separated hex bytes."""
    return " ".join(f"{b:02x}" for b in data)


def json_bytes(data: bytes) -> list[str]:
    """bpftool's JSON style: a list of "0x.." strings."""
    return [f"0x{b:02x}" for b in data]


def number_or_hex(data: bytes) -> Any:
    """An int for 1/2/4/8-byte little-endian values, else a hex string (for events and map summaries)."""
    if len(data) in (1, 2, 4, 8):
        return int.from_bytes(data, "little")
    return data.hex()
