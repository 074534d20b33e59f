"""Code generation of integer leaves: builtins, probe arguments, context fields, struct members, join()."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pybpf.trace import ast
from pybpf.trace.compiled import START_MAP
from pybpf.trace.emit import FP, R0, R1, R2, R3, R4, R6, R9, Emitter
from pybpf.trace.errors import TraceError
from pybpf.trace.probes import PT_REGS_ARGS, PT_REGS_RET, ConcreteProbe
from pybpf.trace.semantic import ARG_RE, SARG_RE, Analyzer, ProbeScope
from pybpf.trace.types import STRLEN, Type

if TYPE_CHECKING:
    from pybpf.trace.compiled import Program

H_LOOKUP, H_UPDATE, H_DELETE, H_KTIME, H_PRANDOM, H_CPU = 1, 2, 3, 5, 7, 8
H_NUMA_NODE = 42
H_PID_TGID, H_UID_GID, H_COMM, H_TASK, H_CGROUP, H_JIFFIES = 14, 15, 16, 35, 80, 118
H_SEND_SIGNAL, H_GET_STACKID, H_GET_FUNC_IP = 109, 27, 173
H_READ_USER, H_READ_KERNEL, H_READ_USER_STR, H_READ_KERNEL_STR, H_RINGBUF_OUTPUT = 112, 113, 114, 115, 130
BPF_F_USER_STACK = 1 << 8


class ValueCompiler:
    """Mixin of ProbeCompiler: evaluation of the leaves of expressions."""

    e: Emitter
    prog: Program
    an: Analyzer
    cp: ConcreteProbe
    scope: ProbeScope
    variables: dict[str, int]
    exit_label: int
    cpid_insns: list[int]

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

    def evs(self, x: ast.Expr, dst: int | None = None, size: int | None = None, layout: Type | None = None) -> int:
        raise NotImplementedError

    def builtin(self, x: ast.Builtin) -> None:
        e, name, prov = self.e, x.name, self.cp.provider
        if name in ("pid", "tid"):
            e.call(H_PID_TGID)
            if name == "pid":
                e.alui(">>", R0, 32)
            else:
                e.mov32(R0, R0)
        elif name in ("uid", "gid", "username"):
            e.call(H_UID_GID)
            if name == "gid":
                e.alui(">>", R0, 32)
            else:
                e.mov32(R0, R0)
        elif name == "cpu":
            e.call(H_CPU)
        elif name == "numaid":
            e.call(H_NUMA_NODE)
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
            self.cpid_insns.append(len(e.insns))  # patched when a cached compilation runs another command
            e.mov(R0, self.prog.cpid)
        elif name == "ctx":  # iter probes: the struct bpf_iter__NAME pointer
            e.movr(R0, R9)
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
        elif SARG_RE.match(name):
            # stack arguments: above the return address at the entry's stack pointer (x86-64)
            from pybpf.trace.usdt import reg_offset

            e.ldx(8, R1, R9, reg_offset("sp") or 0)
            self.read_at(R1, 8 * (int(name[4:]) + 1), 8, prov == "uprobe")
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
        from pybpf.trace.compiled import EVENTS_MAP, JOIN_ARGS, JOIN_MAP, Event

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
        if isinstance(x.base, ast.Builtin) and x.base.name == "ctx" and self.cp.provider == "iter":
            self.e.jcci("==", R0, 0, self.exit_label)  # like bpftrace: no object (the iterator's last call)

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

def _is_args(x: ast.Expr) -> bool:
    return isinstance(x, ast.Builtin) and x.name == "args"


@dataclass(frozen=True)
class _NoRet:
    offset: int = 1 << 30


_NO_RET = _NoRet()
