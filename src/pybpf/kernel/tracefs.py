"""tracefs: find (mounting if needed) the tracing directory, tracepoint ids and their format fields."""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from dataclasses import dataclass

from pybpf.errors import KernelError, LoadError

CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


@functools.cache
def tracefs_root() -> str:
    """The tracefs directory, mounting tracefs at /sys/kernel/tracing when nothing is mounted."""
    for path in CANDIDATES:
        if os.path.isdir(os.path.join(path, "events")):
            return path
    from pybpf.kernel.pin import mount

    try:
        mount("tracefs", CANDIDATES[0])
    except KernelError as exc:
        raise KernelError(f"tracefs is not mounted and cannot be: {exc}", errno=exc.errno) from None
    return CANDIDATES[0]


def _split(category: str, name: str | None) -> tuple[str, str]:
    if name is None:
        category, sep, name = category.replace(":", "/").partition("/")
        if not sep:
            raise LoadError(f"tracepoint {category!r} must be written CATEGORY/NAME")
    return category, name


def tracepoint_id(category: str, name: str | None = None) -> int:
    """The perf event id of tracepoint CATEGORY/NAME (LoadError when the kernel has no such tracepoint)."""
    category, name = _split(category, name)
    path = os.path.join(tracefs_root(), "events", category, name, "id")
    try:
        with open(path) as f:
            return int(f.read().strip())
    except FileNotFoundError:
        raise LoadError(f"no tracepoint {category}/{name} in this kernel ({path} is absent)") from None
    except (OSError, ValueError) as exc:
        raise KernelError(f"cannot read {path}: {exc}") from None


def list_tracepoints(pattern: str = "*") -> list[str]:
    """Every CATEGORY/NAME tracepoint matching the glob `pattern` (':' or '/' as separator)."""
    root = os.path.join(tracefs_root(), "events")
    pattern = pattern.replace(":", "/")
    out = []
    for cat in sorted(os.listdir(root)):
        cdir = os.path.join(root, cat)
        if not os.path.isdir(cdir):
            continue
        for ev in sorted(os.listdir(cdir)):
            if os.path.isdir(os.path.join(cdir, ev)) and fnmatch.fnmatchcase(f"{cat}/{ev}", pattern):
                out.append(f"{cat}/{ev}")
    return out


@dataclass(frozen=True)
class Field:
    """One field of a tracepoint's format: C declaration, offset, size, signedness."""

    declaration: str
    name: str
    offset: int
    size: int
    signed: bool


def tracepoint_format(category: str, name: str | None = None) -> list[Field]:
    """The fields of tracepoint CATEGORY/NAME from its format file (common_* fields included)."""
    category, name = _split(category, name)
    path = os.path.join(tracefs_root(), "events", category, name, "format")
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        raise LoadError(f"no tracepoint {category}/{name} in this kernel") from None
    fields = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("field:"):
            continue
        parts = dict(p.strip().split(":", 1) for p in line.rstrip(";").split(";") if ":" in p)
        decl = parts.get("field", "").strip()
        # the name is the last word once array brackets go: "char comm[16]", "__data_loc char[] name"
        words = re.sub(r"\[[^\]]*\]", " ", decl).split()
        fname = words[-1] if words else ""
        try:
            offset, size = int(parts.get("offset", 0)), int(parts.get("size", 0))
        except ValueError:
            continue  # a line this parser does not understand: leave the field out
        fields.append(Field(decl, fname, offset, size, parts.get("signed", "0").strip() == "1"))
    return fields
