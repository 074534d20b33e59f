"""`pybpf inspect`: the text and JSON reports, and exit statuses for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybpf.cli.main import main

OBJECTS = Path(__file__).resolve().parent.parent / "data" / "objects"


def _json(capsys: pytest.CaptureFixture[str], name: str) -> dict:
    assert main(["inspect", str(OBJECTS / name), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    info = _json(capsys, "xdp_counter.o")
    progs = {p["name"]: p for p in info["programs"]}
    assert progs["count_packets"]["section"] == "xdp" and progs["count_packets"]["type"] == "xdp"
    assert progs["count_packets"]["subprogram_calls"] == 1
    assert 1 in progs["count_packets"]["helpers"]
    assert "bpf_map_lookup_elem" in progs["count_packets"]["helper_names"]
    maps = {m["name"]: m for m in info["maps"]}
    assert set(maps) == {"counts", "by_ip"}
    assert (maps["by_ip"]["type"], maps["by_ip"]["key_size"], maps["by_ip"]["max_entries"]) == ("hash", 8, 1024)
    data = {g["name"]: g for g in info["global_data"]}
    assert data[".rodata"]["read_only"] and data[".rodata"]["variables"][0] == {
        "name": "g_ro", "offset": 0, "size": 4, "value": 7}
    assert data[".data.custom"]["variables"][0]["value"] == "custom"
    assert info["btf"]["kinds"]["FUNC"] == 4
    relocs = {r["section"]: r for r in info["relocations"]}
    assert relocs["xdp"]["types"] == {"R_BPF_64_64": 3, "R_BPF_64_32": 2}


def test_json_report_map_in_map(capsys: pytest.CaptureFixture[str]) -> None:
    maps = {m["name"]: m for m in _json(capsys, "map_in_map.o")["maps"]}
    assert maps["outer"]["inner_map"]["type"] == "array"
    assert maps["outer"]["initial_slots"] == {"0": "inner_a", "2": "inner_b"}
    assert maps["jumps"]["initial_slots"] == {"1": "tail_a"}


def test_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(OBJECTS / "core.o")]) == 0
    out = capsys.readouterr().out
    assert "core_fields" in out and "syscall" in out
    assert "27 CO-RE relocations" in out


def test_bad_input_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.o"
    bad.write_bytes(b"\x7fELF" + bytes(10))
    assert main(["inspect", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "truncated ELF header" in err and len(err.strip().splitlines()) == 1
    assert main(["inspect", str(tmp_path / "missing.o")]) == 2
    assert "No such file" in capsys.readouterr().err


def test_btf_dump_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(OBJECTS / "map_in_map.o"), "--btf", "c"]) == 0
    out = capsys.readouterr().out
    assert "struct inner *values[0];" in out and "int (*values[0])(void *);" in out
    assert "int tail_a(void *ctx);" in out
    assert main(["inspect", str(OBJECTS / "map_in_map.o"), "--btf", "raw", "--json"]) == 0
    dump = json.loads(capsys.readouterr().out)["btf_dump"]
    assert any(line.startswith("[") and "DATASEC '.maps'" in line for line in dump)


def test_raw_btf_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.object import load_file

    raw = tmp_path / "obj.btf"
    raw.write_bytes(load_file(OBJECTS / "xdp_counter.o").btf.to_bytes())
    assert main(["inspect", str(raw), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["btf"]["kinds"]["STRUCT"] == 4
    assert main(["inspect", str(raw), "--btf", "header"]) == 0
    header = capsys.readouterr().out
    assert header.startswith("#ifndef __VMLINUX_H__") and "struct xdp_md {" in header
