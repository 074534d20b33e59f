"""Serialise BTF back to the .BTF wire format and sanitise an object's BTF for the kernel (as libbpf does)."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import replace

from pybpf.btf.btf import BTF_MAGIC, HEADER, Btf
from pybpf.btf.types import (
    COMPOSITE_KINDS,
    FUNC_GLOBAL,
    FUNC_STATIC,
    INT_SIGNED,
    VAR_GLOBAL_ALLOCATED,
    VAR_STATIC,
    BtfType,
    EnumValue,
    Kind,
    Member,
    VarSecinfo,
)
from pybpf.errors import ObjectError


class _Strings:
    """A string table; when built on an existing table, every existing offset stays valid."""

    def __init__(self, initial: bytes = b"") -> None:
        self.data = bytearray(initial or b"\0")
        if not self.data.endswith(b"\0"):
            self.data += b"\0"
        self.offsets: dict[str, int] = {"": 0}
        pos = 0
        for raw in bytes(self.data).split(b"\0"):
            if raw:
                self.offsets.setdefault(raw.decode("utf-8", "replace"), pos)
            pos += len(raw) + 1

    def add(self, s: str) -> int:
        off = self.offsets.get(s)
        if off is None:
            off = len(self.data)
            self.data += s.encode() + b"\0"
            self.offsets[s] = off
        return off


def _info(kind: Kind, vlen: int, kind_flag: bool) -> int:
    if vlen > 0xFFFF:
        raise ObjectError(f"BTF {kind.name} has too many entries ({vlen})")
    return (int(kind_flag) << 31) | (int(kind) << 24) | vlen


def encode_type(t: BtfType, strings: _Strings) -> bytes:
    """One type record in wire format."""
    k = t.kind
    name = strings.add(t.name)
    if k == Kind.INT:
        return struct.pack("<IIII", name, _info(k, 0, False), t.size,
                           (t.encoding << 24) | (t.bit_offset << 16) | t.bits)
    if k == Kind.ARRAY:
        return struct.pack("<IIIIII", name, _info(k, 0, False), 0, t.elem_type, t.index_type, t.nelems)
    if k in COMPOSITE_KINDS:
        flag = any(m.bitfield_size for m in t.members) or t.kind_flag
        out = [struct.pack("<III", name, _info(k, len(t.members), flag), t.size)]
        for m in t.members:
            off = (m.bitfield_size << 24) | m.bit_offset if flag else m.bit_offset
            out.append(struct.pack("<III", strings.add(m.name), m.type_id, off))
        return b"".join(out)
    if k == Kind.ENUM:
        out = [struct.pack("<III", name, _info(k, len(t.values), t.kind_flag), t.size)]
        out += [struct.pack("<II", strings.add(v.name), v.value & 0xFFFFFFFF) for v in t.values]
        return b"".join(out)
    if k == Kind.ENUM64:
        out = [struct.pack("<III", name, _info(k, len(t.values), t.kind_flag), t.size)]
        for v in t.values:
            u = v.value & 0xFFFFFFFFFFFFFFFF
            out.append(struct.pack("<III", strings.add(v.name), u & 0xFFFFFFFF, u >> 32))
        return b"".join(out)
    if k == Kind.FUNC_PROTO:
        out = [struct.pack("<III", name, _info(k, len(t.params), False), t.type_id)]
        out += [struct.pack("<II", strings.add(p.name), p.type_id) for p in t.params]
        return b"".join(out)
    if k == Kind.DATASEC:
        out = [struct.pack("<III", name, _info(k, len(t.secinfos), False), t.size)]
        out += [struct.pack("<III", i.type_id, i.offset, i.size) for i in t.secinfos]
        return b"".join(out)
    if k == Kind.VAR:
        return struct.pack("<IIII", name, _info(k, 0, False), t.type_id, t.linkage)
    if k == Kind.DECL_TAG:
        return struct.pack("<IIIi", name, _info(k, 0, False), t.type_id, t.component_idx)
    if k == Kind.FUNC:
        return struct.pack("<III", name, _info(k, t.linkage, False), t.type_id)
    if k == Kind.FLOAT:
        return struct.pack("<III", name, _info(k, 0, False), t.size)
    if k == Kind.FWD:
        return struct.pack("<III", name, _info(k, 0, t.kind_flag), 0)
    if k in (Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG):
        return struct.pack("<III", name, _info(k, 0, t.kind_flag), t.type_id)
    raise ObjectError(f"cannot encode BTF kind {k.name}")


def encode_types(types: Iterable[BtfType], strings_table: bytes = b"") -> bytes:
    """Wire-format BTF (header, types, strings) for a sequence of types with ids 1..n.

    With `strings_table`, the output's string section starts with it unchanged (so string offsets
    in .BTF.ext line info stay valid) and new names are appended.
    """
    strings = _Strings(strings_table)
    body = b"".join(encode_type(t, strings) for t in types)
    header = HEADER.pack(BTF_MAGIC, 1, 0, HEADER.size, 0, len(body), len(body), len(strings.data))
    return header + body + bytes(strings.data)


def encode(btf: Btf) -> bytes:
    """Serialise a (non-split) Btf."""
    if btf.base is not None:
        raise ObjectError("encoding split BTF (with a base) is not supported")
    return encode_types(btf, btf.string_table)


def fixup_datasecs(btf: Btf, section_sizes: dict[str, int], symbols: dict[str, tuple[int, bool]]) -> Btf:
    """Give DATASECs their ELF section size and each VAR its symbol offset, as libbpf does at open time.

    `symbols` maps a variable name to (offset in its section, hidden visibility); hidden globals
    become static VARs. Secinfos are sorted by offset.
    """
    overrides: dict[int, BtfType] = {}
    for t in btf:
        if t.kind != Kind.DATASEC:
            continue
        size = section_sizes.get(t.name)
        if size is None:
            continue
        infos = []
        for info in t.secinfos:
            var = btf.type(info.type_id)
            if var.kind == Kind.VAR and var.name in symbols:
                offset, hidden = symbols[var.name]
                info = replace(info, offset=offset)
                if hidden and var.linkage != VAR_STATIC:
                    overrides[var.id] = replace(var, linkage=VAR_STATIC)
            infos.append(info)
        infos.sort(key=lambda i: i.offset)
        if size != t.size or infos != list(t.secinfos):
            overrides[t.id] = replace(t, size=size, secinfos=tuple(infos))
    return btf.with_types(overrides) if overrides else btf


# Kinds the kernel learned over time; `sanitize_for_kernel(..., unsupported=...)` replaces them.
NEWER_KINDS = frozenset({Kind.FUNC, Kind.FUNC_PROTO, Kind.VAR, Kind.DATASEC, Kind.FLOAT,
                         Kind.DECL_TAG, Kind.TYPE_TAG, Kind.ENUM64})


def sanitize_for_kernel(btf: Btf, unsupported: Iterable[Kind] = (), *, hide_static_funcs: bool = False) -> Btf:
    """A copy of an object's BTF that a kernel lacking the `unsupported` kinds accepts (libbpf's rules).

    DECL_TAG -> INT, TYPE_TAG -> CONST, VAR -> INT, DATASEC -> empty STRUCT, FUNC -> TYPEDEF,
    FUNC_PROTO -> ENUM, FLOAT -> STRUCT of its size, ENUM64 -> UNION of its size (or ENUM when only
    64-bit enums are missing). Extern functions become TYPEDEFs (the kernel has no extern linkage).
    DATASECs left with size 0 (`.ksyms`, `.kconfig`: externs, never placed in the object) get one
    4-byte slot per entry pointing at allocated int VARs, as libbpf does.
    """
    if Kind.DATASEC not in set(unsupported):
        btf = _place_extern_datasecs(btf)
    drop = set(unsupported)
    overrides: dict[int, BtfType] = {}
    for t in btf:
        k = t.kind
        new: BtfType | None = None
        if k == Kind.DECL_TAG and k in drop:
            new = BtfType(t.id, Kind.INT, "", size=1, bits=1)
        elif k == Kind.TYPE_TAG and k in drop:
            new = BtfType(t.id, Kind.CONST, "", type_id=t.type_id)
        elif k == Kind.VAR and k in drop:
            new = BtfType(t.id, Kind.INT, "", size=1, bits=1)
        elif k == Kind.VAR and t.linkage not in (VAR_STATIC, VAR_GLOBAL_ALLOCATED):
            new = replace(t, linkage=VAR_GLOBAL_ALLOCATED)  # placed externs (.kconfig) are allocated
        elif k == Kind.DATASEC and k in drop:
            new = BtfType(t.id, Kind.STRUCT, _c_name(t.name), size=0)
        elif k == Kind.DATASEC and not t.name.isprintable():
            new = replace(t, name=_c_name(t.name))  # the kernel wants printable section names
        elif k == Kind.FUNC and k in drop:
            new = BtfType(t.id, Kind.TYPEDEF, t.name, type_id=t.type_id)
        elif k == Kind.FUNC and t.linkage not in (FUNC_STATIC, FUNC_GLOBAL):
            # An extern function: the kernel knows no such linkage (and wants named arguments).
            new = BtfType(t.id, Kind.TYPEDEF, t.name, type_id=t.type_id)
        elif k == Kind.FUNC and hide_static_funcs and t.linkage != FUNC_STATIC:
            new = replace(t, linkage=FUNC_STATIC)
        elif k == Kind.FUNC_PROTO and k in drop:
            values = tuple(EnumValue(p.name or f"__p{i}", p.type_id) for i, p in enumerate(t.params))
            new = BtfType(t.id, Kind.ENUM, "", size=4, values=values)
        elif k == Kind.FLOAT and k in drop:
            new = BtfType(t.id, Kind.STRUCT, t.name, size=t.size)
        elif k == Kind.ENUM64 and k in drop:
            if Kind.ENUM in drop or any(not -(1 << 31) <= v.value < (1 << 32) for v in t.values):
                new = BtfType(t.id, Kind.UNION, t.name, size=t.size)
            else:
                vals = tuple(EnumValue(v.name, v.value & 0xFFFFFFFF) for v in t.values)
                new = BtfType(t.id, Kind.ENUM, t.name, size=4, values=vals, kind_flag=False)
        elif k == Kind.INT and k in drop:
            new = BtfType(t.id, Kind.INT, t.name, size=t.size, bits=t.bits, encoding=t.encoding & INT_SIGNED)
        if new is not None:
            overrides[t.id] = new
    return btf.with_types(overrides) if overrides else btf


def _place_extern_datasecs(btf: Btf) -> Btf:
    """Give zero-sized DATASECs (externs) a layout the kernel accepts; appends a dummy int and VAR."""
    empty = [t for t in btf if t.kind == Kind.DATASEC and t.size == 0]
    if not empty:
        return btf
    types = list(btf)
    int_id = len(btf)
    dummy_id = int_id + 1
    types.append(BtfType(0, Kind.INT, "int", size=4, bits=32, encoding=INT_SIGNED))
    types.append(BtfType(0, Kind.VAR, "__pybpf_extern", type_id=int_id, linkage=VAR_GLOBAL_ALLOCATED))
    start = btf.start_id
    for sec in empty:
        infos = []
        for i, info in enumerate(sec.secinfos):
            target = btf[info.type_id]
            if target.kind == Kind.VAR:
                types[target.id - start] = replace(target, type_id=int_id, linkage=VAR_GLOBAL_ALLOCATED)
                infos.append(VarSecinfo(target.id, 4 * i, 4))
            else:
                infos.append(VarSecinfo(dummy_id, 4 * i, 4))
        types[sec.id - start] = replace(sec, size=max(4, 4 * len(infos)), secinfos=tuple(infos))
    return Btf.from_types(types, base=btf.base)._with_strings(btf.string_table)


def _c_name(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "_"


def member_bytes(m: Member) -> int:
    """A member's byte offset (for bitfields, of the storage unit start)."""
    return m.bit_offset // 8
