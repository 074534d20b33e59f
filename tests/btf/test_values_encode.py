"""Value pretty-printing by BTF type, the BTF encoder round trip, and kernel sanitising."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pybpf.btf import Btf, Kind, decode_value, encode_value, load_vmlinux, sanitize_for_kernel
from pybpf.btf.encode import NEWER_KINDS
from pybpf.btf.types import BtfType, EnumValue, Member
from pybpf.errors import ObjectError
from pybpf.object import load_file

OBJECTS = Path(__file__).resolve().parent.parent / "data" / "objects"
VMLINUX = Path("/sys/kernel/btf/vmlinux")
needs_vmlinux = pytest.mark.skipif(not VMLINUX.exists(), reason="no /sys/kernel/btf/vmlinux on this machine")


def _types() -> Btf:
    return Btf.from_types([
        BtfType(0, Kind.INT, "int", size=4, bits=32, encoding=1),                      # 1
        BtfType(0, Kind.INT, "char", size=1, bits=8, encoding=1),                      # 2
        BtfType(0, Kind.ARRAY, elem_type=2, index_type=1, nelems=8),                   # 3 char[8]
        BtfType(0, Kind.ENUM, "state", size=4, values=(EnumValue("UP", 1), EnumValue("DOWN", 2))),  # 4
        BtfType(0, Kind.INT, "unsigned short", size=2, bits=16),                       # 5
        BtfType(0, Kind.ARRAY, elem_type=5, index_type=1, nelems=2),                   # 6
        BtfType(0, Kind.STRUCT, "rec", size=24, kind_flag=True, members=(
            Member("id", 1, 0), Member("name", 3, 32), Member("state", 4, 96),
            Member("lo", 5, 128, 4), Member("hi", 5, 132, 12), Member("ports", 6, 144))),  # 7
        BtfType(0, Kind.INT, "_Bool", size=1, bits=8, encoding=4),                     # 8
        BtfType(0, Kind.FLOAT, "double", size=8),                                      # 9
        BtfType(0, Kind.PTR, type_id=1),                                               # 10
        BtfType(0, Kind.INT, "int", size=4, bits=32, encoding=1),                      # 11
        BtfType(0, Kind.STRUCT, "neg", size=4, kind_flag=True, members=(Member("x", 11, 0, 5),)),  # 12
    ])


def test_decode_struct_with_bitfields_enums_and_strings() -> None:
    btf = _types()
    raw = struct.pack("<i8sIHHH", -3, b"eth0", 2, 0x5 | (0xABC << 4), 80, 443) + bytes(2)
    value = decode_value(btf, 7, raw)
    assert value == {"id": -3, "name": "eth0", "state": "DOWN", "lo": 5, "hi": 0xABC, "ports": [80, 443]}
    assert encode_value(btf, 7, value) == raw


def test_decode_scalars() -> None:
    btf = _types()
    assert decode_value(btf, 8, b"\x01") is True
    assert decode_value(btf, 9, struct.pack("<d", 2.5)) == 2.5
    assert decode_value(btf, 10, struct.pack("<Q", 0xFFFF0000)) == 0xFFFF0000
    assert decode_value(btf, 4, struct.pack("<I", 7)) == 7  # no enumerator: the number
    assert decode_value(btf, 12, struct.pack("<I", 0x1F)) == {"x": -1}  # signed 5-bit field


def test_decode_errors() -> None:
    btf = _types()
    with pytest.raises(ObjectError, match="too short"):
        decode_value(btf, 7, b"\0" * 4)
    with pytest.raises(ObjectError):
        encode_value(btf, 4, "SIDEWAYS")


def test_global_data_decoded_by_datasec() -> None:
    spec = load_file(OBJECTS / "xdp_counter.o")
    for name, expected in ((".data", {"g_data": 5}), (".rodata", {"g_ro": 7}), (".data.custom", {"custom_buf": "custom"})):
        m = spec.maps[name]
        assert decode_value(spec.btf, m.value_type_id, m.contents[0][1]) == expected
    counts = spec.maps["counts"]
    assert decode_value(spec.btf, counts.value_type_id, struct.pack("<Q", 42)) == 42


@needs_vmlinux
def test_decode_kernel_iphdr() -> None:
    btf = load_vmlinux()
    iphdr = btf.find("iphdr", Kind.STRUCT)
    assert iphdr is not None
    header = bytes([0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2])
    value = decode_value(btf, iphdr.id, header)
    assert (value["version"], value["ihl"], value["ttl"], value["protocol"]) == (4, 5, 64, 17)
    assert value["saddr"] == int.from_bytes(bytes([127, 0, 0, 1]), "little")


# -- encoder --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["xdp_counter.o", "calls.o", "map_in_map.o", "core.o", "sections.o"])
def test_encode_round_trip(name: str) -> None:
    btf = load_file(OBJECTS / name).btf
    again = Btf.parse(btf.to_bytes())
    assert len(again) == len(btf)
    assert all(again[i] == btf[i] for i in range(1, len(btf)))
    # existing string offsets stay valid (line_info refers to them)
    assert again.string_table.startswith(btf.string_table)


def test_encode_explicit_types() -> None:
    btf = _types()
    again = Btf.parse(btf.to_bytes())
    assert [again[i] for i in range(1, len(btf))] == [btf[i] for i in range(1, len(btf))]


@needs_vmlinux
def test_encode_vmlinux_round_trip_sample() -> None:
    btf = load_vmlinux()
    again = Btf.parse(btf.to_bytes())
    assert len(again) == len(btf)
    step = max(1, len(btf) // 2000)
    assert all(again[i] == btf[i] for i in range(1, len(btf), step))


def test_sanitize_replaces_unsupported_kinds() -> None:
    btf = load_file(OBJECTS / "xdp_counter.o").btf
    clean = sanitize_for_kernel(btf, NEWER_KINDS)
    kinds = {t.kind for t in clean}
    assert not kinds & {Kind.VAR, Kind.DATASEC, Kind.FUNC, Kind.FUNC_PROTO}
    assert len(clean) == len(btf)  # ids are stable
    func = btf.find("count_packets", Kind.FUNC)
    assert func is not None and clean[func.id].kind == Kind.TYPEDEF
    again = Btf.parse(clean.to_bytes())
    assert all(again[i] == clean[i] for i in range(1, len(clean)))


def test_sanitize_places_extern_datasec() -> None:
    btf = load_file(OBJECTS / "kfunc.o").btf
    ksyms = btf.find(".ksyms", Kind.DATASEC)
    assert ksyms is not None and ksyms.size == 0
    clean = btf.sanitize_for_kernel()
    placed = clean[ksyms.id]
    assert placed.size == 8 and [i.offset for i in placed.secinfos] == [0, 4]  # two kfuncs
    assert all(clean[i.type_id].kind == Kind.VAR for i in placed.secinfos)
    assert len(clean) == len(btf) + 2  # a dummy int and VAR are appended; existing ids unchanged
    func = btf.find("bpf_cast_to_kern_ctx", Kind.FUNC)
    assert func is not None and clean[func.id].kind == Kind.TYPEDEF
    again = Btf.parse(clean.to_bytes())
    assert again.string_table.startswith(btf.string_table)


def test_sanitize_turns_extern_functions_into_typedefs() -> None:
    btf = Btf.from_types([
        BtfType(0, Kind.INT, "int", size=4, bits=32, encoding=1),
        BtfType(0, Kind.FUNC_PROTO, type_id=1),
        BtfType(0, Kind.FUNC, "memset", type_id=2, linkage=2),
        BtfType(0, Kind.FUNC, "prog", type_id=2, linkage=1),
    ])
    clean = btf.sanitize_for_kernel()
    assert clean[3].kind == Kind.TYPEDEF and clean[4].kind == Kind.FUNC
    assert btf[3].kind == Kind.FUNC  # the original is untouched


@pytest.mark.kernel
@pytest.mark.parametrize(
    "name", ["xdp_counter.o", "calls.o", "map_in_map.o", "core.o", "sections.o", "legacy_maps.o", "kfunc.o", "strings.o", "kconfig.o"]
)
def test_kernel_accepts_sanitized_btf(name: str) -> None:
    from pybpf.kernel.btfload import load_btf

    btf = load_file(OBJECTS / name).btf
    fd = load_btf(btf.sanitize_for_kernel().to_bytes())
    assert fd.fd >= 0
    fd.close()


def test_map_entry_like_bpftool() -> None:
    spec = load_file(OBJECTS / "xdp_counter.o")
    from pybpf.btf import map_entry

    counts = spec.maps["counts"]
    entry = map_entry(spec.btf, counts.key_type_id, counts.value_type_id, bytes(4), struct.pack("<Q", 9))
    assert entry == {"key": 0, "value": 9}
    assert map_entry(None, 0, 0, b"\x01\x02", [b"\x03", b"\x04"]) == {
        "key": ["0x01", "0x02"], "values": [{"cpu": 0, "value": ["0x03"]}, {"cpu": 1, "value": ["0x04"]}]}
