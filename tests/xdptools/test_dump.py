"""`pybpf dump`: packets captured at XDP entry into pcapng that tcpdump reads."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from veth import Udp, veth_pair

from pybpf.kernel.netns import in_netns
from pybpf.toolchain import zig_available

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) is not installed"),
    pytest.mark.skipif(not zig_available(), reason="ziglang is not installed"),
]

DATA = Path(__file__).with_name("data")


def udp_to(packets: list, port: int) -> list[bytes]:
    return [p.data for p in packets if len(p.data) >= 38 and p.data[12:14] == b"\x08\x00"
            and p.data[23] == 17 and int.from_bytes(p.data[36:38], "big") == port]


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
def test_dump_cli_writes_pcapng_tcpdump_reads(tmp_path: Path) -> None:
    out = tmp_path / "cap.pcapng"
    with veth_pair("d") as (tx, rx):
        udp = Udp(tx, rx, (8080,))
        proc = subprocess.Popen([sys.executable, "-m", "pybpf", "dump", "--interface", "vb",
                                 "--netns", rx, "-w", str(out), "--duration", "3"],
                                stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stderr is not None
            assert "listening on vb" in proc.stderr.readline()
            udp.send(8080)
            _, err = proc.communicate(timeout=30)
            assert udp.received(8080) == 3  # the capture passes packets on
        finally:
            if proc.poll() is None:
                proc.kill()
            udp.close()
        assert proc.returncode == 0, err
        assert "packets captured, 0 lost" in err
    text = subprocess.run(["tcpdump", "-nr", str(out)], capture_output=True, text=True,
                          timeout=20).stdout
    lines = [line for line in text.splitlines() if "> 10.201.0.2.8080: UDP" in line]
    assert len(lines) == 3 and all("10.201.0.1." in line for line in lines)


def test_dump_joins_the_dispatcher_chain_in_front(tmp_path: Path) -> None:
    from pybpf.object import load_file
    from pybpf.toolchain import compile_c
    from pybpf.xdptools.dispatcher import Dispatcher
    from pybpf.xdptools.dump import XdpDump

    drop9 = load_file(compile_c(DATA / "xdp_drop9.c", tmp_path / "drop9.o"))
    with veth_pair("j") as (tx, rx):
        udp = Udp(tx, rx, (9, 8080))
        with in_netns(rx):
            dispatcher = Dispatcher("vb")
            dispatcher.load(drop9)
        try:
            with XdpDump("vb", netns=rx, snaplen=40) as dump:
                with in_netns(rx):
                    names = [p.entry.name for p in Dispatcher("vb").programs()]
                assert names == ["xdp_dump", "xdp_drop9"]
                udp.send(9)
                udp.send(8080)
                got = []
                for _ in range(20):
                    got += dump.packets(0.1)
                    if len(udp_to(got, 9)) + len(udp_to(got, 8080)) >= 6:
                        break
            # seen at XDP entry, before the dropper: the dropped datagrams too, cut to 40 bytes
            assert len(udp_to(got, 9)) == 3 and len(udp_to(got, 8080)) == 3
            assert all(len(p.data) == 40 and p.length == 52 for p in got
                       if p.data in udp_to(got, 9))
            assert (udp.received(9), udp.received(8080)) == (0, 3)
            with in_netns(rx):
                assert [p.entry.name for p in Dispatcher("vb").programs()] == ["xdp_drop9"]
        finally:
            udp.close()
            with in_netns(rx):
                Dispatcher("vb").unload(everything=True)


def test_dump_refuses_a_foreign_xdp_program(tmp_path: Path) -> None:
    from pybpf.errors import BpfError
    from pybpf.kernel.engine import load_collection
    from pybpf.kernel.links import attach_xdp
    from pybpf.object import load_file
    from pybpf.toolchain import compile_c
    from pybpf.xdptools.dump import XdpDump

    spec = load_file(compile_c(DATA / "xdp_drop9.c", tmp_path / "drop9.o"))
    with veth_pair("f") as (_tx, rx), load_collection(spec, pin_path=None) as coll:
        with in_netns(rx):
            link = attach_xdp(coll.programs["xdp_drop9"], "vb")
        try:
            with pytest.raises(BpfError, match="fentry/fexit"):
                XdpDump("vb", netns=rx).start()
        finally:
            link.close()


def test_dump_bad_arguments() -> None:
    from pybpf.cli.main import main

    assert main(["dump", "--interface", "vb", "--netns", "pblbnosuchns"]) == 2
    assert main(["dump", "--interface", "nosuchif0", "--snaplen", "0"]) == 2
