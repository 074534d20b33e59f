"""BTF parsing, lookup, sizes, the C printer, the raw dump, and malformed input."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from pybpf.btf import Btf, Kind, declaration, definition, dump_raw, load_vmlinux, parse_btf_ext
from pybpf.btf.types import BtfType, Member, Param
from pybpf.errors import ObjectError
from pybpf.object import load_file
from pybpf.object.elf import ElfFile
from testlib import shared_path

OBJECTS = Path(__file__).resolve().parent.parent / "data" / "objects"
VMLINUX = Path("/sys/kernel/btf/vmlinux")
needs_vmlinux = pytest.mark.skipif(not VMLINUX.exists(), reason="no /sys/kernel/btf/vmlinux on this machine")


def _section(path: Path, name: str) -> bytes:
    elf = ElfFile(path.read_bytes())
    sec = elf.section_by_name(name)
    assert sec is not None
    return elf.section_data(sec)


def test_object_btf_types() -> None:
    btf = load_file(OBJECTS / "xdp_counter.o").btf
    xdp_md = btf.find("xdp_md", Kind.STRUCT)
    assert xdp_md is not None and xdp_md.size == 24
    assert [m.name for m in xdp_md.members][:3] == ["data", "data_end", "data_meta"]
    assert [m.bit_offset for m in xdp_md.members][:3] == [0, 32, 64]
    u64 = btf.find("__u64", Kind.TYPEDEF)
    assert u64 is not None and btf.sizeof(u64.id) == 8 and btf.alignof(u64.id) == 8
    func = btf.find("count_packets", Kind.FUNC)
    assert func is not None and func.linkage == 1
    proto = btf[func.type_id]
    assert proto.kind == Kind.FUNC_PROTO and [p.name for p in proto.params] == ["ctx"]
    assert btf.find("helper", Kind.FUNC).linkage == 0
    assert sum(btf.kind_counts().values()) == len(btf) - 1


def test_datasec_sizes_and_offsets_fixed_from_elf() -> None:
    btf = load_file(OBJECTS / "xdp_counter.o").btf
    maps = btf.find(".maps", Kind.DATASEC)
    assert maps is not None
    elf = ElfFile((OBJECTS / "xdp_counter.o").read_bytes())
    sec = elf.section_by_name(".maps")
    assert sec is not None and maps.size == sec.size
    offsets = {btf[i.type_id].name: i.offset for i in maps.secinfos}
    symbols = {s.name: s.value for s in elf.symbols if s.shndx == sec.index}
    assert offsets == {name: symbols[name] for name in offsets}


_KINDS = {"BTF_KIND_FUNCTION": "FUNC", "BTF_KIND_FUNCTION_PROTOTYPE": "FUNC_PROTO", "BTF_KIND_DATA_SECTION": "DATASEC"}


def test_matches_prevail_json_dump() -> None:
    obj = shared_path("ebpf-samples", "build", "map_in_map_typedef.o")
    dump = json.loads(shared_path("ebpf-samples", "build", "map_in_map_typedef.json").read_text())
    expected: set[tuple[str, str]] = set()
    members: dict[str, list[str]] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            kind = node.get("kind_type")
            if kind and node.get("name"):
                expected.add((_KINDS.get(kind, kind.removeprefix("BTF_KIND_")), node["name"]))
            if kind == "BTF_KIND_TYPEDEF" and isinstance(node.get("type"), dict) and "members" in node["type"]:
                members[node["name"]] = [m["name"] for m in node["type"]["members"]]
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(dump)
    btf = Btf.parse(_section(obj, ".BTF"))
    got = {(t.kind.name, t.name) for t in btf if t.name}
    assert expected <= got  # the dump only reaches types from its roots
    assert len(got - expected) <= 1
    for name, names in members.items():
        t = btf.skip_modifiers(btf.find(name, Kind.TYPEDEF).id)  # type: ignore[union-attr]
        assert [m.name for m in t.members] == names


def test_btf_ext_records() -> None:
    path = OBJECTS / "calls.o"
    btf = Btf.parse(_section(path, ".BTF"))
    ext = parse_btf_ext(_section(path, ".BTF.ext"), btf)
    assert set(ext.func_info) == {".text", "xdp", "tc"}
    names = {btf[fi.type_id].name for infos in ext.func_info.values() for fi in infos}
    assert names == {"caller", "other", "leaf", "middle", "global_fn", "cb"}
    assert all(btf[fi.type_id].kind == Kind.FUNC for infos in ext.func_info.values() for fi in infos)
    lines = [li for infos in ext.line_info.values() for li in infos]
    assert lines and all(li.file_name.endswith("calls.c") and li.line_number > 0 for li in lines)
    assert any("bpf_loop" in li.line for li in lines)


def test_core_relo_records() -> None:
    path = OBJECTS / "core.o"
    btf = Btf.parse(_section(path, ".BTF"))
    ext = parse_btf_ext(_section(path, ".BTF.ext"), btf)
    relos = ext.core_relos["syscall"]
    assert len(relos) == 26 and len(ext.core_relos["tp_btf/sched_switch"]) == 1
    assert {btf[r.type_id].name for r in relos} >= {"task_struct", "iphdr", "bpf_map_type___local"}
    assert {r.access_str for r in relos} >= {"0:0", "0:2:3", "0"}


# -- malformed --------------------------------------------------------------------------------


def _blob() -> bytes:
    return _section(OBJECTS / "xdp_counter.o", ".BTF")


def test_malformed_btf() -> None:
    data = _blob()
    with pytest.raises(ObjectError, match="bad magic"):
        Btf.parse(b"\xeb\x9f" + data[2:])  # big-endian BTF
    with pytest.raises(ObjectError, match="truncated header"):
        Btf.parse(data[:10])
    with pytest.raises(ObjectError, match="runs past the end"):
        Btf.parse(data[:-10])
    bad = bytearray(data)
    struct.pack_into("<I", bad, 24 + 4, 25 << 24)  # first type's info: kind 25
    with pytest.raises(ObjectError, match="invalid BTF kind 25 for type 1"):
        Btf.parse(bytes(bad))
    bad = bytearray(data)
    struct.pack_into("<I", bad, 24 + 12 + 4, (1 << 24))  # second type (INT 'int') keeps kind INT
    struct.pack_into("<I", bad, 24 + 12, 0xFFFFFF)  # with a name offset beyond the strings
    btf = Btf.parse(bytes(bad))
    with pytest.raises(ObjectError, match="string offset"):
        btf.type(2)
    with pytest.raises(ObjectError, match="does not exist"):
        btf.type(10_000)


def test_looping_types_are_errors_not_hangs() -> None:
    btf = Btf.from_types([BtfType(0, Kind.TYPEDEF, "a", type_id=2), BtfType(0, Kind.TYPEDEF, "b", type_id=1)])
    with pytest.raises(ObjectError):
        btf.sizeof(1)
    with pytest.raises(ObjectError):
        btf.skip_modifiers(1)


# -- printing -----------------------------------------------------------------------------------


def _printer_btf() -> Btf:
    return Btf.from_types([
        BtfType(0, Kind.INT, "int", size=4, bits=32, encoding=1),                  # 1
        BtfType(0, Kind.INT, "char", size=1, bits=8, encoding=1),                  # 2
        BtfType(0, Kind.CONST, type_id=2),                                         # 3
        BtfType(0, Kind.PTR, type_id=3),                                           # 4 const char *
        BtfType(0, Kind.ARRAY, elem_type=4, index_type=1, nelems=4),               # 5 const char *[4]
        BtfType(0, Kind.FUNC_PROTO, type_id=1, params=(Param("a", 1), Param("s", 4))),  # 6
        BtfType(0, Kind.PTR, type_id=6),                                           # 7 int (*)(int, const char *)
        BtfType(0, Kind.STRUCT, "pkt", size=16, members=(
            Member("len", 1, 0), Member("flags", 1, 32, 3), Member("cb", 7, 64))),  # 8
        BtfType(0, Kind.ENUM, "color", size=4, values=()),                         # 9
        BtfType(0, Kind.TYPEDEF, "cb_t", type_id=7),                               # 10
        BtfType(0, Kind.ARRAY, elem_type=1, index_type=1, nelems=3),               # 11
        BtfType(0, Kind.PTR, type_id=11),                                          # 12 int (*)[3]
    ])


def test_declarations() -> None:
    btf = _printer_btf()
    assert declaration(btf, 4, "s") == "const char *s"
    assert declaration(btf, 5, "names") == "const char *names[4]"
    assert declaration(btf, 7, "fn") == "int (*fn)(int a, const char *s)"
    assert declaration(btf, 12, "p") == "int (*p)[3]"
    assert declaration(btf, 10, "x") == "cb_t x"


def test_struct_definition_and_raw_dump() -> None:
    btf = _printer_btf()
    assert definition(btf, 8) == (
        "struct pkt {\n\tint len;\n\tint flags : 3;\n\tint (*cb)(int a, const char *s);\n};"
    )
    assert definition(btf, 10) == "typedef int (*cb_t)(int a, const char *s);"
    raw = dump_raw(btf).splitlines()
    assert raw[0] == "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED"
    assert "[8] STRUCT 'pkt' size=16 vlen=3" in raw
    assert "\t'flags' type_id=1 bits_offset=32 bitfield_size=3" in raw


@needs_vmlinux
def test_vmlinux_lookup_and_cache() -> None:
    btf = load_vmlinux()
    assert load_vmlinux() is btf
    task = btf.find("task_struct", Kind.STRUCT)
    assert task is not None and task.size > 1000
    assert any(m.name == "pid" for m in task.members)
    lh = btf.find("list_head", Kind.STRUCT)
    assert lh is not None and btf.sizeof(lh.id) == 16 and btf.alignof(lh.id) == 8
    from pybpf.kernel.vmlinux import vmlinux_index  # an independent minimal parser

    assert vmlinux_index()[(int(Kind.STRUCT), "task_struct")] == task.id
    text = definition(btf, btf.find("iphdr", Kind.STRUCT).id)  # type: ignore[union-attr]
    assert "__u8 ihl : 4;" in text and "__u8 version : 4;" in text


def _print_and_decode(step: int) -> int:
    from pybpf.btf import decode_value
    from pybpf.btf.printer import raw_line

    btf = load_vmlinux()
    done = 0
    for tid in range(1, len(btf), step):
        t = btf[tid]
        assert definition(btf, tid) and raw_line(btf, tid).startswith(f"[{tid}] ")
        done += 1
        if t.kind in (Kind.STRUCT, Kind.UNION, Kind.ARRAY, Kind.TYPEDEF):
            try:
                size = btf.sizeof(tid)
            except ObjectError:
                continue
            if size < 1 << 16:
                decode_value(btf, tid, bytes(size))
    return done


@needs_vmlinux
def test_every_kernel_type_prints_sample() -> None:
    assert _print_and_decode(97) > 1000


@needs_vmlinux
@pytest.mark.slow
def test_every_kernel_type_prints() -> None:
    assert _print_and_decode(1) == len(load_vmlinux()) - 1
