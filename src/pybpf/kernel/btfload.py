"""BTF for the kernel: BPF_BTF_LOAD, the object's sanitised BTF with func/line info, CO-RE resolution."""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pybpf.errors import BpfError, KernelError, LoadError
from pybpf.isa.instruction import Instruction
from pybpf.kernel.attr import BtfLoadAttr, ptr
from pybpf.kernel.fd import FD
from pybpf.kernel.programs import BtfExt
from pybpf.kernel.syscall import Cmd, bpf
from pybpf.object.spec import CollectionSpec, ProgramSpec


def load_btf(data: bytes, *, log_size: int = 1 << 20) -> FD:
    """BPF_BTF_LOAD; a rejection raises KernelError carrying the kernel's BTF log."""
    blob = ctypes.create_string_buffer(data, len(data))
    a = BtfLoadAttr(btf=ptr(blob), btf_size=len(data))
    try:
        return FD(bpf(Cmd.BTF_LOAD, a.raw()))
    except KernelError:
        pass
    log = ctypes.create_string_buffer(log_size)
    a = BtfLoadAttr(btf=ptr(blob), btf_size=len(data), btf_log_buf=ptr(log), btf_log_size=log_size, btf_log_level=1)
    try:
        return FD(bpf(Cmd.BTF_LOAD, a.raw()))
    except KernelError as exc:
        text = log.value.decode(errors="replace").strip()
        last = text.splitlines()[-1] if text else ""
        raise KernelError(f"kernel rejected BTF: {last or exc}", errno=exc.errno) from None


@dataclass
class LoadedBtf:
    """The object's BTF as loaded in the kernel, and how to find each program's func/line info."""

    fd_obj: FD
    btf: Any

    @property
    def fd(self) -> int:
        return self.fd_obj.fd

    def ext_for(self, prog: ProgramSpec) -> BtfExt | None:
        """Encoded func_info/line_info records of `prog` (insn offsets in slots), or None."""
        return encode_ext(prog)


def _encode_btf(btf: Any) -> bytes | None:
    """Raw bytes of an object's BTF, sanitised for the kernel when pybpf.btf offers it."""
    if isinstance(btf, (bytes, bytearray)):
        return bytes(btf)
    for name in ("sanitize_for_kernel", "sanitized", "sanitize"):
        fn = getattr(btf, name, None)
        if callable(fn):
            btf = fn()
            break
    for name in ("encode", "to_bytes", "raw"):
        fn = getattr(btf, name, None)
        if callable(fn):
            out = fn()
            return bytes(out) if isinstance(out, (bytes, bytearray)) else None
        if isinstance(fn, (bytes, bytearray)):
            return bytes(fn)
    return None


def load_collection_btf(spec: CollectionSpec) -> LoadedBtf | None:
    """Upload the collection's BTF; None when there is none or the kernel refuses it (loading goes on)."""
    if spec.btf is None:
        return None
    try:
        data = _encode_btf(spec.btf)
    except (BpfError, ValueError, TypeError):
        return None
    if not data:
        return None
    try:
        return LoadedBtf(load_btf(data), spec.btf)
    except KernelError:
        return None


def _records(items: Sequence[Any], fields: tuple[str, ...]) -> bytes | None:
    out = bytearray()
    for item in items:
        if isinstance(item, (bytes, bytearray)):
            out += item
            continue
        try:
            values = [int(getattr(item, f)) for f in fields]
        except (AttributeError, TypeError, ValueError):
            return None
        out += b"".join(v.to_bytes(4, "little") for v in values)
    return bytes(out)


def encode_ext(prog: ProgramSpec) -> BtfExt | None:
    """bpf_func_info {insn_off, type_id} and bpf_line_info {insn_off, file, line, col} records."""
    if not prog.func_infos:
        return None
    fi = _records(prog.func_infos, ("insn_off", "type_id"))
    li = _records(prog.line_infos, ("insn_off", "file_name_off", "line_off", "line_col")) if prog.line_infos else b""
    if fi is None:
        return None
    return BtfExt(func_info=fi, line_info=li or b"")


def apply_core(prog: ProgramSpec, insns: list[Instruction]) -> list[Instruction]:
    """Resolve the program's CO-RE relocations against the kernel's BTF (pybpf.btf.core)."""
    try:
        from pybpf.btf import core  # type: ignore[attr-defined]
    except ImportError:
        raise LoadError(f"program {prog.name!r} needs CO-RE relocations but pybpf.btf.core is not available") from None
    fn = getattr(core, "apply_relocations", None) or getattr(core, "relocate", None)
    if fn is None:
        raise LoadError("pybpf.btf.core offers no relocation entry point")
    try:
        out = fn(prog, insns)
    except BpfError:
        raise
    except (KeyError, ValueError, IndexError) as exc:
        raise LoadError(f"CO-RE relocation of {prog.name!r} failed: {exc}") from None
    return list(out)


__all__ = ["LoadedBtf", "apply_core", "encode_ext", "load_btf", "load_collection_btf"]
