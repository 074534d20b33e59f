"""CO-RE type compatibility rules (libbpf's relo_core): essential names, field/type compatibility, type matching."""

from __future__ import annotations

from pybpf.btf.btf import Btf
from pybpf.btf.types import BtfType, Kind

_MAX_DEPTH = 32


def essential_name(name: str) -> str:
    """A name without its `___flavour` suffix."""
    pos = name.find("___")
    return name[:pos] if pos > 0 else name


def _kind_compat(a: BtfType, b: BtfType) -> bool:
    enums = (Kind.ENUM, Kind.ENUM64)
    return a.kind == b.kind or (a.kind in enums and b.kind in enums)


def _skip(btf: Btf, type_id: int) -> tuple[BtfType, int]:
    t = btf.skip_modifiers(type_id)
    return t, t.id


def _names_match(a: str, b: str) -> bool:
    return not a or not b or essential_name(a) == essential_name(b)


def fields_compat(lb: Btf, lid: int, tb: Btf, tid: int) -> bool:
    """bpf_core_fields_are_compat."""
    for _ in range(_MAX_DEPTH):
        lt, _l = _skip(lb, lid)
        tt, _t = _skip(tb, tid)
        if lt.is_composite and tt.is_composite:
            return True
        if not _kind_compat(lt, tt):
            return False
        if lt.kind in (Kind.PTR, Kind.FLOAT):
            return True
        if lt.kind in (Kind.FWD, Kind.ENUM, Kind.ENUM64):
            return _names_match(lt.name, tt.name)
        if lt.kind == Kind.INT:
            return lt.bit_offset == 0 and tt.bit_offset == 0
        if lt.kind == Kind.ARRAY:
            lid, tid = lt.elem_type, tt.elem_type
            continue
        return False
    return False


def types_compat(lb: Btf, lid: int, tb: Btf, tid: int, depth: int = _MAX_DEPTH) -> bool:
    """bpf_core_types_are_compat (used by TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE)."""
    while depth > 0:
        depth -= 1
        lt, _ = _skip(lb, lid)
        tt, _ = _skip(tb, tid)
        if not _kind_compat(lt, tt):
            return False
        k = lt.kind
        if k in (Kind.VOID, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD, Kind.FLOAT):
            return True
        if k == Kind.INT:
            return lt.bit_offset == 0 and tt.bit_offset == 0
        if k == Kind.PTR:
            lid, tid = lt.type_id, tt.type_id
            continue
        if k == Kind.ARRAY:
            lid, tid = lt.elem_type, tt.elem_type
            continue
        if k == Kind.FUNC_PROTO:
            if len(lt.params) != len(tt.params):
                return False
            if not all(types_compat(lb, a.type_id, tb, b.type_id, depth) for a, b in zip(lt.params, tt.params, strict=True)):
                return False
            lid, tid = lt.type_id, tt.type_id
            continue
        return False
    return False


def types_match(lb: Btf, lid: int, tb: Btf, tid: int, depth: int = _MAX_DEPTH) -> bool:
    """bpf_core_types_match (TYPE_MATCHES): a stricter, layout-level comparison."""
    if depth <= 0:
        return False
    lt = lb.skip_modifiers(lid)
    tt = tb.skip_modifiers(tid)
    if not _names_match(lt.name, tt.name) or not _kind_compat(lt, tt):
        return False
    k = lt.kind
    if k in (Kind.VOID, Kind.FWD):
        return True
    if k == Kind.FLOAT:
        return lt.size == tt.size
    if k in (Kind.ENUM, Kind.ENUM64):
        names = {v.name for v in tt.values}
        return lt.size == tt.size and all(v.name in names for v in lt.values)
    if k in (Kind.STRUCT, Kind.UNION):
        if len(lt.members) > len(tt.members):
            return False
        by_name = {m.name: m for m in tt.members}
        for m in lt.members:
            other = by_name.get(m.name)
            if other is None or not types_match(lb, m.type_id, tb, other.type_id, depth - 1):
                return False
        return True
    if k == Kind.INT:
        return lt.size == tt.size and lt.is_signed == tt.is_signed
    if k == Kind.PTR:
        lp, tp = lb.skip_modifiers(lt.type_id), tb.skip_modifiers(tt.type_id)
        if lp.kind in (Kind.STRUCT, Kind.UNION, Kind.FWD) or tp.kind in (Kind.STRUCT, Kind.UNION, Kind.FWD):
            return _names_match(lp.name, tp.name) and (lp.is_composite or lp.kind == Kind.FWD) == (
                tp.is_composite or tp.kind == Kind.FWD)
        return types_match(lb, lt.type_id, tb, tt.type_id, depth - 1)
    if k == Kind.ARRAY:
        return lt.nelems == tt.nelems and types_match(lb, lt.elem_type, tb, tt.elem_type, depth - 1)
    if k == Kind.FUNC_PROTO:
        return len(lt.params) == len(tt.params) and types_match(lb, lt.type_id, tb, tt.type_id, depth - 1) and all(
            types_match(lb, a.type_id, tb, b.type_id, depth - 1) for a, b in zip(lt.params, tt.params, strict=True))
    return False


