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
            btf = _parse_indexed(data, key)
            _cache[key] = btf
        return btf


INDEX_FORMAT = 1


def _parse_indexed(data: bytes, name: str) -> Btf:
    """The kernel's BTF parsed with its index from the user's cache, keyed by the BTF's length and crc32 (the
    identity of this kernel build's types; nothing of it is kept in pybpf); computed and cached when absent.
    A cache file that does not fit is ignored and rewritten."""
    import marshal
    import os
    import zlib

    from pybpf.cachedir import user_cache_path

    ident = f"{len(data)}-{zlib.crc32(data):08x}"
    path = os.path.join(user_cache_path(), "btf", f"vmlinux-{ident}.index")
    try:
        with open(path, "rb") as f:
            fmt, stored, *index = marshal.loads(f.read())
        if fmt == INDEX_FORMAT and stored == ident:
            return Btf.parse(data, name=name, index=tuple(index))
    except (OSError, EOFError, ValueError, TypeError, ObjectError):
        pass
    btf = Btf.parse(data, name=name)
    try:
        blob = marshal.dumps((INDEX_FORMAT, ident, *btf.index_state()))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass
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
