"""`pybpf asm` and `pybpf disasm` driven through pybpf.cli.main.main."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.cli.main import main
from pybpf.isa import assemble, decode, encode

PROGRAM = """
    mov %r0, 0           # r0 = 0
    lddw %r1, 0x1122334455667788
loop:
    add %r0, 1
    jlt %r0, 3, loop
    call 1
    exit
"""
# Bytes written by hand: mov r0,0 | lddw (2 slots) | add r0,1 | jlt r0,3,-2 | call 1 | exit.
EXPECTED = bytes.fromhex(
    "b700000000000000"
    "1801000088776655"
    "0000000044332211"
    "0700000001000000"
    "a500feff03000000"
    "8500000001000000"
    "9500000000000000"
)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "prog.s"
    path.write_text(PROGRAM)
    return path


def test_asm_writes_raw_bytecode(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "prog.bin"
    assert main(["asm", str(source), "-o", str(out)]) == 0
    assert out.read_bytes() == EXPECTED
    assert capsys.readouterr().err == ""


def test_asm_hex_and_words_formats(
    source: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["asm", str(source), "--format", "hex"]) == 0
    lines = capsysbinary.readouterr().out.decode().splitlines()
    assert lines[0] == "b7 00 00 00 00 00 00 00" and len(lines) == 7
    assert main(["asm", str(source), "--format", "words"]) == 0
    words = capsysbinary.readouterr().out.decode().split()
    assert words[1] == "0x5566778800000118"


def test_asm_to_redirected_stdout_is_raw(
    source: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["asm", str(source)]) == 0
    assert capsysbinary.readouterr().out == EXPECTED


def test_asm_error_is_one_line_with_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.s"
    bad.write_text("mov %r0, 1\n  frob %r0\n")
    assert main(["asm", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"pybpf asm: {bad}:2:3: unknown mnemonic 'frob'\n"


@pytest.mark.parametrize(
    "content,fragment",
    [(b"", "no instructions"), (b"\xff\xfe\x00", "not UTF-8"), (b"\x7fELF\x02\x01", "ELF object")],
)
def test_asm_bad_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, fragment: str
) -> None:
    path = tmp_path / "x.s"
    path.write_bytes(content)
    assert main(["asm", str(path)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_asm_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["asm", "/nonexistent/prog.s"]) == 2
    err = capsys.readouterr().err
    assert "/nonexistent/prog.s" in err and err.count("\n") == 1


def test_asm_syntax_option(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = tmp_path / "p.s"
    path.write_text("r0 = 1\nexit\n")
    assert main(["asm", str(path), "--syntax", "llvm"]) == 0
    assert capsysbinary.readouterr().out == bytes.fromhex("b7000000010000009500000000000000")
    assert main(["asm", str(path), "--syntax", "ubpf"]) == 2


def test_disasm_raw_listing_has_slots_and_reassembles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "prog.bin"
    path.write_bytes(EXPECTED)
    assert main(["disasm", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "0: (b7) r0 = 0x0"
    assert lines[1] == "1: (18) r1 = 0x1122334455667788 ll"
    assert lines[2] == "3: (07) r0 += 0x1"
    assert lines[3] == "4: (a5) if r0 < 0x3 goto -2"
    assert lines[4] == "5: (85) call bpf_map_lookup_elem"
    assert encode(assemble(out, helper_ids={"bpf_map_lookup_elem": 1})) == EXPECTED
    assert main(["disasm", str(path), "--syntax", "ubpf", "--no-helper-names"]) == 0
    out = capsys.readouterr().out
    assert "4: (a5) jlt %r0, 0x3, -2" in out and "5: (85) call 1" in out
    assert encode(assemble(out, syntax="ubpf")) == EXPECTED


def test_disasm_truncated_bytecode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.bin"
    path.write_bytes(EXPECTED[:13])
    assert main(["disasm", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not a multiple of 8" in err and err.count("\n") == 1


def test_disasm_invalid_opcode_is_printed_not_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "i.bin"
    path.write_bytes(bytes.fromhex("0e000000000000009500000000000000"))
    assert main(["disasm", str(path)]) == 0
    out = capsys.readouterr().out
    assert "invalid opcode 0x0e" in out
    assert decode(path.read_bytes()) == assemble(out)


def test_disasm_elf_object(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from testlib import shared_path

    folder = shared_path("ebpf-samples")
    objects = sorted(p for p in folder.rglob("*.o") if p.stat().st_size < 20000)
    from pybpf.errors import BpfError
    from pybpf.object import load_file

    for obj in objects:
        try:
            spec = load_file(obj)
        except BpfError:
            continue
        if spec.programs:
            break
    else:
        pytest.skip("no loadable object among the samples")
    assert main(["disasm", str(obj)]) == 0
    out = capsys.readouterr().out
    first = next(iter(spec.programs.values()))
    assert any(line.startswith(f"; program {first.name}, section ") for line in out.splitlines())
    assert main(["disasm", str(obj), "--program", first.name]) == 0
    listing = capsys.readouterr().out
    assert encode(assemble(listing, helper_ids=_ids())) == encode(first.instructions)
    assert main(["disasm", str(obj), "--json"]) == 0
    import json

    objects = json.loads(capsys.readouterr().out)
    assert [o["program"] for o in objects] == list(spec.programs)
    assert len(objects[0]["instructions"]) == len(first.instructions)
    assert main(["disasm", str(obj), "--program", "no_such_prog"]) == 2
    assert "no program 'no_such_prog'" in capsys.readouterr().err


def _ids() -> dict[str, int]:
    from pybpf.helpers import HELPERS

    return {p.full_name: i for i, p in HELPERS.items()}


def test_disasm_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "prog.bin"
    path.write_bytes(EXPECTED)
    assert main(["disasm", str(path), "--labels"]) == 0
    out = capsys.readouterr().out
    assert "L3:" in out.splitlines() and "4: (a5) if r0 < 0x3 goto L3" in out
    assert encode(assemble(out, helper_ids={"bpf_map_lookup_elem": 1})) == EXPECTED


@pytest.mark.parametrize("form", ["hex", "words"])
def test_disasm_reads_hex_text_from_asm(
    form: str, source: Path, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["asm", str(source), "--format", form]) == 0
    text = tmp_path / "prog.txt"
    text.write_bytes(capsysbinary.readouterr().out)
    assert main(["disasm", str(text), "--syntax", "ubpf"]) == 0
    out = capsysbinary.readouterr().out.decode()
    assert encode(assemble(out, syntax="ubpf")) == EXPECTED


@pytest.mark.parametrize(
    "data,expected",
    [
        (b"b7 00 00 00 01 00 00 00\n", bytes.fromhex("b700000001000000")),
        (b"b700000001000000", bytes.fromhex("b700000001000000")),
        (b"0x00000001000000b7\n0x0000000000000095", bytes.fromhex("b70000000100000095" + "00" * 7)),
        (b"0xb7 00", None),
        (b"abc", None),
        (b"hello", None),
        (b"", None),
    ],
)
def test_hex_text_bytes(data: bytes, expected: bytes | None) -> None:
    from pybpf.cli.disasm import hex_text_bytes

    assert hex_text_bytes(data) == expected


def test_asm_of_a_conformance_data_file(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    data = tmp_path / "t.data"
    data.write_text("# comment\n-- asm\nmov %r0, 1\nexit\n-- result\n0x1\n")
    assert main(["asm", str(data)]) == 0
    assert capsysbinary.readouterr().out == bytes.fromhex("b7000000010000009500000000000000")
    data.write_text("-- asm\nmov %r0, 1\nfrob\n-- result\n0x1\n")
    assert main(["asm", str(data)]) == 2
    assert f"{data}:3:1: unknown mnemonic 'frob'" in capsysbinary.readouterr().err.decode()


def test_disasm_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    path = tmp_path / "prog.bin"
    path.write_bytes(EXPECTED)
    assert main(["disasm", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["pc"] for row in rows] == [0, 1, 3, 4, 5, 6]
    assert rows[1]["imm"] == 0x1122334455667788 and rows[1]["opcode"] == 0x18
    assert rows[3] == {
        "pc": 4, "opcode": 0xA5, "dst": 0, "src": 0, "off": -2, "imm": 3,
        "text": "if r0 < 0x3 goto -2", "target": 3,
    }  # fmt: skip
