"""Test network: two namespaces joined by a veth pair, created and removed by the tests themselves."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

from pybpf.kernel.netns import in_netns as entered

__all__ = ["entered", "veth_pair"]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextlib.contextmanager
def veth_pair(tag: str) -> Iterator[tuple[str, str]]:
    """Namespaces `<tag>a` (10.199.0.1 on veth `va`) and `<tag>b` (10.199.0.2 on `vb`); removed on exit."""
    a, b = f"{tag}a", f"{tag}b"
    _ip("netns", "add", a)
    try:
        _ip("netns", "add", b)
        try:
            _ip("-n", a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b)
            _ip("-n", a, "addr", "add", "10.199.0.1/30", "dev", "va")
            _ip("-n", b, "addr", "add", "10.199.0.2/30", "dev", "vb")
            _ip("-n", a, "link", "set", "va", "up")
            _ip("-n", b, "link", "set", "vb", "up")
            _ip("-n", a, "link", "set", "lo", "up")
            _ip("-n", b, "link", "set", "lo", "up")
            yield a, b
        finally:
            subprocess.run(["ip", "netns", "del", b], capture_output=True)
    finally:
        subprocess.run(["ip", "netns", "del", a], capture_output=True)
