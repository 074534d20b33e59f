"""Probe resolution: attach points (with wildcards) expanded to concrete probes with their context layout."""

from __future__ import annotations

import fnmatch
import os
import re
import struct
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pybpf.errors import BpfError
from pybpf.trace.errors import TraceError

if TYPE_CHECKING:
    from pybpf.trace import ast

# x86-64 struct pt_regs offsets: arguments in rdi, rsi, rdx, rcx, r8, r9; return value in rax
PT_REGS_ARGS = (112, 104, 96, 88, 72, 64)
PT_REGS_RET = 80
UNSUPPORTED: dict[str, str] = {}
KERNEL_SPACE = 0xFFFF800000000000  # x86-64: addresses from here up are the kernel's


# perf software/hardware events: name -> (config id, bpftrace's default sample period)
SOFTWARE_EVENTS = {
    "cpu-clock": (0, 1000000), "cpu": (0, 1000000), "task-clock": (1, 1000000), "page-faults": (2, 100),
    "faults": (2, 100), "context-switches": (3, 1000), "cs": (3, 1000), "cpu-migrations": (4, 1),
    "minor-faults": (5, 100), "major-faults": (6, 1), "alignment-faults": (7, 1), "emulation-faults": (8, 1),
    "dummy": (9, 1), "bpf-output": (10, 1),
}
HARDWARE_EVENTS = {
    "cpu-cycles": (0, 1000000), "cycles": (0, 1000000), "instructions": (1, 1000000),
    "cache-references": (2, 1000000), "cache-misses": (3, 1000000), "branch-instructions": (4, 100000),
    "branches": (4, 100000), "branch-misses": (5, 100000), "bus-cycles": (6, 100000),
    "frontend-stalls": (7, 1000000), "backend-stalls": (8, 1000000), "ref-cycles": (9, 1000000),
}


@dataclass(frozen=True)
class CtxField:
    """A field of the probe's context (tracepoint format field or BTF function argument)."""

    name: str
    offset: int
    size: int
    signed: bool
    kind: str = "int"  # "int", "ptr", "array" (char[N]), "data_loc" (__data_loc char[])
    is_string: bool = False
    decl: str = ""


@dataclass
class ConcreteProbe:
    """One attachable probe: provider, its full name (the `probe` builtin), target details and fields."""

    provider: str
    name: str
    target: str = ""
    func: str = ""
    fields: dict[str, CtxField] = field(default_factory=dict)
    period: int = 0  # interval: nanoseconds; profile: frequency in Hz (or period ns when negative unit)
    frequency: int = 0
    user: bool = False  # pointers read with the *_user helpers
    display: str = ""  # the `probe` builtin: the attach point as the user wrote it (else `name`)
    usdt: Any = None  # usdt: the pybpf.trace.usdt.UsdtProbe (file offset, semaphore, argument specs)

    @property
    def probe_text(self) -> str:
        return self.display or self.name

    def field_named(self, name: str) -> CtxField | None:
        return self.fields.get(name)


def _tracepoint_fields(category: str, name: str) -> dict[str, CtxField]:
    from pybpf.kernel.tracefs import tracepoint_format

    out: dict[str, CtxField] = {}
    for raw in tracepoint_format(category, name):
        decl = raw.declaration
        words = re.sub(r"\[[^\]]*\]", "", decl).split()
        f = replace(raw, name=words[-1] if words else raw.name)
        if f.name.startswith("common_"):
            continue
        if decl.startswith("__data_loc"):
            out[f.name] = CtxField(f.name, f.offset, f.size, False, "data_loc", "char" in decl)
        elif "[" in decl:
            out[f.name] = CtxField(f.name, f.offset, f.size, False, "array", "char" in decl)
        elif "*" in decl:
            out[f.name] = CtxField(f.name, f.offset, f.size, False, "ptr", "char" in decl, decl)
        else:
            out[f.name] = CtxField(f.name, f.offset, f.size, f.signed)
    return out


def _fentry_fields(func: str) -> dict[str, CtxField]:
    try:
        from pybpf.btf import load_vmlinux
        from pybpf.btf.types import Kind

        btf = load_vmlinux()
        fn = btf.find(func, Kind.FUNC)
    except (BpfError, OSError, ImportError):
        return {}
    if fn is None:
        return {}
    proto = btf.type(fn.type_id)
    out: dict[str, CtxField] = {}
    for i, param in enumerate(getattr(proto, "params", ())):
        pname = getattr(param, "name", "") or f"arg{i}"
        t = btf.skip_modifiers(param.type_id)
        if t.kind == Kind.PTR:
            target = btf.skip_modifiers(t.type_id) if t.type_id else None
            decl = ""
            if target is not None and target.is_composite and target.name:
                decl = f"{'union' if target.kind == Kind.UNION else 'struct'} {target.name} *"
            elif target is not None and target.kind == Kind.INT and btf.sizeof(target.id) == 1:
                decl = "char *"
            out[pname] = CtxField(pname, i * 8, 8, False, "ptr", decl == "char *", decl)
        else:
            out[pname] = CtxField(pname, i * 8, 8, t.kind == Kind.INT and t.is_signed)
    out["$retval"] = CtxField("$retval", len(out) * 8, 8, True)
    return out


def _binary_path(name: str) -> str | None:
    """A library name such as `libc` or `c` as the real ELF file (not a linker script like libc.so)."""
    import glob
    import shutil

    from pybpf.kernel.uprobe import LIB_DIRS

    if os.sep in name or shutil.which(name):
        return None
    stem = name if name.startswith("lib") else f"lib{name}"
    for d in LIB_DIRS:
        for hit in sorted(glob.glob(os.path.join(d, f"{stem}.so*")), key=len):
            try:
                with open(hit, "rb") as f:
                    if f.read(4) == b"\x7fELF":
                        return os.path.realpath(hit)
            except OSError:
                continue
    return None


def needed_libraries(path: str) -> list[str]:
    """The DT_NEEDED entries of an ELF file's dynamic section (library names such as libc.so.6)."""
    from pybpf.kernel.uprobe import open_elf

    elf = open_elf(path)
    secs = elf.sections
    out = []
    for sec in secs:
        if sec.type != 6 or not sec.entsize or sec.link >= len(secs):  # SHT_DYNAMIC
            continue
        stroff, off, entsize = secs[sec.link].offset, sec.offset, sec.entsize
        for j in range(sec.size // entsize):
            tag, val = struct.unpack_from("<qQ", elf.data, off + j * entsize)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                end = elf.data.find(b"\0", stroff + val)
                out.append(elf.data[stroff + val:end].decode(errors="replace"))
    return out


def symbol_home(path: str, func: str) -> str:
    """The file that defines `func`: `path`, else one of the libraries it needs (glibc >= 2.34 moved
    pthread_create from libpthread into libc, which libpthread needs). LoadError when none does."""
    from pybpf.errors import LoadError
    from pybpf.kernel.uprobe import resolve_binary, symbol_offset

    try:
        symbol_offset(path, func)
        return path
    except LoadError as first:
        try:
            needed = needed_libraries(path)
        except (LoadError, struct.error):
            raise first from None
        for lib in needed:
            try:
                other = resolve_binary(lib)
                symbol_offset(other, func)
                return other
            except LoadError:
                continue
        raise first from None


def _time_value(unit: str, value: str, ap: ast.AttachPoint) -> int:
    try:
        n = int(value)
    except ValueError:
        raise TraceError(f"invalid {ap.provider} rate: {value}", *ap.span()) from None
    if n <= 0:
        raise TraceError(f"{ap.provider} rate must be positive", *ap.span())
    scale = {"s": 1_000_000_000, "sec": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1, "hz": 0}
    if unit not in scale:
        raise TraceError(f"invalid {ap.provider} unit '{unit}' (s, ms, us or hz)", *ap.span())
    return n * scale[unit] if unit != "hz" else -n


def expand(ap: ast.AttachPoint) -> list[ConcreteProbe]:
    """Resolve one attach point against the running kernel (tracefs, ELF symbols); TraceError when nothing fits."""
    prov = ap.provider
    try:
        return _expand(ap, prov)
    except TraceError:
        raise
    except (BpfError, OSError) as exc:
        raise TraceError(str(exc), *ap.span()) from None


def _expand(ap: ast.AttachPoint, prov: str) -> list[ConcreteProbe]:
    if prov in ("BEGIN", "END"):
        return [ConcreteProbe(prov, prov)]
    if prov in UNSUPPORTED:
        raise TraceError(UNSUPPORTED[prov], *ap.span())
    if prov in ("kprobe", "kretprobe"):
        # resolved against the kernel's text symbols; whether kprobes can attach is checked at attach time
        from pybpf.trace.symbols import kallsyms

        known = set(kallsyms()[1])
        func, plus, offset = ap.func.partition("+")
        if any(c in func for c in "*?["):
            funcs = sorted(n for n in known if fnmatch.fnmatchcase(n, func))
            if not funcs:
                raise TraceError(f"No probes matched: {prov}:{ap.func}", *ap.span())
        else:
            if known and func not in known:
                raise TraceError(f"kernel function not found: {func} (not in /proc/kallsyms)", *ap.span())
            funcs = [func]
        return [ConcreteProbe(prov, f"{prov}:{f}{plus}{offset}", func=f + plus + offset) for f in funcs]
    if prov == "tracepoint":
        from pybpf.kernel.tracefs import list_tracepoints

        if any(c in ap.target + ap.func for c in "*?["):
            names = list_tracepoints(f"{ap.target}/{ap.func}")
        else:  # one tracepoint: no need to scan every category
            from pybpf.kernel.tracefs import tracefs_root

            exists = os.path.isdir(os.path.join(tracefs_root(), "events", ap.target, ap.func))
            names = [f"{ap.target}/{ap.func}"] if exists else []
        if not names and any(c in ap.target + ap.func for c in "*?["):
            raise TraceError(f"No tracepoints matched: tracepoint:{ap.target}:{ap.func}", *ap.span())
        if not names:
            raise TraceError(f"tracepoint not found: {ap.target}:{ap.func}", *ap.span())
        out = []
        for full in names:
            cat, name = full.split("/", 1)
            out.append(ConcreteProbe("tracepoint", f"tracepoint:{cat}:{name}", cat, name,
                                     _tracepoint_fields(cat, name), user=cat == "syscalls"))
        return out
    if prov == "rawtracepoint":
        name = ap.func.split(":")[-1]
        return [ConcreteProbe("rawtracepoint", f"rawtracepoint:{name}", func=name)]
    if prov in ("uprobe", "uretprobe"):
        from pybpf.kernel.uprobe import (
            STT_FUNC,
            STT_GNU_IFUNC,
            defined_symbols,
            open_elf,
            resolve_binary,
        )

        path = _binary_path(ap.target) or resolve_binary(ap.target)
        funcs = [ap.func]
        if any(c in ap.func for c in "*?["):
            syms = defined_symbols(open_elf(path))
            funcs = sorted({s.name for s in syms if s.type in (STT_FUNC, STT_GNU_IFUNC)
                            and fnmatch.fnmatchcase(s.name, ap.func)})
            if not funcs:
                raise TraceError(f"No probes matched: {prov}:{ap.target}:{ap.func}", *ap.span())
        else:
            path = symbol_home(path, ap.func)  # a missing symbol is an error of the script, before anything runs
        return [ConcreteProbe(prov, f"{prov}:{path}:{f}", path, f, user=True,
                              display=ap.text if len(funcs) == 1 and f == ap.func else f"{prov}:{ap.target}:{f}")
                for f in funcs]
    if prov == "usdt":
        return _expand_usdt(ap)
    if prov in ("interval", "profile"):
        period = _time_value(ap.target, ap.func, ap)
        name = f"{prov}:{ap.target}:{ap.func}"
        return [ConcreteProbe(prov, name, ap.target, ap.func, period=max(period, 0), frequency=max(-period, 0),
                              display=ap.text)]
    if prov in ("fentry", "fexit"):
        from pybpf.kernel.tracefs import tracefs_root

        if not os.path.exists(os.path.join(tracefs_root(), "available_filter_functions")):
            raise TraceError("fentry/fexit (kfunc/kretfunc) probes are not supported by this kernel (no ftrace "
                             "function tracer, so no BPF trampolines); use a tracepoint instead", *ap.span())
        from pybpf.kernel.vmlinux import KIND_FUNC, VMLINUX_BTF, vmlinux_index

        index = vmlinux_index(VMLINUX_BTF)
        pattern = ap.func
        if any(c in pattern for c in "*?["):
            funcs = sorted(n for k, n in index if k == KIND_FUNC and fnmatch.fnmatchcase(n, pattern))
        else:
            funcs = [pattern] if (KIND_FUNC, pattern) in index else []
        if not funcs:
            raise TraceError(f"No BTF found for {prov}:{pattern} (function not in {VMLINUX_BTF})", *ap.span())
        return [ConcreteProbe(prov, f"{prov}:vmlinux:{f}", "vmlinux", f, _fentry_fields(f)) for f in funcs]
    if prov == "iter":
        return [_expand_iter(ap)]
    if prov == "watchpoint":
        return [_expand_watchpoint(ap)]
    if prov in ("software", "hardware"):
        table = SOFTWARE_EVENTS if prov == "software" else HARDWARE_EVENTS
        if ap.target not in table:
            raise TraceError(f"Invalid {prov} event: {ap.target} (one of: {', '.join(sorted(table))})", *ap.span())
        config, default = table[ap.target]
        try:
            count = int(ap.func, 0) or default
        except ValueError:
            raise TraceError(f"invalid {prov} count: {ap.func}", *ap.span()) from None
        cp = ConcreteProbe(prov, f"{prov}:{ap.target}:{ap.func if ap.func != '0' else count}", ap.target,
                           str(count), period=count)
        cp.frequency = config  # the perf event config id travels in `frequency` for these providers
        return [cp]
    raise TraceError(f"Invalid probe type: {prov}", *ap.span())


def _expand_usdt(ap: ast.AttachPoint) -> list[ConcreteProbe]:
    """usdt:BINARY:[PROVIDER:]NAME (wildcards allowed) from the `.note.stapsdt` of the binary, else of the
    libraries it needs; one concrete probe per probe location."""
    from pybpf.kernel.uprobe import resolve_binary
    from pybpf.trace.usdt import find_probes

    path = _binary_path(ap.target) or resolve_binary(ap.target)
    provider, _, name = ap.func.rpartition(":")
    found = find_probes(path, provider, name)
    if not found:
        for lib in needed_libraries(path):
            try:
                other = resolve_binary(lib)
            except BpfError:
                continue
            found = find_probes(other, provider, name)
            if found:
                path = other
                break
    if not found:
        raise TraceError(f"No USDT probes matched: usdt:{ap.target}:{ap.func} (no such probe in the "
                         f".note.stapsdt of {path})", *ap.span())
    for u in found:
        if u.arg_error:
            raise TraceError(f"USDT probe {u.provider}:{u.name} of {path}: {u.arg_error}", *ap.span())
    wildcard = any(c in ap.func for c in "*?[")
    return [ConcreteProbe("usdt", f"usdt:{path}:{u.provider}:{u.name}", path, f"{u.provider}:{u.name}", user=True,
                          display=ap.text if not wildcard else f"usdt:{ap.target}:{u.provider}:{u.name}", usdt=u)
            for u in found]


def _expand_iter(ap: ast.AttachPoint) -> ConcreteProbe:
    """iter:task, iter:task_file, iter:task_vma...: a BPF iterator the kernel's BTF declares (bpf_iter_NAME),
    whose context is struct bpf_iter__NAME (the `ctx` builtin)."""
    from pybpf.kernel.vmlinux import KIND_FUNC, VMLINUX_BTF, vmlinux_index

    name = ap.func.split(":")[0]
    index = vmlinux_index(VMLINUX_BTF)
    if (KIND_FUNC, f"bpf_iter_{name}") not in index:
        known = sorted(n.removeprefix("bpf_iter_") for k, n in index if k == KIND_FUNC and n.startswith("bpf_iter_")
                       and not n.startswith("bpf_iter_num") and "__" not in n)
        raise TraceError(f"iter:{name}: no such iterator in this kernel's BTF (one of: {', '.join(known[:12])})",
                         *ap.span())
    return ConcreteProbe("iter", f"iter:{name}", func=name, display=ap.text)


def _expand_watchpoint(ap: ast.AttachPoint) -> ConcreteProbe:
    """watchpoint:ADDRESS:LENGTH:MODE (mode r, w, rw or x): a hardware breakpoint. The address travels in
    `period`, the length in `frequency` (the fields of perf events that watchpoints do not use)."""
    from pybpf.kernel.link.breakpoint import breakpoint_type

    parts = ap.func.split(":")
    if len(parts) != 3:
        raise TraceError("watchpoint probes are written watchpoint:ADDRESS:LENGTH:MODE (e.g. "
                         "watchpoint:0x10000000:8:w)", *ap.span())
    try:
        address, length = int(parts[0], 0), int(parts[1], 0)
        breakpoint_type(parts[2])
    except ValueError as exc:
        raise TraceError(f"invalid watchpoint {ap.func}: {exc}", *ap.span()) from None
    if length not in (1, 2, 4, 8):
        raise TraceError(f"invalid watchpoint length {length} (1, 2, 4 or 8 bytes)", *ap.span())
    if address <= 0:
        raise TraceError("watchpoint address must be positive", *ap.span())
    return ConcreteProbe("watchpoint", f"watchpoint:{address:#x}:{length}:{parts[2]}", f"{address:#x}", parts[2],
                         period=address, frequency=length, user=address < KERNEL_SPACE, display=ap.text)
