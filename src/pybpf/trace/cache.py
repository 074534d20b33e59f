"""Compiled scripts kept in the user's cache directory, so that running a script again skips the parser, the
analysis, probe resolution and code generation (and the imports they need).

An entry is keyed by everything the compilation read: the script and its parameters, the flags, the pybpf code
that compiled it, the kernel build and boot (kernel addresses move with KASLR), the working directory and PATH
(where relative and bare binary names resolve); the binaries it probes are checked by size and mtime when the
entry is loaded. The traced command's pid (cpid) is patched into the loaded programs.

An entry file is a crc32 of its payload, then the marshalled tuple (format, key material, probed files, launch
image, pickled compilation, modules): `read()` checks all of it without importing the compiler's classes, the
launch image (pybpf.trace.launch) can be loaded and attached at once, and the pickle is unpickled when the runtime
needs it; `modules` (None until a run recorded them) are those the runtime imports, read ahead before attaching
(pybpf.trace.preload). A file that does not pass every check is a miss (the script is compiled again and the
entry rewritten)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pybpf.trace.compiled import CompiledScript

CACHE_FORMAT = 2
FILE_PROBES = ("uprobe", "uretprobe", "usdt")
VMLINUX_BTF = "/sys/kernel/btf/vmlinux"


def _code_fingerprint() -> str:
    """Sizes and mtimes of the modules that turn a script into programs and a launch image (trace, isa, object
    specs, the kernel engine)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = []
    for sub in ("trace", "isa", "object", "kernel"):
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


def _kernel_btf() -> str:
    """The identity of the running kernel's BTF (struct layouts the compilation read): size and mtime."""
    try:
        st = os.stat(VMLINUX_BTF)
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def _material(source: str, params: Sequence[str], unsafe: bool, has_child: bool) -> str:
    """Everything the compilation depends on but the probed files, as one string (stored in the entry)."""
    from pybpf import __version__

    uname = os.uname()
    return "\0".join((str(CACHE_FORMAT), __version__, uname.release, uname.version, _boot_id(), _kernel_btf(),
                      _code_fingerprint(), os.getcwd(), os.environ.get("PATH", ""), source, "\x01".join(params),
                      str(unsafe), str(has_child)))


class CacheEntry:
    """Where a compilation is cached and the whole key it was cached under."""

    __slots__ = ("path", "material")

    def __init__(self, path: str, material: str) -> None:
        self.path = path
        self.material = material

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CacheEntry) and (self.path, self.material) == (other.path, other.material)

    def __hash__(self) -> int:
        return hash((self.path, self.material))


class CacheHit:
    """A cache file that passed every check: its launch image (None when the script cannot be launched
    directly), the pickled compilation and the modules its run imports (None: not recorded yet)."""

    __slots__ = ("image", "pickled", "modules")

    def __init__(self, image: Any, pickled: bytes, modules: tuple[str, ...] | None) -> None:
        self.image = image
        self.pickled = pickled
        self.modules = modules


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
    return CacheEntry(os.path.join(user_cache_path(), "trace", f"{name}.entry"), material)


def _file_state(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def read(entry: CacheEntry) -> CacheHit | None:
    """The entry at `entry.path` when it is whole (checksum), of this format and key, and its probed files are
    unchanged; else None."""
    import marshal
    import zlib

    try:
        with open(entry.path, "rb") as f:
            data = f.read()
        payload = data[4:]
        if len(data) < 4 or int.from_bytes(data[:4], "little") != zlib.crc32(payload):
            return None
        fmt, material, deps, image, pickled, modules = marshal.loads(payload)
        if fmt != CACHE_FORMAT or material != entry.material or not isinstance(pickled, bytes):
            return None
        if any(_file_state(f) != tuple(s) for f, s in deps):
            return None
        if modules is not None and not all(isinstance(m, str) for m in modules):
            modules = None
    except Exception:  # noqa: BLE001 - any unreadable entry (old format, partial write) is a miss
        return None
    return CacheHit(image, pickled, modules)


def unpickle(hit: CacheHit, cpid: int) -> CompiledScript | None:
    """The compilation of a cache hit with `cpid` patched in, or None when it does not unpickle."""
    import pickle
    from dataclasses import replace

    from pybpf.object.spec import CollectionSpec
    from pybpf.trace.compiled import CompiledScript

    try:
        data = pickle.loads(hit.pickled)
        compiled = data["compiled"]
        if not isinstance(compiled, CompiledScript):
            return None
        compiled.spec = CollectionSpec(programs=data["programs"], maps=data["maps"], license=data["license"])
    except Exception:  # noqa: BLE001 - a pickle of classes that changed since is a miss
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


def load(entry: CacheEntry, cpid: int) -> CompiledScript | None:
    """The cached compilation with `cpid` patched in, or None (absent, stale, another key's entry or
    unreadable)."""
    hit = read(entry)
    return unpickle(hit, cpid) if hit is not None else None


def remove(entry: CacheEntry) -> None:
    """Forget the entry (a missing file is not an error)."""
    try:
        os.unlink(entry.path)
    except OSError:
        pass


def store(entry: CacheEntry, compiled: CompiledScript) -> None:
    """Cache `compiled` (without its syntax tree) and its launch image atomically; a cache directory that
    cannot be written is not an error."""
    import pickle
    from dataclasses import replace

    from pybpf.trace.launch import image_of

    deps = sorted({(p.probe.target, _file_state(p.probe.target)) for p in compiled.probes
                   if p.probe.provider in FILE_PROBES and p.probe.target}, key=lambda d: d[0])
    if any(state is None for _, state in deps):
        return
    spec = compiled.spec  # its read-only mappings do not pickle: kept as plain dicts
    lean = replace(compiled, script=None, spec=None,  # type: ignore[arg-type]
                   probes=[replace(p, source=None) for p in compiled.probes])
    content = {"compiled": lean, "programs": dict(spec.programs), "maps": dict(spec.maps), "license": spec.license}
    try:
        image = image_of(compiled)
        _write(entry.path, (CACHE_FORMAT, entry.material, tuple(deps), image,
                            pickle.dumps(content, protocol=pickle.HIGHEST_PROTOCOL), None))
    except (OSError, ValueError, pickle.PicklingError, TypeError, AttributeError):
        pass


def remember_modules(entry: CacheEntry, hit: CacheHit, modules: Sequence[str]) -> None:
    """Record in the entry which modules a run of it imported (read ahead on the next runs)."""
    import marshal

    try:
        with open(entry.path, "rb") as f:
            fields = marshal.loads(f.read()[4:])
        if fields[4] != hit.pickled:  # rewritten meanwhile by another run
            return
        _write(entry.path, (*fields[:5], tuple(modules)))
    except (OSError, ValueError, EOFError, TypeError, IndexError):
        pass


def _write(path: str, fields: tuple[Any, ...]) -> None:
    """The entry file, written atomically: crc32 of the payload, then the marshalled fields."""
    import marshal
    import zlib

    payload = marshal.dumps(fields)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(zlib.crc32(payload).to_bytes(4, "little") + payload)
    os.replace(tmp, path)
