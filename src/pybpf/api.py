"""The functions of the top-level API (`pybpf.load`, `pybpf.compile`, `pybpf.verify`, ...).

Each takes what a user has at hand — a path (ELF object, C source, assembly, raw bytecode), a
spec, or text — and does the one obvious thing with it, so that `import pybpf` is enough:

    coll = pybpf.load("examples/xdp_firewall.c", engine="jit")
    coll.maps["blocked_ports"][22] = 0
    coll.programs["xdp_firewall"].run(packet).retval
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pybpf.errors import AssemblyError, ObjectError

if TYPE_CHECKING:
    from pybpf.collection import Collection
    from pybpf.isa import Instruction
    from pybpf.object.spec import CollectionSpec, ProgramSpec
    from pybpf.toolchain import CompileResult
    from pybpf.verifier import VerificationResult

Source = str | os.PathLike[str]


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\t\r\n" for ch in text)


def read_spec(path: Source, *, syntax: str = "auto",
              program_type: int | None = None) -> tuple[CollectionSpec, bool]:
    """The spec of the file at `path` and whether it is a plain program (assembly or bytecode).

    An ELF object is parsed, a `.c` file compiled first (zig from pip), a text file assembled
    (`syntax` "auto", "ubpf" or "llvm") and anything else decoded as raw bytecode. Errors name
    the file (ObjectError, AssemblyError, OSError)."""
    from pybpf.abi import ProgramType
    from pybpf.isa.instruction import decode
    from pybpf.object.spec import CollectionSpec, ProgramSpec

    name = os.fspath(path)
    data = Path(name).read_bytes()
    if not data.strip():
        raise ObjectError(f"{name}: empty file (expected an ELF object, assembly or bytecode)")
    from pybpf.object.elf import ELF_MAGIC

    if data.startswith(ELF_MAGIC) or name.endswith(".c"):
        from pybpf.object import load_file

        target = name if data.startswith(ELF_MAGIC) else os.fspath(compile(name))
        try:
            return load_file(target), False
        except ObjectError as exc:
            if name in str(exc) or target in str(exc):
                raise
            raise ObjectError(f"{name}: {exc}") from exc
    try:
        if _is_text(data):
            from pybpf.isa import assemble as _assemble

            insns = _assemble(data.decode("utf-8"), syntax=syntax)
        else:
            insns = decode(data)
    except AssemblyError as exc:
        raise AssemblyError(f"{name}: {exc}") from exc
    ptype = ProgramType(program_type) if program_type is not None else ProgramType.UNSPEC
    spec = ProgramSpec(name=Path(name).stem or "main", instructions=tuple(insns), type=ptype)
    return CollectionSpec.single(spec), True


def _spec(source: Source | CollectionSpec | ProgramSpec) -> CollectionSpec:
    from pybpf.object.spec import CollectionSpec, ProgramSpec

    if isinstance(source, CollectionSpec):
        return source
    if isinstance(source, ProgramSpec):
        return CollectionSpec.single(source)
    return read_spec(source)[0]


def load(source: Source | CollectionSpec | ProgramSpec, engine: str = "jit", *, verify: bool = True,
         **options: Any) -> Collection:
    """Load programs and maps on an engine and return the live Collection.

    `source` is a CollectionSpec or ProgramSpec, or the path of an ELF object, a C source (compiled
    with zig from pip), an assembly file or raw bytecode. `engine` is "jit" (LLVM, the default),
    "interp" (the reference interpreter) or "kernel" (Linux, through bpf(); needs root or
    CAP_BPF). The verifier proves the programs safe first unless `verify=False`; `options` go to
    the engine (e.g. `budget=` for the user-space engines). Use it as a context manager, or call
    `close()`, to free the maps and programs.
    """
    from pybpf.engines import Runtime

    return Runtime(engine, verify=verify, **options).load(_spec(source))


def compile(source: Source, output: Source | None = None, *, compiler: str = "zig",
            flags: Iterable[str] = (), include_dirs: Iterable[Source] | Source = (),
            defines: Iterable[str] = (), use_cache: bool = True) -> CompileResult:
    """Compile a C file to an eBPF ELF object with pybpf's headers (bpf_helpers.h, ...).

    Returns a CompileResult, which is also a path (os.PathLike) of the object: without `output`
    it lands in pybpf's cache directory. `compiler` is "zig" (the pip package ziglang) or
    "clang" (a system clang). Raises CompileError with the compiler's diagnostics.
    """
    from pybpf.toolchain import compile_c

    return compile_c(source, output, compiler=compiler, flags=flags, include_dirs=include_dirs,
                          defines=defines, use_cache=use_cache)


def verify(source: Source | CollectionSpec | ProgramSpec, *, privileged: bool = True,
           log: bool = False) -> dict[str, VerificationResult]:
    """Prove every program of `source` (a spec or a file as `load` takes) safe the way the kernel's
    verifier does: {program name: VerificationResult} (instructions processed, peak states, and
    the state log with `log=True`), or VerifierError naming the program, instruction and reason.
    """
    from pybpf.verifier import verify_collection

    return verify_collection(_spec(source), privileged=privileged, log=log)


def assemble(text: str, syntax: str = "auto") -> list[Instruction]:
    """Assemble eBPF assembly — `r0 = 1` (llvm/kernel syntax) or `mov %r0, 1` (uBPF syntax), chosen
    automatically — into instructions; AssemblyError names the line and column."""
    from pybpf.isa import assemble as _assemble

    result: list[Instruction] = _assemble(text, syntax=syntax)
    return result
