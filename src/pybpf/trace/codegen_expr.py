"""Code generation of integer expressions (result in r0): operators, casts, comparisons, value calls."""

from __future__ import annotations

from typing import Any

from pybpf.trace import ast
from pybpf.trace.codegen_strings import StringCompiler
from pybpf.trace.codegen_values import _is_args
from pybpf.trace.compiled import SKB_MAP
from pybpf.trace.emit import FP, R0, R1, R2, R3, R4, R5, R9, fits32
from pybpf.trace.errors import TraceError

H_OVERRIDE_RETURN, H_PERF_EVENT_OUTPUT_SKB, H_KTIME = 58, 111, 5
BPF_F_CURRENT_CPU = 0xFFFFFFFF



class ExprCompiler(StringCompiler):
    """Mixin of ProbeCompiler: integer expressions evaluated into r0."""

    def call_stmt(self, c: ast.Call) -> None:
        raise NotImplementedError

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
        if c.name == "pton":
            self.e.mov(R0, self.an.constants[f"pton:{id(c)}"])
            return
        if c.name == "strcontains":
            assert isinstance(c.args[1], ast.String)
            self.strcontains(c.args[0], c.args[1].value.encode())
            return
        if c.name == "override":
            self.ev(c.args[0])
            self.e.movr(R2, R0)
            self.e.movr(R1, R9)
            self.e.call(H_OVERRIDE_RETURN)
            self.e.mov(R0, 0)
            return
        if c.name == "skboutput":
            self.skboutput(c)
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
                      "system", "signal_thread"):
            self.call_stmt(c)
            self.e.mov(R0, 0)
            return
        raise TraceError(f"{c.name}() cannot be used as a value", *c.span())

    def strcontains(self, hay: ast.Expr, needle: bytes) -> None:
        """r0 = 1 when the literal `needle` occurs in the string `hay` (before its NUL), else 0: unrolled."""
        e = self.e
        size = self.typeof(hay).storage
        starts = size - len(needle) + 1
        if not needle or starts <= 0:
            e.mov(R0, int(not needle))
            return
        buf = self.evs(hay)
        found, missing, end = e.label(), e.label(), e.label()
        for i in range(starts):
            miss = e.label()
            for j, byte in enumerate(needle):
                e.ldx(1, R1, FP, buf + i + j)
                if j == 0:
                    e.jcci("==", R1, 0, missing)  # the haystack ended: not found
                e.jcci("!=", R1, byte, miss)
            e.jmp(found)
            e.place(miss)
        e.place(missing)
        e.mov(R0, 0)
        e.jmp(end)
        e.place(found)
        e.mov(R0, 1)
        e.place(end)

    def skboutput(self, c: ast.Call) -> None:
        """skboutput(file, skb, len, offset): bpf_skb_output appends `len` bytes of the skb to a record
        {event id, time} in the perf event array that user space writes to the pcap file."""
        from pybpf.trace.compiled import Event

        e = self.e
        assert isinstance(c.args[0], ast.String)
        event_id = self.prog.event(Event("skboutput", c.args[0].value))
        rec = self.alloc(16)
        e.st(8, FP, rec, event_id)
        e.call(H_KTIME)
        e.stx(8, FP, rec + 8, R0)
        length = self.alloc(8)
        self.ev(c.args[2])
        e.stx(8, FP, length, R0)
        self.ev(c.args[1])
        e.movr(R1, R0)
        e.ldx(8, R3, FP, length)
        e.alui("<<", R3, 32)
        e.mov(R2, BPF_F_CURRENT_CPU)
        e.alu("|", R3, R2)
        e.ld_map(R2, SKB_MAP)
        e.stack_ptr(R4, rec)
        e.mov(R5, 16)
        e.call(H_PERF_EVENT_OUTPUT_SKB)
