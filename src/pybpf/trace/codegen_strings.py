"""Code generation of buffer values: strings, tuples, symbols and stacks, addresses, evaluated into the stack."""

from __future__ import annotations

from pybpf.trace import ast
from pybpf.trace.codegen_values import (
    BPF_F_USER_STACK,
    H_COMM,
    H_GET_STACKID,
    H_PID_TGID,
    H_READ_KERNEL,
    H_READ_KERNEL_STR,
    H_READ_USER,
    H_READ_USER_STR,
    H_TASK,
    ValueCompiler,
    _is_args,
)
from pybpf.trace.compiled import STACKS_MAP
from pybpf.trace.emit import FP, R0, R1, R2, R3, R9, fits32
from pybpf.trace.errors import TraceError
from pybpf.trace.types import Type

H_D_PATH = 147


class StringCompiler(ValueCompiler):
    """Mixin of ProbeCompiler: values that live in a stack buffer (everything but integers)."""

    def tuple_value(self, x: ast.Expr, t: Type, dst: int, size: int, layout: Type) -> None:
        """A tuple's items one after the other at their offsets in `layout`."""
        e = self.e
        if isinstance(x, ast.Tuple) and len(layout.items) == len(x.items):
            pos = dst
            for item, lt in zip(x.items, layout.items, strict=True):
                if lt.is_buffer:
                    self.evs(item, pos, lt.storage, lt)
                else:
                    self.ev(item)
                    e.stx(8, FP, pos, R0)
                pos += lt.storage
            self.zero(pos, dst + size - pos)
            return
        raise TraceError(f"cannot store a {t} as a {layout}", *x.span())


    def struct_field_str(self, x: ast.FieldAccess, dst: int, size: int) -> None:
        if self.typeof(x.base).kind == "tuple":
            item = self.typeof(x)
            self.copy(FP, self.tuple_item(x), dst, min(item.storage, size), size)
            return
        bt, m = self._member(x)
        e = self.e
        self.ev(x.base)
        e.movr(R3, R0)
        e.alui("+", R3, m.offset)
        self.zero(dst, size)
        e.stack_ptr(R1, dst)
        e.mov(R2, min(size, m.size + 1))
        e.call(H_READ_USER_STR if bt.user else H_READ_KERNEL_STR)


    def evs(self, x: ast.Expr, dst: int | None = None, size: int | None = None, layout: Type | None = None) -> int:
        """Evaluate a string (or other buffer value) into fp+dst (allocated when None), NUL padded to `size`
        bytes; a tuple is laid out as `layout` (the type of where it is stored) when given. Returns dst."""
        from pybpf.trace import codegen_maps as cm

        e = self.e
        t = self.typeof(x)
        size = size or t.storage
        if dst is None:
            dst = self.alloc(size)
        if isinstance(x, ast.Tuple):
            self.tuple_value(x, t, dst, size, layout if layout is not None and layout.kind == "tuple" else t)
        elif isinstance(x, ast.Variable):
            self.copy(FP, self.variables[x.name], dst, min(size, t.storage), size)
        elif isinstance(x, ast.MapRef):
            cm.read_str(self, x, dst, size)
        elif isinstance(x, ast.Ternary):
            other, end = e.label(), e.label()
            self.ev(x.cond)
            e.jcci("==", R0, 0, other)
            self.evs(x.then, dst, size)
            e.jmp(end)
            e.place(other)
            self.evs(x.other, dst, size)
            e.place(end)
        elif t.kind == "buf":
            assert isinstance(x, ast.Call)
            self.zero(dst, size)
            if len(x.args) == 2 and not isinstance(x.args[1], ast.Integer):
                # a length known at run time: clamped to the buffer (the verifier needs 1..limit)
                self.ev(x.args[1])
                small, fine = e.label(), e.label()
                e.jcci("<=", R0, t.limit, fine)
                e.mov(R0, t.limit)
                e.place(fine)
                e.jcci("!=", R0, 0, small)
                e.mov(R0, 1)
                e.place(small)
                e.stx(8, FP, dst, R0)
            else:
                e.st(8, FP, dst, t.limit)
            self.ev(x.args[0])
            e.movr(R3, R0)
            e.ldx(8, R2, FP, dst)
            e.stack_ptr(R1, dst + 8)
            e.call(H_READ_USER if self.cp.user else H_READ_KERNEL)
        elif t.kind == "inet" and isinstance(x, ast.Call) and x.name == "pton":
            assert isinstance(x.args[0], ast.String)
            from pybpf.trace.semantic_more import pton_bytes

            raw = (10).to_bytes(8, "little") + (pton_bytes(x.args[0].value) or b"")
            self.const_bytes(raw, dst, 24)
        elif t.kind == "inet":
            assert isinstance(x, ast.Call)
            self.inet(x, dst)
        elif isinstance(x, ast.Call) and x.name == "path":
            self.zero(dst, size)
            self.ev(x.args[0])
            e.movr(R1, R0)
            e.stack_ptr(R2, dst)
            e.mov(R3, min(t.size, size))
            e.call(H_D_PATH)
        elif t.kind == "macaddr":
            assert isinstance(x, ast.Call)
            self.raw_bytes(x.args[0], dst, 6)
        elif t.kind in ("kstack", "ustack", "ksym", "usym", "strftime", "strerror", "syscall_name", "cgroup_path",
                        "username"):
            self.symbolized(x, t, dst)
        elif isinstance(x, ast.String):
            self.const_str(x.value, dst, size)
        elif isinstance(x, ast.Builtin) and x.name == "pcomm":
            from pybpf.trace.structs import task_parent_member

            parent, comm = task_parent_member("comm")
            self.zero(dst, size)
            e.call(H_TASK)
            self.read_at(R0, parent, 8, False)
            e.movr(R3, R0)
            e.alui("+", R3, comm)
            e.stack_ptr(R1, dst)
            e.mov(R2, min(16, size))
            e.call(H_READ_KERNEL_STR)
        elif isinstance(x, ast.Builtin) and x.name == "comm":
            self.zero(dst, size)
            e.stack_ptr(R1, dst)
            e.mov(R2, min(16, size))
            e.call(H_COMM)
        elif isinstance(x, ast.Builtin) and x.name in ("probe", "func"):
            text = self.cp.probe_text if x.name == "probe" else (self.cp.func or self.cp.name)
            self.const_str(text, dst, size)
        elif isinstance(x, ast.FieldAccess) and not _is_args(x.base):
            self.struct_field_str(x, dst, size)
        elif isinstance(x, ast.FieldAccess):
            self.field_str(x, dst, size)
        elif isinstance(x, ast.Call) and x.name == "str":
            at = self.typeof(x.args[0])
            if at.kind == "str":
                self.evs(x.args[0], dst, size)
                if len(x.args) > 1 and isinstance(x.args[1], ast.Integer) and 0 < x.args[1].value <= size:
                    self.zero_tail(dst, x.args[1].value - 1, size)  # str(s, n): at most n - 1 characters
                return dst
            n = min(x.args[1].value, size) if len(x.args) > 1 and isinstance(x.args[1], ast.Integer) else size
            self.ev(x.args[0])
            e.movr(R3, R0)
            self.zero(dst, size)
            e.stack_ptr(R1, dst)
            e.mov(R2, n)
            e.call(H_READ_USER_STR if self.cp.user else H_READ_KERNEL_STR)
        else:
            raise TraceError("unsupported string expression", *x.span())
        return dst


    def symbolized(self, x: ast.Expr, t: Type, dst: int) -> None:
        """kstack/ustack: a stack id from bpf_get_stackid; ksym/usym: the address; user ones add the pid."""
        e = self.e
        if t.kind in ("kstack", "ustack"):
            e.movr(R1, R9)
            e.ld_map(R2, STACKS_MAP)
            e.mov(R3, BPF_F_USER_STACK if t.kind == "ustack" else 0)
            e.call(H_GET_STACKID)
        elif isinstance(x, ast.Builtin):  # func of a kprobe: its address; username: the uid
            self.builtin(x)
        else:  # ksym/usym(addr), strftime(fmt, nsecs), syscall_name(nr), cgroup_path(id)
            assert isinstance(x, ast.Call)
            self.ev(x.args[-1] if x.name != "cgroup_path" else x.args[0])
        e.stx(8, FP, dst, R0)
        if t.kind in ("ustack", "usym"):
            e.call(H_PID_TGID)
            e.alui(">>", R0, 32)
            e.stx(8, FP, dst + 8, R0)


    def inet(self, x: ast.Call, dst: int) -> None:
        """ntop([af,] addr): the family (u64) then the address bytes, as in memory (network order)."""
        e = self.e
        addr = x.args[-1]
        if self.typeof(addr).kind == "inet":
            self.evs(addr, dst, 24)
            return
        self.zero(dst, 24)
        field = self.cp.fields.get(addr.name) if isinstance(addr, ast.FieldAccess) and _is_args(addr.base) else None
        at = self.typeof(addr)
        if field is not None and field.kind == "array":
            for i in range(min(field.size, 16)):
                e.ldx(1, R1, R9, field.offset + i)
                e.stx(1, FP, dst + 8 + i, R1)
            family = 10 if field.size == 16 else 2
        elif at.kind == "str" and isinstance(addr, ast.FieldAccess):
            # a byte array member such as skc_v6_daddr.in6_u.u6_addr8: its bytes, read raw (not as a string)
            bt, m = self._member(addr)
            self.ev(addr.base)
            e.movr(R3, R0)
            e.alui("+", R3, m.offset)
            e.stack_ptr(R1, dst + 8)
            e.mov(R2, min(m.size, 16))
            e.call(H_READ_USER if bt.user else H_READ_KERNEL)
            family = 10 if m.size == 16 else 2
        else:
            self.ev(addr)
            e.stx(8, FP, dst + 8, R0)
            family = 2
        if len(x.args) == 2:
            self.ev(x.args[0])
            e.stx(8, FP, dst, R0)
        else:
            e.st(8, FP, dst, family)


    def raw_bytes(self, addr: ast.Expr, dst: int, n: int) -> None:
        """n bytes (zero padded to 8) at fp+dst from a byte array (context field or struct member) or an address."""
        e = self.e
        self.zero(dst, (n + 7) & ~7)
        field = self.cp.fields.get(addr.name) if isinstance(addr, ast.FieldAccess) and _is_args(addr.base) else None
        if field is not None and field.kind == "array":
            for i in range(min(field.size, n)):
                e.ldx(1, R1, R9, field.offset + i)
                e.stx(1, FP, dst + i, R1)
            return
        user = self.cp.user
        if self.typeof(addr).kind == "str" and isinstance(addr, ast.FieldAccess):
            bt, m = self._member(addr)
            self.ev(addr.base)
            e.alui("+", R0, m.offset)
            user = bt.user
        else:
            self.ev(addr)
        e.movr(R3, R0)
        e.stack_ptr(R1, dst)
        e.mov(R2, n)
        e.call(H_READ_USER if user else H_READ_KERNEL)


    def zero_tail(self, dst: int, start: int, size: int) -> None:
        """NUL bytes from `start` to the end of the string buffer at fp+dst."""
        for i in range(start, size):
            self.e.st(1, FP, dst + i, 0)


    def const_str(self, text: str, dst: int, size: int) -> None:
        self.const_bytes(text.encode()[: size - 1], dst, size)

    def const_bytes(self, raw: bytes, dst: int, size: int) -> None:
        """`raw` NUL padded to `size` bytes at fp+dst."""
        data = raw[:size].ljust(size, b"\0")
        for i in range(0, size, 8):
            word = int.from_bytes(data[i:i + 8], "little", signed=True)
            if fits32(word):
                self.e.st(8, FP, dst + i, word)
            else:
                self.e.mov(R1, word)
                self.e.stx(8, FP, dst + i, R1)


    def copy(self, base: int, src: int, dst: int, n: int, size: int) -> None:
        """Copy n bytes (multiple of 8) from base+src to fp+dst, zero up to size."""
        for i in range(0, n, 8):
            self.e.ldx(8, R1, base, src + i)
            self.e.stx(8, FP, dst + i, R1)
        self.zero(dst + n, size - n)


    def field_str(self, x: ast.FieldAccess, dst: int, size: int) -> None:
        f = self.cp.fields[x.name]
        e = self.e
        self.zero(dst, size)
        if f.kind == "data_loc":
            e.ldx(4, R3, R9, f.offset)
            e.alui("&", R3, 0xFFFF)
            e.alu("+", R3, R9)
            e.stack_ptr(R1, dst)
            e.mov(R2, size)
            e.call(H_READ_KERNEL_STR)
            return
        n = min(f.size, size - 1)
        for i in range(n):
            e.ldx(1, R1, R9, f.offset + i)
            e.stx(1, FP, dst + i, R1)
