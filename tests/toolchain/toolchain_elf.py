"""A minimal ELF64 section reader for the toolchain tests (independent of pybpf.object)."""

from __future__ import annotations

import struct
from pathlib import Path

EM_BPF = 247
ET_REL = 1


def sections(path: Path) -> dict[str, bytes]:
    """Section name -> contents (empty for NOBITS) of a little-endian ELF64 file."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not a LE ELF64 file"
    e_shoff = struct.unpack_from("<Q", data, 0x28)[0]
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = []
    for i in range(e_shnum):
        name, stype, _flags, _addr, offset, size = struct.unpack_from(
            "<IIQQQQ", data, e_shoff + i * e_shentsize
        )
        headers.append((name, stype, offset, size))
    strtab = headers[e_shstrndx]
    names = data[strtab[2] : strtab[2] + strtab[3]]
    out = {}
    for name, stype, offset, size in headers[1:]:
        end = names.index(b"\0", name)
        out[names[name:end].decode()] = b"" if stype == 8 else data[offset : offset + size]
    return out


def header(path: Path) -> tuple[int, int]:
    """(e_type, e_machine) of an ELF file."""
    return struct.unpack_from("<HH", path.read_bytes(), 0x10)


def call_imms(code: bytes) -> list[int]:
    """The imm of every helper call (opcode 0x85, src 0) in a section of bytecode."""
    out = []
    for pc in range(0, len(code) - 7, 8):
        op, regs, _off, imm = struct.unpack_from("<BBhi", code, pc)
        if op == 0x85 and regs >> 4 == 0:
            out.append(imm)
    return out


def btf_ext_lengths(blob: bytes) -> dict[str, int]:
    """The func_info, line_info and core_relo lengths of a .BTF.ext section."""
    magic, _version, _flags, hdr_len = struct.unpack_from("<HBBI", blob)
    assert magic == 0xEB9F
    fields = struct.unpack_from("<4I", blob, 8)
    lengths = {"func_info": fields[1], "line_info": fields[3], "core_relo": 0}
    if hdr_len >= 32:
        lengths["core_relo"] = struct.unpack_from("<I", blob, 28)[0]
    return lengths
