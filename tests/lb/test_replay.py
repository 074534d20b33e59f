"""`pybpf lb replay`: the same verdicts, packets and counters on the interpreter, JIT and kernel."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest
import yaml
from lb_support import VIP4, VIP6

from pybpf.cli.main import main
from pybpf.hooks.packets import ethernet, icmp, icmp_echo_packet, ipv4, tcp, tcp_packet, udp_packet
from pybpf.hooks.pcap import CapturedPacket, read_packets, write_packets
from pybpf.toolchain import zig_available

pytestmark = pytest.mark.skipif(not zig_available(), reason="ziglang is not installed")

CONFIG = {
    "outer_source": ["172.16.0.0/16", "fc00:1::/96"], "ring_size": 65537, "max_vips": 2,
    "vips": [
        {"address": VIP4, "port": 80, "protocol": "tcp",
         "reals": [{"address": "10.1.0.1", "weight": 1}, {"address": "10.1.0.2", "weight": 3}]},
        {"address": VIP6, "port": 53, "protocol": "udp", "reals": [{"address": "fd00:1::1"}]},
    ],
}


def capture() -> list[CapturedPacket]:
    rnd = random.Random(7)
    frames = []
    for _ in range(300):
        src = f"192.168.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        frames.append(tcp_packet(src, VIP4, rnd.randrange(1024, 65535), 80, b"x" * rnd.randrange(40)))
    frames += [udp_packet("fd00:9::5", VIP6, 1000 + i, 53, b"q") for i in range(20)]
    frames += [tcp_packet("192.168.1.1", "10.0.0.99", 1, 22), icmp_echo_packet("192.168.1.1", VIP4)]
    quoted = ipv4(tcp(80, 5555, VIP4, "192.168.1.1"), 6, VIP4, "192.168.1.1")[:28]
    frames.append(ethernet(ipv4(icmp(3, 4, struct.pack("!HH", 0, 1400), quoted), 1,
                                "192.168.99.1", VIP4), 0x0800))
    frames += frames[:50]  # established flows again
    return [CapturedPacket(1700000000 + i / 1000, f) for i, f in enumerate(frames)]


@pytest.mark.kernel
def test_replay_identical_on_every_engine(tmp_path: Path) -> None:
    from pybpf.lb import parse
    from pybpf.lb.replay import replay

    cfg = parse(CONFIG)
    packets = capture()
    results = {engine: replay(cfg, packets, engine) for engine in ("interp", "jit", "kernel")}
    ref = results["interp"]
    assert ref.summary() == {"XDP_PASS": 1, "XDP_TX": len(packets) - 1}
    for engine, r in results.items():
        assert r.verdicts == ref.verdicts, engine
        assert r.outputs == ref.outputs, engine
        assert r.stats == ref.stats, engine


def test_replay_cli_writes_the_transmitted_packets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "lb.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    packets = capture()[:40]
    write_packets(tmp_path / "in.pcap", packets)
    out = tmp_path / "out.pcapng"
    assert main(["lb", "replay", "--config", str(cfg), "--pcap", str(tmp_path / "in.pcap"),
                 "--pcap-out", str(out), "--engine", "interp"]) == 0
    text = capsys.readouterr().out
    assert "40 packets on interp: XDP_TX 40" in text
    assert "IPIP 172.16." in text and "-> 10.1.0.2" in text
    sent = read_packets(out)
    assert len(sent) == 40
    assert [p.timestamp for p in sent] == [p.timestamp for p in packets]
    assert all(p.data[23] == 4 and p.data[34:] == q.data[14:] for p, q in zip(sent, packets, strict=True))
    assert main(["lb", "replay", "--config", str(cfg), "--pcap", str(tmp_path / "in.pcap"),
                 "--engine", "interp", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"] == {"XDP_TX": 40} and len(report["verdicts"]) == 40
    assert sum(v["packets"] for v in report["stats"]["vips"]) == 40


def test_bad_inputs_give_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "lb.yaml"
    cfg.write_text("vips: [{address: 10.0.0.1, port: 80, reals: [{address: 'fd00::1'}]}]\n")
    pcap = tmp_path / "in.pcap"
    write_packets(pcap, [tcp_packet()])
    assert main(["lb", "replay", "--config", str(cfg), "--pcap", str(pcap)]) == 2
    assert "IPv6 real for an IPv4 VIP" in capsys.readouterr().err
    cfg.write_text("ring_size: 65536\nvips: []\n")
    assert main(["lb", "replay", "--config", str(cfg), "--pcap", str(pcap)]) == 2
    assert "not a prime" in capsys.readouterr().err
    cfg.write_text("vips: []\n")
    (tmp_path / "junk").write_bytes(b"nope")
    assert main(["lb", "replay", "--config", str(cfg), "--pcap", str(tmp_path / "junk")]) == 2
    err = capsys.readouterr().err
    assert "not a pcap or pcapng" in err and "Traceback" not in err
