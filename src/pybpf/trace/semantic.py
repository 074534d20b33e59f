"""Semantic analysis: types of expressions, variables and maps; every misuse reported with its position."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from pybpf.trace import ast
from pybpf.trace.errors import TraceError
from pybpf.trace.probes import ConcreteProbe
from pybpf.trace.symbols import MAX_STACK
from pybpf.trace.types import (
    AGGREGATES,
    COMM_LEN,
    INT,
    KSTACK,
    KSYM,
    STRLEN,
    UINT,
    USTACK,
    USYM,
    MapInfo,
    Type,
    string,
    unify,
)

INT_BUILTINS = {"pid", "tid", "uid", "gid", "cpu", "nsecs", "elapsed", "cpid", "retval", "curtask", "rand",
                "cgroup", "jiffies"}
STR_BUILTINS = {"comm": COMM_LEN, "probe": STRLEN, "func": STRLEN}
ARG_RE = re.compile(r"arg([0-9])$")
UNSUPPORTED_BUILTINS = {"sarg0", "username", "ctx", "__builtin_ctx"}
FUNCTIONS = {  # name: (min args, max args)
    "printf": (1, 64), "print": (1, 3), "clear": (1, 1), "zero": (1, 1), "delete": (1, 2), "exit": (0, 1),
    "time": (0, 1), "join": (1, 2), "str": (1, 2), "strncmp": (3, 3), "count": (0, 0), "sum": (1, 1),
    "avg": (1, 1), "min": (1, 1), "max": (1, 1), "stats": (1, 1), "hist": (1, 1), "lhist": (4, 4),
    "kstack": (0, 2), "ustack": (0, 2), "ksym": (1, 1), "usym": (1, 1), "kaddr": (1, 1),
    "signal": (1, 1), "cat": (1, 64), "system": (1, 64),
}
# Kernel macros that bpftrace tools use from C headers (pybpf reads no headers); values from the kernel's uapi
KERNEL_MACROS = {
    "TASK_RUNNING": 0x0, "TASK_INTERRUPTIBLE": 0x1, "TASK_UNINTERRUPTIBLE": 0x2, "__TASK_STOPPED": 0x4,
    "__TASK_TRACED": 0x8, "EXIT_DEAD": 0x10, "EXIT_ZOMBIE": 0x20, "TASK_DEAD": 0x80, "AF_UNIX": 1, "AF_INET": 2,
    "AF_INET6": 10, "O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2, "O_CREAT": 0o100, "O_EXCL": 0o200,
    "O_TRUNC": 0o1000, "O_APPEND": 0o2000, "O_NONBLOCK": 0o4000, "O_CLOEXEC": 0o2000000,
}
UNSUPPORTED_FUNCTIONS = {"uaddr", "ntop", "reg", "override", "buf", "sizeof", "offsetof", "cgroupid", "macaddr",
                         "strftime", "path", "strerror", "skboutput", "pton", "strcontains"}
CONVERSION_RE = re.compile(r"%(?P<flags>[-+ #0]*)(?P<width>\*|\d+)?(?:\.(?P<prec>\d+))?"
                           r"(?P<length>hh|h|ll|l|j|z|t)?(?P<conv>[diouxXcspP%])")


def printf_conversions(fmt: str) -> list[str]:
    """The conversion letters of a printf format (without %%)."""
    return [m.group("conv") for m in CONVERSION_RE.finditer(fmt) if m.group("conv") != "%"]


@dataclass
class ProbeScope:
    """Typing context of one concrete probe: its provider/fields and its $variables."""

    probe: ConcreteProbe
    variables: dict[str, Type] = field(default_factory=dict)


class Analyzer:
    """Types a script against its concrete probes; `maps` describes every @map afterwards."""

    def __init__(self) -> None:
        self.maps: dict[str, MapInfo] = {}
        self.strict = False
        self.uses_join = False
        self.uses_stacks = False
        self.constants: dict[str, int] = {}
        self.loop_depth = 0
        self.unsafe = False
        self.warnings: dict[tuple[int, int, int], TraceError] = {}

    def err(self, node: ast.Node, message: str) -> TraceError:
        return TraceError(message, *node.span())

    def analyze(self, script: ast.Script, expansions: list[list[ConcreteProbe]]) -> None:
        self.constants.update(script.defines)
        for strict in (False, False, True):
            self.strict = strict
            for probe, cps in zip(script.probes, expansions, strict=True):
                for cp in cps:
                    scope = ProbeScope(cp)
                    if probe.predicate is not None:
                        self.expect_int(probe.predicate, scope, "predicate")
                    self.block(probe.body, scope)
        for info in self.maps.values():
            if not info.kind:
                info.kind = "int"
            if len(info.keyed_uses) > 1:
                raise TraceError(f"{info.name} used both with and without a key")

    # -- statements -------------------------------------------------------------------------
    def block(self, stmts: list[ast.Stmt], scope: ProbeScope) -> None:
        for s in stmts:
            self.statement(s, scope)

    def statement(self, s: ast.Stmt, scope: ProbeScope) -> None:
        if isinstance(s, ast.ExprStmt):
            if isinstance(s.expr, ast.Call) and s.expr.name in AGGREGATES:
                raise self.err(s.expr, f"{s.expr.name}() should be assigned to a map")
            self.typeof(s.expr, scope, statement=True)
        elif isinstance(s, ast.Assign):
            self.assign(s, scope)
        elif isinstance(s, ast.If):
            self.expect_int(s.cond, scope, "if condition")
            self.block(s.then, scope)
            if s.other:
                self.block(s.other, scope)
        elif isinstance(s, ast.While):
            self.expect_int(s.cond, scope, "while condition")
            self.loop_depth += 1
            self.block(s.body, scope)
            self.loop_depth -= 1
        elif isinstance(s, ast.Jump):
            if s.kind != "return" and not self.loop_depth:
                raise self.err(s, f"'{s.kind}' statement is not allowed outside of a loop")
        elif isinstance(s, ast.Unroll):
            if not 1 <= s.count <= 100:
                raise self.err(s, "unroll() count must be between 1 and 100")
            self.block(s.body, scope)

    def assign(self, s: ast.Assign, scope: ProbeScope) -> None:
        target, value = s.target, s.value
        if isinstance(value, ast.Call) and value.name in AGGREGATES:
            if not isinstance(target, ast.MapRef) or s.op != "=":
                raise self.err(value, f"{value.name}() should be directly assigned to a map")
            self.check_call(value, scope)
            self.define_map(target, value.name, INT, scope, value)
            return
        vtype = self.typeof(value, scope)
        if s.op != "=" and vtype.kind != "int":
            raise self.err(value, f"operator {s.op} needs an integer")
        if vtype.kind == "tuple":
            raise self.err(value, "tuples can only be used as map keys")
        if isinstance(target, ast.Variable):
            old = scope.variables.get(target.name)
            if s.op != "=" and old is None:
                if self.strict:
                    raise self.err(target, f"Undefined or undeclared variable: {target.name}")
                old = INT
            if old is not None and unify(old, vtype) is None:
                raise self.err(s, f"Type mismatch for {target.name}: trying to assign value of type '{vtype}' "
                               f"when variable already contains a value of type '{old}'")
            scope.variables[target.name] = unify(old, vtype) if old else vtype  # type: ignore[assignment]
        elif isinstance(target, ast.MapRef):
            self.define_map(target, "int" if vtype.kind == "int" else "str", vtype, scope, value)
        else:
            raise self.err(target, "only maps and $variables can be assigned to")

    def define_map(self, ref: ast.MapRef, kind: str, vtype: Type, scope: ProbeScope, at: ast.Node) -> None:
        info = self.maps.setdefault(ref.name, MapInfo(ref.name))
        if info.kind and info.kind != kind:
            new = str(vtype) if kind in ("int", "str") else f"{kind}_t"
            old = str(info.value) if info.kind in ("int", "str") else f"{info.kind}_t"
            raise self.err(at, f"Type mismatch for {ref.name}: trying to assign value of type '{new}' when map "
                           f"already contains a value of type '{old}'")
        info.kind = kind
        if kind == "str":
            merged = unify(info.value, vtype) if info.value.kind != "int" else vtype
            if merged is None:
                raise self.err(at, f"Type mismatch for {ref.name}: trying to assign value of type '{vtype}' "
                               f"when map already contains a value of type '{info.value}'")
            info.value = merged
        if kind == "lhist" and isinstance(at, ast.Call):
            params = []
            for a in at.args[1:]:
                if not isinstance(a, ast.Integer):
                    raise self.err(a, "lhist() min, max and step must be integer literals")
                params.append(a.value)
            lo, hi, step = params
            if step <= 0 or hi <= lo:
                raise self.err(at, "lhist() needs min < max and step > 0")
            if (hi - lo) // step > 1000:
                raise self.err(at, "lhist() has more than 1000 buckets")
            info.lhist = (lo, hi, step)
        self.key_of(ref, info, scope)

    def key_of(self, ref: ast.MapRef, info: MapInfo, scope: ProbeScope) -> None:
        keyed = ref.keys is not None
        if info.keyed_uses and keyed not in info.keyed_uses:
            raise self.err(ref, f"{ref.name} used both with and without a key")
        info.keyed_uses.add(keyed)
        if ref.keys is None:
            return
        types = [self.typeof(k, scope) for k in ref.keys]
        for k, t in zip(ref.keys, types, strict=True):
            if t.kind == "tuple":
                raise self.err(k, "nested tuples are not supported as map keys")
        ktype = types[0] if len(types) == 1 else Type("tuple", items=tuple(types))
        if info.key is None:
            info.key = ktype
            return
        merged = unify(info.key, ktype)
        if merged is None:
            raise self.err(ref, f"Argument mismatch for {ref.name}: trying to access with arguments: "
                           f"[{ktype}] when map expects arguments: [{info.key}]")
        info.key = merged

    # -- expressions ------------------------------------------------------------------------
    def expect_int(self, e: ast.Expr, scope: ProbeScope, what: str) -> None:
        t = self.typeof(e, scope)
        if t.kind != "int":
            raise self.err(e, f"{what} must be an integer, not {t}")

    def typeof(self, e: ast.Expr, scope: ProbeScope, statement: bool = False) -> Type:
        t = self._typeof(e, scope, statement)
        e.type = t
        return t

    def _typeof(self, e: ast.Expr, scope: ProbeScope, statement: bool) -> Type:
        if isinstance(e, ast.Integer):
            if not -(1 << 63) <= e.value < (1 << 64):
                raise self.err(e, "integer out of range")
            return INT
        if isinstance(e, ast.String):
            return string(len(e.value.encode()) + 1)
        if isinstance(e, ast.Builtin):
            return self.builtin(e, scope)
        if isinstance(e, ast.Variable):
            t = scope.variables.get(e.name)
            if t is None:
                if self.strict:
                    raise self.err(e, f"Undefined or undeclared variable: {e.name}")
                return INT
            return t
        if isinstance(e, ast.MapRef):
            info = self.maps.get(e.name)
            if info is None:
                if self.strict:
                    raise self.err(e, f"Undefined map: {e.name}")
                return INT
            self.key_of(e, info, scope)
            if info.kind in ("stats", "hist", "lhist") and not statement:
                raise self.err(e, f"{info.kind}() map {e.name} cannot be used in an expression")
            return info.value if info.kind == "str" else INT
        if isinstance(e, ast.FieldAccess):
            return self.field(e, scope)
        if isinstance(e, ast.Call):
            return self.check_call(e, scope)
        if isinstance(e, ast.Binary):
            lt, rt = self.typeof(e.left, scope), self.typeof(e.right, scope)
            if e.op in ("==", "!=") and lt.kind == "str" and rt.kind == "str":
                return INT
            if lt.kind != "int" or rt.kind != "int":
                raise self.err(e, f"Type mismatch for '{e.op}': comparing '{lt}' with '{rt}'")
            if e.op in ("==", "!=", "<", ">", "<=", ">=", "&&", "||"):
                return INT
            if e.op in ("/", "%") and lt.signed and rt.signed:
                self.warnings.setdefault(e.span(), TraceError(
                    f"signed operands for '{e.op}' can lead to undefined behavior (cast to unsigned to silence "
                    "warning)", *e.span(), level="WARNING"))
            return UINT if not lt.signed or not rt.signed else INT
        if isinstance(e, ast.Unary):
            if e.op == "*":
                t = self.typeof(e.operand, scope)
                if not t.deref:
                    raise self.err(e, "only pointers cast to an integer type, e.g. *(uint32 *)arg0, can be "
                                   "dereferenced with '*' (use -> for struct members)")
                return Type("int", signed=t.signed)
            if e.op == "&":
                raise self.err(e, "unary '&' (address of) is not supported")
            self.expect_int(e.operand, scope, f"operand of '{e.op}'")
            return INT
        if isinstance(e, ast.Ternary):
            self.expect_int(e.cond, scope, "ternary condition")
            a, b = self.typeof(e.then, scope), self.typeof(e.other, scope)
            both = unify(a, b)
            if both is None or both.kind == "tuple":
                raise self.err(e, f"Ternary operator must return the same type: have '{a}' and '{b}'")
            return both
        if isinstance(e, ast.Cast):
            self.expect_int(e.operand, scope, "cast operand")
            return self.cast_type(e, scope)
        if isinstance(e, ast.Tuple):
            return Type("tuple", items=tuple(self.typeof(i, scope) for i in e.items))
        raise self.err(e, "unsupported expression")

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
        if name.endswith("*"):
            sizes = {"int8": 1, "uint8": 1, "u8": 1, "s8": 1, "char": 1, "int16": 2, "uint16": 2, "u16": 2,
                     "s16": 2, "short": 2, "int32": 4, "uint32": 4, "u32": 4, "s32": 4, "int": 4, "unsigned": 4}
            return Type("int", signed=signed, deref=sizes.get(base, 8), user=user)
        return INT if signed else UINT

    def builtin(self, e: ast.Builtin, scope: ProbeScope) -> Type:
        name = e.name
        prov = scope.probe.provider
        if name in STR_BUILTINS:
            return string(STR_BUILTINS[name])
        if name in ("kstack", "ustack"):
            return self.stack_type(e, name, [])
        if name == "curtask":
            from pybpf.trace.structs import struct_id

            return Type("int", signed=False, btf_id=struct_id("struct task_struct"))
        if name in INT_BUILTINS:
            if name == "retval" and prov not in ("uretprobe", "kretprobe", "fexit"):
                raise self.err(e, "The retval builtin can only be used with 'kretprobe' and 'uretprobe' and "
                               "'kfunc' probes")
            return UINT if name in ("pid", "tid", "uid", "gid", "cpu", "nsecs", "elapsed", "cpid") else INT
        m = ARG_RE.match(name)
        if m:
            if prov not in ("uprobe", "kprobe", "rawtracepoint", "fentry", "fexit"):
                raise self.err(e, f"The {name} builtin can only be used with 'kprobe', 'uprobe', "
                               "'rawtracepoint' and 'fentry' probes")
            if prov in ("uprobe", "kprobe") and int(m.group(1)) > 5:
                raise self.err(e, f"{name} is not available (only 6 register arguments on x86-64)")
            return INT
        if name == "args":
            raise self.err(e, "args must be used with a field: args->NAME or args.NAME")
        if name in UNSUPPORTED_BUILTINS:
            raise self.err(e, f"the {name} builtin is not supported yet")
        value = self.constant(name)
        if value is not None:
            return INT
        raise self.err(e, f"Unknown identifier: '{name}'")

    def constant(self, name: str) -> int | None:
        """#define in the script, a few well-known kernel macros, or an enumerator of the kernel's BTF."""
        if name not in self.constants:
            value = KERNEL_MACROS.get(name)
            if value is None and name[:1].isupper():
                from pybpf.trace.symbols import kernel_enums

                value = kernel_enums().get(name)
            if value is None:
                return None
            self.constants[name] = value
        return self.constants[name]

    def field(self, e: ast.FieldAccess, scope: ProbeScope) -> Type:
        base = e.base
        if not (isinstance(base, ast.Builtin) and base.name == "args"):
            return self.struct_field(e, scope)
        prov = scope.probe.provider
        if prov not in ("tracepoint", "fentry", "fexit"):
            raise self.err(e, "The args builtin can only be used with tracepoint and fentry/fexit probes")
        f = scope.probe.field_named(e.name)
        if f is None:
            raise self.err(e, f"Struct/union of type 'struct _{scope.probe.name.replace(':', '_')}' "
                           f"does not contain a field named '{e.name}'")
        if f.kind == "array" and f.is_string:
            return string(f.size)
        if f.kind == "data_loc":
            return string(STRLEN) if f.is_string else UINT
        if f.kind == "ptr":
            from pybpf.trace.structs import pointee, pointee_struct

            size, signed = pointee(f.decl)
            return Type("int", signed=signed if size else False, btf_id=pointee_struct(f.decl),
                        user=scope.probe.user, deref=size)
        if f.kind == "array":
            return UINT
        return INT if f.signed else UINT

    def struct_field(self, e: ast.FieldAccess, scope: ProbeScope) -> Type:
        from pybpf.errors import BpfError
        from pybpf.trace.structs import member, struct_name

        bt = self.typeof(e.base, scope)
        if bt.kind != "int" or not bt.btf_id:
            raise self.err(e, f"cannot access field '{e.name}' of a value of type '{bt}' (struct pointers come "
                           "from curtask, tracepoint arguments or casts such as (struct task_struct *)arg0)")
        try:
            m = member(bt.btf_id, e.name)
        except BpfError as exc:
            raise self.err(e, str(exc)) from None
        if m is None:
            raise self.err(e, f"Struct/union of type '{struct_name(bt.btf_id)}' does not contain a field named "
                           f"'{e.name}'")
        if m.kind == "str":
            return string(m.size)
        if m.kind == "int":
            return Type("int", signed=m.signed)
        return Type("int", signed=False, btf_id=m.btf_id, user=bt.user)

    def check_call(self, e: ast.Call, scope: ProbeScope) -> Type:
        name, args = e.name, e.args
        if name == "__index":
            base_t, index_t = self.typeof(args[0], scope), self.typeof(args[1], scope)
            if base_t.kind != "int" or not base_t.deref:
                raise self.err(e, "only pointers to integers or pointers (e.g. args->argv[1], ((uint32 *)arg0)[2]) "
                               "can be indexed")
            if index_t.kind != "int":
                raise self.err(args[1], "the index must be an integer")
            # an element that is a pointer may be read further (str(args->argv[1]), *p)
            return Type("int", signed=base_t.signed if base_t.deref < 8 else False, user=base_t.user,
                        deref=1 if base_t.deref == 8 else 0)
        if name in UNSUPPORTED_FUNCTIONS:
            raise self.err(e, f"{name}() is not supported yet")
        if name not in FUNCTIONS:
            raise self.err(e, f"Unknown function: {name}")
        lo, hi = FUNCTIONS[name]
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.err(e, f"{name}() requires {want} argument{'s' if hi != 1 else ''} ({len(args)} provided)")
        if name in ("print", "clear", "zero") and isinstance(args[0], ast.MapRef):
            ref = args[0]
            if name != "print" and ref.keys is not None:
                raise self.err(ref, f"{name}() expects a map with no keys")
            if ref.name not in self.maps and self.strict:
                raise self.err(ref, f"Undefined map: {ref.name}")
            if ref.keys is None:  # the whole map, keyed or not
                for extra in args[1:]:
                    if not isinstance(extra, ast.Integer):
                        raise self.err(extra, "print() top and div must be integer literals")
                return INT
        if name in ("clear", "zero") and not isinstance(args[0], ast.MapRef):
            raise self.err(args[0], f"{name}() expects a map")
        if name == "delete":
            if len(args) == 2:
                if not isinstance(args[0], ast.MapRef) or args[0].keys is not None:
                    raise self.err(args[0], "delete() expects a map")
                args[0] = ast.MapRef(args[0].line, args[0].column, args[0].end_column, args[0].name, [args[1]])
                del args[1]
            first = args[0]
            if not isinstance(first, ast.MapRef):
                raise self.err(first, "delete() expects a map element")
            ref = first
            if ref.name in self.maps:
                self.key_of(ref, self.maps[ref.name], scope)
            elif self.strict:
                raise self.err(ref, f"Undefined map: {ref.name}")
            return INT
        if name in ("kstack", "ustack"):
            return self.stack_type(e, name, args)
        types = [self.typeof(a, scope, statement=name == "print") for a in args]
        if name == "kaddr":
            from pybpf.trace.symbols import kernel_address

            if not isinstance(args[0], ast.String):
                raise self.err(args[0], "kaddr() expects a symbol name (string literal)")
            addr = kernel_address(args[0].value)
            if addr is None:
                raise self.err(args[0], f"Failed to resolve kernel symbol: {args[0].value}")
            self.constants[f"kaddr:{args[0].value}"] = addr
            return Type("int", signed=False, deref=8)
        if name in ("ksym", "usym"):
            if types[0].kind != "int":
                raise self.err(args[0], f"{name}() expects an address (integer)")
            return KSYM if name == "ksym" else USYM
        if name in ("printf", "cat", "system"):
            if name == "system" and not self.unsafe:
                raise self.err(e, "system() is an unsafe function: run with --unsafe to allow it")
            return self.check_printf(e, types)
        if name == "signal":
            import signal as signals

            if isinstance(args[0], ast.String):
                if not args[0].value.startswith("SIG") or not hasattr(signals, args[0].value):
                    raise self.err(args[0], f"signal(): unknown signal {args[0].value!r}")
            elif types[0].kind != "int":
                raise self.err(args[0], "signal() expects a signal name or number")
            if scope.probe.provider in ("BEGIN", "END"):
                raise self.err(e, "signal() can not be used in BEGIN and END probes")
            return INT
        if name in ("time",) and args and not isinstance(args[0], ast.String):
            raise self.err(args[0], "time() expects a string literal format")
        if name == "exit" and args and types[0].kind != "int":
            raise self.err(args[0], "exit() expects an integer")
        if name in ("sum", "avg", "min", "max", "stats", "hist", "lhist") and types[0].kind != "int":
            raise self.err(args[0], f"{name}() expects an integer, not {types[0]}")
        if name == "str":
            if types[0].kind != "int" and types[0].kind != "str":
                raise self.err(args[0], "str() expects a pointer or a string")
            if len(args) == 2:
                if not isinstance(args[1], ast.Integer):
                    raise self.err(args[1], "str() length must be an integer literal here")
                return string(min(max(args[1].value, 1), 200))
            return string(STRLEN) if types[0].kind == "int" else types[0]
        if name == "strncmp":
            if types[0].kind != "str" or types[1].kind != "str" or not isinstance(args[2], ast.Integer):
                raise self.err(e, "strncmp() expects two strings and an integer literal")
            return INT
        if name == "join":
            self.uses_join = True
            if types[0].kind != "int":
                raise self.err(args[0], "join() expects an array of string pointers (e.g. args->argv)")
            if len(args) == 2 and not isinstance(args[1], ast.String):
                raise self.err(args[1], "join() delimiter must be a string literal")
        return INT

    def stack_type(self, e: ast.Expr, name: str, args: list[ast.Expr]) -> Type:
        """kstack / ustack / kstack(N) / ustack(bpftrace, N)."""
        limit = 0
        for a in args:
            if isinstance(a, ast.Integer) and 0 < a.value <= MAX_STACK:
                limit = a.value
            elif isinstance(a, ast.Builtin) and a.name == "bpftrace":
                continue
            else:
                raise self.err(a, f"{name}() takes an optional frame limit (1 to {MAX_STACK}); other stack "
                               "modes (perf, raw) are not supported yet")
        self.uses_stacks = True
        base = KSTACK if name == "kstack" else USTACK
        return replace(base, limit=limit)

    def check_printf(self, e: ast.Call, types: list[Type]) -> Type:
        fmt = e.args[0]
        if not isinstance(fmt, ast.String):
            raise self.err(fmt, "printf: The first argument must be a string literal")
        convs = printf_conversions(fmt.value)
        given = len(e.args) - 1
        if len(convs) != given:
            raise self.err(e, f"printf: {'Not enough' if given < len(convs) else 'Too many'} arguments for format "
                           f"string ({given} supplied, {len(convs)} expected)")
        for conv, arg, t in zip(convs, e.args[1:], types[1:], strict=True):
            if t.kind == "tuple":
                raise self.err(arg, "printf: tuples cannot be printed")
            if conv == "s" and t.kind != "str" and self.strict:
                pass  # bpftrace prints integers under %s too
            if conv != "s" and t.is_buffer:
                raise self.err(arg, f"printf: %{conv} specifier expects a value of type integer (string supplied)")
        return INT
