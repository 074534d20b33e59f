"""Code generation of leaf values: builtins, context fields, struct members, strings and symbols."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pybpf.trace import ast
from pybpf.trace.emit import FP, R0, R1, R2, R3, R4, R6, R9, Emitter, fits32
from pybpf.trace.errors import TraceError
from pybpf.trace.probes import PT_REGS_ARGS, PT_REGS_RET, ConcreteProbe
from pybpf.trace.semantic import ARG_RE, Analyzer, ProbeScope
from pybpf.trace.types import STRLEN, Type

if TYPE_CHECKING:
    from pybpf.trace.codegen import Program

H_LOOKUP, H_UPDATE, H_DELETE, H_KTIME, H_PRANDOM, H_CPU = 1, 2, 3, 5, 7, 8
H_PID_TGID, H_UID_GID, H_COMM, H_TASK, H_CGROUP, H_JIFFIES = 14, 15, 16, 35, 80, 118
H_SEND_SIGNAL, H_GET_STACKID, H_GET_FUNC_IP = 109, 27, 173
H_READ_USER, H_READ_KERNEL, H_READ_USER_STR, H_READ_KERNEL_STR, H_RINGBUF_OUTPUT = 112, 113, 114, 115, 130
STACKS_MAP = "stacks"
START_MAP = "start_ns"
BPF_F_USER_STACK = 1 << 8


class ValueCompiler:
    """Mixin of ProbeCompiler: evaluation of the leaves of expressions."""

    e: Emitter
    prog: Program
    an: Analyzer
    cp: ConcreteProbe
    scope: ProbeScope
    variables: dict[str, int]

    def alloc(self, size: int) -> int:
        raise NotImplementedError

    def zero(self, off: int, size: int) -> None:
        raise NotImplementedError

    def typeof(self, x: ast.Expr) -> Type:
        raise NotImplementedError

    def ev(self, x: ast.Expr) -> None:
        raise NotImplementedError

    def count_lost(self, key: int | None = None) -> None:
        raise NotImplementedError

    def builtin(self, x: ast.Builtin) -> None:
        e, name, prov = self.e, x.name, self.cp.provider
        if name in ("pid", "tid"):
            e.call(H_PID_TGID)
            if name == "pid":
                e.alui(">>", R0, 32)
            else:
                e.mov32(R0, R0)
        elif name in ("uid", "gid"):
            e.call(H_UID_GID)
            if name == "gid":
                e.alui(">>", R0, 32)
            else:
                e.mov32(R0, R0)
        elif name == "cpu":
            e.call(H_CPU)
        elif name == "nsecs":
            e.call(H_KTIME)
        elif name == "elapsed":
            # nanoseconds since the probes were attached: user space stores that moment in START_MAP
            now = self.alloc(8)
            e.call(H_KTIME)
            e.stx(8, FP, now, R0)
            key = self.alloc(8)
            e.st(8, FP, key, 0)
            e.ld_map(R1, START_MAP)
            e.stack_ptr(R2, key)
            e.call(H_LOOKUP)
            e.mov(R1, self.prog.start_ns)
            done = e.label()
            e.jcci("==", R0, 0, done)
            e.ldx(8, R1, R0, 0)
            e.place(done)
            e.ldx(8, R0, FP, now)
            e.alu("-", R0, R1)
        elif name == "cpid":
            e.mov(R0, self.prog.cpid)
        elif name == "curtask":
            e.call(H_TASK)
        elif name == "ppid":
            from pybpf.trace.structs import task_parent_member

            parent, tgid = task_parent_member("tgid")
            e.call(H_TASK)
            self.read_at(R0, parent, 8, False)
            self.read_at(R0, tgid, 4, False)
        elif name == "ncpus":
            e.mov(R0, os.cpu_count() or 1)
        elif name == "func" and prov in ("kprobe", "kretprobe"):
            e.movr(R1, R9)
            e.call(H_GET_FUNC_IP)
        elif name == "rand":
            e.call(H_PRANDOM)
        elif name == "cgroup":
            e.call(H_CGROUP)
        elif name == "jiffies":
            e.call(H_JIFFIES)
        elif name == "retval":
            if prov == "fexit":
                e.ldx(8, R0, R9, self.cp.fields["$retval"].offset)
            else:
                e.ldx(8, R0, R9, PT_REGS_RET)
        else:
            m = ARG_RE.match(name)
            if not m:
                value = self.an.constant(name)
                if value is None:
                    raise TraceError(f"Unknown identifier: '{name}'", *x.span())
                e.mov(R0, value if value < (1 << 63) else value - (1 << 64))
                return
            n = int(m.group(1))
            if prov == "usdt":
                self.usdt_arg(self.cp.usdt.args[n])
                return
            if prov in ("uprobe", "kprobe", "uretprobe", "kretprobe"):
                e.ldx(8, R0, R9, PT_REGS_ARGS[n])
            else:
                if prov in ("fentry", "fexit") and n * 8 >= self.cp.fields.get("$retval", _NO_RET).offset:
                    raise TraceError(f"{self.cp.func} has fewer than {n + 1} arguments", *x.span())
                e.ldx(8, R0, R9, 8 * n)

    def usdt_arg(self, a: Any) -> None:
        """r0 = a USDT argument: a constant, a register of pt_regs, or memory at register (+ index << scale)
        + displacement."""
        e = self.e
        if a.kind == "const":
            e.mov(R0, a.offset)
            return
        if a.kind == "sib":  # base + index << scale + displacement
            e.ldx(8, R0, R9, a.index_pt_regs_offset)
            if a.scale > 1:
                e.alui("<<", R0, a.scale.bit_length() - 1)
            e.ldx(8, R1, R9, a.pt_regs_offset)
            e.alu("+", R0, R1)
            self.read_at(R0, a.offset, a.size, True, signed=a.signed)
            return
        e.ldx(8, R0, R9, a.pt_regs_offset)
        if a.kind == "mem":
            self.read_at(R0, a.offset, a.size, True, signed=a.signed)
        elif a.size < 8:
            e.alui("<<", R0, 64 - 8 * a.size)
            e.alui(">>", R0, 64 - 8 * a.size, signed=a.signed)

    def read_at(self, base: int, off: int, size: int, user: bool, *, signed: bool = False) -> None:
        """r0 = the integer of `size` bytes at address base+off (probe_read; 0 when unreadable)."""
        e = self.e
        tmp = self.alloc(8)
        e.st(8, FP, tmp, 0)
        e.movr(R3, base)
        if off:
            e.alui("+", R3, off)
        e.stack_ptr(R1, tmp)
        e.mov(R2, size)
        e.call(H_READ_USER if user else H_READ_KERNEL)
        e.ldx(size if size in (1, 2, 4, 8) else 8, R0, FP, tmp)
        if signed and size < 8:
            e.alui("<<", R0, 64 - 8 * size)
            e.alui(">>", R0, 64 - 8 * size, signed=True)

    def _member(self, x: ast.FieldAccess) -> tuple[Type, Any]:
        from pybpf.trace.structs import member

        bt = self.typeof(x.base)
        m = member(bt.btf_id, x.name)
        if m is None:
            raise TraceError(f"no field {x.name}", *x.span())
        return bt, m

    def join(self, c: ast.Call) -> None:
        e = self.e
        sep = c.args[1].value if len(c.args) > 1 and isinstance(c.args[1], ast.String) else " "
        from pybpf.trace.codegen import EVENTS_MAP, JOIN_ARGS, JOIN_MAP, Event

        event_id = self.prog.event(Event("join", sep))
        self.ev(c.args[0])
        argv = self.alloc(8)
        e.stx(8, FP, argv, R0)
        key = self.alloc(8)
        tmp = self.alloc(8)
        e.st(4, FP, key, 0)
        e.ld_map(R1, JOIN_MAP)
        e.stack_ptr(R2, key)
        e.call(H_LOOKUP)
        done = e.label()
        e.jcci("==", R0, 0, done)
        e.movr(R6, R0)
        e.st(8, R6, 0, event_id)
        for i in range(JOIN_ARGS):
            e.st(1, R6, 8 + i * STRLEN, 0)
        read, read_str = (H_READ_USER, H_READ_USER_STR) if self.cp.user else (H_READ_KERNEL, H_READ_KERNEL_STR)
        fin = e.label()
        for i in range(JOIN_ARGS):
            e.stack_ptr(R1, tmp)
            e.mov(R2, 8)
            e.ldx(8, R3, FP, argv)
            e.alui("+", R3, 8 * i)
            e.call(read)
            e.ldx(8, R3, FP, tmp)
            e.jcci("!=", R0, 0, fin)
            e.jcci("==", R3, 0, fin)
            e.movr(R1, R6)
            e.alui("+", R1, 8 + i * STRLEN)
            e.mov(R2, STRLEN)
            e.call(read_str)
        e.place(fin)
        e.ld_map(R1, EVENTS_MAP)
        e.movr(R2, R6)
        e.mov(R3, 8 + JOIN_ARGS * STRLEN)
        e.mov(R4, 0)
        e.call(H_RINGBUF_OUTPUT)
        self.count_lost()
        e.place(done)

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

    def tuple_item(self, x: ast.FieldAccess) -> int:
        """The stack offset of item N of the tuple x.base (evaluated into a temporary)."""
        bt = self.typeof(x.base)
        base = self.evs(x.base)
        index = int(x.name)
        return base + sum(t.storage for t in bt.items[:index])

    def struct_field_int(self, x: ast.FieldAccess) -> None:
        if self.typeof(x.base).kind == "tuple":
            self.e.ldx(8, R0, FP, self.tuple_item(x))
            return
        bt, m = self._member(x)
        self.ev(x.base)
        if m.kind in ("struct", "array"):
            self.e.alui("+", R0, m.offset)
        elif m.bit_size:
            self.read_at(R0, m.offset, m.size, bt.user)
            if m.bit_shift:
                self.e.alui(">>", R0, m.bit_shift)
            if m.bit_size < 64:
                self.e.alui("<<", R0, 64 - m.bit_size)
                self.e.alui(">>", R0, 64 - m.bit_size, signed=m.signed)
        else:
            self.read_at(R0, m.offset, m.size, bt.user, signed=m.signed)

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

    def field_int(self, x: ast.FieldAccess) -> None:
        f = self.cp.fields[x.name]
        e = self.e
        if f.kind == "data_loc":
            e.ldx(4, R0, R9, f.offset)
            return
        size = f.size if f.kind == "int" and f.size in (1, 2, 4, 8) else 8
        e.ldx(size, R0, R9, f.offset)
        if f.signed and size < 8:
            e.alui("<<", R0, 64 - 8 * size)
            e.alui(">>", R0, 64 - 8 * size, signed=True)

    # -- string expressions (result in a stack buffer) -----------------------------------------
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
        elif t.kind == "inet":
            assert isinstance(x, ast.Call)
            self.inet(x, dst)
        elif t.kind == "macaddr":
            assert isinstance(x, ast.Call)
            self.raw_bytes(x.args[0], dst, 6)
        elif t.kind in ("kstack", "ustack", "ksym", "usym", "strftime", "strerror", "syscall_name", "cgroup_path"):
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
        elif isinstance(x, ast.Builtin):  # func of a kprobe: its address
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
        data = text.encode()[: size - 1].ljust(size, b"\0")
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


def _is_args(x: ast.Expr) -> bool:
    return isinstance(x, ast.Builtin) and x.name == "args"


@dataclass(frozen=True)
class _NoRet:
    offset: int = 1 << 30


_NO_RET = _NoRet()
