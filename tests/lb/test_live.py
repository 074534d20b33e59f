"""The balancer on a veth in network namespaces: real traffic to a VIP arrives IPIP at the real."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from netns_setup import frames, lan, mac_of, packet_socket, udp_sender

from pybpf.cli.main import main
from pybpf.kernel.netns import in_netns
from pybpf.toolchain import zig_available
from testlib import kernel_program

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) is not installed"),
    pytest.mark.skipif(not zig_available(), reason="ziglang is not installed"),
]

VIP = "10.0.0.10"


@contextlib.contextmanager
def pass_program_on(ns: str, dev: str) -> Iterator[None]:
    from pybpf.abi import ProgramType
    from pybpf.engines import Runtime
    from pybpf.isa import assemble
    from pybpf.kernel.links import attach_xdp
    from pybpf.object.spec import ProgramSpec

    spec = ProgramSpec(name="xdp_pass", instructions=tuple(assemble("mov r0, 2\nexit")),
                       type=ProgramType.XDP, license="GPL")
    coll = Runtime("kernel").load(spec)
    try:
        with in_netns(ns):
            link = attach_xdp(kernel_program(coll, "xdp_pass"), dev)
        try:
            yield
        finally:
            link.close()
    finally:
        coll.close()


def lb_config(real_mac: str, reals: list[tuple[str, int]]) -> dict:
    return {"outer_source": "172.16.0.0/16", "ring_size": 251, "max_vips": 2,
            "gateway_mac": real_mac,
            "vips": [{"address": VIP, "port": 8080, "protocol": "udp",
                      "reals": [{"address": a, "weight": w} for a, w in reals]}]}


def ipip_to(frames_seen: list[bytes], payload: bytes) -> list[bytes]:
    """IPIP frames whose inner UDP packet carries `payload` (to the VIP)."""
    out = []
    for f in frames_seen:
        if f[12:14] == b"\x08\x00" and f[23] == 4 and f[34 + 16:34 + 20] == ipaddress.ip_address(VIP).packed:
            if f.endswith(payload):
                out.append(f)
    return out


@contextlib.contextmanager
def balancer_running(via: str, ns: str, cfg: dict, mode: str, tmp_path: Path) -> Iterator[str]:
    """The balancer on lb0 in namespace `ns`, in this process (api) or as `pybpf lb run` (cli);
    yields its pin directory."""
    from pybpf.lb import parse
    from pybpf.lb.live import LiveBalancer, pin_dir

    if via == "api":
        with in_netns(ns):
            lb = LiveBalancer(parse(cfg), "lb0", mode=mode)
            lb.start()
        try:
            yield lb.path
        finally:
            lb.close()
        return
    path = tmp_path / "lb.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-m", "pybpf",
                             "lb", "run", "--config", str(path), "--interface", "lb0", "--mode",
                             mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "serving 1 VIPs on lb0" in line, line + proc.stderr.read()
        yield pin_dir("lb0")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"{VIP}:8080/udp" in out  # the final counters


@pytest.mark.parametrize(("mode", "via"), [("skb", "api"), ("native", "cli")])
def test_traffic_to_a_vip_arrives_encapsulated_at_the_real(tmp_path: Path, mode: str, via: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    if via == "cli" and shutil.which("nsenter") is None:
        pytest.skip("nsenter (util-linux) is not installed")
    # The connection table is per CPU (as Katran's): flows stay on one CPU through the NIC's
    # RSS; here the sender's CPU runs the veth's receive path, so the test stays on CPU 0.
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        run_traffic(tmp_path, mode, via, capsys)
    finally:
        os.sched_setaffinity(0, before)


def run_traffic(tmp_path: Path, mode: str, via: str, capsys: pytest.CaptureFixture[str]) -> None:
    with lan() as net, contextlib.ExitStack() as stack:
        real_mac = mac_of(net.real, "rs0")
        cfg = lb_config(real_mac, [("10.200.0.2", 1)])
        with in_netns(net.client):
            from subprocess import run

            run(["ip", "route", "add", f"{VIP}/32", "via", "10.200.0.3"], check=True)
        if mode == "native":
            # XDP_TX on a veth hands the frame to its peer, which takes XDP frames only when it
            # runs NAPI: an XDP_PASS program on the bridge-side peer turns that on.
            stack.enter_context(pass_program_on(net.bridge, "plb"))
        rx = packet_socket(net.real, "rs0")
        tx = udp_sender(net.client)
        lb_path = stack.enter_context(balancer_running(via, net.balancer, cfg, mode, tmp_path))
        try:
            for i in range(5):
                tx.sendto(b"hello-%d" % i, (VIP, 8080))
            tx.sendto(b"not-a-vip", ("10.200.0.3", 9))
            seen = frames(rx, lambda got: all(ipip_to(got, b"hello-%d" % i) for i in range(5)))
            for i in range(5):
                got = ipip_to(seen, b"hello-%d" % i)
                assert len(got) == 1, f"datagram {i} did not arrive encapsulated"
                f = got[0]
                assert f[0:6] == bytes.fromhex(real_mac.replace(":", ""))
                assert ipaddress.ip_address(f[26:30]) in ipaddress.ip_network("172.16.0.0/16")
                assert f[30:34] == ipaddress.ip_address("10.200.0.2").packed
                assert f[34 + 12:34 + 16] == ipaddress.ip_address("10.200.0.1").packed
            assert not ipip_to(seen, b"not-a-vip")

            # live counters from the pinned maps, as another process reads them
            assert main(["lb", "stats", "--interface", "lb0", "--json"]) == 0
            stats = json.loads(capsys.readouterr().out)
            assert stats["vips"][0]["vip"] == f"{VIP}:8080/udp" and stats["vips"][0]["packets"] == 5
            assert stats["reals"][0]["real"] == "10.200.0.2" and stats["reals"][0]["packets"] == 5
            assert stats["global"]["pass"] >= 1

            # a run-time update sends new flows elsewhere but keeps the established one
            new = tmp_path / "new.yaml"
            new.write_text(yaml.safe_dump(lb_config(real_mac, [("10.200.0.2", 1), ("10.200.0.9", 50)])))
            assert main(["lb", "update", "--config", str(new), "--interface", "lb0"]) == 0
            capsys.readouterr()
            tx.sendto(b"again", (VIP, 8080))  # same socket: the established flow
            got = ipip_to(frames(rx, lambda got: bool(ipip_to(got, b"again"))), b"again")
            assert len(got) == 1 and got[0][30:34] == ipaddress.ip_address("10.200.0.2").packed
        finally:
            tx.close()
            rx.close()
    assert not Path(lb_path).exists()
