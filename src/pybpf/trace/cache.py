"""Compiled scripts kept in the user's cache directory, so that running a script again skips the parser, the
analysis, probe resolution and code generation (and the imports they need).

An entry is keyed by everything the compilation read: the script and its parameters, the flags, the pybpf code
that compiled it, the kernel build and boot (kernel addresses move with KASLR), the working directory and PATH
(where relative and bare binary names resolve); the binaries it probes are checked by size and mtime when the
entry is loaded. The traced command's pid (cpid) is patched into the loaded programs."""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Sequence
from dataclasses import replace

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


def cache_path(source: str, params: Sequence[str], *, unsafe: bool, has_child: bool) -> str | None:
    """Where the compilation of this script with these settings is cached; None when it may not be
    (cgroupid() reads a cgroup's inode, which a recreated cgroup changes)."""
    from pybpf.cachedir import kernel_build, user_cache_path

    if "cgroupid" in source:
        return None
    h = hashlib.sha256()
    for part in (str(CACHE_FORMAT), kernel_build(), _boot_id(), _code_fingerprint(), os.getcwd(),
                 os.environ.get("PATH", ""), source, "\0".join(params), str(unsafe), str(has_child)):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return os.path.join(user_cache_path(), "trace", f"{h.hexdigest()}.pickle")


def _file_state(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def load(path: str, cpid: int) -> CompiledScript | None:
    """The cached compilation at `path` with `cpid` patched in, or None (absent, stale or unreadable)."""
    try:
        with open(path, "rb") as f:
            entry = pickle.loads(f.read())
        compiled, deps = entry["compiled"], entry["deps"]
        if not isinstance(compiled, CompiledScript) or any(_file_state(f) != tuple(s) for f, s in deps):
            return None
        from pybpf.object.spec import CollectionSpec

        compiled.spec = CollectionSpec(programs=entry["programs"], maps=entry["maps"], license=entry["license"])
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


def store(path: str, compiled: CompiledScript) -> None:
    """Cache `compiled` (without its syntax tree) atomically; a cache directory that cannot be written is
    not an error."""
    deps = sorted({(p.probe.target, _file_state(p.probe.target)) for p in compiled.probes
                   if p.probe.provider in FILE_PROBES and p.probe.target}, key=lambda d: d[0])
    if any(state is None for _, state in deps):
        return
    spec = compiled.spec  # its read-only mappings do not pickle: kept as plain dicts
    lean = replace(compiled, script=None, spec=None,  # type: ignore[arg-type]
                   probes=[replace(p, source=None) for p in compiled.probes])
    entry = {"compiled": lean, "deps": deps, "programs": dict(spec.programs), "maps": dict(spec.maps),
             "license": spec.license}
    try:
        data = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass
