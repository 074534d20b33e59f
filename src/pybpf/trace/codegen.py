"""Code generation: one concrete probe's AST to eBPF instructions (statements, maps, events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pybpf.trace import ast
from pybpf.trace.codegen_values import (
    H_DELETE,
    H_LOOKUP,
    H_RINGBUF_OUTPUT,
    H_SEND_SIGNAL,
    ValueCompiler,
    _is_args,
)
from pybpf.trace.emit import FP, R0, R1, R2, R3, R4, R9, Emitter, fits32
from pybpf.trace.errors import TraceError
from pybpf.trace.probes import ConcreteProbe
from pybpf.trace.semantic import Analyzer, ProbeScope
from pybpf.trace.types import MapInfo, Type

BPF_NOEXIST = 1
STACK_LIMIT = 512
JOIN_ARGS = 16
EVENTS_MAP = "events"
LOST_MAP = "lost"
JOIN_MAP = "join_buf"


@dataclass
class Event:
    """A record kind sent to user space: printf/exit/print/clear/zero/time/join/print_value."""

    kind: str
    fmt: str = ""
    types: list[Type] = field(default_factory=list)
    map_name: str = ""
    args: tuple[int, ...] = ()


@dataclass
class Program:
    """What the code generator shares between probes: maps (name -> kernel map name), events, constants."""

    maps: dict[str, MapInfo]
    map_names: dict[str, str]
    events: list[Event] = field(default_factory=list)
    start_ns: int = 0
    uses_user_symbols: bool = False
    cpid: int = 0

    def event(self, ev: Event) -> int:
        self.events.append(ev)
        return len(self.events) - 1


class ProbeCompiler(ValueCompiler):
    """Compiles one probe body for one concrete attach point."""

    def __init__(self, program: Program, analyzer: Analyzer, probe: ast.Probe, cp: ConcreteProbe) -> None:
        self.prog = program
        self.an = analyzer
        self.probe = probe
        self.cp = cp
        self.scope = ProbeScope(cp)
        self.e = Emitter()
        self.sp = 0
        self.variables: dict[str, int] = {}
        self.exit_label = self.e.label()
        self.loops: list[tuple[int, int]] = []

    # -- stack -------------------------------------------------------------------------------
    def alloc(self, size: int) -> int:
        size = (size + 7) & ~7
        self.sp -= size
        if -self.sp > STACK_LIMIT:
            raise TraceError("the probe needs more than 512 bytes of BPF stack (too many or too long strings)",
                             *self.probe.span())
        return self.sp

    def zero(self, off: int, size: int) -> None:
        for i in range(0, size, 8):
            self.e.st(8, FP, off + i, 0)

    # -- entry ---------------------------------------------------------------------------------
    def compile(self) -> tuple[Any, Any]:
        e = self.e
        self.an.strict = True
        if self.probe.predicate is not None:
            self.an.typeof(self.probe.predicate, self.scope)
        self.an.block(self.probe.body, self.scope)  # final variable types of this probe
        e.movr(R9, R1)
        for name, t in self.scope.variables.items():
            off = self.alloc(t.storage)
            self.variables[name] = off
            self.zero(off, t.storage)
        if self.probe.predicate is not None:
            mark = self.sp
            self.ev(self.probe.predicate)
            self.sp = mark
            e.jcci("==", R0, 0, self.exit_label)
        self.block(self.probe.body)
        e.place(self.exit_label)
        e.mov(R0, 0)
        e.exit()
        return e.finish()

    def typeof(self, x: ast.Expr) -> Type:
        return self.an.typeof(x, self.scope, statement=True)

    # -- statements ----------------------------------------------------------------------------
    def block(self, stmts: list[ast.Stmt]) -> bool:
        """Compile statements; True when the block always ends in exit() (what follows is dead code)."""
        for s in stmts:
            mark = self.sp
            ends = self.statement(s)
            self.sp = mark
            if ends:
                return True  # the verifier rejects unreachable instructions: stop here
        return False

    def statement(self, s: ast.Stmt) -> bool:
        if isinstance(s, ast.ExprStmt):
            if isinstance(s.expr, ast.Call):
                self.call_stmt(s.expr)
                return s.expr.name == "exit"
            self.value(s.expr)
        elif isinstance(s, ast.Assign):
            self.assign(s)
        elif isinstance(s, ast.If):
            other = self.e.label()
            end = self.e.label()
            self.ev(s.cond)
            self.e.jcci("==", R0, 0, other)
            then_ends = self.block(s.then)
            if not then_ends:
                self.e.jmp(end)
            self.e.place(other)
            other_ends = self.block(s.other) if s.other else False
            self.e.place(end)
            return then_ends and other_ends
        elif isinstance(s, ast.Unroll):
            for _ in range(s.count):
                if self.block(s.body):
                    return True
        elif isinstance(s, ast.While):
            top, end = self.e.label(), self.e.label()
            self.e.place(top)
            self.ev(s.cond)
            self.e.jcci("==", R0, 0, end)
            self.loops.append((top, end))
            ends = self.block(s.body)
            self.loops.pop()
            if not ends:
                self.e.jmp(top)
            self.e.place(end)
        elif isinstance(s, ast.Let):
            assign = s.assignment()
            if assign is not None:
                self.assign(assign)
        elif isinstance(s, ast.For):
            self.for_range(s)
        elif isinstance(s, ast.Jump):
            if s.kind == "return":
                self.e.jmp(self.exit_label)
            else:
                top, end = self.loops[-1]
                self.e.jmp(end if s.kind == "break" else top)
            return True
        return False

    def for_range(self, s: ast.For) -> None:
        """for $i : start..end { body }: both bounds evaluated once; $i from start up to end - 1."""
        assert s.start is not None and s.end is not None
        e = self.e
        var = self.variables[s.var]
        signed = self.scope.variables[s.var].signed
        self.ev(s.start)
        e.stx(8, FP, var, R0)
        end = self.alloc(8)
        self.ev(s.end)
        e.stx(8, FP, end, R0)
        top, step, done = e.label(), e.label(), e.label()
        e.place(top)
        e.ldx(8, R0, FP, var)
        e.ldx(8, R1, FP, end)
        e.jcc(">=", R0, R1, done, signed=signed)
        self.loops.append((step, done))
        self.block(s.body)
        self.loops.pop()
        e.place(step)  # `continue` comes here
        e.ldx(8, R0, FP, var)
        e.alui("+", R0, 1)
        e.stx(8, FP, var, R0)
        e.jmp(top)
        e.place(done)

    def value(self, x: ast.Expr) -> None:
        t = self.typeof(x)
        if t.is_buffer:
            self.evs(x)
        elif t.kind == "int":
            self.ev(x)

    def assign(self, s: ast.Assign) -> None:
        from pybpf.trace import codegen_maps as cm

        target, value = s.target, s.value
        if isinstance(value, ast.Call) and value.name in cm.AGG_KINDS:
            assert isinstance(target, ast.MapRef)
            cm.aggregate(self, target, value)
            return
        vt = self.typeof(value)
        if isinstance(target, ast.Variable):
            off = self.variables[target.name]
            vtype = self.scope.variables[target.name]
            if vt.is_buffer:
                self.evs(value, off, vtype.storage, vtype)
                return
            self.ev(value)
            if s.op != "=":
                self.e.movr(R1, R0)
                self.e.ldx(8, R0, FP, off)
                self.e.alu(s.op[:-1], R0, R1, signed=vt.signed)
            self.e.stx(8, FP, off, R0)
            return
        assert isinstance(target, ast.MapRef)
        cm.store(self, target, s.op, value)

    # -- calls as statements -------------------------------------------------------------------
    def call_stmt(self, c: ast.Call) -> None:
        from pybpf.trace import codegen_maps as cm

        name = c.name
        if name == "printf":
            assert isinstance(c.args[0], ast.String)
            types = [self.typeof(a) for a in c.args[1:]]
            self.emit_event(Event("printf", c.args[0].value, types), c.args[1:], types)
        elif name in ("cat", "system"):
            assert isinstance(c.args[0], ast.String)
            types = [self.typeof(a) for a in c.args[1:]]
            self.emit_event(Event(name, c.args[0].value, types), c.args[1:], types)
        elif name == "signal":
            import signal as signals

            arg = c.args[0]
            if isinstance(arg, ast.String):
                self.e.mov(R1, int(getattr(signals, arg.value)))
            else:
                self.ev(arg)
                self.e.movr(R1, R0)
            self.e.call(H_SEND_SIGNAL)
        elif name == "exit":
            args = c.args
            self.emit_event(Event("exit"), args, [self.typeof(a) for a in args])
            self.e.jmp(self.exit_label)
        elif name == "time":
            fmt = c.args[0].value if c.args and isinstance(c.args[0], ast.String) else "%H:%M:%S\n"
            self.emit_event(Event("time", fmt), [], [])
        elif name in ("print", "clear", "zero"):
            target = c.args[0]
            if isinstance(target, ast.MapRef) and target.keys is None:
                if target.name not in self.prog.maps:
                    raise TraceError(f"Undefined map: {target.name}", *target.span())
                extra = tuple(a.value if isinstance(a, ast.Integer) else 0 for a in c.args[1:])
                self.emit_event(Event(name, map_name=target.name, args=extra), [], [])
            else:
                t = self.typeof(target)
                self.emit_event(Event("print_value", types=[t]), [target], [t])
        elif name == "delete":
            ref = c.args[0]
            assert isinstance(ref, ast.MapRef)
            info = self.prog.maps[ref.name]
            if info.kind in ("hist", "lhist"):
                raise TraceError("delete() of hist/lhist map elements is not supported yet", *ref.span())
            key = cm.build_key(self, ref, info)
            self.e.ld_map(R1, self.prog.map_names[ref.name])
            self.e.stack_ptr(R2, key)
            self.e.call(H_DELETE)
        elif name == "join":
            self.join(c)
        else:
            self.value(c)

    def emit_event(self, ev: Event, args: list[ast.Expr], types: list[Type]) -> None:
        event_id = self.prog.event(ev)
        size = 8 + sum(t.storage for t in types)
        rec = self.alloc(size)
        self.e.st(8, FP, rec, event_id)
        pos = rec + 8
        for a, t in zip(args, types, strict=True):
            if t.is_buffer:
                self.evs(a, pos, t.storage)
            else:
                self.ev(a)
                self.e.stx(8, FP, pos, R0)
            pos += t.storage
        self.output(rec, size)

    def output(self, off: int, size: int) -> None:
        e = self.e
        key = self.alloc(8)
        e.st(8, FP, key, 0)  # before the call: both outcomes then leave the same stack (states prune)
        e.ld_map(R1, EVENTS_MAP)
        e.stack_ptr(R2, off)
        e.mov(R3, size)
        e.mov(R4, 0)
        e.call(H_RINGBUF_OUTPUT)
        self.count_lost(key)

    def count_lost(self, key: int | None = None) -> None:
        """When bpf_ringbuf_output failed (ring full), count the lost event in this CPU's slot of `lost`."""
        e = self.e
        ok = e.label()
        e.jcci("==", R0, 0, ok)
        if key is None:
            key = self.alloc(8)
            e.st(8, FP, key, 0)
        e.ld_map(R1, LOST_MAP)
        e.stack_ptr(R2, key)
        e.call(H_LOOKUP)
        e.jcci("==", R0, 0, ok)
        e.ldx(8, R1, R0, 0)
        e.alui("+", R1, 1)
        e.stx(8, R0, 0, R1)
        e.place(ok)
        e.mov(R0, 0)  # the same r0 on every path

    # -- integer expressions (result in r0) ----------------------------------------------------
    def ev(self, x: ast.Expr) -> None:
        from pybpf.trace import codegen_maps as cm

        e = self.e
        t = self.typeof(x)
        if t.kind != "int":
            raise TraceError(f"expected an integer, got {t}", *x.span())
        if isinstance(x, ast.Integer):
            e.mov(R0, x.value if x.value < (1 << 63) else x.value - (1 << 64))
        elif isinstance(x, ast.Builtin):
            self.builtin(x)
        elif isinstance(x, ast.Variable):
            e.ldx(8, R0, FP, self.variables[x.name])
        elif isinstance(x, ast.MapRef):
            cm.read_int(self, x)
        elif isinstance(x, ast.FieldAccess) and not _is_args(x.base):
            self.struct_field_int(x)
        elif isinstance(x, ast.FieldAccess):
            self.field_int(x)
        elif isinstance(x, ast.Binary):
            self.binary(x)
        elif isinstance(x, ast.Unary):
            self.ev(x.operand)
            if x.op == "*":
                ot = self.typeof(x.operand)
                self.read_at(R0, 0, ot.deref or 8, ot.user or self.cp.user, signed=ot.signed and bool(ot.deref))
            elif x.op == "!":
                self.bool_of(lambda lbl: e.jcci("==", R0, 0, lbl))
            elif x.op == "~":
                e.alui("^", R0, -1)
            elif x.op == "-":
                e.neg(R0)
        elif isinstance(x, ast.Ternary):
            other, end = e.label(), e.label()
            self.ev(x.cond)
            e.jcci("==", R0, 0, other)
            self.ev(x.then)
            e.jmp(end)
            e.place(other)
            self.ev(x.other)
            e.place(end)
        elif isinstance(x, ast.Cast):
            self.ev(x.operand)
            self.cast(x.type_name)
        elif isinstance(x, ast.Call):
            self.call_int(x)
        else:
            raise TraceError("unsupported expression", *x.span())

    def cast(self, name: str) -> None:
        if name.endswith("*"):
            return  # pointer casts only change the type
        bits = {"int8": 8, "uint8": 8, "u8": 8, "s8": 8, "char": 8, "int16": 16, "uint16": 16, "u16": 16,
                "s16": 16, "short": 16, "int32": 32, "uint32": 32, "u32": 32, "s32": 32, "int": 32,
                "unsigned": 32, "bool": 1}.get(name.split()[0] if name else "", 64)
        if bits == 1:
            self.bool_of(lambda lbl: self.e.jcci("!=", R0, 0, lbl))
        elif bits < 64:
            self.e.alui("<<", R0, 64 - bits)
            self.e.alui(">>", R0, 64 - bits, signed=not name.startswith(("u", "unsigned")))

    def bool_of(self, jump_if_true: Any) -> None:
        """r0 = 1 when the jump emitted by `jump_if_true(label)` is taken, else 0."""
        e = self.e
        yes, end = e.label(), e.label()
        jump_if_true(yes)
        e.mov(R0, 0)
        e.jmp(end)
        e.place(yes)
        e.mov(R0, 1)
        e.place(end)

    def binary(self, x: ast.Binary) -> None:
        e = self.e
        op = x.op
        if op in ("&&", "||"):
            end = e.label()
            self.ev(x.left)
            self.bool_of(lambda lbl: e.jcci("!=", R0, 0, lbl))
            e.jcci("==" if op == "&&" else "!=", R0, 0, end)
            self.ev(x.right)
            self.bool_of(lambda lbl: e.jcci("!=", R0, 0, lbl))
            e.place(end)
            return
        lt, rt = self.typeof(x.left), self.typeof(x.right)
        if lt.kind == "str":
            self.string_compare(x.left, x.right, None)
            if op == "!=":
                e.alui("^", R0, 1)
            return
        signed = lt.signed and rt.signed
        if isinstance(x.right, ast.Integer) and fits32(x.right.value):
            self.ev(x.left)
            if op in ("==", "!=", "<", ">", "<=", ">="):
                self.bool_of(lambda lbl: e.jcci(op, R0, x.right.value, lbl, signed=signed))
            elif op in ("/", "%") and x.right.value == 0:
                if op == "/":
                    e.mov(R0, 0)  # BPF semantics (the verifier refuses a constant zero divisor)
            elif op in ("<<", ">>"):
                e.alui(op, R0, x.right.value & 63, signed=signed)  # shifts are masked, as BPF does for registers
            else:
                e.alui(op, R0, x.right.value, signed=signed)
            return
        self.ev(x.left)
        tmp = self.alloc(8)
        e.stx(8, FP, tmp, R0)
        self.ev(x.right)
        e.movr(R1, R0)
        e.ldx(8, R0, FP, tmp)
        if op in ("==", "!=", "<", ">", "<=", ">="):
            self.bool_of(lambda lbl: e.jcc(op, R0, R1, lbl, signed=signed))
        else:
            e.alu(op, R0, R1, signed=signed)

    def string_compare(self, a: ast.Expr, b: ast.Expr, limit: int | None) -> None:
        """r0 = 1 when the C strings a and b are equal (in their first `limit` bytes), else 0."""
        e = self.e
        ta, tb = self.typeof(a), self.typeof(b)
        n = min(ta.storage, tb.storage)
        if limit is not None:
            n = min(n, limit)
        oa = self.evs(a)
        ob = self.evs(b)
        differ, same, end = e.label(), e.label(), e.label()
        for i in range(n):
            e.ldx(1, R1, FP, oa + i)
            e.ldx(1, R2, FP, ob + i)
            e.jcc("!=", R1, R2, differ)
            e.jcci("==", R1, 0, same)
        e.place(same)
        e.mov(R0, 1)
        e.jmp(end)
        e.place(differ)
        e.mov(R0, 0)
        e.place(end)

    def call_int(self, c: ast.Call) -> None:
        if c.name in ("sizeof", "offsetof", "cgroupid"):
            self.e.mov(R0, self.an.constants[f"{c.name}:{id(c)}"])
            return
        if c.name == "__index" and self.typeof(c.args[0]).kind == "str":
            assert isinstance(c.args[1], ast.Integer)
            buf = self.evs(c.args[0])
            self.e.ldx(1, R0, FP, buf + c.args[1].value)
            return
        if c.name == "__index":
            bt = self.typeof(c.args[0])
            self.ev(c.args[0])
            tmp = self.alloc(8)
            self.e.stx(8, FP, tmp, R0)
            self.ev(c.args[1])
            self.e.alui("*", R0, bt.deref)
            self.e.ldx(8, R1, FP, tmp)
            self.e.alu("+", R0, R1)
            self.read_at(R0, 0, bt.deref, bt.user, signed=bt.signed and bt.deref < 8)
            return
        if c.name == "strncmp":
            assert isinstance(c.args[2], ast.Integer)
            self.string_compare(c.args[0], c.args[1], c.args[2].value)
            self.e.alui("^", R0, 1)  # 0 when equal, like bpftrace
            return
        if c.name == "kaddr" and isinstance(c.args[0], ast.String):
            addr = self.an.constants[f"kaddr:{c.args[0].value}"]
            self.e.mov(R0, addr - (1 << 64) if addr >= 1 << 63 else addr)
            return
        if c.name == "reg":
            from pybpf.trace.usdt import reg_offset

            assert isinstance(c.args[0], ast.String)
            self.e.ldx(8, R0, R9, reg_offset(c.args[0].value) or 0)
            return
        if c.name == "uaddr":
            addr = self.an.constants[f"uaddr:{id(c)}"]
            self.e.mov(R0, addr - (1 << 64) if addr >= 1 << 63 else addr)
            return
        if c.name == "has_key":
            from pybpf.trace import codegen_maps as cm

            ref = c.__dict__["_key_ref"]
            key = cm.build_key(self, ref, self.prog.maps[ref.name])
            cm.lookup(self, ref, key)
            self.bool_of(lambda lbl: self.e.jcci("!=", R0, 0, lbl))
            return
        if c.name == "bswap":
            width = {1: 8, 2: 16, 4: 32}.get(self.typeof(c.args[0]).size, 64)
            self.ev(c.args[0])
            if width > 8:
                self.e.bswap(R0, width)
            return
        if c.name == "delete":
            self.call_stmt(c)  # r0 = 0 when the element was deleted: the value is true then
            self.bool_of(lambda lbl: self.e.jcci("==", R0, 0, lbl))
            return
        if c.name in ("print", "clear", "zero", "printf", "exit", "time", "join", "signal", "cat",
                      "system"):
            self.call_stmt(c)
            self.e.mov(R0, 0)
            return
        raise TraceError(f"{c.name}() cannot be used as a value", *c.span())
