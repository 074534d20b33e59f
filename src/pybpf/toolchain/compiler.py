"""Compile C to eBPF ELF objects with the pip-installed zig (ziglang) or a system clang."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pybpf.errors import BpfError
from pybpf.toolchain import cache as _cache

INCLUDE_DIR = Path(__file__).resolve().parent / "include"

# Flags every compilation gets (after the compiler's target selection).
# -g is what makes LLVM's BPF backend emit .BTF and .BTF.ext: BTF-defined maps need it.
BASE_FLAGS: tuple[str, ...] = ("-O2", "-g", "-mcpu=v3")
# zig cc turns on unwind tables by default, which puts a useless .eh_frame into BPF objects.
ZIG_EXTRA_FLAGS: tuple[str, ...] = ("-fno-unwind-tables", "-fno-asynchronous-unwind-tables")

COMPILERS = ("zig", "clang")


class ToolchainError(BpfError):
    """The C toolchain cannot be used (compiler missing, bad option, unreadable source...)."""


class CompileError(ToolchainError):
    """The compiler rejected the source; `stderr` holds its diagnostics exactly as printed."""

    def __init__(self, message: str, *, stderr: str = "", returncode: int = 1,
                 command: Sequence[str] = ()) -> None:
        self.stderr = stderr
        self.returncode = returncode
        self.command = tuple(command)
        super().__init__(message)


_PathBase: Any = type(Path())  # PosixPath or WindowsPath


class CompileResult(_PathBase):
    """The compiled object's path (a pathlib.Path, usable wherever a path is) that also carries
    what the compilation produced: the compiler's warnings, the command used, and whether the
    object came from pybpf's cache."""

    # class-level defaults: paths derived from a result (with_suffix, parent) are plain ones
    diagnostics: str = ""
    command: tuple[str, ...] = ()
    cached: bool = False

    @classmethod
    def made(cls, path: Path, diagnostics: str = "", command: Iterable[str] = (),
             cached: bool = False) -> CompileResult:
        result = cls(path)
        result.diagnostics = diagnostics
        result.command = tuple(command)
        result.cached = cached
        return result

    @property
    def path(self) -> Path:
        """The object's path as a plain Path."""
        return Path(self)


def include_dir() -> Path:
    """The directory holding pybpf's own headers (bpf_helpers.h, bpf_endian.h, ...)."""
    return INCLUDE_DIR


def _clang_path() -> str | None:
    """A system clang able to target BPF: $PYBPF_CLANG, then clang, then clang-NN."""
    explicit = os.environ.get("PYBPF_CLANG")
    if explicit:
        return shutil.which(explicit) or (explicit if os.access(explicit, os.X_OK) else None)
    found = shutil.which("clang")
    if found:
        return found
    for version in range(25, 9, -1):
        found = shutil.which(f"clang-{version}")
        if found:
            return found
    return None


def zig_available() -> bool:
    """True when the `ziglang` package is importable by this Python."""
    return importlib.util.find_spec("ziglang") is not None


def compiler_command(compiler: str = "zig") -> list[str]:
    """The argv prefix that runs `compiler` as a C compiler for the BPF target."""
    if compiler == "zig":
        if not zig_available():
            raise ToolchainError(
                "the zig C compiler is not installed for this Python: pip install ziglang "
                "(or ask for --compiler clang)"
            )
        return [sys.executable, "-m", "ziglang", "cc", "-target", "bpfel-freestanding",
                *ZIG_EXTRA_FLAGS]
    if compiler == "clang":
        clang = _clang_path()
        if clang is None:
            raise ToolchainError(
                "no clang found on PATH (set PYBPF_CLANG or use the default --compiler zig)"
            )
        return [clang, "-target", "bpfel"]
    raise ToolchainError(f"unknown compiler {compiler!r} (choose from {', '.join(COMPILERS)})")


def _compiler_identity(argv: Sequence[str], compiler: str) -> str:
    """A string that changes when the compiler does (its version), for the cache key."""
    if compiler == "zig":
        try:
            import ziglang

            zig_dir = Path(ziglang.__file__).parent
            binary = zig_dir / "zig"
            st = binary.stat()
            return f"zig:{binary}:{st.st_size}:{st.st_mtime_ns}"
        except (ImportError, OSError):
            return "zig:unknown"
    try:
        st = Path(argv[0]).stat()
        return f"clang:{argv[0]}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return f"clang:{argv[0]}"


def _env(compiler: str) -> dict[str, str]:
    env = dict(os.environ)
    if compiler == "zig":
        # zig needs a writable cache directory even for `cc -c`; $HOME may not be writable.
        zig_cache = str(_cache.cache_root() / "zig")
        env.setdefault("ZIG_GLOBAL_CACHE_DIR", zig_cache)
        env.setdefault("ZIG_LOCAL_CACHE_DIR", zig_cache)
    return env


def _as_list(value: Iterable[Any] | str | os.PathLike[str]) -> list[Any]:
    """A single string or path given where a list is expected counts as one item (flags split)."""
    if isinstance(value, (str, os.PathLike)):
        return [value]
    return list(value)


def build_flags(include_dirs: Iterable[str | os.PathLike[str]] | os.PathLike[str] = (),
                defines: Iterable[str] = (), flags: Iterable[str] = ()) -> list[str]:
    """The flags after the compiler prefix: ours, the user's -I/-D, then pybpf's include dir."""
    if isinstance(flags, str):
        flags = shlex.split(flags)
    include_dirs = _as_list(include_dirs)
    defines = _as_list(defines)
    out = list(BASE_FLAGS)
    for d in include_dirs:
        out.append(f"-I{os.fspath(d)}")
    for d in defines:
        out.append(f"-D{d}")
    out.extend(str(f) for f in flags)
    # Our headers come last so that a user's own -I directory can override any of them.
    out.append(f"-I{INCLUDE_DIR}")
    return out


def _default_output(source: Path, key: str) -> Path:
    return _cache.objects_dir() / f"{source.stem}-{key[:16]}.o"


def compile_c(
    source_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str] | None = None,
    *,
    compiler: str = "zig",
    flags: Iterable[str] = (),
    include_dirs: Iterable[str | os.PathLike[str]] | os.PathLike[str] = (),
    defines: Iterable[str] = (),
    use_cache: bool = True,
) -> CompileResult:
    """Compile one C file to an eBPF ELF object; returns its path (a CompileResult: a Path that
    also carries the compiler's warnings, the command and whether the cache answered).

    Without `output_path` the object is written to pybpf's cache directory (named after the
    source and a hash of its contents, headers and flags). `compiler` is "zig" (the pip package
    ziglang, the default) or "clang" (a system clang, -target bpfel).

    Raises FileNotFoundError for a missing source, ToolchainError for a source that is not C
    (the compiler would pass it to its linker and write nothing useful), for an output directory
    that does not exist (it is not created behind the caller's back) and when the compiler cannot
    be run, and CompileError (with the compiler's stderr verbatim) when it rejects the source.
    """
    source = Path(source_path)
    if not source.is_file():
        raise FileNotFoundError(2, "no such C source file", str(source))
    if source.suffix != ".c":
        raise ToolchainError(f"{source}: not a C source file (expected a .c file)")
    if output_path is not None and not Path(output_path).parent.is_dir():
        raise ToolchainError(f"{Path(output_path).parent}: output directory does not exist")
    prefix = compiler_command(compiler)
    all_flags = build_flags(include_dirs, defines, flags)
    identity = _compiler_identity(prefix, compiler)
    key = _cache.source_key(source, [identity, *prefix[1:], *all_flags])
    target = Path(output_path) if output_path is not None else _default_output(source, key)
    shown = [*prefix, *all_flags, "-c", str(source), "-o", str(target)]

    if use_cache:
        hit = _cache.lookup(key)
        if hit is not None:
            obj, log = hit
            _write_atomic(target, obj)
            return CompileResult.made(target, log, shown, cached=True)

    with tempfile.TemporaryDirectory(prefix="pybpf-cc-") as tmp:
        tmp_obj = Path(tmp) / "out.o"
        dep_file = Path(tmp) / "out.d"
        argv = [*prefix, *all_flags, "-MD", "-MF", str(dep_file), "-c", str(source),
                "-o", str(tmp_obj)]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=_env(compiler),
                                  errors="replace", check=False)
        except OSError as exc:
            raise ToolchainError(f"cannot run the {compiler} compiler: {exc}") from exc
        if proc.returncode != 0 or not tmp_obj.is_file():
            diagnostics = proc.stderr or proc.stdout
            first = _first_error_line(diagnostics)
            raise CompileError(
                f"{source}: compilation failed" + (f": {first}" if first else ""),
                stderr=diagnostics, returncode=proc.returncode, command=shown,
            )
        obj = tmp_obj.read_bytes()
        deps = _cache.parse_depfile(dep_file, source)
        log = proc.stderr
    _write_atomic(target, obj)
    if use_cache:
        _cache.store(key, obj, log, deps)
    return CompileResult.made(target, log, shown, cached=False)


def _first_error_line(diagnostics: str) -> str:
    for line in diagnostics.splitlines():
        if "error" in line:
            return line.strip()
    return ""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".pybpf-", suffix=".o", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
