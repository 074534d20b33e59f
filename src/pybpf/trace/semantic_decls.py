"""Types that come from declarations rather than values: `let $x: TYPE`, casts, and the loop variable of
`for $kv : @map` (mixin of the Analyzer, kept apart so each file stays small)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf.trace import ast
from pybpf.trace.errors import TraceError
from pybpf.trace.types import INT, STRLEN, UINT, MapInfo, Type, string, unify

if TYPE_CHECKING:
    from pybpf.trace.semantic import ProbeScope

INT_TYPE_NAMES = {"int8", "int16", "int32", "int64", "s8", "s16", "s32", "s64", "char", "short", "int", "long",
                  "bool"}
UINT_TYPE_NAMES = {"uint8", "uint16", "uint32", "uint64", "u8", "u16", "u32", "u64", "unsigned"}
FOR_MAP_KINDS = ("int", "str", "count", "sum", "min", "max")


class DeclaredTypes:
    """Mixin of Analyzer: declared, cast and loop-variable types."""

    maps: dict[str, MapInfo]
    strict: bool
    loop_depth: int

    def err(self, node: ast.Node, message: str) -> TraceError:
        raise NotImplementedError

    def typeof(self, e: ast.Expr, scope: ProbeScope, statement: bool = False) -> Type:
        raise NotImplementedError

    def block(self, stmts: list[ast.Stmt], scope: ProbeScope) -> None:
        raise NotImplementedError

    def expect_int(self, e: ast.Expr, scope: ProbeScope, what: str) -> None:
        raise NotImplementedError

    def for_map(self, s: ast.For, scope: ProbeScope) -> None:
        """`for $kv : @map { }`: $kv is the tuple (key, value) of each element ($kv.0, $kv.1)."""
        assert s.map is not None
        ref = s.map
        if "@" not in s.var:  # the loop variable lives in the loop only: its own name, whatever its type
            scoped = f"{s.var}@{s.line}:{s.column}"
            _rename(s.body, s.var, scoped)
            s.var = scoped
        if ref.keys is not None:
            raise self.err(ref, "for loops iterate over a whole map: drop the key")
        info = self.maps.get(ref.name)
        kv = Type("tuple", items=(INT, INT))
        if info is None or not info.kind:
            if self.strict:
                raise self.err(ref, f"Undefined map: {ref.name}")
        elif info.kind not in FOR_MAP_KINDS:
            raise self.err(ref, f"for loops over {info.kind}() maps are not supported (only maps of integers, "
                           "strings, count(), sum(), min() and max())")
        else:
            value = info.value if info.kind in ("int", "str") else Type("int", signed=info.value.signed)
            kv = Type("tuple", items=(info.key or INT, value))
        old = scope.variables.get(s.var)
        if old is not None and old != kv and self.strict:
            merged = unify(old, kv)
            if merged is None:
                raise self.err(s, f"Type mismatch for {s.var}: the loop variable is '{kv}', not '{old}'")
            kv = merged
        scope.variables[s.var] = kv
        self.loop_depth += 1
        self.block(s.body, scope)
        self.loop_depth -= 1

    def declared_type(self, s: ast.Let) -> Type:
        """The type of `let $x: TYPE`: integers, string / string[N], inet, struct pointers."""
        name = (s.type_name or "").strip()
        if name in INT_TYPE_NAMES:
            return INT
        if name in UINT_TYPE_NAMES:
            return UINT
        if name == "string":
            return string(STRLEN)
        if name.startswith("string[") and name.endswith("]") and name[7:-1].strip().isdigit():
            return string(int(name[7:-1]))
        if name == "inet":
            return Type("inet", 24)
        if name.startswith(("struct ", "union ")) and name.endswith("*"):
            from pybpf.trace.structs import struct_id

            sid = struct_id(name)
            if not sid:
                raise self.err(s, f"Unknown struct/union: '{name.rstrip(' *')}' (not in the kernel's BTF)")
            return Type("int", signed=False, btf_id=sid)
        if name.endswith("*"):
            return UINT
        raise self.err(s, f"unknown type '{name}' in the declaration of {s.name}")

    def cast_type(self, e: ast.Cast, scope: ProbeScope) -> Type:
        name = e.type_name
        # user memory behind uprobe values and pointers that were user pointers already (syscall arguments)
        user = scope.probe.provider in ("uprobe", "uretprobe") or self.typeof(e.operand, scope).user
        if name.startswith(("struct ", "union ")):
            from pybpf.trace.structs import struct_id

            if not name.endswith("*"):
                raise self.err(e, f"cannot cast to '{name}': only struct pointers (e.g. (struct task_struct *))")
            sid = struct_id(name)
            if not sid:
                raise self.err(e, f"Unknown struct/union: '{name.rstrip(' *')}' (not in the kernel's BTF)")
            return Type("int", signed=False, btf_id=sid, user=user)
        base = name.replace("*", "").strip()
        signed = not base.startswith(("u", "unsigned"))
        width = {"8": 1, "16": 2, "32": 4, "char": 1, "short": 2, "int": 4, "unsigned": 4, "bool": 1}
        size = next((v for k, v in width.items() if base.endswith(k)), 8)
        if not name.endswith("*") and size < 8:
            return Type("int", size=size, signed=signed)
        if name.endswith("*"):
            sizes = {"int8": 1, "uint8": 1, "u8": 1, "s8": 1, "char": 1, "int16": 2, "uint16": 2, "u16": 2,
                     "s16": 2, "short": 2, "int32": 4, "uint32": 4, "u32": 4, "s32": 4, "int": 4, "unsigned": 4}
            return Type("int", signed=signed, deref=sizes.get(base, 8), user=user)
        return INT if signed else UINT


def _rename(node: object, old: str, new: str) -> None:
    """Rename the $variable `old` to `new` everywhere under `node` (statements, expressions, lists)."""
    if isinstance(node, list):
        for x in node:
            _rename(x, old, new)
    elif isinstance(node, ast.Variable):
        if node.name == old:
            node.name = new
    elif isinstance(node, ast.Node):
        for value in vars(node).values():
            if isinstance(value, (ast.Node, list)):
                _rename(value, old, new)
