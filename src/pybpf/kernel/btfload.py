"""BTF for the kernel: BPF_BTF_LOAD, the object's sanitised BTF with func/line info, CO-RE resolution."""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass
from typing import Any

from pybpf.errors import BpfError, KernelError, LoadError
from pybpf.isa.instruction import Instruction, func_pointer_target
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
    """The object's BTF as loaded in the kernel, and the string offsets line_info records must use."""

    fd_obj: FD
    btf: Any
    strings: dict[str, int]

    @property
    def fd(self) -> int:
        return self.fd_obj.fd

    def ext_for(self, prog: ProgramSpec) -> BtfExt | None:
        """Encoded func_info/line_info records of `prog` (insn offsets in slots), or None."""
        return encode_ext(prog, self.strings)


def _string_table(blob: bytes) -> tuple[int, int, int, dict[str, int]]:
    """(header length, string section offset, length, string -> offset) of an encoded BTF blob."""
    _magic, _v, _f, hdr_len, _toff, _tlen, str_off, str_len = struct.unpack_from("<HBBIIIII", blob)
    base = hdr_len + str_off
    table: dict[str, int] = {}
    pos = 0
    raw = blob[base:base + str_len]
    while pos < len(raw):
        end = raw.find(b"\0", pos)
        if end < 0:
            break
        table.setdefault(raw[pos:end].decode(errors="replace"), pos)
        pos = end + 1
    return hdr_len, str_off, str_len, table


def _with_strings(blob: bytes, wanted: set[str]) -> tuple[bytes, dict[str, int]]:
    """Append the `wanted` strings missing from the blob's string section (strings come last)."""
    hdr_len, str_off, str_len, table = _string_table(blob)
    extra = bytearray()
    for text in sorted(wanted - set(table)):
        table[text] = str_len + len(extra)
        extra += text.encode() + b"\0"
    if not extra:
        return blob, table
    end = hdr_len + str_off + str_len
    out = bytearray(blob[:end]) + extra + blob[end:]
    struct.pack_into("<I", out, 20, str_len + len(extra))
    return bytes(out), table


def _encode_btf(btf: Any) -> bytes | None:
    """Raw bytes of an object's BTF, sanitised for the kernel (pybpf.btf's encoder)."""
    if isinstance(btf, (bytes, bytearray)):
        return bytes(btf)
    try:
        from pybpf.btf.encode import sanitize_for_kernel
    except ImportError:
        sanitize_for_kernel = None  # type: ignore[assignment]
    if sanitize_for_kernel is not None:
        btf = sanitize_for_kernel(btf)
    to_bytes = getattr(btf, "to_bytes", None)
    return bytes(to_bytes()) if callable(to_bytes) else None


def load_collection_btf(spec: CollectionSpec) -> LoadedBtf | None:
    """Upload the collection's BTF; None when there is none or the kernel refuses it (loading goes on)."""
    if spec.btf is None:
        return None
    try:
        data = _encode_btf(spec.btf)
    except (BpfError, ValueError, TypeError, KeyError, IndexError):
        return None
    if not data:
        return None
    wanted = {text for p in spec.programs.values() for li in p.line_infos
              for text in (getattr(li, "file_name", ""), getattr(li, "line", ""))}
    try:
        data, table = _with_strings(data, wanted)
        return LoadedBtf(load_btf(data), spec.btf, table)
    except (KernelError, struct.error):
        return None


def encode_ext(prog: ProgramSpec, strings: dict[str, int] | None = None) -> BtfExt | None:
    """bpf_func_info {insn_off, type_id} and bpf_line_info {insn_off, file, line, col} records."""
    if not prog.func_infos:
        return None
    fi = b"".join(struct.pack("<II", f.insn_off, f.type_id) for f in prog.func_infos)
    li = b""
    if prog.line_infos and strings is not None:
        recs = []
        for x in prog.line_infos:
            name = strings.get(getattr(x, "file_name", ""), x.file_name_off)
            line = strings.get(getattr(x, "line", ""), x.line_off)
            recs.append(struct.pack("<IIII", x.insn_off, name, line, x.line_col))
        li = b"".join(recs)
    return BtfExt(func_info=fi, line_info=li)


def apply_core(prog: ProgramSpec, insns: list[Instruction]) -> list[Instruction]:
    """Resolve the program's CO-RE relocations against the kernel's BTF (pybpf.btf.core)."""
    try:
        from pybpf.btf import core
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


def subprogram_starts(insns: list[Instruction] | tuple[Instruction, ...]) -> list[int]:
    """Slots where sub-programs start: targets of bpf-to-bpf calls and of callback (BPF_PSEUDO_FUNC) lddws."""
    starts = {0}
    pc = 0
    for insn in insns:
        if insn.opcode == 0x85 and insn.src == 1:  # call pc+imm (local function)
            starts.add(pc + insn.imm + 1)
        elif insn.opcode == 0x18 and insn.src == 4:  # r = &function (callback)
            starts.add(func_pointer_target(pc, insn))
        pc += insn.slots
    return sorted(starts)


def needs_synthetic_btf(prog: ProgramSpec, insns: list[Instruction]) -> bool:
    """True when a program without BTF passes callbacks to helpers (the kernel wants func_info then)."""
    return not prog.func_infos and any(i.opcode == 0x18 and i.src == 4 for i in insns)


def synthetic_func_btf(prog: ProgramSpec, insns: list[Instruction]) -> tuple[bytes, BtfExt]:
    """Minimal BTF for a program assembled by hand: one `int f(void)` FUNC per sub-program, static,
    and the func_info records that map each sub-program's first slot to it."""
    starts = subprogram_starts(insns)
    names = [prog.name or "main"] + [f"sub_{s}" for s in starts[1:]]
    strings = bytearray(b"\0")
    offsets = []
    for text in ["int", *names]:
        offsets.append(len(strings))
        strings += "".join(c if c.isalnum() or c == "_" else "_" for c in text).encode() + b"\0"
    types = struct.pack("<IIII", offsets[0], 1 << 24, 4, (1 << 24) | 32)  # [1] INT int, signed, 32 bits
    types += struct.pack("<III", 0, 13 << 24, 1)  # [2] FUNC_PROTO int (void)
    for i in range(len(starts)):
        types += struct.pack("<III", offsets[i + 1], 12 << 24, 2)  # [3+i] FUNC, static linkage
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    func_info = b"".join(struct.pack("<II", s, 3 + i) for i, s in enumerate(starts))
    return header + types + bytes(strings), BtfExt(func_info=func_info)
