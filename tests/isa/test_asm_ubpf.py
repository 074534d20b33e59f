"""The uBPF / bpf_conformance assembly syntax: the shared corpora and hand-checked encodings."""

from __future__ import annotations

from pathlib import Path

import pytest
from isa_corpus import raw_words, sections

from pybpf.errors import AssemblyError
from pybpf.isa import assemble, encode
from testlib import shared_path


def _data_files(folder: str) -> list[Path]:
    return sorted(shared_path(folder).glob("*.data"))


def test_every_conformance_program_assembles() -> None:
    files = _data_files("conformance/tests")
    assert len(files) == 313
    for path in files:
        insns = assemble(sections(path)["asm"], syntax="ubpf")
        assert insns, path.name


def test_conformance_raw_section_matches() -> None:
    path = shared_path("conformance/tests/lddw.data")
    parts = sections(path)
    assert encode(assemble(parts["asm"], syntax="ubpf")) == raw_words(parts["raw"])


def test_ubpf_asm_raw_pairs_match() -> None:
    pairs = 0
    for path in _data_files("ubpf-tests"):
        parts = sections(path)
        if "asm" in parts and "raw" in parts:
            assert encode(assemble(parts["asm"], syntax="ubpf")) == raw_words(parts["raw"]), (
                path.name
            )
            pairs += 1
    assert pairs >= 6


def test_ubpf_linked_asm_files_assemble() -> None:
    for name in ("tcp-port-80.asm", "tcp-sack.asm"):
        assert assemble(shared_path("ubpf-tests", name).read_text(), syntax="ubpf")


def _hex(text: str) -> str:
    return encode(assemble(text, syntax="ubpf")).hex()


# Expected bytes written by hand from RFC 9669's layout: opcode, dst|src<<4, off (le16), imm (le32).
@pytest.mark.parametrize(
    "text,expected",
    [
        ("mov %r0, 1", "b700000001000000"),
        ("mov r0, 1", "b700000001000000"),
        ("mov32 %r1, %r2", "bc21000000000000"),
        ("add32 %r9, 0xffffffff", "04090000ffffffff"),
        ("neg %r3", "8703000000000000"),
        ("sdiv %r1, %r2", "3f21010000000000"),
        ("smod32 %r1, 3", "9401010003000000"),
        ("movsx832 %r1, %r2", "bc21080000000000"),
        ("movsx3264 %r1, %r2", "bf21200000000000"),
        ("le16 %r1", "d401000010000000"),
        ("be64 %r1", "dc01000040000000"),
        ("bswap32 %r1", "d701000020000000"),
        ("swap16 %r1", "d701000010000000"),
        ("ldxw %r0, [%r1+4]", "6110040000000000"),
        ("ldxdw %r0, [%r10-8]", "79a0f8ff00000000"),
        ("ldxsb %r0, [%r1]", "9110000000000000"),
        ("ldxsh %r0, [%r1+0x2]", "8910020000000000"),
        ("ldxsw %r0, [%r1]", "8110000000000000"),
        ("stb [%r1+2], 7", "7201020007000000"),
        ("stdw [%r10-16], -1", "7a0af0ffffffffff"),
        ("stxh [%r1], %r2", "6b21000000000000"),
        ("jeq %r1, 2, +3", "1501030002000000"),
        ("jsle32 %r1, %r2, -1", "de21ffff00000000"),
        ("ja32 +5", "0600000005000000"),
        ("call 5", "8500000005000000"),
        ("call helper 5", "8500000005000000"),
        ("call %r2", "8d02000000000000"),
        ("call local +2", "8510000002000000"),
        ("exit", "9500000000000000"),
        ("lddw %r0, 0x1122334455667788", "18000000887766550000000044332211"),
        ("lddw %r1, -2", "18010000feffffff00000000ffffffff"),
        ("lock add [%r10-8], %r1", "db1af8ff00000000"),
        ("lock fetch add32 [%r10-4], %r1", "c31afcff01000000"),
        ("lock fetch xor [%r1], %r2", "db210000a1000000"),
        ("lock xchg [%r1], %r2", "db210000e1000000"),
        ("lock cmpxchg32 [%r1+8], %r2", "c3210800f1000000"),
        ("ldabsw 0x10", "2000000010000000"),
        ("ldindb %r3, 4", "5030000004000000"),
        (".insn 0x06, 0, 0, 0, 0", "0600000000000000"),
    ],
)
def test_encoding(text: str, expected: str) -> None:
    assert _hex(text) == expected


def test_labels_count_slots_and_lddw_is_two() -> None:
    text = "ja skip\nlddw %r0, 1\nskip:\nexit"
    insns = assemble(text, syntax="ubpf")
    assert insns[0].off == 2


def test_implicit_exit_label_is_first_exit() -> None:
    text = "jeq %r1, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit"
    assert assemble(text, syntax="ubpf")[0].off == 1


def test_explicit_exit_label_wins() -> None:
    text = "ja exit\nexit\nexit:\nexit"
    assert assemble(text, syntax="ubpf")[0].off == 1


def test_ja32_and_local_call_targets_go_to_imm() -> None:
    insns = assemble("ja32 end\ncall local end\nmov %r0, 0\nend:\nexit", syntax="ubpf")
    assert (insns[0].imm, insns[0].off) == (2, 0)
    assert (insns[1].imm, insns[1].src) == (1, 1)


def test_label_and_instruction_on_one_line() -> None:
    insns = assemble("top: mov %r0, 0\nja top", syntax="ubpf")
    assert insns[1].off == -2


@pytest.mark.parametrize(
    "text,line,column,fragment",
    [
        ("mov %r0, 1\nfrob %r0", 2, 1, "'frob'"),
        ("mov %r0,", 1, 9, "end of line"),
        ("mov %r0, %r1 %r2", 1, 14, "'%r2'"),
        ("ldxw %r0, [%r1+70000]", 1, 15, "16 bits"),
        ("mov %r0, 0x100000000", 1, 10, "32 bits"),
        ("ja nowhere", 1, 4, "'nowhere'"),
        ("x:\nx:\nexit", 2, 1, "'x'"),
        ("lock frob [%r1], %r2", 1, 6, "'frob'"),
        ("mov %r16, 1", 1, 5, "'%r16'"),
        ("mov %r0, 12abc", 1, 10, "'12abc'"),
        ("stw [%r1+2] 5 5", 1, 15, "'5'"),
        ("exit ?", 1, 6, "'?'"),
    ],
)
def test_errors_name_line_column_and_token(
    text: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(AssemblyError) as info:
        assemble(text, syntax="ubpf")
    assert (info.value.line, info.value.column) == (line, column)
    assert fragment in str(info.value)


def test_every_ubpf_asm_section_assembles_error_cases_included() -> None:
    # uBPF's error cases fail at load or run time (bad jumps, r11, unknown helpers ...), never in
    # its assembler, so all of them must assemble; `-- asm @ FILE` names a file next to the test.
    folder = shared_path("ubpf-tests")
    count = 0
    for path in sorted(folder.glob("*.data")) + [folder / "err-write-r10.dst"]:
        parts = sections(path)
        link = next((name for name in parts if name.startswith("asm @")), None)
        text = (folder / link.split("@", 1)[1].strip()).read_text() if link else parts.get("asm")
        if text is None:
            continue
        assert assemble(text, syntax="ubpf"), path.name
        count += 1
    assert count >= 70


def test_register_beyond_r10_assembles_for_invalid_program_tests() -> None:
    (insn,) = assemble("mov %r11, 1", syntax="ubpf")
    assert insn.dst == 11
