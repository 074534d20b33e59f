"""The examples attached to real hooks: veth interfaces in namespaces the tests create and remove."""
# ruff: noqa: F811 - the fixtures come from examples_support (no conftest.py: see there)

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
from pathlib import Path

import pytest
from examples_support import example_objects  # noqa: F401

from pybpf.demo import in_netns, veth_namespaces
from pybpf.object import load_file
from testlib import scalar

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) is not installed")]

B_ADDR = "10.198.0.2"


def u64(raw: bytes | list[bytes]) -> int:
    return int.from_bytes(scalar(raw), "little")


def drain(sock: socket.socket) -> int:
    got = 0
    sock.settimeout(0.3)
    while True:
        try:
            sock.recv(2048)
        except (TimeoutError, OSError):
            return got
        got += 1


def udp_socket(ns: str, bind: tuple[str, int] | None = None) -> socket.socket:
    with in_netns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if bind:
        s.bind(bind)
    return s


def test_firewall_on_a_veth(example_objects: dict[str, Path]) -> None:
    from pybpf.kernel.kernel_engine import load_collection
    from pybpf.kernel.links import attach_xdp

    with veth_namespaces("pbfw") as (ns_a, ns_b), \
            load_collection(load_file(example_objects["xdp_firewall"])) as coll:
        coll.maps["blocked_ports"][9999] = 0
        with in_netns(ns_b):
            link = attach_xdp(coll.programs["xdp_firewall"], "vb")
        rx_open, rx_blocked = udp_socket(ns_b, (B_ADDR, 8888)), udp_socket(ns_b, (B_ADDR, 9999))
        tx = udp_socket(ns_a)
        try:
            for i in range(25):
                tx.sendto(b"x%d" % i, (B_ADDR, 9999))
            for i in range(15):
                tx.sendto(b"y%d" % i, (B_ADDR, 8888))
            assert drain(rx_open) == 15
            assert drain(rx_blocked) == 0
        finally:
            link.close()
            for s in (rx_open, rx_blocked, tx):
                s.close()
        assert u64(coll.maps["blocked_ports"][9999]) == 25
        assert u64(coll.maps["verdicts"][1]) == 25  # XDP_DROP
        assert u64(coll.maps["verdicts"][2]) >= 15  # XDP_PASS (plus ARP, IPv6 chatter)


def test_tc_classifier_on_egress(example_objects: dict[str, Path]) -> None:
    from pybpf.kernel.kernel_engine import load_collection
    from pybpf.kernel.links import attach_tc

    with veth_namespaces("pbtc") as (ns_a, ns_b), \
            load_collection(load_file(example_objects["tc_classifier"])) as coll:
        # a second source address on A inside the blocked 192.0.2.0/24
        subprocess.run(["ip", "-n", ns_a, "addr", "add", "192.0.2.5/32", "dev", "va"], check=True)
        with in_netns(ns_a):
            link = attach_tc(coll.programs["classify"], "va", "egress")
        rx_dns, rx_other = udp_socket(ns_b, (B_ADDR, 53)), udp_socket(ns_b, (B_ADDR, 9))
        tx, tx_blocked = udp_socket(ns_a), udp_socket(ns_a, ("192.0.2.5", 0))
        try:
            for i in range(5):
                tx.sendto(b"q%d" % i, (B_ADDR, 53))
            for i in range(3):
                tx.sendto(b"d%d" % i, (B_ADDR, 9))
            for i in range(4):
                tx_blocked.sendto(b"b%d" % i, (B_ADDR, 9))
            assert drain(rx_dns) == 5
            assert drain(rx_other) == 3  # the 4 from the blocked network never left A
        finally:
            link.close()
            for s in (rx_dns, rx_other, tx, tx_blocked):
                s.close()
        counts = [u64(coll.maps["class_packets"][i]) for i in range(4)]
        assert counts[1] == 5  # dns: interactive
        assert counts[2] == 0
        assert counts[3] == 4  # dropped
        assert counts[0] >= 3  # port 9, plus ARP and IPv6 neighbour discovery


def test_ring_buffer_reports_real_connections(example_objects: dict[str, Path]) -> None:
    from pybpf.kernel.kernel_engine import load_collection
    from pybpf.kernel.links import attach_xdp
    from pybpf.kernel.ringbuf import RingBuffer

    event = struct.Struct("<II4s4sHHHBBQ")
    with veth_namespaces("pbrb") as (ns_a, ns_b), \
            load_collection(load_file(example_objects["ringbuf_events"])) as coll:
        with in_netns(ns_b):
            link = attach_xdp(coll.programs["report_connections"], "vb")
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with in_netns(ns_a):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        dns = udp_socket(ns_a)
        reader = RingBuffer(coll.maps["events"])
        try:
            server.bind((B_ADDR, 7777))
            server.listen(1)
            client.settimeout(3)
            client.connect((B_ADDR, 7777))
            accepted, _ = server.accept()
            accepted.close()
            dns.sendto(b"\x00\x01" + bytes(20), (B_ADDR, 53))
            events = []
            for _ in range(20):
                events += [event.unpack(r) for r in reader.read_available()]
                if len(events) >= 2:
                    break
                reader.wait(0.1)
        finally:
            reader.close()
            link.close()
            for s in (server, client, dns):
                s.close()
        syns = [e for e in events if e[0] == 1]
        queries = [e for e in events if e[0] == 2]
        assert len(syns) == 1 and syns[0][5] == 7777 and syns[0][3] == socket.inet_aton(B_ADDR)
        assert syns[0][8] & 0x12 == 0x02  # SYN without ACK
        assert len(queries) == 1 and queries[0][5] == 53


GETPPID = {"x86_64": 110, "aarch64": 173}


@pytest.mark.skipif(os.uname().machine not in GETPPID, reason="getppid number unknown here")
def test_syscall_counter_on_the_tracepoint(example_objects: dict[str, Path]) -> None:
    """Count this process's own getppid() calls from raw_syscalls:sys_enter."""
    import dataclasses

    from pybpf.kernel.kernel_engine import load_collection
    from pybpf.kernel.links import attach_tracepoint

    spec = load_file(example_objects["syscall_counter"])
    rodata = spec.maps[".rodata"]
    (key, value), = rodata.contents
    maps = dict(spec.maps)
    maps[".rodata"] = dataclasses.replace(
        rodata, contents=((key, struct.pack("<I", os.getpid()) + value[4:]),))
    spec = dataclasses.replace(spec, maps=maps)
    nr = GETPPID[os.uname().machine]
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})  # the tracepoint link may watch one CPU: stay on it
    try:
        with load_collection(spec) as coll:
            with attach_tracepoint(coll.programs["count_syscalls"], "raw_syscalls", "sys_enter"):
                for _ in range(100):
                    os.getppid()
            found = {struct.unpack("<II", k): u64(v) for k, v in coll.maps["syscalls"].items()}
    finally:
        os.sched_setaffinity(0, affinity)
    assert found[(os.getpid(), nr)] == 100
    assert all(tgid == os.getpid() for tgid, _ in found)  # the .rodata filter held
