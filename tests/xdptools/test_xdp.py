"""`pybpf xdp load|unload|status`: several XDP programs on one veth, chained by priority."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from veth import Udp, veth_pair

from pybpf.cli.main import main
from pybpf.kernel.netns import in_netns
from pybpf.toolchain import zig_available

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) is not installed"),
    pytest.mark.skipif(not zig_available(), reason="ziglang is not installed"),
]

DATA = Path(__file__).with_name("data")


def udp_seen(prog_id: int) -> int:
    """The `seen` counter of the xdp_count program with this id."""
    from pybpf.kernel.info import fd_by_id, prog_info
    from pybpf.kernel.maps import KernelMap

    fd = fd_by_id("prog", prog_id)
    try:
        for map_id in prog_info(fd.fd).map_ids:
            m = KernelMap.open(map_id)
            try:
                if m.spec.name == "seen":
                    return int.from_bytes(m[0], "little")  # type: ignore[arg-type]
            finally:
                m.close()
    finally:
        fd.close()
    raise AssertionError("no seen map")


def status_elsewhere(ns: str) -> dict:
    """`pybpf xdp status` from another process in the receiver's namespace."""
    out = subprocess.run(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-m", "pybpf",
                          "xdp", "status", "vb", "--json"], capture_output=True, text=True,
                         timeout=60, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(shutil.which("nsenter") is None, reason="nsenter (util-linux) is not installed")
def test_programs_run_in_priority_order_and_chain_on_pass(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.toolchain import compile_c
    from pybpf.xdptools.dispatcher import Dispatcher

    count = str(compile_c(DATA / "xdp_count.c", tmp_path / "count.o"))
    drop9 = str(compile_c(DATA / "xdp_drop9.c", tmp_path / "drop9.o"))
    with veth_pair("x") as (tx, rx):
        udp = Udp(tx, rx, (9, 8080))
        try:
            with in_netns(rx):
                assert main(["xdp", "load", "vb", count, "--priority", "10"]) == 0
                assert main(["xdp", "load", "vb", drop9, "--priority", "20"]) == 0
                programs = Dispatcher("vb").programs()
            assert [p.entry.name for p in programs] == ["xdp_count", "xdp_drop9"]
            count_id = programs[0].entry.prog_id
            udp.send(9)
            udp.send(8080)
            assert (udp.received(9), udp.received(8080)) == (0, 3)
            assert udp_seen(count_id) == 6  # the counter passed (a chain action) to the dropper

            # the dropper moves in front: what it drops never reaches the counter
            with in_netns(rx):
                assert main(["xdp", "unload", "vb", "--name", "xdp_drop9"]) == 0
                assert main(["xdp", "load", "vb", drop9, "--priority", "5"]) == 0
            status = status_elsewhere(rx)
            assert status["dispatcher"] is True
            assert [(p["name"], p["priority"]) for p in status["programs"]] == [
                ("xdp_drop9", 5), ("xdp_count", 10)]
            udp.send(9)
            udp.send(8080)
            assert (udp.received(9), udp.received(8080)) == (0, 3)
            assert udp_seen(count_id) == 9

            # chain actions: a counter that does not chain on pass ends the chain
            with in_netns(rx):
                assert main(["xdp", "load", "vb", count, "--priority", "1",
                             "--chain-actions", "drop"]) == 0
            udp.send(9)
            assert udp.received(9) == 3 and udp_seen(count_id) == 9

            with in_netns(rx):
                assert main(["xdp", "unload", "vb", "--all"]) == 0
                path = Dispatcher("vb").path
            assert not os.path.exists(path)
            udp.send(9)
            assert udp.received(9) == 3  # nothing attached any more
            capsys.readouterr()
            assert status_elsewhere(rx)["dispatcher"] is False
        finally:
            udp.close()
            with in_netns(rx):
                d = Dispatcher("vb")
                if d.exists:
                    d.unload(everything=True)


def test_bad_requests_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with veth_pair("e") as (_tx, rx), in_netns(rx):
        assert main(["xdp", "unload", "vb", "--all"]) == 2
        assert "no pybpf XDP dispatcher on vb" in capsys.readouterr().err
        assert main(["xdp", "load", "vb", str(DATA / "xdp_count.c"), "--chain-actions", "bogus"]) == 2
        assert "unknown XDP action 'bogus'" in capsys.readouterr().err
        assert main(["xdp", "load", "nosuchif0", str(DATA / "xdp_count.c")]) == 2
        assert capsys.readouterr().err.count("\n") == 1
