"""CO-RE matching rules on hand-made BTF: anonymous members, arrays, flavours, size changes, enums."""

from __future__ import annotations

import pytest

from pybpf.btf import Btf, BtfType, CoreRelo, CoreReloKind, EnumValue, Kind, Member
from pybpf.btf.core import POISON_IMM, CoreError, patch, resolve_one
from pybpf.isa.instruction import Instruction

K = CoreReloKind
LDXW = 0x61  # r = *(u32 *)(r + off)
LDXDW = 0x79


def _local() -> Btf:
    return Btf.from_types([
        BtfType(0, Kind.INT, "int", size=4, bits=32, encoding=1),                        # 1
        BtfType(0, Kind.INT, "unsigned int", size=4, bits=32),                            # 2
        BtfType(0, Kind.ARRAY, elem_type=1, index_type=1, nelems=4),                      # 3 int[4]
        BtfType(0, Kind.STRUCT, "sock___v1", size=28, members=(
            Member("a", 1, 0), Member("b", 2, 32), Member("c", 1, 64), Member("arr", 3, 96))),  # 4
        BtfType(0, Kind.ENUM64, "big___v1", size=8, values=(EnumValue("BIG_X", 1),)),     # 5
    ])


def _target() -> Btf:
    return Btf.from_types([
        BtfType(0, Kind.INT, "int", size=4, bits=32, encoding=1),                        # 1
        BtfType(0, Kind.INT, "long unsigned int", size=8, bits=64),                       # 2
        BtfType(0, Kind.INT, "long int", size=8, bits=64, encoding=1),                    # 3
        BtfType(0, Kind.STRUCT, size=12, members=(Member("pad", 2, 0), Member("a", 1, 64))),  # 4 anon
        BtfType(0, Kind.UNION, size=16, members=(Member("", 4, 0),)),                     # 5 anon union
        BtfType(0, Kind.ARRAY, elem_type=1, index_type=1, nelems=8),                      # 6 int[8]
        BtfType(0, Kind.STRUCT, "sock", size=72, members=(
            Member("", 5, 0), Member("b", 2, 128), Member("c", 3, 192), Member("arr", 6, 256))),  # 7
        BtfType(0, Kind.ENUM64, "big", size=8, values=(EnumValue("BIG_Y", 2), EnumValue("BIG_X", 1 << 40))),  # 8
    ])


def _relo(kind: CoreReloKind, access: str, type_id: int = 4) -> CoreRelo:
    return CoreRelo(0, type_id, 0, kind, access)


def test_member_found_through_anonymous_union_and_struct() -> None:
    r = resolve_one(_relo(K.FIELD_BYTE_OFFSET, "0:0"), _local(), _target())
    assert (r.local_value, r.target_value, r.target_type_id) == (0, 8, 7)


def test_array_element_offset_and_bounds() -> None:
    r = resolve_one(_relo(K.FIELD_BYTE_OFFSET, "0:3:2"), _local(), _target())
    assert (r.local_value, r.target_value) == (12 + 8, 32 + 8)
    assert resolve_one(_relo(K.FIELD_BYTE_SIZE, "0:3"), _local(), _target()).target_value == 32


def test_unsigned_field_growth_adjusts_the_load_size() -> None:
    r = resolve_one(_relo(K.FIELD_BYTE_OFFSET, "0:1"), _local(), _target())
    assert (r.target_value, r.local_size, r.target_size, r.fail_memsz_adjust) == (16, 4, 8, False)
    out = patch([Instruction(LDXW, 0, 1, 4, 0)], [r])
    assert out == [Instruction(LDXDW, 0, 1, 16, 0)]


def test_signed_field_growth_poisons_the_load() -> None:
    r = resolve_one(_relo(K.FIELD_BYTE_OFFSET, "0:2"), _local(), _target())
    assert r.fail_memsz_adjust
    assert patch([Instruction(LDXW, 0, 1, 8, 0)], [r]) == [Instruction(0x85, 0, 0, 0, POISON_IMM)]
    # the same relocation on an ALU instruction is fine (no memory access size involved)
    assert patch([Instruction(0x07, 1, 0, 0, 8)], [r]) == [Instruction(0x07, 1, 0, 0, 24)]


def test_enum64_value_and_existence() -> None:
    r = resolve_one(_relo(K.ENUMVAL_VALUE, "0", 5), _local(), _target())
    assert (r.local_value, r.target_value) == (1, 1 << 40)
    out = patch([Instruction(0x18, 1, 0, 0, 1)], [r])
    assert out == [Instruction(0x18, 1, 0, 0, 1 << 40)]
    assert resolve_one(_relo(K.ENUMVAL_EXISTS, "0", 5), _local(), _target()).target_value == 1


def test_type_size_and_missing_field() -> None:
    assert resolve_one(_relo(K.TYPE_SIZE, "0"), _local(), _target()).target_value == 72
    target = Btf.from_types([BtfType(0, Kind.STRUCT, "sock", size=4, members=())])
    missing = resolve_one(_relo(K.FIELD_BYTE_OFFSET, "0:0"), _local(), target)
    assert missing.poison
    assert resolve_one(_relo(K.FIELD_EXISTS, "0:0"), _local(), target).target_value == 0


@pytest.mark.parametrize("access", ["", "x", "0:99", "0:3:9", "-1"])
def test_bad_access_strings(access: str) -> None:
    with pytest.raises(CoreError):
        resolve_one(_relo(K.FIELD_BYTE_OFFSET, access), _local(), _target())


def test_type_relocation_needs_access_zero() -> None:
    with pytest.raises(CoreError, match="expected '0'"):
        resolve_one(_relo(K.TYPE_EXISTS, "0:1"), _local(), _target())
