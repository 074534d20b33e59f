"""`pybpf map lookup|update|delete|pin` on live kernel maps, and `--map NAME KEY=VALUE` of `run`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pybpf.cli.main import main

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.kernel
def test_update_lookup_delete_pin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.kernel.info import map_info
    from pybpf.kernel.kernel_engine import load_collection
    from pybpf.kernel.pin import unpin
    from pybpf.object import load_file
    from pybpf.toolchain import compile_c

    spec = load_file(compile_c(DATA / "decode_maps.c", tmp_path / "m.o"))
    pin = f"/sys/fs/bpf/pbfront_map_edit_{os.getpid()}"
    with load_collection(spec) as coll:
        m = coll.maps["by_task"]
        mid = str(map_info(m.fd).id)
        # JSON through BTF: a struct key, an integer value
        assert _cli(capsys, "map", "update", mid, "key", "json", '{"tgid": 7, "nr": 9}',
                    "value", "json", "42")[0] == 0
        assert m[(7).to_bytes(4, "little") + (9).to_bytes(4, "little")] == (42).to_bytes(8, "little")
        # bpftool's byte forms: one token per byte, or hex
        assert _cli(capsys, "map", "update", mid, "key", "0x01", "0", "0", "0", "2", "0", "0", "0",
                    "value", "hex", "0500000000000000", "noexist")[0] == 0
        status, out, _ = _cli(capsys, "map", "lookup", mid, "key", "hex", "01000000", "02000000")
        assert status == 0 and out.strip() == 'key: {"tgid": 1, "nr": 2}  value: 5'
        status, out, _ = _cli(capsys, "map", "lookup", mid, "key", "json", '{"tgid": 7, "nr": 9}', "--json")
        assert status == 0 and json.loads(out)["formatted"] == {"key": {"tgid": 7, "nr": 9}, "value": 42}
        # noexist on an existing key is the kernel's EEXIST: one line, failure status
        status, _, err = _cli(capsys, "map", "update", mid, "key", "json", '{"tgid": 7, "nr": 9}',
                              "value", "json", "1", "noexist")
        assert status == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert _cli(capsys, "map", "pin", mid, pin)[0] == 0
        try:
            assert _cli(capsys, "map", "delete", pin, "key", "json", '{"tgid": 7, "nr": 9}')[0] == 0
            status, _, err = _cli(capsys, "map", "lookup", pin, "key", "json", '{"tgid": 7, "nr": 9}')
            assert status == 1 and "key not found" in err
            assert len(m) == 1
        finally:
            unpin(pin)


@pytest.mark.kernel
@pytest.mark.parametrize(("words", "message"), [
    (["key", "1", "2"], "2 bytes given, the map's key has 8"),
    (["key", "0x100"], "does not fit in a byte"),
    (["key", "json", '{"tgid": 1}', "value"], "update needs"),
    (["value", "1"], "expected: key"),
])
def test_bad_keys_are_one_line(words: list[str], message: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.kernel.info import map_info
    from pybpf.kernel.kernel_engine import load_collection
    from pybpf.object import load_file
    from pybpf.toolchain import compile_c

    spec = load_file(compile_c(DATA / "decode_maps.c", tmp_path / "m.o"))
    with load_collection(spec) as coll:
        mid = str(map_info(coll.maps["by_task"].fd).id)
        status, _, err = _cli(capsys, "map", "update", mid, *words)
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1


def test_run_map_option_blocks_a_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.hooks.packets import tcp_packet

    pkt = tmp_path / "pkt.bin"
    pkt.write_bytes(tcp_packet(dport=22))
    fw = str(ROOT / "examples" / "xdp_firewall.c")
    status, out, _ = _cli(capsys, "run", fw, "--data-in", str(pkt), "--map", "blocked_ports", "22=0",
                          "--json")
    assert status == 0
    result = json.loads(out)
    assert result["runs"][0]["retval"] == 1  # XDP_DROP
    blocked = next(m for m in result["maps"] if m["name"] == "blocked_ports")["entries"]
    assert [e["formatted"] for e in blocked] == [{"key": 22, "value": 1}]
    status, _, err = _cli(capsys, "run", fw, "--data-in", str(pkt), "--map", "blocked_ports", "x=y")
    assert status == 2 and "--map blocked_ports key" in err
