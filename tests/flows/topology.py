"""Test network for flows: namespaces `pbflows<tag>a`/`…b` joined by veth `pbflowsa`/`pbflowsb`, real traffic."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from pybpf.kernel.netns import in_netns

A_IP, B_IP = "10.198.0.1", "10.198.0.2"
A_IP6, B_IP6 = "fd00:198::1", "fd00:198::2"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Topology:
    ns_a: str
    ns_b: str
    if_a: str = "pbflowsa"
    if_b: str = "pbflowsb"

    def mac(self, ns: str, interface: str) -> str:
        out = subprocess.run(["ip", "-n", ns, "-j", "link", "show", "dev", interface], check=True,
                             capture_output=True, text=True).stdout
        return str(json.loads(out)[0]["address"])


@contextlib.contextmanager
def topology() -> Iterator[Topology]:
    """Two namespaces (IPv4 and IPv6, static neighbours so no ARP/NDP), removed on exit."""
    tag = f"pbflows{os.getpid() % 100000}"
    topo = Topology(f"{tag}a", f"{tag}b")
    _ip("netns", "add", topo.ns_a)
    try:
        _ip("netns", "add", topo.ns_b)
        try:
            a, b = topo.ns_a, topo.ns_b
            _ip("-n", a, "link", "add", topo.if_a, "type", "veth", "peer", "name", topo.if_b, "netns", b)
            for ns, ifname, ip4, ip6 in ((a, topo.if_a, A_IP, A_IP6), (b, topo.if_b, B_IP, B_IP6)):
                subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                                f"net.ipv6.conf.{ifname}.accept_ra=0"], capture_output=True)
                _ip("-n", ns, "addr", "add", f"{ip4}/30", "dev", ifname)
                _ip("-n", ns, "addr", "add", f"{ip6}/64", "dev", ifname, "nodad")
                _ip("-n", ns, "link", "set", ifname, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
            mac_a, mac_b = topo.mac(a, topo.if_a), topo.mac(b, topo.if_b)
            for ns, ifname, ip4, ip6, mac in ((a, topo.if_a, B_IP, B_IP6, mac_b),
                                              (b, topo.if_b, A_IP, A_IP6, mac_a)):
                _ip("-n", ns, "neigh", "replace", ip4, "lladdr", mac, "dev", ifname, "nud", "permanent")
                _ip("-n", ns, "neigh", "replace", ip6, "lladdr", mac, "dev", ifname, "nud", "permanent")
            yield topo
        finally:
            subprocess.run(["ip", "netns", "del", topo.ns_b], capture_output=True)
    finally:
        subprocess.run(["ip", "netns", "del", topo.ns_a], capture_output=True)


def socket_in(ns: str, family: int, kind: int) -> socket.socket:
    """A socket created inside namespace `ns` (it stays there when this thread leaves)."""
    with in_netns(ns):
        return socket.socket(family, kind)


def tcp_exchange(topo: Topology, port: int, payload: bytes = b"ping", *, family: int = socket.AF_INET,
                 timeout: float = 2.0) -> bytes | None:
    """One TCP connection from a to b:port sending `payload` and reading the echo; None if it fails."""
    server_ip, bind_ip = (B_IP, B_IP) if family == socket.AF_INET else (B_IP6, B_IP6)
    srv = socket_in(topo.ns_b, family, socket.SOCK_STREAM)
    cli = socket_in(topo.ns_a, family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((bind_ip, port))
    srv.listen(1)
    srv.settimeout(timeout)

    def serve() -> None:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(timeout)
            data = conn.recv(100)
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                conn.recv(100)  # wait for the client's FIN

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        cli.settimeout(timeout)
        try:
            cli.connect((server_ip, port))
        except OSError:
            return None
        cli.sendall(payload)
        got = b""
        while True:
            chunk = cli.recv(100)
            if not chunk:
                break
            got += chunk
        cli.shutdown(socket.SHUT_WR)
        thread.join(timeout)
        return got
    finally:
        cli.close()
        srv.close()
        thread.join(timeout)


def udp_send(topo: Topology, port: int, count: int, *, expect: bool = True) -> int:
    """`count` datagrams a -> b:port; returns how many arrived."""
    rx = socket_in(topo.ns_b, socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket_in(topo.ns_a, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind((B_IP, port))
        rx.settimeout(1.0 if expect else 0.2)
        tx.bind((A_IP, 0))
        for i in range(count):
            tx.sendto(b"datagram %d" % i, (B_IP, port))
        got = 0
        for _ in range(count):
            try:
                rx.recv(100)
            except TimeoutError:
                break
            got += 1
        return got
    finally:
        rx.close()
        tx.close()


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ping(topo: Topology, count: int = 2, *, v6: bool = False) -> int:
    """ICMP echo requests a -> b over a raw socket (no ping binary needed); returns replies received."""
    family, proto, target = ((socket.AF_INET6, socket.IPPROTO_ICMPV6, B_IP6) if v6
                             else (socket.AF_INET, socket.IPPROTO_ICMP, B_IP))
    request = 128 if v6 else 8
    with in_netns(topo.ns_a):
        sock = socket.socket(family, socket.SOCK_RAW, proto)
    replies = 0
    try:
        sock.settimeout(1.0)
        for seq in range(1, count + 1):
            header = struct.pack("!BBHHH", request, 0, 0, 0x4242, seq) + b"pybpf flows"
            if not v6:  # the kernel fills in the ICMPv6 checksum itself
                header = header[:2] + struct.pack("!H", _checksum(header)) + header[4:]
            sock.sendto(header, (target, 0))
            while True:
                try:
                    data = sock.recv(2048)
                except TimeoutError:
                    break
                icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
                if icmp[0] == (129 if v6 else 0) and icmp[6:8] == struct.pack("!H", seq):
                    replies += 1
                    break
        return replies
    finally:
        sock.close()
