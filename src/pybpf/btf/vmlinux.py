"""The running kernel's BTF (/sys/kernel/btf/vmlinux and module BTF), parsed once and cached."""

from __future__ import annotations

import threading
from pathlib import Path

from pybpf.btf.btf import Btf
from pybpf.errors import ObjectError

VMLINUX_PATH = "/sys/kernel/btf/vmlinux"
_cache: dict[str, Btf] = {}
_lock = threading.Lock()


def load_vmlinux(path: str | Path = VMLINUX_PATH) -> Btf:
    """The kernel's BTF, parsed lazily (types decoded on first use) and cached per path.

    Raises ObjectError when the file is missing or is not BTF.
    """
    key = str(path)
    with _lock:
        btf = _cache.get(key)
        if btf is None:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise ObjectError(f"cannot read kernel BTF {path}: {exc.strerror or exc}") from None
            btf = Btf.parse(data, name=key)
            _cache[key] = btf
        return btf


def load_module_btf(module: str, base: Btf | None = None) -> Btf:
    """The split BTF of a kernel module (/sys/kernel/btf/MODULE) on top of vmlinux's."""
    path = Path("/sys/kernel/btf") / module
    key = str(path)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    base = base or load_vmlinux()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ObjectError(f"cannot read module BTF {path}: {exc.strerror or exc}") from None
    btf = Btf.parse(data, base=base, name=key)
    with _lock:
        _cache[key] = btf
    return btf
