"""Per-packet overhead of the `pybpf flows` datapath: the same packets with and without it, as ratios.

Two measurements, both against baselines taken in the same run:
  * kernel cost per packet (BPF_PROG_TEST_RUN, the kernel's own mean): a trivial tc program that
    only returns TC_ACT_UNSPEC vs flows_ingress (event to the ring buffer), with a 16-rule policy,
    and with aggregation;
  * real traffic: UDP datagrams between two network namespaces over a veth pair, without the
    datapath vs with it attached on the receiving veth (ingress + egress), and vs `pybpf flows
    observe` consuming and printing every flow from its own process.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

UDP_PORT = 7400
PAYLOAD = b"x" * 64
RULES = [{"action": "deny", "protocol": "tcp", "port": 20000 + i, "cidr": f"192.0.2.{i}/32"} for i in range(16)]


def udp_frame() -> bytes:
    import dpkt

    udp = dpkt.udp.UDP(sport=40000, dport=UDP_PORT, data=PAYLOAD)
    ip = dpkt.ip.IP(src=bytes([10, 1, 0, 1]), dst=bytes([10, 1, 0, 2]), p=dpkt.ip.IP_PROTO_UDP, data=udp)
    return bytes(dpkt.ethernet.Ethernet(src=b"\2" * 6, dst=b"\4" * 6, type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


def kernel_ns_per_packet(total: int) -> dict[str, float]:
    """Mean ns per run of each program on the same 106-byte UDP frame, the ring drained between chunks."""
    from pybpf.abi import ProgramType
    from pybpf.flows.datapath import datapath_spec
    from pybpf.flows.policy import parse_policy
    from pybpf.isa import assemble
    from pybpf.kernel import RingBuffer, load_collection
    from pybpf.object.spec import ProgramSpec

    frame = udp_frame()
    chunk = 4000  # 4000 events of 104 bytes fit the 1 MiB ring
    out: dict[str, float] = {}
    baseline = ProgramSpec("baseline", tuple(assemble("r0 = -1\nexit")), ProgramType.SCHED_CLS)
    with load_collection(baseline, pin_path=None) as coll:
        out["baseline"] = _runs(coll.programs["baseline"], frame, total, chunk, None)
    for name, policy, aggregate in (("flows", [], False), ("flows + 16-rule policy", RULES, False),
                                    ("flows aggregated", [], True)):
        with load_collection(datapath_spec(), pin_path=None, globals={"aggregate": int(aggregate)}) as coll:
            for i, rule in enumerate(parse_policy(policy)):
                coll.maps["policy"][i] = rule.pack()
            with RingBuffer(coll.maps["events"]) as ring:
                out[name] = _runs(coll.programs["flows_ingress"], frame, total, chunk, ring)
            lost = sum(int.from_bytes(v, "little") for v in coll.maps["stats"][1])
            if lost:
                raise RuntimeError(f"{name}: {lost} events lost during the benchmark")
    return out


def _runs(prog: Any, frame: bytes, total: int, chunk: int, ring: Any) -> float:
    means = []
    for _ in range(max(1, total // chunk)):
        means.append(prog.run(frame, repeat=chunk).duration_ns)
        if ring is not None:
            ring.read_available()
    return float(statistics.median(means))


def udp_seconds(topo: Any, count: int) -> float:
    """Seconds to get `count` datagrams from namespace a to a receiver in namespace b."""
    from flows.topology import A_IP, B_IP, socket_in

    rx = socket_in(topo.ns_b, socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket_in(topo.ns_a, socket.AF_INET, socket.SOCK_DGRAM)
    # room for every datagram even when the receiving thread falls behind (FORCE: past rmem_max, as root)
    rx.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 64 << 20)
    rx.bind((B_IP, UDP_PORT))
    tx.bind((A_IP, 0))
    rx.settimeout(2.0)
    got = 0

    def receive() -> None:
        nonlocal got
        while got < count:
            try:
                rx.recv(2048)
            except TimeoutError:
                return
            got += 1

    thread = threading.Thread(target=receive)
    thread.start()
    start = time.perf_counter()
    for _ in range(count):
        tx.sendto(PAYLOAD, (B_IP, UDP_PORT))
    thread.join()
    elapsed = time.perf_counter() - start
    rx.close()
    tx.close()
    if got != count:
        raise RuntimeError(f"only {got} of {count} datagrams arrived")
    return elapsed


def real_traffic(count: int, rounds: int) -> dict[str, Any]:
    """Best-of-`rounds` seconds for `count` datagrams: without the datapath, with it attached (events
    left in a 4 MiB ring and drained after each round), and with `pybpf flows observe` consuming and
    printing every flow from another process, as a deployment runs it."""
    from flows.topology import topology
    from pybpf.flows.datapath import Datapath
    from pybpf.flows.policy import parse_policy

    ring = 1 << 22
    modes: dict[str, list[dict[str, Any]] | None] = {"baseline": None, "flows": [],
                                                      "flows + 16-rule policy": RULES,
                                                      "flows + observe process": None}
    times: dict[str, list[float]] = {name: [] for name in modes}
    lost: dict[str, int] = {name: 0 for name in modes}
    results: dict[str, Any] = {}
    with topology() as topo:
        udp_seconds(topo, 200)  # warm up
        for _ in range(rounds):  # modes interleaved, so that the machine's load hits them alike
            for name, policy in modes.items():
                if name == "flows + observe process":
                    seconds, missed = observed(topo, count)
                    times[name].append(seconds)
                    lost[name] += missed
                    continue
                if policy is None:
                    times[name].append(udp_seconds(topo, count))
                    continue
                with Datapath([topo.if_b], netns=topo.ns_b, policy=parse_policy(policy), ring_size=ring) as dp:
                    times[name].append(udp_seconds(topo, count))
                    flows = len([f for f in dp.read_available() if f.destination_port == UDP_PORT])
                    if flows != count:
                        raise RuntimeError(f"{name}: {flows} flows for {count} datagrams")
                    lost[name] += dp.stats()["lost"]
        for name in modes:
            results[name] = min(times[name])
            if name != "baseline":
                results[f"{name} lost"] = lost[name]
    return results


def observed(topo: Any, count: int) -> tuple[float, int]:
    """`pybpf flows observe -o json` in its own process prints every flow while the traffic runs."""
    import signal
    import subprocess
    import tempfile

    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pybpf", "flows", "observe", "--netns", topo.ns_b,
                                 "--interface", topo.if_b, "-o", "json", "--port", str(UDP_PORT),
                                 "--ring-size", str(1 << 22)], stdout=out, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        proc.stderr.readline()  # "observing ..." once attached
        seconds = udp_seconds(topo, count)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        out.seek(0)
        lines = sum(1 for line in out if line.startswith("{\"flow\""))
    lost = int(err.split(" events lost")[0].split()[-1]) if " events lost" in err else 0
    if lines + lost != count:
        raise RuntimeError(f"observe printed {lines} flows (lost {lost}) for {count} datagrams")
    return seconds, lost


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a shorter run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from pybpf.kernel.probe import bpf_permission_error

    reason = bpf_permission_error()
    if reason:
        print(f"flows benchmark skipped: {reason}")
        return 0
    kernel = kernel_ns_per_packet(40_000 if args.quick else 400_000)
    count, rounds = (5_000, 2) if args.quick else (20_000, 5)
    real = real_traffic(count, rounds)
    if args.json:
        print(json.dumps({"machine": platform.platform(), "kernel_ns": kernel, "udp_seconds": real,
                          "datagrams": count}))
        return 0
    print(f"machine: {platform.platform()} ({platform.machine()}), python {sys.version.split()[0]}")
    print("kernel cost per packet (BPF_PROG_TEST_RUN mean, UDP frame of 106 bytes):")
    base = kernel["baseline"]
    for name, ns in kernel.items():
        extra = "" if name == "baseline" else f"  {ns / base:5.2f}x baseline, +{ns - base:.0f} ns per packet"
        print(f"  {name:24} {ns:7.0f} ns{extra}")
    print(f"real traffic: {count:,} UDP datagrams between two namespaces (best of {rounds}):")
    base_s = real["baseline"]
    for name in ("baseline", "flows", "flows + 16-rule policy", "flows + observe process"):
        s = real[name]
        extra = "" if name == "baseline" else (
            f"  {s / base_s:5.2f}x, +{(s - base_s) / count * 1e6:.2f} us per packet, lost {real[f'{name} lost']}")
        print(f"  {name:24} {s:7.3f} s = {count / s / 1e3:6.1f} k packets/s{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
