"""Generate a compilable C header from BTF (a `vmlinux.h`): types in dependency order, duplicates renamed."""

from __future__ import annotations

from pybpf.btf.btf import Btf
from pybpf.btf.types import BtfType, Kind, Member
from pybpf.errors import ObjectError

_MAX_DEPTH = 64
_TAGGED = (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD)
_BUILTIN_TYPEDEFS = frozenset({"__builtin_va_list"})  # the compiler defines these itself


class _Header:
    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.names: dict[int, str] = {}
        self.enumerators: dict[int, list[str]] = {}
        self.state: dict[int, int] = {}  # 1 ordering, 2 emitted
        self.visited: set[tuple[int, bool]] = set()
        self.out: list[str] = []
        self._assign_names()

    # -- names --------------------------------------------------------------------------------

    def _assign_names(self) -> None:
        """C has one namespace for tags and one for typedefs: rename later duplicates NAME___2, ..."""
        seen_tags: dict[str, int] = {}
        seen_ordinary: dict[str, int] = {}
        definitions: dict[str, set[int]] = {}
        for t in self.btf:
            if not t.name or t.kind not in (*_TAGGED, Kind.TYPEDEF):
                continue
            space = seen_ordinary if t.kind == Kind.TYPEDEF else seen_tags
            if t.kind == Kind.FWD:
                continue  # named later if a full definition is missing
            n = space.get(t.name, 0) + 1
            space[t.name] = n
            self.names[t.id] = t.name if n == 1 else f"{t.name}___{n}"
            definitions.setdefault(t.name, set()).add(t.id)
        idents: dict[str, int] = {}
        for t in self.btf:
            if t.kind == Kind.FWD and t.name:
                self.names[t.id] = t.name
            if t.kind in (Kind.ENUM, Kind.ENUM64):
                names = []
                for v in t.values:  # enumerators share one namespace across every enum
                    n = idents.get(v.name, 0) + 1
                    idents[v.name] = n
                    names.append(v.name if n == 1 else f"{v.name}___{n}")
                self.enumerators[t.id] = names

    def name(self, t: BtfType) -> str:
        return self.names.get(t.id, t.name)

    # -- declarations ---------------------------------------------------------------------------

    def tagged(self, t: BtfType) -> str:
        tag = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum", Kind.ENUM64: "enum"}.get(t.kind)
        if t.kind == Kind.FWD:
            tag = "union" if t.kind_flag else "struct"
        return f"{tag} {self.name(t)}"

    def decl(self, type_id: int, name: str = "", depth: int = 0, indent: int = 0) -> str:
        if depth > _MAX_DEPTH:
            raise ObjectError(f"BTF type {type_id}: declaration nests too deeply")
        t = self.btf.type(type_id)
        k = t.kind
        if k == Kind.VOID:
            return f"void {name}".strip()
        if t.is_composite and not t.name:
            return f"{self.body(t, indent)} {name}".strip()
        if k in (Kind.ENUM, Kind.ENUM64) and not t.name:
            # Anonymous enums are emitted once at top level; a use of one is an integer of its size.
            signed = "" if t.kind_flag else "unsigned "
            base = {1: "char", 2: "short", 4: "int", 8: "long long"}.get(t.size, "int")
            return f"{signed}{base} {name}".strip()
        if k == Kind.TYPEDEF and t.name in _BUILTIN_TYPEDEFS:
            return f"{t.name} {name}".strip()
        if k in _TAGGED:
            return f"{self.tagged(t)} {name}".strip()
        if k in (Kind.INT, Kind.FLOAT, Kind.TYPEDEF):
            return f"{self.name(t)} {name}".strip()
        if k == Kind.PTR:
            inner = self.btf.skip_modifiers(t.type_id, typedefs=False)
            wrapped = f"(*{name})" if inner.kind in (Kind.ARRAY, Kind.FUNC_PROTO) else f"*{name}"
            return self.decl(t.type_id, wrapped, depth + 1, indent)
        if k == Kind.ARRAY:
            return self.decl(t.elem_type, f"{name}[{t.nelems}]", depth + 1, indent)
        if k in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
            q = k.name.lower()
            inner = self.btf.type(t.type_id)
            if inner.kind == Kind.PTR:
                return self.decl(t.type_id, f"{q} {name}".strip(), depth + 1, indent)
            if inner.kind == Kind.ARRAY:
                return self.decl(t.type_id, name, depth + 1, indent)  # qualifiers of arrays: dropped
            return f"{q} {self.decl(t.type_id, name, depth + 1, indent)}"
        if k == Kind.TYPE_TAG:
            return self.decl(t.type_id, name, depth + 1, indent)
        if k == Kind.FUNC_PROTO:
            params = ", ".join(
                "..." if p.type_id == 0 and not p.name else self.decl(p.type_id, "", depth + 1, indent)
                for p in t.params
            ) or "void"
            return self.decl(t.type_id, f"{name}({params})", depth + 1, indent)
        raise ObjectError(f"BTF type {type_id} ({k.name}) cannot appear in a C declaration")

    def body(self, t: BtfType, indent: int) -> str:
        pad = "\t" * (indent + 1)
        head = f"{'struct' if t.kind == Kind.STRUCT else 'union'}"
        if t.name:
            head += f" {self.name(t)}"
        lines = [head + " {"]
        packed = self._packed(t)
        off = 0  # bits laid out so far (structs only)
        for m in t.members:
            if t.kind == Kind.STRUCT:
                lines += [f"{pad}{p}" for p in self._padding(off, self._placed(m, off, packed), m.bit_offset)]
            decl = self.decl(m.type_id, m.name, 0, indent + 1)
            if m.bitfield_size:
                decl += f": {m.bitfield_size}"
            lines.append(f"{pad}{decl};")
            end = m.bit_offset + (m.bitfield_size or 8 * self._size(m.type_id))
            off = max(off, end) if t.kind == Kind.STRUCT else 0
        if t.kind == Kind.STRUCT:
            align = 8 if packed else 8 * self._align(t)
            natural = -(-off // align) * align
            if natural < 8 * t.size:  # trailing padding the natural layout would not add
                lines += [f"{pad}{p}" for p in self._padding(off, off, 8 * t.size)]
        lines.append("\t" * indent + "}" + (" __attribute__((packed))" if packed else ""))
        return "\n".join(lines)

    def _size(self, type_id: int) -> int:
        try:
            return self.btf.sizeof(type_id)
        except ObjectError:
            return 0

    def _align(self, t: BtfType) -> int:
        try:
            return self.btf.alignof(t.id)
        except ObjectError:
            return 1

    def _placed(self, m: Member, off: int, packed: bool) -> int:
        """Where a C compiler would put member `m` after `off` bits, with no explicit padding."""
        size = self._size(m.type_id)
        if m.bitfield_size:
            unit = 8 * max(size, 1)
            if packed or (off % unit) + m.bitfield_size <= unit:
                return off
            return -(-off // unit) * unit
        align = 8 if packed else 8 * self._align(self.btf.type(m.type_id))
        return -(-off // align) * align

    @staticmethod
    def _padding(off: int, placed: int, target: int) -> list[str]:
        """Unnamed bitfields that move the layout from `off` to `target` bits when it would stop at `placed`."""
        if target <= placed:
            return []
        out = []
        while off < target:
            n = min(target - off, 64 - off % 64)
            out.append(f"long: {n};")
            off += n
        return out

    def enum_body(self, t: BtfType, indent: int) -> str:
        pad = "\t" * (indent + 1)
        head = f"enum {self.name(t)}" if t.name else "enum"
        names = self.enumerators.get(t.id) or [v.name for v in t.values]
        values = [f"{pad}{n} = {_literal(v.value)}," for n, v in zip(names, t.values, strict=True)]
        packed = " __attribute__((packed))" if t.size < 4 else ""  # 1- and 2-byte enums
        return "\n".join([head + " {", *values, "\t" * indent + "}" + packed])

    def _packed(self, t: BtfType) -> bool:
        """Whether a member sits at an offset that natural alignment would not give it."""
        for m in t.members:
            if m.bitfield_size:
                continue
            try:
                align = self.btf.alignof(m.type_id)
            except ObjectError:
                continue
            if m.bit_offset % (8 * align):
                return True
        try:
            # bitfields count too: `unsigned int x: 4` makes the struct 4-byte aligned in C
            align = max((self.btf.alignof(m.type_id) for m in t.members), default=1)
        except ObjectError:
            return False
        return t.size % align != 0

    # -- ordering ---------------------------------------------------------------------------------

    def emit(self, type_id: int, through_ptr: bool, depth: int = 0) -> None:
        """Emit what `type_id` needs before a use of it (by value, or only through a pointer)."""
        if depth > 4 * _MAX_DEPTH:
            raise ObjectError(f"BTF type {type_id}: dependency chain too deep")
        key = (type_id, through_ptr)
        if key in self.visited:
            return
        self.visited.add(key)
        t = self.btf.type(type_id)
        k = t.kind
        if k in (Kind.VOID, Kind.INT, Kind.FLOAT, Kind.FWD, Kind.ENUM, Kind.ENUM64):
            return  # base types; enums and forward declarations are emitted up front
        if k == Kind.PTR:
            self.emit(t.type_id, True, depth + 1)
            return
        if k in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG):
            self.emit(t.type_id, through_ptr, depth + 1)
            return
        if k == Kind.ARRAY:
            self.emit(t.elem_type, through_ptr, depth + 1)
            return
        if k == Kind.FUNC_PROTO:
            self.emit(t.type_id, True, depth + 1)
            for p in t.params:
                self.emit(p.type_id, True, depth + 1)
            return
        if k == Kind.TYPEDEF:
            # `typedef struct foo foo_t;` is valid with foo only declared; a use by value of the
            # typedef needs the full definition first.
            target = self.btf.skip_modifiers(t.type_id, typedefs=False)
            self.emit(t.type_id, through_ptr and target.is_composite and bool(target.name), depth + 1)
            if self.state.get(t.id) != 2 and t.name not in _BUILTIN_TYPEDEFS:
                self.state[t.id] = 2
                self.out.append(f"typedef {self.decl(t.type_id, self.name(t))};")
            return
        if t.is_composite:
            if t.name and through_ptr:
                return  # a forward declaration (emitted up front) is enough
            if self.state.get(t.id) in (1, 2):
                return
            self.state[t.id] = 1
            for m in t.members:
                self.emit(m.type_id, False, depth + 1)
            self.state[t.id] = 2
            if t.name:
                self.out.append(self.body(t, 0) + ";")
            return

    # -- kfuncs ------------------------------------------------------------------------------------

    def kfunc_prototypes(self) -> list[str]:
        """`extern <prototype> __weak __ksym;` for each FUNC the kernel tags `bpf_kfunc`, as bpftool."""
        tags: dict[int, set[str]] = {}
        for t in self.btf:
            if t.kind == Kind.DECL_TAG and t.component_idx == -1:
                tags.setdefault(t.type_id, set()).add(t.name)
        out: list[str] = []
        seen: set[str] = set()
        for func_id in sorted(tags):
            func = self.btf.type(func_id)
            if func.kind != Kind.FUNC or "bpf_kfunc" not in tags[func_id] or func.name in seen:
                continue
            proto = self.btf.type(func.type_id)
            if proto.kind != Kind.FUNC_PROTO:
                continue
            try:
                params = ", ".join(
                    "..." if p.type_id == 0 and not p.name else self.decl(p.type_id, p.name)
                    for p in proto.params
                ) or "void"
                text = self.decl(proto.type_id, f"{func.name}({params})")
            except ObjectError:
                continue  # a type C cannot spell: leave this kfunc out rather than break the header
            seen.add(func.name)
            fastcall = " __bpf_fastcall" if "bpf_fastcall" in tags[func_id] else ""
            out.append(f"extern {text} __weak __ksym{fastcall};")
        return out

    def header(self, guard: str) -> str:
        fwd = [f"{self.tagged(t)};" for t in self.btf if t.name and (t.is_composite or t.kind == Kind.FWD)]
        enums = [self.enum_body(t, 0) + ";" for t in self.btf if t.kind in (Kind.ENUM, Kind.ENUM64) and t.values]
        for t in self.btf:
            if t.kind == Kind.TYPEDEF or (t.is_composite and t.name):
                self.emit(t.id, False)
        kfuncs = self.kfunc_prototypes()
        return "\n".join([
            f"#ifndef {guard}", f"#define {guard}", "",
            "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX",
            "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)",
            "#endif", "",
            *(_KFUNC_ATTRIBUTES if kfuncs else ()),
            *fwd, "", *enums, "", *self.out, "",
            *(("#ifndef BPF_NO_KFUNC_PROTOTYPES", *kfuncs, "#endif", "") if kfuncs else ()),
            "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX", "#pragma clang attribute pop", "#endif", "",
            f"#endif /* {guard} */", "",
        ])


# What the kfunc prototypes need, unless the includer defines it (or wants no prototypes).
_KFUNC_ATTRIBUTES = (
    "#ifndef BPF_NO_KFUNC_PROTOTYPES",
    "#ifndef __ksym", "#define __ksym __attribute__((section(\".ksyms\")))", "#endif",
    "#ifndef __weak", "#define __weak __attribute__((weak))", "#endif",
    "#ifndef __bpf_fastcall",
    "#if __has_attribute(bpf_fastcall)", "#define __bpf_fastcall __attribute__((bpf_fastcall))",
    "#else", "#define __bpf_fastcall", "#endif",
    "#endif",
    "#endif", "",
)


def _literal(value: int) -> str:
    if value > (1 << 63) - 1:
        return f"{value}ULL"
    if value > (1 << 31) - 1 or value < -(1 << 31):
        return f"{value}LL"
    return str(value)


def c_header(btf: Btf, guard: str = "__VMLINUX_H__") -> str:
    """Every named type of `btf` as C (structs, unions, enums, typedefs) that a C compiler accepts.

    Structs and unions carry `preserve_access_index`, so programs that include the header get
    CO-RE relocations; duplicated names get a `___N` suffix (enumerators of renamed enums too).
    Functions the BTF tags `bpf_kfunc` are declared `extern ... __weak __ksym;` (unless the
    includer defines BPF_NO_KFUNC_PROTOTYPES), so programs can call the kernel's kfuncs.
    """
    return _Header(btf).header(guard)
