"""Hook points a Python application declares and fires: verified eBPF programs extend it ("eBPF inside").

    class Request(ctypes.Structure):
        _fields_ = [("client", ctypes.c_uint32), ("port", ctypes.c_uint32)]

    hook = HookPoint("myapp:request", context=Request)
    hook.attach("limiter.c")                 # programs in section "hook/myapp:request" (C, .o or spec)
    if hook.fire(Request(client=7, port=80)) != 0:
        ...                                  # a non-zero verdict: deny
    hook.maps["seen"]                        # the programs' maps, readable (and writable) by the app

The programs are verified before they run (the context is read-only, at most 168 bytes: they
are checked with the rules of a raw tracepoint's (up to 96 bytes) or a kprobe's (up to 168 bytes)
context, which allow loads of any width anywhere inside it). On the JIT engine `fire` copies the
context into the program's own context buffer and makes one native call (`JitProgram.ctx_call`,
about a microsecond; any thread may fire); on the interpreter it runs the program. The verdict is the first non-zero return value of the attached programs, else 0.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from ctypes import addressof
from dataclasses import replace
from pathlib import Path
from typing import Any

from pybpf.abi import ProgramType
from pybpf.errors import LoadError
from pybpf.object.spec import CollectionSpec

_RAW_TP_CTX = 96   # struct bpf_raw_tracepoint_args: 12 u64 arguments
_PT_REGS_CTX = 168  # struct pt_regs of x86_64


def _context_size(context: Any) -> int:
    if isinstance(context, int):
        return context
    try:
        return ctypes.sizeof(context)
    except TypeError:
        raise LoadError(f"hook context must be a ctypes type or a size in bytes, not {context!r}") from None


def _spec_of(source: Any) -> CollectionSpec:
    if isinstance(source, CollectionSpec):
        return source
    from pybpf.object import load_file

    path = Path(os.fspath(source))
    if not path.is_file():
        raise LoadError(f"no such program file: {path}")
    if path.suffix == ".c":
        from pybpf.toolchain import compile_c

        path = Path(compile_c(path))
    return load_file(str(path))


class Attachment:
    """The programs attached from one source, loaded on one engine, with their maps."""

    def __init__(self, hook: HookPoint, collection: Any, names: list[str]) -> None:
        self.hook = hook
        self.collection = collection
        self.programs = [collection.programs[n] for n in names]
        self.maps: dict[str, Any] = dict(collection.maps)
        # one caller per program: run(address, length) -> verdict
        self.runs = [self._runner(prog) for prog in self.programs]

    def _runner(self, prog: Any) -> Callable[[int], int]:
        """The JIT's context call (one native call per run), else Program.run."""
        layout, size = self.hook.layout_size, self.hook.size
        ctx_call = getattr(prog, "ctx_call", None)
        if ctx_call is not None:
            caller: Callable[[int], int] = ctx_call(layout, size).call
            return caller

        def run(address: int) -> int:
            return int(prog.run(ctx=ctypes.string_at(address, size).ljust(layout, b"\0")).retval)

        return run

    def run(self, address: int) -> int:
        for run in self.runs:
            retval = run(address)
            if retval:
                return retval
        return 0

    def close(self) -> None:
        self.runs = []
        self.collection.close()


class HookPoint:
    """A named place in an application where attached eBPF programs run with its context."""

    def __init__(self, name: str, context: Any, *, engine: str = "jit") -> None:
        self.name = name
        self.context = context
        self.size = _context_size(context)
        if not 0 < self.size <= _PT_REGS_CTX:
            raise LoadError(f"hook {name!r}: the context must be 1 to {_PT_REGS_CTX} bytes, not {self.size}")
        self.program_type = ProgramType.RAW_TRACEPOINT if self.size <= _RAW_TP_CTX else ProgramType.KPROBE
        self.layout_size = _RAW_TP_CTX if self.size <= _RAW_TP_CTX else _PT_REGS_CTX
        self.engine = engine
        self.attachments: list[Attachment] = []
        self._runs: list[Callable[[int], int]] = []

    @property
    def section(self) -> str:
        return f"hook/{self.name}"

    def attach(self, source: Any, program: str | None = None) -> Attachment:
        """Verify and load the programs of `source` (a C file, an object or a CollectionSpec) for
        this hook: those in section `hook/<name>`, or only `program`."""
        from pybpf.engines import Runtime

        spec = _spec_of(source)
        if program is not None:
            if program not in spec.programs:
                raise LoadError(f"no program {program!r} (the object has: {', '.join(spec.programs) or 'none'})")
            names = [program]
        else:
            names = [n for n, p in spec.programs.items() if p.section == self.section]
            if not names:
                sections = sorted({p.section for p in spec.programs.values()})
                raise LoadError(f"no program in section {self.section!r} (the object has: {', '.join(sections)})")
        programs = {n: replace(spec.programs[n], type=self.program_type) for n in names}
        hooked = CollectionSpec(programs=programs, maps=spec.maps, license=spec.license, btf=spec.btf)
        collection = Runtime(self.engine, verify=True).load(hooked)
        attachment = Attachment(self, collection, names)
        self.attachments.append(attachment)
        self._refresh()
        return attachment

    def _refresh(self) -> None:
        """fire()'s flat list of program callers, in attachment order."""
        self._runs = [run for attachment in self.attachments for run in attachment.runs]

    def fire(self, ctx: Any) -> int:
        """Run every attached program on `ctx` (a ctypes instance or bytes); the first non-zero verdict, else 0."""
        runs = self._runs
        if not runs:
            return 0
        if type(ctx) is self.context:
            address = addressof(ctx)
        elif isinstance(ctx, bytes | bytearray):
            if len(ctx) != self.size:
                raise LoadError(f"hook {self.name!r}: context is {self.size} bytes, got {len(ctx)}")
            buffer = ctypes.create_string_buffer(bytes(ctx), self.size)
            address = addressof(buffer)
        else:
            try:
                size = ctypes.sizeof(ctx)
                address = addressof(ctx)
            except TypeError:
                raise LoadError(f"hook {self.name!r}: the context must be a ctypes instance or bytes") from None
            if size != self.size:
                raise LoadError(f"hook {self.name!r}: context is {self.size} bytes, got {size}")
        for run in runs:
            verdict = run(address)
            if verdict:
                return verdict
        return 0

    @property
    def maps(self) -> dict[str, Any]:
        """The maps of every attachment, by name (the last attached wins a name clash)."""
        out: dict[str, Any] = {}
        for attachment in self.attachments:
            out.update(attachment.maps)
        return out

    def detach(self, attachment: Attachment) -> None:
        self.attachments.remove(attachment)
        self._refresh()
        attachment.close()

    def close(self) -> None:
        while self.attachments:
            self.detach(self.attachments[-1])

    def __enter__(self) -> HookPoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
