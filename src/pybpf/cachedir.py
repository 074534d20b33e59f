"""The user's cache directory for pybpf, and the per-kernel-build folder of facts probed from it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def user_cache_dir() -> Path:
    """`$PYBPF_CACHE_DIR`, else `$XDG_CACHE_HOME/pybpf`, else `~/.cache/pybpf` (not created here)."""
    explicit = os.environ.get("PYBPF_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "pybpf" if xdg else Path.home() / ".cache" / "pybpf"


def kernel_build() -> str:
    """The running kernel's release and build, e.g. `6.18.44-fc-v1252+3f9a0c1d2e4b` (builds of one release differ)."""
    uname = os.uname()
    digest = hashlib.sha256(uname.version.encode()).hexdigest()[:12]
    return f"{uname.release}+{digest}"


def kernel_facts_path(name: str) -> Path:
    """Where facts probed from the running kernel build are cached (e.g. `helpers.json`)."""
    return user_cache_dir() / "kernel" / kernel_build() / name


def read_kernel_facts(name: str) -> Any | None:
    """The cached facts `name` for this exact kernel build, or None when absent or unreadable."""
    try:
        data = json.loads(kernel_facts_path(name).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kernel") != kernel_build():
        return None
    return data.get("facts")


def write_kernel_facts(name: str, facts: Any) -> None:
    """Cache `facts` for this kernel build atomically (a read-only cache directory is not an error)."""
    path = kernel_facts_path(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"kernel": kernel_build(), "facts": facts}))
        os.replace(tmp, path)
    except OSError:
        pass
