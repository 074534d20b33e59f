"""pcap/pcapng in and out (dpkt), and `pybpf run|attach --pcap IN --pcap-out OUT`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pybpf.cli.main import main
from pybpf.hooks.packets import icmp_echo_packet, parse, tcp_packet, udp_packet
from pybpf.hooks.pcap import CapturedPacket, PcapError, capture_format, read_packets, write_packets
from pybpf.toolchain import zig_available

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def sample() -> list[CapturedPacket]:
    return [CapturedPacket(1700000000.25, tcp_packet(payload=b"a" * 100)),
            CapturedPacket(1700000001.5, udp_packet("fd00::1", "fd00::2", 1, 2, b"six")),
            CapturedPacket(1700000002.0, icmp_echo_packet(), "a comment")]


@pytest.mark.parametrize("name", ["x.pcap", "x.pcapng"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    assert write_packets(path, sample()) == 3
    assert capture_format(path) == name.split(".")[1]
    back = read_packets(path)
    assert [(p.timestamp, p.data) for p in back] == [(p.timestamp, p.data) for p in sample()]


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
@pytest.mark.parametrize("name", ["x.pcap", "x.pcapng"])
def test_tcpdump_reads_what_we_write(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_packets(path, sample())
    out = subprocess.run(["tcpdump", "-nr", str(path)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3
    assert "10.0.0.1.40000 > 10.0.0.2.80" in lines[0] and "fd00::1.1 > fd00::2.2" in lines[1]
    assert "ICMP echo request" in lines[2]


def test_bad_captures(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "junk").write_bytes(b"\xd4\xc3\xb2\xa1" + b"\0" * 5)
    with pytest.raises(PcapError, match="not a pcap"):
        read_packets(tmp_path / "empty")
    with pytest.raises(PcapError):
        read_packets(tmp_path / "junk")
    with pytest.raises(PcapError, match="cannot read"):
        read_packets(tmp_path / "missing")


@pytest.mark.skipif(not zig_available(), reason="ziglang is not installed")
def test_run_over_a_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_packets(tmp_path / "in.pcapng", sample())
    out = tmp_path / "out.pcap"
    assert main(["run", str(EXAMPLES / "xdp_bounce.c"), "--pcap", str(tmp_path / "in.pcapng"),
                 "--pcap-out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "run 3: retval 3 (XDP_TX)" in text and "run 1: retval 2 (XDP_PASS)" in text
    sent = read_packets(out)
    assert [p.timestamp for p in sent] == [p.timestamp for p in sample()]
    assert sent[0].data == sample()[0].data            # passed unchanged
    reply = parse(sent[2].data)
    assert (reply.icmp_type, reply.src, reply.dst, reply.checksums_ok) == (0, "10.0.0.2", "10.0.0.1", True)


def test_run_pcap_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.pcap").write_text("not a capture")
    assert main(["run", str(EXAMPLES / "xdp_bounce.c"), "--pcap", str(tmp_path / "in.pcap")]) == 2
    err = capsys.readouterr().err
    assert "not a pcap or pcapng" in err and len(err.strip().splitlines()) == 1


@pytest.mark.kernel
@pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) is not installed")
@pytest.mark.skipif(not zig_available(), reason="ziglang is not installed")
def test_attach_runs_the_attached_program_over_a_capture(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import os

    from pybpf.kernel.netns import in_netns
    from pybpf.toolchain import compile_c

    obj = compile_c(EXAMPLES / "xdp_bounce.c", tmp_path / "bounce.o")
    write_packets(tmp_path / "in.pcapng", sample())
    ns = f"pblb{os.getpid() % 10000}p"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=10)
        with in_netns(ns):
            status = main(["attach", str(obj), "--program", "xdp_bounce", "--xdp", "lo",
                           "--duration", "0.1", "--pcap", str(tmp_path / "in.pcapng"),
                           "--pcap-out", str(tmp_path / "out.pcapng")])
    finally:
        subprocess.run(["ip", "netns", "del", ns], timeout=10)
    assert status == 0
    assert "over 3 packets" in capsys.readouterr().err
    sent = read_packets(tmp_path / "out.pcapng")
    assert len(sent) == 3 and parse(sent[2].data).icmp_type == 0
