"""Compiled scripts kept in the user's cache directory, so that running a script again skips the parser, the
analysis, probe resolution and code generation (and the imports they need).

An entry is keyed by everything the compilation read: the script and its parameters, the flags, the pybpf code
that compiled it, the kernel build and boot (kernel addresses move with KASLR), the working directory and PATH
(where relative and bare binary names resolve); the binaries it probes are checked by size and mtime when the
entry is loaded. The traced command's pid (cpid) is patched into the loaded programs."""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pybpf.trace.compiled import CompiledScript

CACHE_FORMAT = 1
FILE_PROBES = ("uprobe", "uretprobe", "usdt")


def _code_fingerprint() -> str:
    """Sizes and mtimes of the modules that turn a script into programs (trace, isa, object specs)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = []
    for sub in ("trace", "isa"):
        try:
            with os.scandir(os.path.join(root, sub)) as it:
                for entry in it:
                    if entry.name.endswith(".py"):
                        st = entry.stat()
                        parts.append(f"{sub}/{entry.name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            return ""
    return ";".join(sorted(parts))


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _material(source: str, params: Sequence[str], unsafe: bool, has_child: bool) -> str:
    """Everything the compilation depends on but the probed files, as one string (stored in the entry)."""
    uname = os.uname()
    return "\0".join((str(CACHE_FORMAT), uname.release, uname.version, _boot_id(), _code_fingerprint(), os.getcwd(),
                      os.environ.get("PATH", ""), source, "\x01".join(params), str(unsafe), str(has_child)))


@dataclass(frozen=True)
class CacheEntry:
    """Where a compilation is cached and the whole key it was cached under."""

    path: str
    material: str


def cache_entry(source: str, params: Sequence[str], *, unsafe: bool, has_child: bool) -> CacheEntry | None:
    """Where the compilation of this script with these settings is cached; None when it may not be
    (cgroupid() reads a cgroup's inode, which a recreated cgroup changes). The file name is a checksum of the
    key (no hashlib: it costs start-up time); the entry holds the whole key, so a clash is only a miss."""
    import zlib

    from pybpf.cachedir import user_cache_path

    if "cgroupid" in source:
        return None
    material = _material(source, params, unsafe, has_child)
    raw = material.encode("utf-8", "surrogateescape")
    name = f"{zlib.crc32(raw):08x}{zlib.adler32(raw):08x}"
    return CacheEntry(os.path.join(user_cache_path(), "trace", f"{name}.pickle"), material)


def _file_state(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def load(entry: CacheEntry, cpid: int) -> CompiledScript | None:
    """The cached compilation at `path` with `cpid` patched in, or None (absent, stale, another key's entry or
    unreadable)."""
    try:
        with open(entry.path, "rb") as f:
            data = pickle.loads(f.read())
        compiled, deps = data["compiled"], data["deps"]
        if data.get("material") != entry.material or not isinstance(compiled, CompiledScript):
            return None
        if any(_file_state(f) != tuple(s) for f, s in deps):
            return None
        from pybpf.object.spec import CollectionSpec

        compiled.spec = CollectionSpec(programs=data["programs"], maps=data["maps"], license=data["license"])
    except Exception:  # noqa: BLE001 - any unreadable entry (old format, partial write) is a miss
        return None
    sites = compiled.program.cpid_sites
    if sites:
        programs = dict(compiled.spec.programs)
        for name, index in sites:
            insns = list(programs[name].instructions)
            insns[index] = insns[index].replace(imm=cpid)
            programs[name] = replace(programs[name], instructions=tuple(insns))
        compiled.spec = replace(compiled.spec, programs=programs)
    compiled.program.cpid = cpid
    return compiled


def store(entry: CacheEntry, compiled: CompiledScript) -> None:
    """Cache `compiled` (without its syntax tree) atomically; a cache directory that cannot be written is
    not an error."""
    deps = sorted({(p.probe.target, _file_state(p.probe.target)) for p in compiled.probes
                   if p.probe.provider in FILE_PROBES and p.probe.target}, key=lambda d: d[0])
    if any(state is None for _, state in deps):
        return
    spec = compiled.spec  # its read-only mappings do not pickle: kept as plain dicts
    lean = replace(compiled, script=None, spec=None,  # type: ignore[arg-type]
                   probes=[replace(p, source=None) for p in compiled.probes])
    content = {"material": entry.material, "compiled": lean, "deps": deps, "programs": dict(spec.programs),
               "maps": dict(spec.maps), "license": spec.license}
    path = entry.path
    try:
        data = pickle.dumps(content, protocol=pickle.HIGHEST_PROTOCOL)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass
