"""Output in bpftrace's formats: printf semantics, map printing (hist/lhist bars, avg/stats), JSON lines."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from pybpf.trace.printf import CONVERSION_RE
from pybpf.trace.symbols import Stack, Symbolizer
from pybpf.trace.types import MapInfo, Type

BAR_WIDTH = 52
SUFFIXES = ("", "K", "M", "G", "T", "P", "E")


def cstr(raw: bytes) -> str:
    """A NUL-terminated byte string as text."""
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def s64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


@functools.lru_cache(maxsize=512)
def _printf_plan(fmt: str) -> tuple[tuple[str, ...], tuple[tuple[str, str, bool], ...]]:
    """A format split once into literal pieces and (python spec, conversion, wide) per conversion."""
    literals: list[str] = []
    specs: list[tuple[str, str, bool]] = []
    pos = 0
    pending = ""
    for m in CONVERSION_RE.finditer(fmt):
        pending += fmt[pos:m.start()]
        pos = m.end()
        conv = m.group("conv")
        if conv == "%":
            pending += "%"
            continue
        flags, width, prec = m.group("flags") or "", m.group("width") or "", m.group("prec")
        spec = "%" + flags + (width if width != "*" else "") + (f".{prec}" if prec is not None else "")
        literals.append(pending)
        pending = ""
        specs.append((spec, conv, m.group("length") in ("l", "ll", "j", "z", "t")))
    literals.append(pending + fmt[pos:])
    return tuple(literals), tuple(specs)


def format_printf(fmt: str, values: Sequence[int | str]) -> str:
    """C printf with bpftrace's rules: %d/%i/%u/%x/%X/%o/%c use the low 32 bits unless given l/ll/j/z."""
    literals, specs = _printf_plan(fmt)
    out = [literals[0]]
    n = len(values)
    for i, (spec, conv, wide) in enumerate(specs):
        value = values[i] if i < n else 0
        if conv in ("s", "r"):
            out.append((spec + "s") % (value if isinstance(value, str) else str(s64(value))))
        else:
            if isinstance(value, str):
                value = 0
            if conv in ("d", "i"):
                out.append((spec + "d") % (s64(value) if wide else _s32(value)))
            elif conv in ("u", "x", "X", "o"):
                v = value & ((1 << 64) - 1 if wide else 0xFFFFFFFF)
                out.append((spec + ("d" if conv == "u" else conv)) % v)
            elif conv == "c":
                out.append((spec + "c") % chr(value & 0xFF))
            else:  # %p
                out.append((spec + "s") % hex(value & ((1 << 64) - 1)))
        out.append(literals[i + 1])
    return "".join(out)


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def strftime(fmt: str, ns: int) -> str:
    """A bpf_ktime_get_ns() timestamp (CLOCK_MONOTONIC) as local wall-clock time; %f is microseconds."""
    import time

    wall = time.time() - (time.monotonic_ns() - ns) / 1e9
    return time.strftime(fmt.replace("%f", f"{int(wall * 1e6) % 1000000:06d}"), time.localtime(wall))


# -- decoding keys and values -----------------------------------------------------------------
def decode_value(t: Type, raw: bytes, sym: Symbolizer | None = None) -> Any:
    """One int/str/tuple value from its storage bytes (stacks and symbols resolved through `sym`)."""
    if t.kind in ("kstack", "ustack", "ksym", "usym"):
        s = sym or Symbolizer()
        v = int.from_bytes(raw[:8], "little")
        pid = int.from_bytes(raw[8:16], "little")
        if t.kind == "kstack":
            return s.kstack(s64(v), t.limit)
        if t.kind == "ustack":
            return s.ustack(s64(v), pid, t.limit)
        return s.ksym(v) if t.kind == "ksym" else s.usym(v, pid)
    if t.kind == "inet":
        import socket

        family = int.from_bytes(raw[:8], "little")
        if family == socket.AF_INET6:
            return socket.inet_ntop(socket.AF_INET6, raw[8:24])
        return socket.inet_ntop(socket.AF_INET, raw[8:12])
    if t.kind == "buf":
        n = int.from_bytes(raw[:8], "little")
        return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in raw[8:8 + n])
    if t.kind == "macaddr":
        return ":".join(f"{b:02X}" for b in raw[:6])
    if t.kind == "syscall_name":
        from pybpf.trace.symbols import syscall_name

        return syscall_name(int.from_bytes(raw[:8], "little"))
    if t.kind == "cgroup_path":
        from pybpf.trace.symbols import cgroup_path

        return cgroup_path(int.from_bytes(raw[:8], "little"))
    if t.kind == "username":
        from pybpf.trace.symbols import user_name

        return user_name(int.from_bytes(raw[:8], "little") & 0xFFFFFFFF)
    if t.kind == "strerror":
        import os

        return os.strerror(int.from_bytes(raw[:8], "little") & 0xFFFFFFFF)
    if t.kind == "strftime":
        return strftime(t.fmt, int.from_bytes(raw[:8], "little"))
    if t.kind == "int":
        v = int.from_bytes(raw[:8], "little")
        return s64(v) if t.signed else v
    if t.kind == "str":
        return cstr(raw[: t.storage])
    items = []
    pos = 0
    for it in t.items:
        items.append(decode_value(it, raw[pos:pos + it.storage], sym))
        pos += it.storage
    return tuple(items)


def value_text(v: Any) -> str:
    """A value as bpftrace prints it: tuples in parentheses, stacks one frame per line."""
    if isinstance(v, Stack):
        return str(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(value_text(x) for x in v) + ")"
    return str(v)


def key_text(key: Any, sep: str = ", ") -> str:
    if isinstance(key, Stack):
        return key.text(4)
    if isinstance(key, tuple):  # a nested tuple in a key prints in parentheses: @m[(1, 2), 3]
        return sep.join(value_text(k) if isinstance(k, tuple) and not isinstance(k, Stack) else key_text(k)
                        for k in key)
    return str(key)


def _signed(t: Type) -> Type:
    """Integer keys print as signed values in bpftrace, whatever their type."""
    if t.kind == "int" and not t.signed:
        return Type("int")
    if t.kind == "tuple":
        return Type("tuple", items=tuple(_signed(i) for i in t.items))
    return t


def _u64s(raw: bytes, n: int) -> list[int]:
    return [int.from_bytes(raw[i * 8:i * 8 + 8], "little") for i in range(n)]


def collect(info: MapInfo, entries: list[tuple[bytes, Any]], sym: Symbolizer | None = None) -> dict[Any, Any]:
    """Per key: the summed integer, (total, count), min/max, string, or {bucket: count} for histograms."""
    out: dict[Any, Any] = {}
    kinds = info.kind
    num = s64 if info.value.signed or kinds == "count" else (lambda v: v & ((1 << 64) - 1))
    for kraw, vraw in entries:
        cpus = vraw if isinstance(vraw, list) else [vraw]
        key = None if info.key is None else decode_value(_signed(info.key), kraw, sym)
        if kinds in ("hist", "lhist"):
            bucket = int.from_bytes(kraw[info.key_storage:info.key_storage + 8], "little")
            total = sum(s64(_u64s(c, 1)[0]) for c in cpus)
            out.setdefault(key, {})[bucket] = out.get(key, {}).get(bucket, 0) + total
        elif kinds in ("count", "sum"):
            out[key] = num(sum(_u64s(c, 1)[0] for c in cpus))
        elif kinds in ("avg", "stats"):
            pairs = [_u64s(c, 2) for c in cpus]
            out[key] = (s64(sum(p[0] for p in pairs)), sum(p[1] for p in pairs))  # signed in bpftrace
        elif kinds in ("min", "max"):
            vals = [num(p[0]) for p in (_u64s(c, 2) for c in cpus) if p[1]]
            out[key] = (min(vals) if kinds == "min" else max(vals)) if vals else 0
        elif kinds == "str":
            out[key] = decode_value(info.value, cpus[0], sym)
        else:
            out[key] = decode_value(info.value, cpus[0])
    return out


def _avg(total: int, count: int) -> int:
    if not count:
        return 0
    q = abs(total) // count
    return -q if total < 0 else q


def _order(info: MapInfo, values: dict[Any, Any]) -> list[Any]:
    def sort_key(item: tuple[Any, Any]) -> Any:
        k, v = item
        if info.kind in ("hist", "lhist"):
            return sum(v.values())
        if info.kind in ("avg", "stats"):
            return _avg(*v)
        if info.kind == "str":
            return 0
        return v
    ordered = sorted(values.items(), key=lambda kv: _keysort(kv[0]))
    return [k for k, _ in sorted(ordered, key=sort_key)]


def _keysort(k: Any) -> Any:
    return tuple((isinstance(x, str), x) for x in k) if isinstance(k, tuple) else ((isinstance(k, str), k),)


# -- text ----------------------------------------------------------------------------------------
def size_label(n: int) -> str:
    """1024 -> 1K, 1048576 -> 1M (powers of 1024 only)."""
    i = 0
    while n and n % 1024 == 0 and i < len(SUFFIXES) - 1:
        n //= 1024
        i += 1
    return f"{n}{SUFFIXES[i]}"


def hist_label(index: int) -> str:
    if index == 0:
        return "(..., 0)"
    if index == 1:
        return "[0]"
    if index == 2:
        return "[1]"
    lo = 1 << (index - 2)
    return f"[{size_label(lo)}, {size_label(lo * 2)})"


def lhist_label(index: int, lo: int, hi: int, step: int) -> str:
    last = (hi - lo) // step + 1
    label = size_label  # like bpftrace: multiples of 1024 as 1K, 2M...
    if index == 0:
        return f"(..., {label(lo)})"
    if index >= last:
        return f"[{label(hi)}, ...)"
    a = lo + (index - 1) * step
    return f"[{label(a)}, {label(a + step)})"


def bars(buckets: dict[int, int], label: Any) -> str:
    """The ASCII histogram between the first and the last non-empty bucket."""
    used = [b for b, v in buckets.items() if v > 0]
    if not used:
        return ""
    top = max(buckets.values())
    lines = []
    for i in range(min(used), max(used) + 1):
        v = buckets.get(i, 0)
        bar = "@" * int(v / top * BAR_WIDTH) if top else ""
        lines.append(f"{label(i):<16}{v:>8} |{bar:<{BAR_WIDTH}}|\n")
    return "".join(lines)


def map_text(info: MapInfo, entries: list[tuple[bytes, Any]], top: int = 0, div: int = 0,
             sym: Symbolizer | None = None) -> str:
    """A map as bpftrace prints it at exit or with print()."""
    values = collect(info, entries, sym)
    if not values:
        return "\n\n" if info.kind in ("avg", "stats") else "\n"
    order = _order(info, values)
    if top:
        order = order[-top:]
    name = info.name
    out: list[str] = []
    for k in order:
        head = name if k is None else f"{name}[{key_text(k)}]"
        v = values[k]
        if info.kind == "hist":
            out.append(f"{head}: \n{bars(v, hist_label)}\n")
        elif info.kind == "lhist":
            out.append(f"{head}: \n{bars(v, lambda i: lhist_label(i, *info.lhist))}\n")
        elif info.kind == "stats":
            total, count = v
            out.append(f"{head}: count {count}, average {_avg(total, count)}, total {total}\n")
        elif info.kind == "avg":
            out.append(f"{head}: {_avg(*v)}\n")
        else:
            if div and isinstance(v, int):
                v //= div
            out.append(f"{head}: {value_text(v)}\n")
    if info.kind in ("avg", "stats"):
        out.append("\n")
    return "".join(out)


# -- JSON ----------------------------------------------------------------------------------------
def json_line(kind: str, data: Any) -> str:
    import json

    return json.dumps({"type": kind, "data": data}, separators=(", ", ": ")) + "\n"


def map_json(info: MapInfo, entries: list[tuple[bytes, Any]], top: int = 0,
             sym: Symbolizer | None = None) -> str:
    values = collect(info, entries, sym)
    if not values:
        return ""  # bpftrace prints nothing for an empty map in JSON
    order = _order(info, values)
    if top:
        order = order[-top:]
    kind = {"hist": "hist", "lhist": "hist", "stats": "stats", "avg": "stats"}.get(info.kind, "map")

    def span(v: dict[int, int]) -> range:
        used = [b for b, c in v.items() if c]
        return range(min(used), max(used) + 1) if used else range(0)

    def one(v: Any) -> Any:
        if info.kind == "hist":
            return [hist_bucket(b, v.get(b, 0)) for b in span(v)]
        if info.kind == "lhist":
            lo, hi, step = info.lhist
            return [_lhist_bucket(b, v.get(b, 0), lo, hi, step) for b in span(v)]
        if info.kind == "stats":
            return {"count": v[1], "average": _avg(*v), "total": v[0]}
        if info.kind == "avg":
            return _avg(*v)
        if isinstance(v, Stack):
            return list(v)
        return v

    if info.key is None:
        data: Any = one(values[None]) if None in values else None
    else:
        data = {key_text(k, ","): one(values[k]) for k in order}
    return json_line(kind, {info.name: data})


def hist_bucket(b: int, count: int) -> dict[str, Any]:
    """One log2 bucket as bpftrace -f json prints it: {"min", "max", "count"} (no "min" for negatives)."""
    if b == 0:
        return {"max": -1, "count": count}
    if b == 1:
        return {"min": 0, "max": 0, "count": count}
    lo = 1 << (b - 2)
    return {"min": lo, "max": lo * 2 - 1, "count": count}


def _lhist_bucket(b: int, count: int, lo: int, hi: int, step: int) -> dict[str, Any]:
    if b == 0:
        return {"max": lo - 1, "count": count}
    if b >= (hi - lo) // step + 1:
        return {"min": hi, "count": count}
    a = lo + (b - 1) * step
    return {"min": a, "max": a + step - 1, "count": count}
