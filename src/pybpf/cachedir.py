"""The user's cache directory for pybpf, and the per-kernel-build folder of facts probed from it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path


def user_cache_path() -> str:
    """`$PYBPF_CACHE_DIR`, else `$XDG_CACHE_HOME/pybpf`, else `~/.cache/pybpf` (not created here)."""
    explicit = os.environ.get("PYBPF_CACHE_DIR")
    if explicit:
        return explicit
    xdg = os.environ.get("XDG_CACHE_HOME")
    return os.path.join(xdg, "pybpf") if xdg else os.path.join(os.path.expanduser("~"), ".cache", "pybpf")


def user_cache_dir() -> Path:
    """user_cache_path() as a Path."""
    from pathlib import Path  # imported when needed: `pybpf trace` starts faster without it

    return Path(user_cache_path())


def kernel_build() -> str:
    """The running kernel's release and build, e.g. `6.18.44-fc-v1252+3f9a0c1d2e4b` (builds of one release differ)."""
    import hashlib  # here, not at the top: `pybpf trace` reads its cache path without loading OpenSSL

    uname = os.uname()
    digest = hashlib.sha256(uname.version.encode()).hexdigest()[:12]
    return f"{uname.release}+{digest}"


def kernel_facts_path(name: str) -> Path:
    """Where facts probed from the running kernel build are cached (e.g. `helpers.json`)."""
    return user_cache_dir() / "kernel" / kernel_build() / name


def read_kernel_facts(name: str) -> Any | None:
    """The cached facts `name` for this exact kernel build, or None when absent or unreadable."""
    import json

    try:
        data = json.loads(kernel_facts_path(name).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kernel") != kernel_build():
        return None
    return data.get("facts")


def write_kernel_facts(name: str, facts: Any) -> None:
    """Cache `facts` for this kernel build atomically (a read-only cache directory is not an error)."""
    import json

    path = kernel_facts_path(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"kernel": kernel_build(), "facts": facts}))
        os.replace(tmp, path)
    except OSError:
        pass
