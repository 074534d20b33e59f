"""BTF type records as immutable data: kinds, members, enum values, parameters, DATASEC entries."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum


class Kind(IntEnum):
    """BTF_KIND_* (include/uapi/linux/btf.h)."""

    VOID = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


# INT encoding bits.
INT_SIGNED = 1
INT_CHAR = 2
INT_BOOL = 4

# FUNC linkage (in vlen) and VAR linkage.
FUNC_STATIC = 0
FUNC_GLOBAL = 1
FUNC_EXTERN = 2
VAR_STATIC = 0
VAR_GLOBAL_ALLOCATED = 1
VAR_GLOBAL_EXTERN = 2

MODIFIER_KINDS = frozenset({Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})
# Kinds whose third header word is a type id (the rest carry a size).
TYPE_REF_KINDS = frozenset(
    {Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.FUNC,
     Kind.FUNC_PROTO, Kind.VAR, Kind.DECL_TAG, Kind.TYPE_TAG}
)
COMPOSITE_KINDS = frozenset({Kind.STRUCT, Kind.UNION})


@dataclass(frozen=True, slots=True)
class Member:
    """A struct/union member: offsets in bits; bitfield_size 0 for ordinary members."""

    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int = 0


@dataclass(frozen=True, slots=True)
class EnumValue:
    """One enumerator of an ENUM or ENUM64."""

    name: str
    value: int


@dataclass(frozen=True, slots=True)
class Param:
    """One FUNC_PROTO parameter (type 0 with no name marks C varargs)."""

    name: str
    type_id: int


@dataclass(frozen=True, slots=True)
class VarSecinfo:
    """One DATASEC entry: a VAR (or FUNC for .ksyms) at a byte offset with a size."""

    type_id: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class BtfType:
    """One BTF type. Which fields matter depends on `kind` (see the BTF documentation)."""

    id: int
    kind: Kind
    name: str = ""
    size: int = 0  # INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT
    type_id: int = 0  # referenced type: PTR, TYPEDEF, modifiers, FUNC, VAR, DECL_TAG; FUNC_PROTO return
    kind_flag: bool = False
    # INT
    encoding: int = 0
    bits: int = 0
    bit_offset: int = 0
    # ARRAY
    elem_type: int = 0
    index_type: int = 0
    nelems: int = 0
    # STRUCT/UNION, ENUM/ENUM64, FUNC_PROTO, DATASEC
    members: tuple[Member, ...] = ()
    values: tuple[EnumValue, ...] = ()
    params: tuple[Param, ...] = ()
    secinfos: tuple[VarSecinfo, ...] = field(default=())
    # FUNC linkage (vlen) and VAR linkage
    linkage: int = 0
    # DECL_TAG: -1 for the type itself, else a member/parameter index
    component_idx: int = -1

    @property
    def vlen(self) -> int:
        """The vlen field as encoded."""
        if self.kind in COMPOSITE_KINDS:
            return len(self.members)
        if self.kind in (Kind.ENUM, Kind.ENUM64):
            return len(self.values)
        if self.kind == Kind.FUNC_PROTO:
            return len(self.params)
        if self.kind == Kind.DATASEC:
            return len(self.secinfos)
        if self.kind == Kind.FUNC:
            return self.linkage
        return 0

    @property
    def is_signed(self) -> bool:
        """INT with the signed bit, or an ENUM/ENUM64 flagged signed."""
        if self.kind == Kind.INT:
            return bool(self.encoding & INT_SIGNED)
        if self.kind in (Kind.ENUM, Kind.ENUM64):
            return self.kind_flag
        return False

    @property
    def is_modifier(self) -> bool:
        return self.kind in MODIFIER_KINDS

    @property
    def is_composite(self) -> bool:
        return self.kind in COMPOSITE_KINDS

    def with_id(self, new_id: int) -> BtfType:
        """A copy with another id."""
        return replace(self, id=new_id)


VOID = BtfType(0, Kind.VOID)
