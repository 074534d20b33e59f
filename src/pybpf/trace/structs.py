"""Kernel struct layouts from vmlinux BTF for `ptr->field` (curtask, tracepoint pointers, struct casts)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from pybpf.errors import BpfError

STRUCT_DECL = re.compile(r"\b(struct|union)\s+(\w+)\s*\*")


@dataclass(frozen=True)
class MemberInfo:
    """Where a member lives and what it is: "int" (size, signed), "ptr" (to btf_id when a struct), "struct"
    (embedded: its address is used), "str" (char array of `size` bytes)."""

    offset: int
    kind: str
    size: int = 8
    signed: bool = False
    btf_id: int = 0


@functools.cache
def kernel_btf() -> Any:
    """The running kernel's BTF (None when unavailable)."""
    try:
        from pybpf.btf import load_vmlinux

        return load_vmlinux()
    except (BpfError, OSError):
        return None


def struct_id(name: str) -> int:
    """The BTF id of `struct NAME` / `union NAME` / a typedef of one (0 when unknown)."""
    from pybpf.btf.types import Kind

    btf = kernel_btf()
    if btf is None:
        return 0
    words = name.replace("*", " ").split()
    if not words:
        return 0
    kind = Kind.UNION if words[0] == "union" else Kind.STRUCT
    t = btf.find(words[-1], kind)
    if t is None:
        td = btf.find(words[-1], Kind.TYPEDEF)
        if td is None:
            return 0
        t = btf.skip_modifiers(td.id)
        if not t.is_composite:
            return 0
    return int(t.id)


def pointee_struct(declaration: str) -> int:
    """For a C declaration such as `struct __kernel_timespec * rqtp`: the struct's BTF id (else 0)."""
    m = STRUCT_DECL.search(declaration)
    return struct_id(f"{m.group(1)} {m.group(2)}") if m else 0


C_SIZES = {"char": 1, "short": 2, "int": 4, "long": 8, "u8": 1, "s8": 1, "u16": 2, "s16": 2, "u32": 4, "s32": 4,
           "u64": 8, "s64": 8, "__u8": 1, "__s8": 1, "__u16": 2, "__s16": 2, "__u32": 4, "__s32": 4, "__u64": 8,
           "__s64": 8, "size_t": 8, "pid_t": 4, "uid_t": 4, "gid_t": 4, "umode_t": 2, "loff_t": 8}


def pointee(declaration: str) -> tuple[int, bool]:
    """(element size, signed) of what a declared pointer points to: 8 for a pointer to pointers
    (`const char *const * argv`), the C type's size otherwise (0 when unknown or a struct)."""
    head, star, tail = declaration.partition("*")
    if not star:
        return 0, False
    if "*" in tail:
        return 8, False
    words = [w for w in head.replace("const", " ").replace("volatile", " ").split() if w != "__user"]
    if not words or words[0] in ("struct", "union", "void"):
        return 0, False
    unsigned = "unsigned" in words or words[-1].startswith(("u", "__u", "size_t"))
    return C_SIZES.get(words[-1], 8 if "long" in words else 0), not unsigned


def struct_name(btf_id: int) -> str:
    btf = kernel_btf()
    if btf is None or not btf_id:
        return "?"
    t = btf.type(btf_id)
    return f"{t.kind.name.lower()} {t.name}"


def member(btf_id: int, name: str) -> MemberInfo | None:
    """Member `name` of a struct/union (anonymous members searched), or None."""
    from pybpf.btf.types import Kind

    btf = kernel_btf()
    if btf is None:
        return None
    found = _find(btf, btf_id, name, 0)
    if found is None:
        return None
    m, offset = found
    if m.bitfield_size:
        raise BpfError(f"{name} is a bitfield: not supported yet")
    t = btf.skip_modifiers(m.type_id)
    if t.kind in (Kind.INT, Kind.ENUM, Kind.ENUM64):
        return MemberInfo(offset, "int", btf.sizeof(t.id), t.is_signed)
    if t.kind == Kind.PTR:
        target = btf.skip_modifiers(t.type_id) if t.type_id else None
        return MemberInfo(offset, "ptr", 8, False, int(target.id) if target is not None and target.is_composite else 0)
    if t.is_composite:
        return MemberInfo(offset, "struct", btf.sizeof(t.id), False, int(t.id))
    if t.kind == Kind.ARRAY:
        elem = btf.skip_modifiers(t.elem_type)
        if elem.kind == Kind.INT and btf.sizeof(elem.id) == 1:
            return MemberInfo(offset, "str", t.nelems)
        raise BpfError(f"{name} is an array: indexing is not supported yet")
    raise BpfError(f"{name} has a type ({t.kind.name.lower()}) that cannot be read yet")


def _find(btf: Any, btf_id: int, name: str, base: int) -> tuple[Any, int] | None:
    t = btf.skip_modifiers(btf_id)
    if not t.is_composite:
        return None
    for m in t.members:
        offset = base + m.bit_offset // 8
        if m.name == name:
            return m, offset
        if not m.name:
            inner = _find(btf, m.type_id, name, offset)
            if inner is not None:
                return inner
    return None


@functools.cache
def task_parent_member(name: str) -> tuple[int, int]:
    """Offsets of task_struct.real_parent and of member `name` (ppid: tgid, pcomm: comm)."""
    sid = struct_id("struct task_struct")
    parent = member(sid, "real_parent") if sid else None
    field = member(sid, name) if sid else None
    if parent is None or field is None:
        raise BpfError(f"cannot find task_struct.real_parent/{name} in the kernel's BTF")
    return parent.offset, field.offset
