"""`pybpf verify`: exit codes, text and JSON output, program selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybpf.cli.main import main

DATA = Path(__file__).resolve().parent.parent / "data" / "verifier" / "asm"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["verify", *argv])
    return code, capsys.readouterr().out


def test_accepted_program_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, str(DATA / "xdp_packet_ok.s"), "--type", "xdp")
    assert code == 0 and "accepted" in out


def test_rejected_program_exits_1_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, str(DATA / "xdp_packet_overflow.s"), "--type", "xdp", "--json")
    assert code == 1
    items = json.loads(out)
    assert isinstance(items, list) and len(items) == 1
    item = items[0]
    assert item["accepted"] is False and item["insn"] == 6
    assert item["message"].startswith("invalid access to packet, off=13 size=2")
    assert {"program", "section", "processed_insns"} <= set(item)


def test_single_program_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, str(DATA / "stack_ok.s"), "--type", "xdp", "--program", "stack_ok", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["accepted"] is True and obj["processed_insns"] == 3 and obj["insn"] is None


def test_unprivileged_and_log(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "leak.s"
    src.write_text("r0 = r10\nexit\n")
    assert run(capsys, str(src), "--type", "socket_filter")[0] == 0
    code, out = run(capsys, str(src), "--type", "socket_filter", "--unprivileged", "--log")
    assert code == 1 and "R0 leaks addr as return value" in out and "0: (bf) r0 = r10" in out


def test_bytecode_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from pybpf.isa import assemble, encode

    path = tmp_path / "prog.bin"
    path.write_bytes(encode(assemble("r0 = 1\nexit")))
    assert run(capsys, str(path), "--type", "xdp")[0] == 0


def test_unusable_input_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["verify", str(tmp_path / "missing.o")]) == 2
    bad = tmp_path / "bad.s"
    bad.write_text("this is not assembly\n")
    assert main(["verify", str(bad)]) == 2
    assert main(["verify", str(DATA / "stack_ok.s"), "--program", "nope"]) == 2
    with pytest.raises(SystemExit) as info:
        main(["verify", str(DATA / "stack_ok.s"), "--type", "nonsense"])
    assert info.value.code == 2


def test_json_verdicts_stream_as_decided(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    import pybpf.verifier as verifier_pkg
    from pybpf.abi import ProgramType
    from pybpf.isa import assemble, encode
    from pybpf.object.spec import CollectionSpec, ProgramSpec

    insns = tuple(assemble("r0 = 2\nexit"))
    spec = CollectionSpec(programs={"first": ProgramSpec("first", insns, type=ProgramType.XDP),
                                    "second": ProgramSpec("second", insns, type=ProgramType.XDP)})
    monkeypatch.setattr("pybpf.cli.verify._load", lambda path, ptype: spec)
    real = verifier_pkg.verify
    seen_before_second: list[str] = []

    def spy(prog: ProgramSpec, *a: object, **kw: object) -> object:
        if prog.name == "second":
            seen_before_second.append(capsys.readouterr().out)
        return real(prog, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(verifier_pkg, "verify", spy)
    (tmp_path / "x.bin").write_bytes(encode(list(insns)))
    code = main(["verify", str(tmp_path / "x.bin"), "--json"])
    rest = capsys.readouterr().out
    assert code == 0
    assert '"program": "first"' in seen_before_second[0]
    items = json.loads(seen_before_second[0] + rest)
    assert [i["program"] for i in items] == ["first", "second"]
