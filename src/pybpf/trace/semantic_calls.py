"""Semantic checks of function calls: arity, argument types, printf formats, stacks, unsafe functions."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from pybpf.trace import ast
from pybpf.trace.errors import TraceError
from pybpf.trace.printf import CONVERSION_RE, printf_conversions  # noqa: F401 - re-exported
from pybpf.trace.symbols import MAX_STACK
from pybpf.trace.types import INT, KSTACK, KSYM, STRLEN, UINT, USTACK, USYM, MapInfo, Type, string

if TYPE_CHECKING:
    from pybpf.trace.semantic import ProbeScope

FUNCTIONS = {  # name: (min args, max args)
    "printf": (1, 64), "print": (1, 3), "clear": (1, 1), "zero": (1, 1), "delete": (1, 2), "exit": (0, 1),
    "time": (0, 1), "join": (1, 2), "str": (1, 2), "strncmp": (3, 3), "count": (0, 0), "sum": (1, 1),
    "avg": (1, 1), "min": (1, 1), "max": (1, 1), "stats": (1, 1), "hist": (1, 1), "lhist": (4, 4),
    "kstack": (0, 2), "ustack": (0, 2), "ksym": (1, 1), "usym": (1, 1), "kaddr": (1, 1),
    "signal": (1, 1), "cat": (1, 64), "system": (1, 64), "strftime": (2, 2), "ntop": (1, 2),
    "sizeof": (1, 1), "offsetof": (1, 1), "cgroupid": (1, 1), "strerror": (1, 1), "buf": (1, 2),
    "has_key": (2, 9), "bswap": (1, 1), "reg": (1, 1), "uaddr": (1, 1), "macaddr": (1, 1), "syscall_name": (1, 1),
    "cgroup_path": (1, 2), "strcontains": (2, 2), "pton": (1, 1), "override": (1, 1), "path": (1, 2),
    "signal_thread": (1, 1), "skboutput": (4, 4),
}
# bpftrace refuses these without --unsafe (its UNSAFE_BUILTIN_FUNCS and the stdlib's **unsafe** helpers)
UNSAFE_FUNCTIONS = ("system", "signal", "signal_thread", "override")
TRACING_PROVIDERS = ("fentry", "fexit", "iter")
class CallChecker:
    """Mixin of Analyzer: the type of a call and the checks of its arguments."""

    maps: dict[str, MapInfo]
    strict: bool
    uses_join: bool
    uses_stacks: bool
    uses_user_symbols: bool
    unsafe: bool
    dry_run: bool
    constants: dict[str, int]
    warnings: dict[tuple[int, int, int], TraceError]
    skb_outputs: list[str]

    def err(self, node: ast.Node, message: str) -> TraceError:
        raise NotImplementedError

    def typeof(self, e: ast.Expr, scope: ProbeScope, statement: bool = False) -> Type:
        raise NotImplementedError

    def key_of(self, ref: ast.MapRef, info: MapInfo, scope: ProbeScope) -> None:
        raise NotImplementedError

    def check_call(self, e: ast.Call, scope: ProbeScope) -> Type:
        name, args = e.name, e.args
        if name == "__index":
            base_t, index_t = self.typeof(args[0], scope), self.typeof(args[1], scope)
            if base_t.kind == "str":
                if not isinstance(args[1], ast.Integer) or not 0 <= args[1].value < base_t.size:
                    raise self.err(args[1], f"a string index must be an integer literal from 0 to "
                                   f"{base_t.size - 1}")
                return Type("int", size=1)
            if base_t.kind != "int" or not base_t.deref:
                raise self.err(e, "only pointers to integers or pointers (e.g. args->argv[1], ((uint32 *)arg0)[2]) "
                               "can be indexed")
            if index_t.kind != "int":
                raise self.err(args[1], "the index must be an integer")
            # an element that is a pointer may be read further (str(args->argv[1]), *p)
            return Type("int", signed=base_t.signed if base_t.deref < 8 else False, user=base_t.user,
                        deref=1 if base_t.deref == 8 else 0)
        if name in UNSAFE_FUNCTIONS and not self.unsafe:
            raise self.err(e, f"{name}() is an unsafe function being used in safe mode: run with --unsafe")
        if name in ("strcontains", "pton", "override", "path", "skboutput"):
            from pybpf.trace.semantic_more import check_more

            return check_more(self, e, scope)
        if name == "getopt":
            raise self.err(e, "getopt() expects a parameter name (string literal) and an optional default value")
        if name not in FUNCTIONS:
            raise self.err(e, f"Unknown function: {name}")
        lo, hi = FUNCTIONS[name]
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.err(e, f"{name}() requires {want} argument{'s' if hi != 1 else ''} ({len(args)} provided)")
        if name in ("print", "clear", "zero") and isinstance(args[0], ast.MapRef):
            ref = args[0]
            if ref.keys is not None:
                raise self.err(e, f"The map passed to {name}() should not be indexed by a key")
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
        if name == "has_key":
            if not isinstance(args[0], ast.MapRef) or args[0].keys is not None:
                raise self.err(args[0], "has_key() expects a map as its first argument")
            ref = args[0]
            info = self.maps.get(ref.name)
            if info is None:
                if self.strict:
                    raise self.err(ref, f"Undefined map: {ref.name}")
                for a in args[1:]:
                    self.typeof(a, scope)
                return INT
            probe = ast.MapRef(ref.line, ref.column, ref.end_column, ref.name, list(args[1:]))
            self.key_of(probe, info, scope)
            e.__dict__["_key_ref"] = probe
            return INT
        if name == "reg":
            from pybpf.trace.usdt import reg_offset

            if not isinstance(args[0], ast.String) or reg_offset(args[0].value) is None:
                raise self.err(args[0], "reg() expects a register name such as \"ip\", \"sp\" or \"di\"")
            if scope.probe.provider not in ("kprobe", "kretprobe", "uprobe", "uretprobe", "usdt"):
                raise self.err(e, "reg() can only be used with kprobe, uprobe and usdt probes")
            return UINT
        if name == "uaddr":
            if not isinstance(args[0], ast.String):
                raise self.err(args[0], "uaddr() expects a symbol name (string literal)")
            if scope.probe.provider not in ("uprobe", "uretprobe", "usdt"):
                raise self.err(e, "uaddr() can only be used with uprobe and usdt probes")
            from pybpf.kernel.uprobe import defined_symbols, open_elf

            syms = [sym for sym in defined_symbols(open_elf(scope.probe.target)) if sym.name == args[0].value]
            if not syms:
                raise self.err(args[0], f"uaddr(): symbol {args[0].value!r} not found in {scope.probe.target}")
            self.constants[f"uaddr:{id(e)}"] = syms[0].value
            size = syms[0].size if syms[0].size in (1, 2, 4, 8) else 8
            return Type("int", signed=False, deref=size, user=True)
        if name in ("sizeof", "offsetof", "cgroupid"):
            assert isinstance(args[0], ast.String) or name == "cgroupid"
            value = self.compile_time(e, name, args[0], scope)
            self.constants[f"{name}:{id(e)}"] = value
            return INT
        types = [self.typeof(a, scope, statement=name == "print") for a in args]
        if name == "buf":
            if types[0].kind != "int":
                raise self.err(args[0], "buf() expects an address")
            size = STRLEN
            if len(args) == 2:
                if isinstance(args[1], ast.Integer):
                    if not 0 < args[1].value <= 256:
                        raise self.err(args[1], "buf() length must be from 1 to 256")
                    size = args[1].value
                elif types[1].kind != "int":
                    raise self.err(args[1], "buf() length must be an integer")
                # a length computed at run time: at most STRLEN bytes are read
            return Type("buf", size + 8, limit=size)
        if name == "bswap":
            if types[0].kind != "int":
                raise self.err(args[0], "bswap() expects an integer")
            return Type("int", size=types[0].size, signed=False)
        if name in ("syscall_name", "cgroup_path"):
            if types[0].kind != "int":
                raise self.err(args[0], f"{name}() expects an integer")
            if len(args) == 2 and not isinstance(args[1], ast.String):
                raise self.err(args[1], "cgroup_path() filter must be a string literal")
            return Type(name, 8)
        if name == "strerror":
            if types[0].kind != "int":
                raise self.err(args[0], "strerror() expects an error number")
            return Type("strerror", 8)
        if name == "ntop":
            last = types[-1]
            if last.kind == "inet":  # ntop(pton("::1")): already an address
                return last
            byte_array = last.kind == "str" and last.size in (4, 16) and isinstance(args[-1], ast.FieldAccess)
            if any(t.kind != "int" for t in types[:-1]) or (last.kind != "int" and not byte_array):
                raise self.err(e, "ntop() expects an address (an integer or a byte array such as args->daddr), "
                               "optionally after the address family: ntop(AF_INET6, args->daddr_v6)")
            return Type("inet", 24)
        if name == "macaddr":
            t = types[0]
            if not (t.kind == "int" or (t.kind == "str" and t.size >= 6 and isinstance(args[0], ast.FieldAccess))):
                raise self.err(args[0], "macaddr() expects an address or a byte array of at least 6 bytes")
            return Type("macaddr", 8)
        if name == "strftime":
            if not isinstance(args[0], ast.String) or types[1].kind != "int":
                raise self.err(e, "strftime() expects a format string literal and a time in nanoseconds (nsecs)")
            return Type("strftime", 8, fmt=args[0].value)
        if name == "kaddr":
            from pybpf.trace.symbols import kernel_address

            if not isinstance(args[0], ast.String):
                raise self.err(args[0], "kaddr() expects a symbol name (string literal)")
            addr = kernel_address(args[0].value)
            if addr is None and self.dry_run:
                self.warnings.setdefault(args[0].span(), TraceError(
                    f"Failed to resolve kernel symbol: {args[0].value} (not in /proc/kallsyms of this kernel)",
                    *args[0].span(), level="WARNING"))
                addr = 0
            if addr is None:
                raise self.err(args[0], f"Failed to resolve kernel symbol: {args[0].value}")
            self.constants[f"kaddr:{args[0].value}"] = addr
            return Type("int", signed=False, deref=8)
        if name in ("ksym", "usym"):
            if types[0].kind != "int":
                raise self.err(args[0], f"{name}() expects an address (integer)")
            self.uses_user_symbols |= name == "usym"
            return KSYM if name == "ksym" else USYM
        if name in ("printf", "cat", "system"):
            return self.check_printf(e, types)
        if name in ("signal", "signal_thread"):
            import signal as signals

            if isinstance(args[0], ast.String):
                if not args[0].value.startswith("SIG") or not hasattr(signals, args[0].value):
                    raise self.err(args[0], f"signal(): unknown signal {args[0].value!r}")
            elif types[0].kind != "int":
                raise self.err(args[0], "signal() expects a signal name or number")
            if scope.probe.provider in ("BEGIN", "END"):
                raise self.err(e, f"{name}() can not be used in BEGIN and END probes")
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

    def compile_time(self, e: ast.Call, name: str, arg: ast.Expr, scope: ProbeScope) -> int:
        """sizeof(TYPE), offsetof(struct X, member) from the kernel's BTF; cgroupid(PATH) from the file system."""
        import os

        from pybpf.trace.structs import C_SIZES, kernel_btf, member, struct_id

        if name == "cgroupid":
            if not isinstance(arg, ast.String):
                raise self.err(arg, "cgroupid() expects a cgroup path (string literal)")
            try:
                return os.stat(arg.value).st_ino
            except OSError as exc:
                raise self.err(arg, f"cgroupid(): cannot stat {arg.value}: {exc.strerror}") from None
        assert isinstance(arg, ast.String)
        text = arg.value.strip()
        if name == "offsetof":
            typ, _, field = text.rpartition(",")
            sid = struct_id(typ.strip())
            m = member(sid, field.strip()) if sid else None
            if m is None:
                raise self.err(e, f"offsetof(): no member '{field.strip()}' in '{typ.strip()}'")
            return m.offset
        if text.endswith("*"):
            return 8
        base = text.replace("unsigned", "").split()
        if base and base[-1] in C_SIZES and not text.startswith(("struct", "union")):
            return C_SIZES[base[-1]]
        sizes = {"int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8}
        if text in sizes:
            return sizes[text]
        sid = struct_id(text) if text.startswith(("struct", "union")) else 0
        btf = kernel_btf()
        if sid and btf is not None:
            return int(btf.sizeof(sid))
        if text.startswith("$") or text.startswith("@") or text.isidentifier():
            from pybpf.trace.parser import parse

            inner = parse(f"BEGIN {{ {text}; }}").probes[0].body[0]
            if isinstance(inner, ast.ExprStmt):
                return self.typeof(inner.expr, scope).storage
        raise self.err(e, f"sizeof(): unknown type '{text}'")

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
        self.uses_user_symbols |= name == "ustack"
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
            if conv == "r" and t.kind != "buf":
                raise self.err(arg, "printf: %r specifier expects a value of type buffer (from buf())")
            if conv not in ("s", "r") and t.is_buffer:
                raise self.err(arg, f"printf: %{conv} specifier expects a value of type integer (string supplied)")
        return INT
