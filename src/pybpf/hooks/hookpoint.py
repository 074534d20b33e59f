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
context into a pre-bound run and calls the compiled code directly; on the interpreter it runs the
program. The verdict is the first non-zero return value of the attached programs, else 0.
"""

from __future__ import annotations

import ctypes
import os
import threading
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
        self._local = threading.local()

    def _bound(self, prog: Any) -> Any:
        """This thread's pre-bound run of `prog` and its context address (JIT), or None."""
        cache = getattr(self._local, "runs", None)
        if cache is None:
            cache = self._local.runs = {}
        if prog.name not in cache:
            bind = getattr(prog, "bind", None)
            bound = bind(ctx=bytes(self.hook.layout_size)) if bind is not None else None
            region = getattr(getattr(bound, "context", None), "ctx_region", None)
            cache[prog.name] = None if region is None else (bound, region.address)
        return cache[prog.name]

    def run(self, buffer: Any, raw: bytes | None) -> int:
        for prog in self.programs:
            bound = self._bound(prog)
            if bound is not None:
                call, address = bound
                ctypes.memmove(address, buffer, self.hook.size)
                retval = int(call())
            else:
                data = raw if raw is not None else ctypes.string_at(buffer, self.hook.size)
                retval = prog.run(ctx=data.ljust(self.hook.layout_size, b"\0")).retval
            if retval:
                return retval
        return 0

    def close(self) -> None:
        runs = getattr(self._local, "runs", None) or {}
        for entry in runs.values():
            if entry is not None:
                entry[0].close()
        self._local.runs = {}
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
        return attachment

    def fire(self, ctx: Any) -> int:
        """Run every attached program on `ctx` (a ctypes instance or bytes); the first non-zero verdict, else 0."""
        if not self.attachments:
            return 0
        if isinstance(ctx, bytes | bytearray):
            if len(ctx) != self.size:
                raise LoadError(f"hook {self.name!r}: context is {self.size} bytes, got {len(ctx)}")
            data = bytes(ctx)
            raw: bytes | None = data
            buffer: Any = ctypes.create_string_buffer(data, self.size)
        else:
            raw, buffer = None, ctypes.byref(ctx)
            if ctypes.sizeof(ctx) != self.size:
                raise LoadError(f"hook {self.name!r}: context is {self.size} bytes, got {ctypes.sizeof(ctx)}")
        for attachment in self.attachments:
            verdict = attachment.run(buffer, raw)
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
        attachment.close()

    def close(self) -> None:
        while self.attachments:
            self.detach(self.attachments[-1])

    def __enter__(self) -> HookPoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
