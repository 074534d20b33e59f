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
from prometheus_client.parser import text_string_to_metric_families

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
SCRAPE = """
import time, urllib.request
for _ in range(50):
    try:
        print(urllib.request.urlopen("http://127.0.0.1:9966/metrics", timeout=5).read().decode())
        break
    except OSError:
        time.sleep(0.1)
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
                         ["-n", NS_A, "link", "set", "pbg0", "up"], ["-n", NS_B, "link", "set", "pbg1", "up"],
                         ["-n", NS_A, "link", "set", "lo", "up"]):
                subprocess.run(["ip", *args], check=True)
            yield
        finally:
            subprocess.run(["ip", "netns", "del", NS_B], capture_output=True, check=False)
    finally:
        subprocess.run(["ip", "netns", "del", NS_A], capture_output=True, check=False)


@pytest.mark.kernel
def test_portcount_on_a_veth_in_the_kernel(cache: Path, veth: None) -> None:
    proc = subprocess.Popen(["ip", "netns", "exec", NS_A, sys.executable, "-m", "pybpf", "gadget", "run", "portcount",
                             "--interface", "pbg0", "--duration", "6", "-o", "json", "--listen", "127.0.0.1:9966"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith("running portcount:latest"), first + proc.stderr.read()
    subprocess.run(["ip", "netns", "exec", NS_B, sys.executable, "-c", SEND], check=True, timeout=60)
    # scraped from inside the gadget's namespace (its /metrics listens on that namespace's loopback)
    scraped = subprocess.run(["ip", "netns", "exec", NS_A, sys.executable, "-c", SCRAPE],
                             capture_output=True, text=True, timeout=60)
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

    # Prometheus' view while it ran, read with prometheus_client's own text parser
    assert scraped.returncode == 0, scraped.stderr
    families = {f.name: f for f in text_string_to_metric_families(scraped.stdout)}
    assert families["pybpf_gadget_portcount_packets"].type == "counter"
    udp = [s for s in families["pybpf_gadget_portcount_packets"].samples
           if s.labels == {"proto": "UDP", "port": "9999"}]
    assert [s.value for s in udp] == [3.0]
    sizes = families["pybpf_gadget_portcount_sizes"]
    assert sizes.type == "histogram"
    buckets = {float(s.labels["le"]): s.value for s in sizes.samples if s.name.endswith("_bucket")}
    assert buckets[127.0] + 3 <= buckets[255.0]  # the three 142-byte frames fall in (127, 255]
    assert buckets[float("inf")] == max(buckets.values())
    assert list(buckets)[:3] == [-1.0, 0.0, 1.0]  # bpftrace's slots: negatives, 0, [1, 2)


def test_a_packet_gadget_without_interface_or_pcap_is_a_clear_error(cache: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pybpf", "gadget", "run", "portcount", "--duration", "1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "give --interface IFACE" in done.stderr and "Traceback" not in done.stderr
