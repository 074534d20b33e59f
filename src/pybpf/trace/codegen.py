"""Code generation: one concrete probe's AST to eBPF instructions (statements, maps, events)."""

from __future__ import annotations

from typing import Any

from pybpf.trace import ast
from pybpf.trace.codegen_expr import ExprCompiler
from pybpf.trace.codegen_values import H_DELETE, H_LOOKUP, H_RINGBUF_OUTPUT, H_SEND_SIGNAL
from pybpf.trace.compiled import EVENTS_MAP, LOST_MAP, Event, Program
from pybpf.trace.emit import FP, R0, R1, R2, R3, R4, R9, Emitter
from pybpf.trace.errors import TraceError
from pybpf.trace.probes import ConcreteProbe
from pybpf.trace.semantic import Analyzer, ProbeScope
from pybpf.trace.types import Type

STACK_LIMIT = 512
H_FOR_EACH_MAP_ELEM, H_SEND_SIGNAL_THREAD = 164, 117


class ProbeCompiler(ExprCompiler):
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
        self.callbacks: list[tuple[int, ast.For]] = []  # for-over-map bodies, emitted after the program
        self.ctx_slot = 0  # where the probe's context pointer (r9) is kept for callbacks
        self.ret_slot = 0
        self.var_base = 0  # lowest stack offset of the $variables (what callbacks mirror)
        self.cpid_insns: list[int] = []

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
        self.ctx_slot = self.alloc(8)
        e.stx(8, FP, self.ctx_slot, R9)
        self.ret_slot = self.alloc(8)  # set by a `return`/exit() inside a loop over a map (a callback)
        e.st(8, FP, self.ret_slot, 0)
        self.var_base = self.sp
        if self.probe.predicate is not None:
            mark = self.sp
            self.ev(self.probe.predicate)
            self.sp = mark
            e.jcci("==", R0, 0, self.exit_label)
        self.block(self.probe.body)
        e.place(self.exit_label)
        e.mov(R0, 0)
        e.exit()
        done = 0
        while done < len(self.callbacks):  # callbacks may hold loops over maps too
            self.map_callback(*self.callbacks[done])
            done += 1
        return e.finish()

    def for_map(self, s: ast.For) -> None:
        """for $kv : @map { body }: bpf_for_each_map_elem with the body as a callback sub-program. The
        callback gets a pointer to this frame's $variables (and saved context pointer) as its ctx."""
        assert s.map is not None
        e = self.e
        label = e.label()
        self.callbacks.append((label, s))
        e.ld_map(R1, self.prog.map_names[s.map.name])
        e.ld_func(R2, label)
        e.stack_ptr(R3, self.var_base)
        e.mov(R4, 0)
        e.call(H_FOR_EACH_MAP_ELEM)
        if _returns(s.body):  # the body returned (or called exit()): so does this probe
            e.ldx(8, R0, FP, self.ret_slot)
            e.jcci("!=", R0, 0, self.exit_label)

    def map_callback(self, label: int, s: ast.For) -> None:
        """long cb(map, key, value, ctx): $variables copied in from the caller's frame (same offsets in
        this frame), the body, then copied back; returns 0 to go on, 1 after `break`."""
        e = self.e
        info = self.prog.maps[s.map.name] if s.map is not None else None
        assert info is not None
        e.place(label)
        self.sp = self.var_base
        saved = self.alloc(8)
        e.stx(8, FP, saved, R4)
        kv = self.variables[s.var]
        for i in range(0, info.key_storage, 8):
            e.ldx(8, R0, R2, i)
            e.stx(8, FP, kv + i, R0)
        for i in range(0, min(info.bpf_value_size, self.scope.variables[s.var].storage - info.key_storage), 8):
            e.ldx(8, R0, R3, i)
            e.stx(8, FP, kv + info.key_storage + i, R0)
        self.mirror(saved, into_frame=True, skip=s.var)
        e.ldx(8, R9, R1, self.ctx_slot - self.var_base)
        go_on, stop, returned = e.label(), e.label(), e.label()
        outer = self.exit_label, self.loops
        self.exit_label, self.loops = returned, [(go_on, stop)]
        ends = self.block(s.body)
        self.exit_label, self.loops = outer
        if e.used(returned):  # tell the caller's frame, then stop iterating
            if not ends:
                e.jmp(go_on)
                ends = True
            e.place(returned)
            e.ldx(8, R1, FP, saved)
            e.st(8, R1, self.ret_slot - self.var_base, 1)
            e.jmp(stop)
        for target, ret in ((go_on, 0), (stop, 1)):
            if not e.used(target) and (ends or target == stop):
                continue  # the verifier refuses unreachable code
            e.place(target)
            self.mirror(saved, into_frame=False, skip=s.var)
            e.mov(R0, ret)
            e.exit()

    def mirror(self, saved: int, *, into_frame: bool, skip: str) -> None:
        """Copy every $variable between the caller's frame (pointer at fp+saved) and this one."""
        e = self.e
        e.ldx(8, R1, FP, saved)
        for name, off in self.variables.items():
            if name == skip and into_frame:
                continue
            for i in range(0, self.scope.variables[name].storage, 8):
                if into_frame:
                    e.ldx(8, R0, R1, off - self.var_base + i)
                    e.stx(8, FP, off + i, R0)
                else:
                    e.ldx(8, R0, FP, off + i)
                    e.stx(8, R1, off - self.var_base + i, R0)

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
        elif isinstance(s, ast.For) and s.map is not None:
            self.for_map(s)
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
        elif name in ("signal", "signal_thread"):
            import signal as signals

            arg = c.args[0]
            if isinstance(arg, ast.String):
                self.e.mov(R1, int(getattr(signals, arg.value)))
            else:
                self.ev(arg)
                self.e.movr(R1, R0)
            self.e.call(H_SEND_SIGNAL if name == "signal" else H_SEND_SIGNAL_THREAD)
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


def _returns(stmts: list[ast.Stmt]) -> bool:
    """True when a `return` or an exit() call may run in these statements (nested blocks included)."""
    for s in stmts:
        if isinstance(s, ast.Jump) and s.kind == "return":
            return True
        if isinstance(s, ast.ExprStmt) and isinstance(s.expr, ast.Call) and s.expr.name == "exit":
            return True
        nested = [getattr(s, name) for name in ("then", "other", "body") if isinstance(getattr(s, name, None), list)]
        if any(_returns(block) for block in nested):
            return True
    return False
