"""Bind policy hooks to the running kernel: tracepoint formats, uprobe targets, refused hook kinds.

A BoundHook knows how its program reads each argument (C expressions against the tracepoint's
format, or the registers of a uprobe), where each value sits in the hook's event record, and how
the value is reported (Tetragon's int_arg, uint_arg, long_arg, size_arg, string_arg, bytes_arg).
Hooks this kernel cannot run (kprobes without the kprobe PMU, LSM programs refused by the kernel)
are refused here with a PolicyError naming the hook and its line.
"""

from __future__ import annotations

import errno
import functools
from dataclasses import dataclass

from pybpf.errors import BpfError, KernelError, LoadError
from pybpf.guard.policy import KERNEL_POINTER_TYPES, STRING_TYPES, Hook, PolicyError, TracingPolicy

# type -> (Tetragon's JSON key, signed, bytes) for integer arguments
INT_KINDS: dict[str, tuple[str, bool, int]] = {
    "int": ("int_arg", True, 4), "int32": ("int_arg", True, 4), "sint32": ("int_arg", True, 4),
    "fd": ("int_arg", True, 4), "int16": ("int_arg", True, 2), "sint16": ("int_arg", True, 2),
    "int8": ("int_arg", True, 1), "sint8": ("int_arg", True, 1),
    "uint32": ("uint_arg", False, 4), "uint16": ("uint_arg", False, 2), "uint8": ("uint_arg", False, 1),
    "int64": ("long_arg", True, 8), "sint64": ("long_arg", True, 8), "long": ("long_arg", True, 8),
    "uint64": ("size_arg", False, 8), "ulong": ("size_arg", False, 8), "unsigned long": ("size_arg", False, 8),
    "size_t": ("size_arg", False, 8),
}
AUTO_INT = {(1, True): "int8", (1, False): "uint8", (2, True): "int16", (2, False): "uint16",
            (4, True): "int32", (4, False): "uint32", (8, True): "int64", (8, False): "uint64"}


@dataclass(frozen=True)
class BoundArg:
    """How one argument is read (C) and reported; `slot` indexes the record's ints or strings."""

    type: str           # the effective type (auto resolved)
    kind: str           # "int" or "str" (strings and char_buf share the string slots)
    slot: int
    json_key: str
    signed: bool = False
    read: str = ""      # C statements filling the slot; `e` is the event, `ctx` the context
    size_slot: int = -1  # char_buf: the int slot holding the size argument
    label: str = ""


@dataclass(frozen=True)
class BoundHook:
    id: int
    policy: str
    hook: Hook
    section: str
    args: tuple[BoundArg, ...]
    n_ints: int
    n_strs: int
    path: str = ""      # uprobe: the resolved binary
    symbol: str = ""

    @property
    def int_offset(self) -> int:
        return 32  # after struct hook_hdr

    @property
    def str_offset(self) -> int:
        return 32 + 8 * self.n_ints

    @property
    def record_size(self) -> int:
        size = self.str_offset + 260 * self.n_strs
        return (size + 7) & ~7


def _cast(typ: str, raw: str) -> str:
    """A C expression converting the raw 64-bit value `raw` to the argument's type, widened to 64 bits."""
    _, signed, size = INT_KINDS[typ]
    ctype = {1: "8", 2: "16", 4: "32", 8: "64"}[size]
    return f"(__s64)(__s{ctype}){raw}" if signed else f"(__s64)(__u{ctype}){raw}"


def _ctx_int(offset: int, size: int) -> str:
    return f"*(__u{size * 8} *)((char *)ctx + {offset})"


def _str_read(slot: int, src: str, space: str, limit: str = "STR_MAX") -> str:
    return (f"{{ long n = bpf_probe_read_{space}_str(e->s[{slot}].data, {limit}, (const void *)({src})); "
            f"e->s[{slot}].prefixlen = n > 0 ? (n - 1) * 8 : 0; }}")


def _buf_read(slot: int, src: str, size_expr: str, space: str) -> str:
    return (f"{{ __u64 n = {size_expr}; if (n > STR_MAX - 1) n = STR_MAX - 1; e->s[{slot}].prefixlen = 0; "
            f"if (n > 0 && bpf_probe_read_{space}(e->s[{slot}].data, n & (STR_MAX - 1) ?: 1, "
            f"(const void *)({src})) == 0) e->s[{slot}].prefixlen = n * 8; }}")


class _Binder:
    def __init__(self, hook: Hook, policy: TracingPolicy) -> None:
        self.hook, self.policy = hook, policy

    def fail(self, message: str, line: int = 0) -> PolicyError:
        return PolicyError(message, path=self.policy.path, line=line or self.hook.line)

    def check_actions(self, override_ok: bool) -> None:
        for sel in self.hook.selectors:
            for act in sel.actions:
                if act.action == "Override" and not override_ok:
                    raise self.fail(f"Override needs kernel error injection (a kprobe or LSM hook); "
                                    f"{self.hook.kind} {self.hook.target} cannot override its caller", act.line)

    def tracepoint(self, hid: int) -> BoundHook:
        from pybpf.kernel.tracefs import tracepoint_format

        hook = self.hook
        if hook.raw:
            raise self.fail("raw tracepoints (raw: true) are not supported by pybpf guard; drop raw to read "
                            "the tracepoint's format fields")
        sub, event = hook.target.split("/", 1)
        try:
            fields = tracepoint_format(sub, event)
        except (LoadError, KernelError) as exc:
            raise self.fail(f"tracepoint {hook.target}: {exc}") from None
        self.check_actions(False)
        ints: list[BoundArg] = []
        strs: list[BoundArg] = []
        out: list[BoundArg] = []
        space = "user" if sub == "syscalls" else "kernel"
        for a in hook.args:
            if a.index >= len(fields):
                raise self.fail(f"tracepoint {hook.target} has {len(fields)} fields but field {a.index} was "
                                f"requested", a.line)
            f = fields[a.index]
            decl = f.declaration
            typ = a.type
            if typ in KERNEL_POINTER_TYPES:
                raise self.fail(f"type {typ} needs a kernel object (kprobe/LSM arguments); tracepoint field "
                                f"{f.name!r} is {decl!r}", a.line)
            if typ in STRING_TYPES:
                slot = len(strs)
                if typ == "char_buf":
                    size_field = a.size_arg_index - 1
                    if size_field >= len(fields):
                        raise self.fail(f"sizeArgIndex {a.size_arg_index} is beyond the {len(fields)} fields of "
                                        f"{hook.target}", a.line)
                    sf = fields[size_field]
                    size_slot = len(ints)
                    ints.append(BoundArg("uint64", "int", size_slot, "", read=""))
                    size_read = f"e->i[{size_slot}] = {_ctx_int(sf.offset, sf.size)};"
                    read = size_read + " " + _buf_read(slot, _ctx_int(f.offset, 8), f"e->i[{size_slot}]", space)
                    b = BoundArg(typ, "str", slot, "bytes_arg", read=read, size_slot=size_slot, label=a.label)
                elif decl.startswith("__data_loc"):
                    read = (f"{{ __u32 loc = {_ctx_int(f.offset, 4)}; "
                            + _str_read(slot, "(char *)ctx + (loc & 0xffff)", "kernel") + " }")
                    b = BoundArg("string", "str", slot, "string_arg", read=read, label=a.label)
                elif "[" in decl:
                    read = _str_read(slot, f"(char *)ctx + {f.offset}", "kernel", str(min(f.size, 256)))
                    b = BoundArg("string", "str", slot, "string_arg", read=read, label=a.label)
                elif "*" in decl or f.size == 8:
                    b = BoundArg("string", "str", slot, "string_arg", read=_str_read(slot, _ctx_int(f.offset, 8), space),
                                 label=a.label)
                else:
                    raise self.fail(f"field {f.name!r} of {hook.target} ({decl!r}) cannot be read as a string", a.line)
                strs.append(b)
                out.append(b)
                continue
            if typ == "auto":
                if "*" in decl or "[" in decl or f.size not in (1, 2, 4, 8):
                    raise self.fail(f"field {f.name!r} of {hook.target} ({decl!r}) needs an explicit type "
                                    f"(string, char_buf, ...)", a.line)
                typ = AUTO_INT[(f.size, f.signed)]
            if f.size not in (1, 2, 4, 8) or "[" in decl:
                raise self.fail(f"field {f.name!r} of {hook.target} ({decl!r}) is not an integer", a.line)
            key, signed, _ = INT_KINDS[typ]
            slot = len(ints)
            b = BoundArg(typ, "int", slot, key, signed, f"e->i[{slot}] = {_cast(typ, _ctx_int(f.offset, f.size))};",
                         label=a.label)
            ints.append(b)
            out.append(b)
        return BoundHook(hid, self.policy.name, hook, f"tracepoint/{sub}/{event}", tuple(out), len(ints), len(strs))

    def regs(self, hid: int, section: str, space: str, syscall: bool = False) -> tuple[tuple[BoundArg, ...], int, int]:
        """Arguments of a uprobe/kprobe, read from the registers of the probed function."""
        ints: list[BoundArg] = []
        out: list[BoundArg] = []
        nstr = 0
        parm = "PT_REGS_PARM{}_CORE_SYSCALL" if syscall else "PT_REGS_PARM{}"
        for a in self.hook.args:
            if a.index > 4:
                raise self.fail(f"argument index {a.index} is beyond the 5 register arguments", a.line)
            reg = parm.format(a.index + 1) + "(ctx)"
            typ = "uint64" if a.type == "auto" else a.type
            if typ in KERNEL_POINTER_TYPES:
                raise self.fail(f"type {typ} is not supported by pybpf guard", a.line)
            if typ in STRING_TYPES:
                if typ == "char_buf":
                    if not 0 < a.size_arg_index <= 5:
                        raise self.fail(f"sizeArgIndex {a.size_arg_index} is not a register argument (1-5)", a.line)
                    size_slot = len(ints)
                    ints.append(BoundArg("uint64", "int", size_slot, ""))
                    read = (f"e->i[{size_slot}] = (__u64){parm.format(a.size_arg_index)}(ctx); "
                            + _buf_read(nstr, reg, f"e->i[{size_slot}]", space))
                    b = BoundArg(typ, "str", nstr, "bytes_arg", read=read, size_slot=size_slot, label=a.label)
                else:
                    b = BoundArg("string", "str", nstr, "string_arg", read=_str_read(nstr, reg, space), label=a.label)
                nstr += 1
            else:
                key, signed, _ = INT_KINDS[typ]
                b = BoundArg(typ, "int", len(ints), key, signed, f"e->i[{len(ints)}] = {_cast(typ, '(__u64)' + reg)};",
                             label=a.label)
                ints.append(b)
            out.append(b)
        return tuple(out), len(ints), nstr

    def uprobe(self, hid: int) -> BoundHook:
        from pybpf.kernel.uprobe import resolve_binary, symbol_offset

        self.check_actions(False)
        path, _, symbol = self.hook.target.rpartition(":")
        try:
            resolved = resolve_binary(path)
            symbol_offset(resolved, symbol)
        except LoadError as exc:
            raise self.fail(f"uprobe {self.hook.target}: {exc}") from None
        args, ni, ns = self.regs(hid, "uprobe", "user")
        return BoundHook(hid, self.policy.name, self.hook, "uprobe", args, ni, ns, resolved, symbol)

    def kprobe(self, hid: int) -> BoundHook:
        from pybpf.kernel.links import kprobes_supported

        if not kprobes_supported():
            raise self.fail(f"kprobe hook {self.hook.target!r} cannot be attached: this kernel has no kprobe PMU "
                            f"(CONFIG_KPROBE_EVENTS is off); use a tracepoint such as syscalls/sys_enter_* instead")
        raise self.fail(f"kprobe hook {self.hook.target!r}: kprobes are not implemented by pybpf guard yet; "
                        f"use a tracepoint such as syscalls/sys_enter_*")

    def lsmhook(self, hid: int) -> BoundHook:
        reason = lsm_refusal(self.hook.target)
        raise self.fail(f"lsmhook {self.hook.target!r} cannot be loaded: {reason}")


@functools.cache
def lsm_refusal(hook: str) -> str:
    """Why an LSM program on `hook` cannot run here, found by asking the kernel to load one."""
    from pybpf.abi import AttachType, ProgramType
    from pybpf.isa import assemble
    from pybpf.kernel.engine import load_program_spec
    from pybpf.object.spec import ProgramSpec

    try:
        spec = ProgramSpec(name="guard_lsm_probe", section=f"lsm/{hook}", type=ProgramType.LSM,
                           attach_type=AttachType.LSM_MAC, instructions=tuple(assemble("r0 = 0\nexit")),
                           license="GPL")
        prog = load_program_spec(spec, {})
    except KernelError as exc:
        if exc.errno == errno.EPERM:
            return f"the kernel refuses LSM programs here (EPERM: {exc})"
        return str(exc)
    except BpfError as exc:
        return str(exc)
    prog.close()
    return "LSM hooks are not implemented by pybpf guard yet (the kernel would accept one)"


def bind_policies(policies: list[TracingPolicy]) -> list[BoundHook]:
    """Every hook of every policy bound to this kernel, numbered from 0 in order."""
    out: list[BoundHook] = []
    for pol in policies:
        for hook in pol.hooks:
            binder = _Binder(hook, pol)
            out.append(getattr(binder, hook.kind)(len(out)))
    return out
