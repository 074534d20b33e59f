"""Split BTF (kernel modules), type replacement, and loader errors that name the missing piece."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pybpf.btf import Btf, BtfType, Kind, Member
from pybpf.btf.btf import BTF_MAGIC, HEADER
from pybpf.errors import ObjectError
from pybpf.object import load_bytes

OBJECTS = Path(__file__).resolve().parent.parent / "data" / "objects"


def _base() -> Btf:
    return Btf.parse(Btf.from_types([
        BtfType(0, Kind.INT, "int", size=4, bits=32, encoding=1),  # 1
        BtfType(0, Kind.PTR, type_id=1),                          # 2
    ]).to_bytes())


def test_split_btf_continues_ids_and_strings() -> None:
    base = _base()
    strings = b"\0mod_struct\0field\0"
    base_len = len(base.string_table)
    # STRUCT mod_struct { int *field; } as type 3, names offset past the base's string table
    types = struct.pack("<III", base_len + 1, (int(Kind.STRUCT) << 24) | 1, 8)
    types += struct.pack("<III", base_len + 12, 2, 0)
    blob = HEADER.pack(BTF_MAGIC, 1, 0, HEADER.size, 0, len(types), len(types), len(strings)) + types + strings
    split = Btf.parse(blob, base=base)
    assert split.start_id == 3 and len(split) == 4
    t = split.find("mod_struct", Kind.STRUCT)
    assert t is not None and t.id == 3 and t.members == (Member("field", 2, 0),)
    assert split[2].kind == Kind.PTR and split.sizeof(3) == 8
    assert split.find("int", Kind.INT) == base[1]  # lookups reach the base


def test_with_types_replaces_and_reindexes_names() -> None:
    btf = _base()
    renamed = btf.with_types({1: BtfType(0, Kind.INT, "long", size=8, bits=64, encoding=1)})
    assert renamed.find("long") is not None and renamed.find("int") is None
    assert btf.find("int") is not None  # the original is unchanged
    assert renamed.sizeof(2) == 8 and renamed[1].id == 1
    with pytest.raises(ObjectError, match="does not exist"):
        btf.with_types({9: BtfType(0, Kind.INT, "x", size=1, bits=8)})


def test_btf_maps_without_btf_are_an_error() -> None:
    from pybpf.object.elf import ElfFile

    data = bytearray((OBJECTS / "xdp_counter.o").read_bytes())
    elf = ElfFile(bytes(data))
    sec = elf.section_by_name(".BTF")
    assert sec is not None
    header = struct.unpack_from("<Q", data, 0x28)[0] + 64 * sec.index
    struct.pack_into("<I", data, header, struct.unpack_from("<I", data, header)[0] + 1)  # ".BTF" -> "BTF"
    with pytest.raises(ObjectError, match="'.maps' needs BTF"):
        load_bytes(bytes(data), "nobtf.o")


def test_corrupt_btf_ext_is_an_error() -> None:
    data = bytearray((OBJECTS / "calls.o").read_bytes())
    from pybpf.object.elf import ElfFile

    sec = ElfFile(bytes(data)).section_by_name(".BTF.ext")
    assert sec is not None
    struct.pack_into("<I", data, sec.offset + 12, 0xFFFF)  # func_info length past the end
    with pytest.raises(ObjectError, match="func_info"):
        load_bytes(bytes(data), "badext.o")
