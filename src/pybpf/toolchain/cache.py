"""Content-hash cache of compiled objects: source, headers, flags and compiler identify an entry."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

_ENTRY_VERSION = "1"


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def cache_root() -> Path:
    """pybpf's cache directory: $PYBPF_CACHE_DIR, $XDG_CACHE_HOME/pybpf or ~/.cache/pybpf."""
    candidates: list[Path] = []
    explicit = os.environ.get("PYBPF_CACHE_DIR")
    if explicit:
        candidates.append(Path(explicit))
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        candidates.append(Path(xdg) / "pybpf")
    try:
        candidates.append(Path.home() / ".cache" / "pybpf")
    except RuntimeError:  # no home directory
        pass
    for path in candidates:
        if _writable(path):
            return path
    fallback = Path(tempfile.gettempdir()) / f"pybpf-cache-{os.getuid()}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def objects_dir() -> Path:
    """Where compile_c puts objects when the caller gives no output path."""
    return cache_root() / "objects"


def _entries_dir() -> Path:
    return cache_root() / "cc"


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def source_key(source: Path, parts: Sequence[str]) -> str:
    """The cache key of compiling `source` with the command described by `parts`."""
    h = hashlib.sha256()
    h.update(_ENTRY_VERSION.encode())
    for part in (*parts, str(source.resolve().parent), os.getcwd()):
        h.update(b"\0")
        h.update(part.encode("utf-8", "surrogateescape"))
    h.update(b"\0")
    h.update(source.read_bytes())
    return h.hexdigest()


def parse_depfile(dep_file: Path, source: Path) -> list[str]:
    """The prerequisites listed in a make-style depfile written by -MD, except the source."""
    try:
        text = dep_file.read_text(errors="surrogateescape")
    except OSError:
        return []
    text = text.replace("\\\r\n", " ").replace("\\\n", " ")
    _, sep, rest = text.partition(": ")
    if not sep:
        return []
    deps: list[str] = []
    current = ""
    i = 0
    while i < len(rest):
        ch = rest[i]
        if ch == "\\" and i + 1 < len(rest) and rest[i + 1] == " ":
            current += " "
            i += 2
            continue
        if ch.isspace():
            if current:
                deps.append(current)
                current = ""
        else:
            current += ch
        i += 1
    if current:
        deps.append(current)
    src = source.resolve()
    return [d for d in deps if Path(d).resolve() != src]


def lookup(key: str) -> tuple[bytes, str] | None:
    """The cached (object bytes, compiler log) for `key` if every recorded header is unchanged."""
    entry = _entries_dir() / key
    try:
        deps = json.loads((entry / "deps.json").read_text())
        obj = (entry / "object.o").read_bytes()
        log = (entry / "log.txt").read_text(errors="replace")
    except (OSError, ValueError):
        return None
    if not isinstance(deps, list):
        return None
    for item in deps:
        if not (isinstance(item, list) and len(item) == 2):
            return None
        path, digest = item
        if _file_digest(Path(path)) != digest:
            return None
    return obj, log


def store(key: str, obj: bytes, log: str, deps: Sequence[str]) -> None:
    """Record a compilation; failures to write the cache are silently ignored."""
    recorded = []
    for dep in deps:
        digest = _file_digest(Path(dep))
        if digest is None:
            return  # a header we cannot read back: do not cache
        recorded.append([str(Path(dep).resolve()), digest])
    root = _entries_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:8]}-", dir=root))
        (tmp / "object.o").write_bytes(obj)
        (tmp / "log.txt").write_text(log)
        (tmp / "deps.json").write_text(json.dumps(recorded))
        final = root / key
        if final.exists():
            shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except OSError:
        shutil.rmtree(locals().get("tmp", root / "__none__"), ignore_errors=True)


def clear() -> None:
    """Remove every cached compilation and default-output object."""
    shutil.rmtree(_entries_dir(), ignore_errors=True)
    shutil.rmtree(objects_dir(), ignore_errors=True)
