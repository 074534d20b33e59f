"""A veth pair between two throw-away namespaces: sender (10.201.0.1 on va), receiver (.2 on vb)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator

from pybpf.kernel.netns import in_netns


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if proc.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


@contextlib.contextmanager
def veth_pair(tag: str) -> Iterator[tuple[str, str]]:
    """(sender namespace, receiver namespace); the receiver's interface is `vb`."""
    base = f"pblb{os.getpid() % 10000}{tag}"
    tx, rx = f"{base}s", f"{base}r"
    made: list[str] = []
    try:
        for ns in (tx, rx):
            _ip("netns", "add", ns)
            made.append(ns)
        _ip("-n", rx, "link", "add", "vb", "type", "veth", "peer", "name", "va", "netns", tx)
        _ip("-n", rx, "addr", "add", "10.201.0.2/24", "dev", "vb")
        _ip("-n", tx, "addr", "add", "10.201.0.1/24", "dev", "va")
        _ip("-n", rx, "link", "set", "vb", "up")
        _ip("-n", tx, "link", "set", "va", "up")
        yield tx, rx
    finally:
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


class Udp:
    """Send from the sender namespace, receive on ports of the receiver namespace."""

    def __init__(self, tx: str, rx: str, ports: tuple[int, ...]) -> None:
        with in_netns(tx):
            self.out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.inbound = {}
        with in_netns(rx):
            for port in ports:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("10.201.0.2", port))
                s.settimeout(0.3)
                self.inbound[port] = s

    def send(self, port: int, n: int = 3) -> None:
        for i in range(n):
            self.out.sendto(b"datagram %d" % i, ("10.201.0.2", port))

    def received(self, port: int) -> int:
        got = 0
        while True:
            try:
                self.inbound[port].recv(2048)
                got += 1
            except TimeoutError:
                return got

    def close(self) -> None:
        self.out.close()
        for s in self.inbound.values():
            s.close()
