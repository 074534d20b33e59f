"""Throw-away network namespaces for the live tests: client, balancer and real on one bridge."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pybpf.kernel.netns import in_netns


def ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if proc.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def mac_of(ns: str, dev: str) -> str:
    out = subprocess.run(["ip", "-n", ns, "-br", "link", "show", dev], capture_output=True,
                         text=True, timeout=10).stdout.split()
    return out[2]


@dataclass
class Lan:
    """Namespaces on one bridge: client (10.200.0.1), balancer (.3 on lb0), real (.2 on rs0)."""

    client: str
    balancer: str
    real: str
    bridge: str


@contextlib.contextmanager
def lan() -> Iterator[Lan]:
    tag = f"pblb{os.getpid() % 10000}"
    names = Lan(f"{tag}c", f"{tag}l", f"{tag}r", f"{tag}b")
    made: list[str] = []
    try:
        for ns in (names.client, names.balancer, names.real, names.bridge):
            ip("netns", "add", ns)
            made.append(ns)
        ip("-n", names.bridge, "link", "add", "br0", "type", "bridge")
        ip("-n", names.bridge, "link", "set", "br0", "up")
        for ns, dev, port, addr in ((names.client, "cl0", "pcl", "10.200.0.1/24"),
                                    (names.balancer, "lb0", "plb", "10.200.0.3/24"),
                                    (names.real, "rs0", "prs", "10.200.0.2/24")):
            ip("-n", names.bridge, "link", "add", port, "type", "veth", "peer", "name", dev,
               "netns", ns)
            ip("-n", names.bridge, "link", "set", port, "master", "br0", "up")
            ip("-n", ns, "addr", "add", addr, "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield names
    finally:
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def packet_socket(ns: str, dev: str) -> socket.socket:
    """An AF_PACKET socket that sees every frame on `dev` in namespace `ns`."""
    with in_netns(ns):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        s.bind((dev, 0))
    s.settimeout(0.2)
    return s


def udp_sender(ns: str) -> socket.socket:
    with in_netns(ns):
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def frames(sock: socket.socket, done: Callable[[list[bytes]], bool] = lambda _: False,
           tries: int = 10) -> list[bytes]:
    """Frames received until `done(frames)` or until the socket stays quiet for a while."""
    got: list[bytes] = []
    quiet = 0
    while quiet < tries and not done(got):
        try:
            got.append(sock.recv(65535))
            quiet = 0
        except TimeoutError:
            quiet += 1
    return got
