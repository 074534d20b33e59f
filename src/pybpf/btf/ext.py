"""The .BTF.ext section: per-section func_info, line_info and CO-RE relocation records."""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from enum import IntEnum

from pybpf.btf.btf import HEADER, Btf, unpack_header
from pybpf.errors import ObjectError

_CORE_PART = struct.Struct("<II")


class CoreReloKind(IntEnum):
    """enum bpf_core_relo_kind (include/uapi/linux/bpf.h)."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12


@dataclass(frozen=True, slots=True)
class FuncInfo:
    """bpf_func_info: the function starting at instruction slot `insn_off` has FUNC type `type_id`."""

    insn_off: int
    type_id: int


@dataclass(frozen=True, slots=True)
class LineInfo:
    """bpf_line_info: source position of instruction slot `insn_off` (string offsets kept for the kernel)."""

    insn_off: int
    file_name_off: int
    line_off: int
    line_col: int
    file_name: str = ""
    line: str = ""

    @property
    def line_number(self) -> int:
        return self.line_col >> 10

    @property
    def column(self) -> int:
        return self.line_col & 0x3FF


@dataclass(frozen=True, slots=True)
class CoreRelo:
    """bpf_core_relo: patch instruction slot `insn_off` per `kind`, for local type `type_id` and access string."""

    insn_off: int
    type_id: int
    access_str_off: int
    kind: CoreReloKind
    access_str: str = ""


@dataclass(frozen=True)
class BtfExt:
    """Records of .BTF.ext keyed by ELF section name; insn_off values are instruction slots (not bytes)."""

    func_info: dict[str, list[FuncInfo]]
    line_info: dict[str, list[LineInfo]]
    core_relos: dict[str, list[CoreRelo]]
    func_info_rec_size: int = 8
    line_info_rec_size: int = 16


def _records(data: bytes, off: int, length: int, min_size: int, what: str, btf: Btf
             ) -> tuple[int, list[tuple[str, list[bytes]]]]:
    if length == 0:
        return min_size, []
    if off + length > len(data):
        raise ObjectError(f".BTF.ext: {what} (offset {off}, length {length}) runs past the end ({len(data)} bytes)")
    blob = data[off : off + length]
    if len(blob) < 4:
        raise ObjectError(f".BTF.ext: {what} too short for its record size")
    (rec_size,) = struct.unpack_from("<I", blob)
    if rec_size < min_size or rec_size % 4 or rec_size > 1024:
        raise ObjectError(f".BTF.ext: {what} has bad record size {rec_size}")
    pos = 4
    out = []
    while pos < len(blob):
        if pos + 8 > len(blob):
            raise ObjectError(f".BTF.ext: {what} section header truncated at offset {off + pos}")
        sec_name_off, num = struct.unpack_from("<II", blob, pos)
        pos += 8
        if num == 0:
            raise ObjectError(f".BTF.ext: {what} has an empty record block at offset {off + pos - 8}")
        end = pos + num * rec_size
        if end > len(blob):
            raise ObjectError(f".BTF.ext: {what}: {num} records at offset {off + pos} run past the end")
        sec_name = btf.string(sec_name_off)
        out.append((sec_name, [blob[pos + i * rec_size : pos + (i + 1) * rec_size] for i in range(num)]))
        pos = end
    return rec_size, out


def _slot(byte_off: int, what: str) -> int:
    if byte_off % 8:
        raise ObjectError(f".BTF.ext: {what} instruction offset {byte_off} is not a multiple of 8")
    return byte_off // 8


def parse_btf_ext(data: bytes, btf: Btf) -> BtfExt:
    """Parse .BTF.ext; strings come from the object's .BTF. ObjectError on malformed data."""
    data = bytes(data)
    hdr_len, fi_off, fi_len, li_off, li_len = unpack_header(data, ".BTF.ext")
    cr_off = cr_len = 0
    if hdr_len >= HEADER.size + _CORE_PART.size:
        cr_off, cr_len = _CORE_PART.unpack_from(data, HEADER.size)
    fsize, fsecs = _records(data, hdr_len + fi_off, fi_len, 8, "func_info", btf)
    lsize, lsecs = _records(data, hdr_len + li_off, li_len, 16, "line_info", btf)
    _, csecs = _records(data, hdr_len + cr_off, cr_len, 16, "core_relo", btf) if cr_len else (16, [])

    func_info: dict[str, list[FuncInfo]] = {}
    for sec, recs in fsecs:
        for r in recs:
            off, tid = struct.unpack_from("<II", r)
            func_info.setdefault(sec, []).append(FuncInfo(_slot(off, "func_info"), tid))
    line_info: dict[str, list[LineInfo]] = {}
    for sec, recs in lsecs:
        for r in recs:
            off, fname, line, col = struct.unpack_from("<IIII", r)
            line_info.setdefault(sec, []).append(
                LineInfo(_slot(off, "line_info"), fname, line, col, btf.string(fname), btf.string(line))
            )
    core: dict[str, list[CoreRelo]] = {}
    for sec, recs in csecs:
        for r in recs:
            off, tid, acc, kind = struct.unpack_from("<IIII", r)
            try:
                k = CoreReloKind(kind)
            except ValueError:
                raise ObjectError(f".BTF.ext: unknown CO-RE relocation kind {kind} in {sec!r}") from None
            core.setdefault(sec, []).append(CoreRelo(_slot(off, "core_relo"), tid, acc, k, btf.string(acc)))
    return BtfExt(func_info, line_info, core, fsize, lsize)


def shift(record: FuncInfo | LineInfo | CoreRelo, delta: int) -> FuncInfo | LineInfo | CoreRelo:
    """The same record moved by `delta` instruction slots."""
    return replace(record, insn_off=record.insn_off + delta)
