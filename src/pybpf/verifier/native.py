"""The verifier's hot modules compiled by mypyc from this very source: the same code, run about 1.7x faster.

The Python source stays the reference. `python -m pybpf.verifier.native_build` (run by `make venv`'s
users through `make test`/`make bench`) compiles the modules in HOT with mypyc into the user cache;
`pybpf.verifier` loads them from there only while every pybpf source file they were built from is
byte-for-byte unchanged (a manifest of CRCs), so an edited checkout runs its own Python until the
next build. `PYBPF_NATIVE=0` runs the pure-Python verifier; where mypyc is not installed the build
says so and the verifier stays pure Python.
"""

from __future__ import annotations

import json
import os
import sys
import zlib

#: the modules the verifier spends its time in (the rest stay Python: they run once per program)
HOT = ("tnum", "bounds", "state", "prune", "precision", "alu", "jumps", "branch", "load_store", "checker")
MANIFEST = "manifest.json"
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../pybpf

_active = False


def native_dir() -> str:
    """Where the build of these hot modules lives: `$PYBPF_NATIVE_DIR`, else the user cache, per Python,
    machine and hot sources (checkouts with different sources keep builds of their own)."""
    explicit = os.environ.get("PYBPF_NATIVE_DIR")
    if explicit:
        return explicit
    from pybpf.cachedir import user_cache_path

    crc = 0
    for m in HOT:
        try:
            with open(os.path.join(_PACKAGE_ROOT, "verifier", f"{m}.py"), "rb") as f:
                crc = zlib.crc32(f.read(), crc)
        except OSError:
            continue
    tag = f"{sys.implementation.cache_tag}-{os.uname().machine}"
    return os.path.join(user_cache_path(), "native", tag, f"{crc:08x}")


def source_crcs(relpaths: list[str], root: str = _PACKAGE_ROOT) -> dict[str, str]:
    """CRC-32 and size of each pybpf source file (relative to the package), or 'missing'."""
    crcs = {}
    for rel in relpaths:
        try:
            with open(os.path.join(root, rel), "rb") as f:
                data = f.read()
        except OSError:
            crcs[rel] = "missing"
            continue
        crcs[rel] = f"{zlib.crc32(data):08x}:{len(data)}"
    return crcs


def read_manifest(directory: str) -> dict[str, object] | None:
    """A build's manifest, or None when there is no readable build in `directory`."""
    try:
        with open(os.path.join(directory, MANIFEST)) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def is_fresh(manifest: dict[str, object], root: str = _PACKAGE_ROOT) -> bool:
    """True when every source the build was compiled from is unchanged and the build is for this Python."""
    sources = manifest.get("sources")
    if not isinstance(sources, dict) or not sources or manifest.get("python") != sys.implementation.cache_tag:
        return False
    return source_crcs(sorted(sources), root) == sources


def activate(package_path: list[str]) -> bool:
    """Put a fresh compiled build first on the verifier package's path (called before its modules load)."""
    global _active
    if os.environ.get("PYBPF_NATIVE", "1") == "0":
        return False
    directory = native_dir()
    manifest = read_manifest(directory)
    if manifest is None or not is_fresh(manifest):
        return False
    package_path.insert(0, os.path.join(directory, "pkg"))
    sys.path.append(os.path.join(directory, "lib"))
    _active = True
    return True


def active() -> bool:
    """True when this process verifies with the compiled modules."""
    if not _active:
        return False
    checker = sys.modules.get("pybpf.verifier.checker")
    return checker is None or not (getattr(checker, "__file__", "") or "").endswith(".py")


def status() -> str:
    """One line for people: which verifier this process runs, and why."""
    if active():
        return f"compiled (mypyc) from {native_dir()}"
    if os.environ.get("PYBPF_NATIVE", "1") == "0":
        return "pure Python (PYBPF_NATIVE=0)"
    manifest = read_manifest(native_dir())
    if manifest is None:
        return "pure Python (not compiled: run `python -m pybpf.verifier.native_build`)"
    return "pure Python (the compiled build is out of date: run `python -m pybpf.verifier.native_build`)"

