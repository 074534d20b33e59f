"""Print BTF types as C declarations and as a bpftool-style raw listing."""

from __future__ import annotations

from pybpf.btf.btf import Btf
from pybpf.btf.types import INT_BOOL, INT_CHAR, INT_SIGNED, BtfType, Kind

_MAX_DEPTH = 32


def _tag(t: BtfType) -> str:
    if t.kind == Kind.STRUCT:
        return "struct"
    if t.kind == Kind.UNION:
        return "union"
    if t.kind in (Kind.ENUM, Kind.ENUM64):
        return "enum"
    if t.kind == Kind.FWD:
        return "union" if t.kind_flag else "struct"
    return ""


def _base_name(t: BtfType) -> str:
    tag = _tag(t)
    name = t.name or "(anon)"
    return f"{tag} {name}" if tag else name


def declaration(btf: Btf, type_id: int, name: str = "", depth: int = 0) -> str:
    """A C declaration of `name` with type `type_id` (e.g. "const char *name[4]")."""
    if depth > _MAX_DEPTH:
        return f"/* type {type_id}: too deep */ {name}".strip()
    t = btf.type(type_id)
    k = t.kind
    if k == Kind.VOID:
        return f"void {name}".strip()
    if t.is_composite and not t.name:
        return f"{_composite(btf, t, 0)} {name}".strip()  # anonymous: C spells the body out
    if k in (Kind.ENUM, Kind.ENUM64) and not t.name:
        body = " ".join(f"{v.name} = {v.value}," for v in t.values)
        return f"enum {{ {body} }} {name}".strip()
    if k in (Kind.INT, Kind.FLOAT, Kind.TYPEDEF, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD):
        return f"{_base_name(t)} {name}".strip()
    if k == Kind.PTR:
        inner = btf.type(t.type_id)
        wrapped = f"(*{name})" if inner.kind in (Kind.ARRAY, Kind.FUNC_PROTO) else f"*{name}"
        return declaration(btf, t.type_id, wrapped, depth + 1)
    if k == Kind.ARRAY:
        return declaration(btf, t.elem_type, f"{name}[{t.nelems}]", depth + 1)
    if k in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
        q = k.name.lower()
        inner = btf.type(t.type_id)
        if inner.kind == Kind.PTR:
            return declaration(btf, t.type_id, f"{q} {name}".strip(), depth + 1)
        return f"{q} {declaration(btf, t.type_id, name, depth + 1)}"
    if k == Kind.TYPE_TAG:
        return declaration(btf, t.type_id, f"__attribute__((btf_type_tag(\"{t.name}\"))) {name}".strip(), depth + 1)
    if k == Kind.FUNC_PROTO:
        params = ", ".join(
            "..." if p.type_id == 0 and not p.name else declaration(btf, p.type_id, p.name, depth + 1)
            for p in t.params
        ) or "void"
        return declaration(btf, t.type_id, f"{name}({params})", depth + 1)
    if k == Kind.FUNC:
        return declaration(btf, t.type_id, t.name, depth + 1)
    if k == Kind.VAR:
        return declaration(btf, t.type_id, t.name, depth + 1)
    if k == Kind.DATASEC:
        return f"SEC(\"{t.name}\")"
    if k == Kind.DECL_TAG:
        return f"__attribute__((btf_decl_tag(\"{t.name}\")))"
    return f"/* {k.name} */ {name}".strip()


def definition(btf: Btf, type_id: int) -> str:
    """The C definition of a type: full struct/union/enum bodies, typedefs, functions, variables."""
    t = btf.type(type_id)
    k = t.kind
    if k in (Kind.STRUCT, Kind.UNION):
        return _composite(btf, t, 0) + ";"
    if k in (Kind.ENUM, Kind.ENUM64):
        body = [f"\t{v.name} = {v.value}," for v in t.values]
        return "\n".join([f"{_base_name(t)} {{", *body, "};"])
    if k == Kind.TYPEDEF:
        return f"typedef {declaration(btf, t.type_id, t.name)};"
    if k == Kind.FUNC:
        storage = {0: "static ", 1: "", 2: "extern "}.get(t.linkage, "")
        return f"{storage}{declaration(btf, type_id)};"
    if k == Kind.VAR:
        storage = {0: "static ", 1: "", 2: "extern "}.get(t.linkage, "")
        return f"{storage}{declaration(btf, type_id)};"
    if k == Kind.DATASEC:
        lines = [f"SEC(\"{t.name}\") /* size {t.size} */ {{"]
        for info in t.secinfos:
            lines.append(f"\t/* offset {info.offset}, size {info.size} */ {declaration(btf, info.type_id)};")
        lines.append("};")
        return "\n".join(lines)
    return declaration(btf, type_id) + ";"


def _composite(btf: Btf, t: BtfType, depth: int) -> str:
    """A struct/union body; anonymous struct/union members are printed inline, as C writes them."""
    pad = "\t" * (depth + 1)
    head = f"{_tag(t)} {t.name} {{" if t.name else f"{_tag(t)} {{"
    lines = [head]
    for m in t.members:
        mt = btf.type(m.type_id)
        if mt.is_composite and not mt.name and depth < _MAX_DEPTH:
            decl = _composite(btf, mt, depth + 1) + (f" {m.name}" if m.name else "")
        else:
            decl = declaration(btf, m.type_id, m.name)
        if m.bitfield_size:
            decl += f" : {m.bitfield_size}"
        lines.append(f"{pad}{decl};")
    lines.append("\t" * depth + "}")
    return "\n".join(lines)


def _int_encoding(t: BtfType) -> str:
    if t.encoding & INT_SIGNED:
        return "SIGNED"
    if t.encoding & INT_CHAR:
        return "CHAR"
    if t.encoding & INT_BOOL:
        return "BOOL"
    return "(none)"


def raw_line(btf: Btf, type_id: int) -> str:
    """One type in `bpftool btf dump` raw format, members on following lines."""
    t = btf.type(type_id)
    k = t.kind
    head = f"[{t.id}] {k.name} '{t.name or '(anon)'}'"
    if k == Kind.INT:
        return f"{head} size={t.size} bits_offset={t.bit_offset} nr_bits={t.bits} encoding={_int_encoding(t)}"
    if k in (Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG):
        return f"{head} type_id={t.type_id}"
    if k == Kind.ARRAY:
        return f"{head} type_id={t.elem_type} index_type_id={t.index_type} nr_elems={t.nelems}"
    if k in (Kind.STRUCT, Kind.UNION):
        lines = [f"{head} size={t.size} vlen={len(t.members)}"]
        for m in t.members:
            extra = f" bitfield_size={m.bitfield_size}" if m.bitfield_size else ""
            lines.append(f"\t'{m.name or '(anon)'}' type_id={m.type_id} bits_offset={m.bit_offset}{extra}")
        return "\n".join(lines)
    if k in (Kind.ENUM, Kind.ENUM64):
        sign = "SIGNED" if t.kind_flag else "UNSIGNED"
        lines = [f"{head} encoding={sign} size={t.size} vlen={len(t.values)}"]
        lines += [f"\t'{v.name}' val={v.value}" for v in t.values]
        return "\n".join(lines)
    if k == Kind.FWD:
        return f"{head} fwd_kind={'union' if t.kind_flag else 'struct'}"
    if k == Kind.FUNC:
        linkage = {0: "static", 1: "global", 2: "extern"}.get(t.linkage, str(t.linkage))
        return f"{head} type_id={t.type_id} linkage={linkage}"
    if k == Kind.FUNC_PROTO:
        lines = [f"{head} ret_type_id={t.type_id} vlen={len(t.params)}"]
        lines += [f"\t'{p.name or '(anon)'}' type_id={p.type_id}" for p in t.params]
        return "\n".join(lines)
    if k == Kind.VAR:
        linkage = {0: "static", 1: "global-alloc", 2: "global-extern"}.get(t.linkage, str(t.linkage))
        return f"{head} type_id={t.type_id}, linkage={linkage}"
    if k == Kind.DATASEC:
        lines = [f"{head} size={t.size} vlen={len(t.secinfos)}"]
        lines += [f"\ttype_id={i.type_id} offset={i.offset} size={i.size}" for i in t.secinfos]
        return "\n".join(lines)
    if k == Kind.FLOAT:
        return f"{head} size={t.size}"
    if k == Kind.DECL_TAG:
        return f"{head} type_id={t.type_id} component_idx={t.component_idx}"
    return head


def dump_raw(btf: Btf) -> str:
    """Every type of a Btf in bpftool's raw format."""
    return "\n".join(raw_line(btf, t.id) for t in btf)
