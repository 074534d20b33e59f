"""XDP attached on a veth inside network namespaces the test creates: real packets, counters and drops."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

from pybpf.abi import XdpAction
from pybpf.kernel.kernel_engine import load_collection
from pybpf.kernel.links import attach_tc, attach_xdp
from pybpf.object.spec import CollectionSpec
from testlib import scalar

from .netns import entered, veth_pair
from .progs import counter_map, packet, udp_port_filter

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) is not installed")]

DROP_PORT, PASS_PORT = 9999, 8888


def _u64(raw: bytes | list[bytes]) -> int:
    return int.from_bytes(scalar(raw), "little")


def test_udp_filter_on_test_run() -> None:
    import struct

    spec = CollectionSpec(programs={"udp_filter": udp_port_filter(DROP_PORT)}, maps={"counts": counter_map(entries=2)})
    with load_collection(spec) as coll:
        ip = bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]) + bytes(8)
        drop = packet(14)[:14] + ip + struct.pack("!HHHH", 1, DROP_PORT, 8, 0)
        keep = packet(14)[:14] + ip + struct.pack("!HHHH", 1, PASS_PORT, 8, 0)
        prog = coll.programs["udp_filter"]
        assert prog.run(drop).retval == XdpAction.DROP
        assert prog.run(keep).retval == XdpAction.PASS
        assert prog.run(packet(20)).retval == XdpAction.PASS  # too short for UDP
        assert _u64(coll.maps["counts"][1]) == 1 and _u64(coll.maps["counts"][0]) == 2


def _exchange(ns_a: str, ns_b: str, n_drop: int, n_pass: int) -> list[bytes]:
    with entered(ns_b):
        rx_pass = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx_drop = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with entered(ns_a):
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx_pass.bind(("10.199.0.2", PASS_PORT))
        rx_drop.bind(("10.199.0.2", DROP_PORT))
        for s in (rx_pass, rx_drop):
            s.settimeout(2.0)
        for i in range(n_drop):
            tx.sendto(b"drop %d" % i, ("10.199.0.2", DROP_PORT))
        got = []
        for i in range(n_pass):
            tx.sendto(b"pass %d" % i, ("10.199.0.2", PASS_PORT))
            got.append(rx_pass.recv(100))
        rx_drop.settimeout(0.2)
        with pytest.raises(TimeoutError):
            rx_drop.recv(100)
        return got
    finally:
        for s in (rx_pass, rx_drop, tx):
            s.close()


def test_xdp_on_veth_drops_and_counts_real_packets() -> None:
    spec = CollectionSpec(programs={"udp_filter": udp_port_filter(DROP_PORT)}, maps={"counts": counter_map(entries=2)})
    tag = f"pybpf{os.getpid() % 100000}"
    with veth_pair(tag) as (ns_a, ns_b), load_collection(spec) as coll:
        with entered(ns_b):
            link = attach_xdp(coll.programs["udp_filter"], "vb")
        with link:
            got = _exchange(ns_a, ns_b, n_drop=30, n_pass=20)
            assert got == [b"pass %d" % i for i in range(20)]
            assert _u64(coll.maps["counts"][1]) == 30
            assert _u64(coll.maps["counts"][0]) >= 20  # plus ARP and any IPv6 chatter
        # detached: the dropped port now receives
        with entered(ns_b):
            rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with entered(ns_a):
            tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with rx, tx:
            rx.bind(("10.199.0.2", DROP_PORT))
            rx.settimeout(2.0)
            tx.sendto(b"after", ("10.199.0.2", DROP_PORT))
            assert rx.recv(100) == b"after"
        assert _u64(coll.maps["counts"][1]) == 30


@pytest.mark.parametrize("legacy", [False, True], ids=["tcx", "cls_bpf"])
def test_tc_ingress_counts_packets(legacy: bool) -> None:
    from pybpf.abi import ProgramType, TcAction

    from .progs import counter_program

    prog = counter_program("tc_count", ProgramType.SCHED_CLS, TcAction.OK)
    tag = f"pybpt{os.getpid() % 100000}"
    with veth_pair(tag) as (ns_a, ns_b), load_collection(
            CollectionSpec(programs={"tc_count": prog}, maps={"counts": counter_map()})) as coll:
        with entered(ns_b):
            link = attach_tc(coll.programs["tc_count"], "vb", "ingress", legacy=legacy)
            assert link.kind == ("tc_filter" if legacy else "bpf_link")
        with link:
            got = _exchange(ns_a, ns_b, n_drop=0, n_pass=5)
            assert len(got) == 5
            assert _u64(coll.maps["counts"][0]) >= 5
        seen = _u64(coll.maps["counts"][0])
        _exchange(ns_a, ns_b, n_drop=0, n_pass=3)  # detached: no longer counted
        assert _u64(coll.maps["counts"][0]) == seen


def test_xdp_modes_errors_and_link_info() -> None:
    from pybpf.errors import KernelError, LoadError
    from pybpf.kernel.links import ifindex

    spec = CollectionSpec(programs={"udp_filter": udp_port_filter(DROP_PORT)}, maps={"counts": counter_map(entries=2)})
    tag = f"pybpx{os.getpid() % 100000}"
    with veth_pair(tag) as (_ns_a, ns_b), load_collection(spec) as coll:
        prog = coll.programs["udp_filter"]
        with entered(ns_b):
            with pytest.raises(LoadError):
                attach_xdp(prog, "no_such_if0")
            with pytest.raises(LoadError):
                attach_xdp(prog, "vb", mode="turbo")
            idx = ifindex("vb")
            with attach_xdp(prog, "vb", mode="skb") as link:
                li = link.info()
                assert li.type_name == "xdp" and li.extra[0] & 0xFFFFFFFF == idx
                with pytest.raises(KernelError) as exc:
                    attach_xdp(prog, "vb")  # one XDP link per interface
                assert "already has an XDP program" in str(exc.value)
            with attach_xdp(prog, "vb"):  # free again after close
                pass


def test_legacy_prog_attach_on_cgroup() -> None:
    from pybpf.abi import AttachType, ProgramType
    from pybpf.kernel.info import prog_info
    from pybpf.kernel.links import prog_attach, query_attached
    from pybpf.object.spec import ProgramSpec

    from .progs import ret

    root = next((ln.split()[1] for ln in open("/proc/self/mounts") if ln.split()[2] == "cgroup2"), None)
    if root is None:
        pytest.skip("no cgroup2 hierarchy mounted")
    cg = os.path.join(root, f"pybpf_attach_{os.getpid()}")
    os.mkdir(cg)
    try:
        spec = ProgramSpec(name="allow", instructions=tuple(ret(1)), type=ProgramType.CGROUP_SKB,
                           attach_type=AttachType.CGROUP_INET_INGRESS)
        with load_collection(spec) as coll:
            pid = prog_info(coll.programs["allow"].fd).id
            with prog_attach(coll.programs["allow"], cg, AttachType.CGROUP_INET_INGRESS):
                assert query_attached(cg, "ingress") == [pid]
            assert query_attached(cg, "ingress") == []
    finally:
        os.rmdir(cg)


def test_two_legacy_tc_filters_share_a_hook() -> None:
    import subprocess

    from pybpf.abi import ProgramType, TcAction

    from .progs import counter_program

    spec = CollectionSpec(programs={"first": counter_program("first", ProgramType.SCHED_CLS, TcAction.UNSPEC,
                                                             map_name="c1"),
                                    "second": counter_program("second", ProgramType.SCHED_CLS, TcAction.OK,
                                                              map_name="c2")},
                          maps={"c1": counter_map("c1"), "c2": counter_map("c2")})
    tag = f"pybpl{os.getpid() % 100000}"

    def qdiscs(ns: str) -> str:
        return subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "show", "dev", "vb"],
                              capture_output=True, text=True).stdout

    with veth_pair(tag) as (ns_a, ns_b), load_collection(spec) as coll:
        with entered(ns_b):
            # TC_ACT_UNSPEC (-1) lets the next filter run: both count every packet
            first = attach_tc(coll.programs["first"], "vb", "ingress", legacy=True)
            second = attach_tc(coll.programs["second"], "vb", "ingress", legacy=True)
        assert "priority 1" in first.description and "priority 2" in second.description
        assert "clsact" in qdiscs(ns_b)
        _exchange(ns_a, ns_b, n_drop=0, n_pass=4)
        assert _u64(coll.maps["c1"][0]) >= 4 and _u64(coll.maps["c2"][0]) >= 4
        first.close()
        n1, n2 = _u64(coll.maps["c1"][0]), _u64(coll.maps["c2"][0])
        _exchange(ns_a, ns_b, n_drop=0, n_pass=3)
        assert _u64(coll.maps["c1"][0]) == n1 and _u64(coll.maps["c2"][0]) >= n2 + 3
        assert "clsact" in qdiscs(ns_b)  # still holds the second filter
        second.close()
        assert "clsact" not in qdiscs(ns_b)  # made by us, now empty: removed
