"""A loaded program's translated instructions with names, as `bpftool prog dump xlated` shows them.

The kernel rewrites a helper call's immediate to the helper's address minus `__bpf_call_base`;
/proc/kallsyms turns it back into a name (`call bpf_get_current_pid_tgid#14`: the helper's name
and id, or the kernel function a map operation was inlined to). The program's BTF line info
(bpf_line_info: instruction offset, file, source line, line:column) gives the source line above
the instructions it produced, and its func info the name of each function.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from dataclasses import dataclass

from pybpf.errors import BpfError
from pybpf.helpers.ids import HELPER_NAMES
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import CALL
from pybpf.kernel import info as kinfo
from pybpf.kernel.attr import ProgInfo

KALLSYMS = "/proc/kallsyms"
CALL_BASE = "__bpf_call_base"


@dataclass(frozen=True)
class LineInfo:
    """One bpf_line_info record: the source line that instruction `insn_off` starts."""

    insn_off: int
    file: str
    line: int
    column: int
    source: str


def _kallsyms(addresses: set[int]) -> tuple[int | None, dict[int, str]]:
    """__bpf_call_base's address and the names of `addresses` (function symbols only)."""
    base: int | None = None
    names: dict[int, str] = {}
    try:
        with open(KALLSYMS, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None, {}
    by_address: dict[int, str] = {}
    for line in lines:
        parts = line.split()
        if len(parts) < 3 or parts[1] not in "Tt":
            continue
        address = int(parts[0], 16)
        if parts[2] == CALL_BASE:
            base = address
        by_address.setdefault(address, parts[2])
    if base is None or base == 0:  # kptr_restrict hides the addresses
        return None, {}
    for address in addresses:
        name = by_address.get(base + address)
        if name is not None:
            names[address] = name
    return base, names


def helper_call_names(insns: Iterable[Instruction]) -> dict[int, str]:
    """Call immediate -> shown name for every helper call of translated code."""
    imms = {_s32(i.imm) for i in insns if i.opcode == CALL and i.src == 0}
    if not imms:
        return {}
    _, symbols = _kallsyms(imms)
    out: dict[int, str] = {}
    for imm, symbol in symbols.items():
        short = symbol.removeprefix("bpf_")
        if symbol.startswith("bpf_") and short in HELPER_NAMES:
            shown = f"{symbol}#{HELPER_NAMES.index(short)}"
        else:
            shown = symbol
        out[imm] = out[imm & 0xFFFFFFFF] = shown
    return out


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


class _LineInfoRec(ctypes.Structure):
    _fields_ = [("insn_off", ctypes.c_uint32), ("file_name_off", ctypes.c_uint32),
                ("line_off", ctypes.c_uint32), ("line_col", ctypes.c_uint32)]


class _FuncInfoRec(ctypes.Structure):
    _fields_ = [("insn_off", ctypes.c_uint32), ("type_id", ctypes.c_uint32)]


def _btf(btf_id: int) -> object | None:
    if not btf_id:
        return None
    from pybpf.btf.btf import Btf

    try:
        with kinfo.fd_by_id("btf", btf_id) as fd:
            return Btf.parse(kinfo.btf_data(fd.fd))
    except (BpfError, ValueError):
        return None


def source_info(fd: int) -> tuple[list[LineInfo], dict[int, str]]:
    """The program's line info records and its functions (insn offset -> name), from its BTF."""
    head = ProgInfo()
    kinfo._get_info(fd, head)
    btf = _btf(head.btf_id)
    if btf is None:
        return [], {}
    lines = (_LineInfoRec * max(head.nr_line_info, 1))()
    funcs = (_FuncInfoRec * max(head.nr_func_info, 1))()
    query = ProgInfo(nr_line_info=head.nr_line_info, line_info_rec_size=ctypes.sizeof(_LineInfoRec),
                     line_info=ctypes.addressof(lines), nr_func_info=head.nr_func_info,
                     func_info_rec_size=ctypes.sizeof(_FuncInfoRec), func_info=ctypes.addressof(funcs))
    kinfo._get_info(fd, query)
    string = btf.string  # type: ignore[attr-defined]
    out = [LineInfo(r.insn_off, string(r.file_name_off), r.line_col >> 10, r.line_col & 0x3FF,
                    string(r.line_off).strip())
           for r in lines[: head.nr_line_info]]
    names: dict[int, str] = {}
    for r in funcs[: head.nr_func_info]:
        try:
            names[r.insn_off] = btf.type(r.type_id).name  # type: ignore[attr-defined]
        except (BpfError, IndexError, KeyError):
            continue
    return out, names
