"""Semantic analysis: types of expressions, variables and maps; every misuse reported with its position."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pybpf.trace import ast
from pybpf.trace.errors import TraceError
from pybpf.trace.probes import ConcreteProbe
from pybpf.trace.semantic_calls import (  # noqa: F401
    CONVERSION_RE,
    FUNCTIONS,
    CallChecker,
    printf_conversions,
)
from pybpf.trace.semantic_decls import DeclaredTypes
from pybpf.trace.types import (
    AGGREGATES,
    COMM_LEN,
    INT,
    KSYM,
    STRLEN,
    UINT,
    MapInfo,
    Type,
    string,
    unify,
)

INT_BUILTINS = {"pid", "tid", "uid", "gid", "cpu", "nsecs", "elapsed", "cpid", "retval", "curtask", "rand",
                "cgroup", "jiffies", "ppid", "ncpus", "numaid"}
STR_BUILTINS = {"comm": COMM_LEN, "pcomm": COMM_LEN, "probe": STRLEN, "func": STRLEN}
ARG_RE = re.compile(r"arg([0-9])$")
SARG_RE = re.compile(r"sarg([0-9]+)$")
UNSUPPORTED_BUILTINS = {"__builtin_ctx"}
# Kernel macros that bpftrace tools use from C headers (pybpf reads no headers); values from the kernel's uapi
KERNEL_MACROS = {
    "TASK_RUNNING": 0x0, "TASK_INTERRUPTIBLE": 0x1, "TASK_UNINTERRUPTIBLE": 0x2, "__TASK_STOPPED": 0x4,
    "__TASK_TRACED": 0x8, "EXIT_DEAD": 0x10, "EXIT_ZOMBIE": 0x20, "TASK_DEAD": 0x80, "AF_UNIX": 1, "AF_INET": 2,
    "AF_INET6": 10, "O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2, "O_CREAT": 0o100, "O_EXCL": 0o200,
    "O_TRUNC": 0o1000, "O_APPEND": 0o2000, "O_NONBLOCK": 0o4000, "O_CLOEXEC": 0o2000000,
}


@dataclass
class ProbeScope:
    """Typing context of one concrete probe: its provider/fields and its $variables."""

    probe: ConcreteProbe
    variables: dict[str, Type] = field(default_factory=dict)


class Analyzer(CallChecker, DeclaredTypes):
    """Types a script against its concrete probes; `maps` describes every @map afterwards."""

    def __init__(self) -> None:
        self.maps: dict[str, MapInfo] = {}
        self.strict = False
        self.uses_join = False
        self.uses_stacks = False
        self.constants: dict[str, int] = {}
        self.loop_depth = 0
        self.uses_user_symbols = False
        self.has_child = False  # a -c command: cpid is meaningful
        self.unsafe = False
        self.dry_run = False  # kernel symbols that this kernel lacks (kaddr) are warnings, not errors
        self.warnings: dict[tuple[int, int, int], TraceError] = {}
        self.skb_outputs: list[str] = []  # pcap files of skboutput()

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
        elif isinstance(s, ast.Let):
            if s.type_name is not None and s.name not in scope.variables:
                scope.variables[s.name] = self.declared_type(s)
            assign = s.assignment()
            if assign is not None:
                self.assign(assign, scope)
        elif isinstance(s, ast.For):
            if s.map is not None:
                self.for_map(s, scope)
                return
            assert s.start is not None and s.end is not None
            a, b = self.typeof(s.start, scope), self.typeof(s.end, scope)
            if a.kind != "int" or b.kind != "int":
                raise self.err(s, f"for range bounds must be integers, not {a} and {b}")
            old = scope.variables.get(s.var)
            var = Type("int", signed=a.signed and b.signed)
            if old is not None and unify(old, var) is None:
                raise self.err(s, f"Type mismatch for {s.var}: the loop variable is an integer, not '{old}'")
            scope.variables[s.var] = var if old is None else unify(old, var)  # type: ignore[assignment]
            self.loop_depth += 1
            self.block(s.body, scope)
            self.loop_depth -= 1

    def assign(self, s: ast.Assign, scope: ProbeScope) -> None:
        target, value = s.target, s.value
        if isinstance(value, ast.Call) and value.name in AGGREGATES:
            if not isinstance(target, ast.MapRef) or s.op != "=":
                raise self.err(value, f"{value.name}() should be directly assigned to a map")
            self.check_call(value, scope)
            # printed signed or not like the values aggregated (count() is unsigned)
            atype = UINT if not value.args else self.typeof(value.args[0], scope)
            self.define_map(target, value.name, Type("int", signed=atype.signed), scope, value)
            return
        vtype = self.typeof(value, scope)
        if s.op != "=" and vtype.kind != "int":
            raise self.err(value, f"operator {s.op} needs an integer")
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
            new = str(vtype) if kind in ("int", "str") else kind
            old = str(info.value) if info.kind in ("int", "str") else info.kind
            raise self.err(ref, f"Type mismatch for {ref.name}: trying to assign value of type '{new}' when map "
                           f"already contains a value of type '{old}'")
        first = not info.kind
        info.kind = kind
        if kind != "str":
            info.value = vtype if first else (unify(info.value, vtype) or INT)
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
            # an integer map keeps what its values are (a struct pointer stays one: $t = @ptr[tid]; $t.field)
            return info.value if info.kind in ("str", "int") else INT
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
                if t.kind != "int":
                    raise self.err(e, f"cannot dereference a value of type '{t}'")
                # an integer that is not a typed pointer is read as a 64-bit value (like bpftrace)
                return Type("int", signed=t.signed if t.deref else False)
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

    def builtin(self, e: ast.Builtin, scope: ProbeScope) -> Type:
        name = e.name
        prov = scope.probe.provider
        if name == "func" and prov in ("BEGIN", "END"):
            raise self.err(e, f"The func builtin can not be used with '{prov}' probes")
        if name == "func" and prov in ("kprobe", "kretprobe"):
            return KSYM  # the probed function's address (bpf_get_func_ip), printed as its symbol
        if name in STR_BUILTINS:
            return string(STR_BUILTINS[name])
        if name == "username":  # the uid, named in user space as bpftrace does (getpwuid)
            return Type("username", 8)
        if name in ("kstack", "ustack"):
            return self.stack_type(e, name, [])
        if name == "cpid" and not self.has_child:
            raise self.err(e, "cpid cannot be used without child command")
        if name == "curtask":
            from pybpf.trace.structs import struct_id

            return Type("int", signed=False, btf_id=struct_id("struct task_struct"))
        if name in INT_BUILTINS:
            if name == "retval" and prov not in ("uretprobe", "kretprobe", "fexit"):
                raise self.err(e, "The retval builtin can only be used with 'kretprobe' and 'uretprobe' and "
                               "'kfunc' probes")
            return UINT if name in ("pid", "tid", "uid", "gid", "cpu", "nsecs", "elapsed", "cpid", "ppid",
                                    "ncpus", "numaid") else INT
        m = ARG_RE.match(name)
        if m and prov == "usdt":
            args = scope.probe.usdt.args
            if int(m.group(1)) >= len(args):
                raise self.err(e, f"{name}: the USDT probe {scope.probe.func} has {len(args)} argument"
                               f"{'s' if len(args) != 1 else ''}")
            return Type("int", size=args[int(m.group(1))].size, signed=args[int(m.group(1))].signed)
        if m:
            if prov not in ("uprobe", "kprobe", "rawtracepoint", "fentry", "fexit"):
                raise self.err(e, f"The {name} builtin can only be used with 'kprobe', 'uprobe', "
                               "'rawtracepoint' and 'fentry' probes")
            if prov in ("uprobe", "kprobe") and int(m.group(1)) > 5:
                raise self.err(e, f"{name} is not available (only 6 register arguments on x86-64)")
            return INT
        if SARG_RE.match(name):
            if prov not in ("kprobe", "uprobe"):
                raise self.err(e, f"The {name} builtin can only be used with 'kprobe' and 'uprobe' probes")
            return INT
        if name == "args":
            raise self.err(e, "args must be used with a field: args->NAME or args.NAME")
        if name == "ctx":
            if prov != "iter":
                raise self.err(e, "the ctx builtin is supported with iter probes only here")
            from pybpf.trace.structs import struct_id

            sid = struct_id(f"struct bpf_iter__{scope.probe.func}")
            if not sid:
                raise self.err(e, f"no struct bpf_iter__{scope.probe.func} in the kernel's BTF")
            return Type("int", signed=False, btf_id=sid)
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
        if bt.kind == "tuple":
            if not e.name.isdigit() or int(e.name) >= len(bt.items):
                raise self.err(e, f"Invalid tuple index: {e.name} (the tuple has {len(bt.items)} elements)")
            return bt.items[int(e.name)]
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
            return Type("int", size=m.size if not m.bit_size else 8, signed=m.signed)
        if m.kind == "array":  # $s.y[0]: indexed like a pointer to the elements
            return Type("int", signed=m.signed, user=bt.user, deref=m.size)
        return Type("int", signed=False, btf_id=m.btf_id, user=bt.user)
