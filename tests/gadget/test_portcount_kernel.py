"""`pybpf gadget run portcount --interface` in the kernel: XDP on a veth in a namespace the test
creates, UDP datagrams and a TCP SYN sent from the peer namespace, the counts and sizes at the end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gadget_support import cache_fixture  # noqa: F401 - the fixture "cache"

NS_A, NS_B = "pbgadget-a", "pbgadget-b"
SEND = """
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3):
    u.sendto(b"p" * 100, ("10.196.0.1", 9999))
try:
    socket.create_connection(("10.196.0.1", 80), timeout=2)
except OSError:
    pass
"""


@pytest.fixture(name="veth")
def veth_fixture() -> Iterator[None]:
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is not installed")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    subprocess.run(["ip", "netns", "add", NS_A], check=True)
    try:
        subprocess.run(["ip", "netns", "add", NS_B], check=True)
        try:
            for args in (["-n", NS_A, "link", "add", "pbg0", "type", "veth", "peer", "name", "pbg1", "netns", NS_B],
                         ["-n", NS_A, "addr", "add", "10.196.0.1/30", "dev", "pbg0"],
                         ["-n", NS_B, "addr", "add", "10.196.0.2/30", "dev", "pbg1"],
                         ["-n", NS_A, "link", "set", "pbg0", "up"], ["-n", NS_B, "link", "set", "pbg1", "up"]):
                subprocess.run(["ip", *args], check=True)
            yield
        finally:
            subprocess.run(["ip", "netns", "del", NS_B], capture_output=True, check=False)
    finally:
        subprocess.run(["ip", "netns", "del", NS_A], capture_output=True, check=False)


@pytest.mark.kernel
def test_portcount_on_a_veth_in_the_kernel(cache: Path, veth: None) -> None:
    proc = subprocess.Popen(["ip", "netns", "exec", NS_A, sys.executable, "-m", "pybpf", "gadget", "run", "portcount",
                             "--interface", "pbg0", "--duration", "4", "-o", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith("running portcount:latest"), first + proc.stderr.read()
    subprocess.run(["ip", "netns", "exec", NS_B, sys.executable, "-c", SEND], check=True, timeout=60)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    by_name = {d.get("metric") or d.get("histogram"): d for d in map(json.loads, out.splitlines())}
    packets = {(e["key"]["proto"], e["key"]["port"]): e["value"] for e in by_name["packets"]["entries"]}
    octets = {(e["key"]["proto"], e["key"]["port"]): e["value"] for e in by_name["bytes"]["entries"]}
    assert packets[("UDP", 9999)] == 3
    assert octets[("UDP", 9999)] == 3 * (14 + 20 + 8 + 100)
    assert packets[("TCP", 80)] >= 1  # the SYN (refused with a reset)
    slots = {b["slot"]: b["count"] for b in by_name["sizes"]["buckets"]}
    assert slots[9] >= 3  # the 142-byte datagrams: [128, 256)


def test_a_packet_gadget_without_interface_or_pcap_is_a_clear_error(cache: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pybpf", "gadget", "run", "portcount", "--duration", "1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "give --interface IFACE" in done.stderr and "Traceback" not in done.stderr
