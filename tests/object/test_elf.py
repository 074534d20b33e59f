"""ELF64 parser: sections, symbols, relocations, and precise ObjectErrors for malformed files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pybpf.errors import ObjectError
from pybpf.object.elf import EM_BPF, SHT_PROGBITS, SHT_SYMTAB, STT_FUNC, ElfFile

OBJECTS = Path(__file__).resolve().parent.parent / "data" / "objects"


def _data(name: str = "xdp_counter.o") -> bytes:
    return (OBJECTS / name).read_bytes()


def test_sections_symbols_relocations() -> None:
    elf = ElfFile(_data(), "xdp_counter.o")
    names = [s.name for s in elf.sections]
    for expected in (".text", "xdp", "tc", ".maps", ".data", ".rodata", ".bss", ".data.custom", "license", ".BTF"):
        assert expected in names
    xdp = elf.section_by_name("xdp")
    assert xdp is not None and xdp.type == SHT_PROGBITS and xdp.is_exec and xdp.size % 8 == 0
    assert elf.symtab is not None and elf.symtab.type == SHT_SYMTAB
    funcs = {s.name for s in elf.symbols if s.type == STT_FUNC}
    assert {"count_packets", "pass_all", "tc_prog", "helper"} <= funcs
    rels = {target.name: elf.relocations(rel) for rel, target in elf.relocation_sections()}
    assert {r.symbol.name for r in rels["xdp"]} >= {"counts", "g_bss"}
    assert all(r.offset % 8 == 0 for r in rels["xdp"])


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def _shoff(data: bytes) -> int:
    return struct.unpack_from("<Q", data, 0x28)[0]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: b"", "not an ELF file"),
        (lambda d: b"\x7fELF", "truncated ELF header"),
        (lambda d: b"MZ" + d[2:], "not an ELF file"),
        (lambda d: d[:4] + b"\x01" + d[5:], "not a 64-bit ELF"),
        (lambda d: d[:5] + b"\x02" + d[6:], "big-endian"),
        (lambda d: _patch(d, 18, "<H", 62), "e_machine is 62, not EM_BPF"),
        (lambda d: _patch(d, 16, "<H", 2), "not a relocatable object"),
        (lambda d: _patch(d, 0x28, "<Q", len(d) + 100), "past the end of the file"),
        (lambda d: _patch(d, 0x3A, "<H", 40), "section header entry size is 40"),
        (lambda d: _patch(d, 0x3E, "<H", 5000), "section name table index 5000 out of range"),
        (lambda d: d[: _shoff(d) + 64 * 3], "runs past the end of the file"),
    ],
)
def test_malformed_headers(mutate, message: str) -> None:
    with pytest.raises(ObjectError, match=message):
        ElfFile(mutate(_data()), "x.o")


def test_section_past_end_names_the_section() -> None:
    data = _data()
    elf = ElfFile(data)
    sec = elf.section_by_name("xdp")
    assert sec is not None
    # sh_size of section `sec` lives at shoff + index*64 + 32.
    bad = _patch(data, _shoff(data) + sec.index * 64 + 32, "<Q", len(data))
    with pytest.raises(ObjectError, match=f"section {sec.index} .* runs past the end"):
        ElfFile(bad)


def test_symbol_table_entry_size_checked() -> None:
    data = _data()
    elf = ElfFile(data)
    assert elf.symtab is not None
    bad = _patch(data, _shoff(data) + elf.symtab.index * 64 + 56, "<Q", 8)
    with pytest.raises(ObjectError, match="symbol table entry size is 8"):
        _ = ElfFile(bad).symbols


def test_relocation_symbol_index_checked() -> None:
    data = _data()
    elf = ElfFile(data)
    rel, _target = next((r, t) for r, t in elf.relocation_sections() if t.name == "xdp")
    # r_info of the first entry: symbol index in the high 32 bits.
    bad = _patch(data, rel.offset + 8, "<Q", (99999 << 32) | 1)
    with pytest.raises(ObjectError, match="symbol index 99999 out of range"):
        ElfFile(bad).relocations(rel)


def test_em_bpf_constant() -> None:
    assert EM_BPF == 247
    assert struct.unpack_from("<H", _data(), 18)[0] == EM_BPF
