"""ARG_PTR_TO_CONST_STR and bpf_snprintf's format, checked at load time as the kernel does.

A constant string argument (bpf_snprintf's format, bpf_strncmp's second string) must point into
the value of a read-only map at a known offset, with a NUL before the value ends
(check_reg_const_str): the map is frozen with BPF_F_RDONLY_PROG (pybpf's kernel engine creates
frozen arrays, .rodata, that way) and has a direct value address (a one-entry array). The verifier
reads the string from the map's initial contents, which are what the frozen map holds. bpf_snprintf
then has its format checked like bpf_bprintf_prepare with data_len / 8 arguments
(check_bpf_snprintf_call).
"""

from __future__ import annotations

from pybpf.abi import MapFlags, MapType
from pybpf.errors import VerifierError
from pybpf.helpers import bprintf
from pybpf.object.spec import MapSpec
from pybpf.verifier import memory
from pybpf.verifier.state import Reg, RegType

SNPRINTF = 165


def _is_rdonly(m: MapSpec) -> bool:
    """bpf_map_is_rdonly: BPF_F_RDONLY_PROG and frozen (the kernel engine adds the flag to frozen arrays)."""
    return m.frozen and (m.type == MapType.ARRAY or bool(m.flags & MapFlags.RDONLY_PROG))


def value_of(m: MapSpec) -> bytes:
    """The value of a one-entry array as loaded: its initial contents, zero-filled."""
    for key, value in m.contents:
        if not any(key):
            return value[: m.value_size].ljust(m.value_size, b"\0")
    return bytes(m.value_size)


def string_at(pc: int, regno: int, reg: Reg) -> tuple[bytes, int]:
    """check_reg_const_str: (the map value, the string's offset in it), or the kernel's refusal."""
    m = reg.map
    if not _is_rdonly(m):
        raise VerifierError(f"R{regno} does not point to a readonly map'", insn=pc)
    if not reg.var.is_const():
        raise VerifierError(f"R{regno} is not a constant address'", insn=pc)
    if m.type != MapType.ARRAY:
        raise VerifierError("no direct value access support for this map type", insn=pc)
    memory.check_region(pc, regno, reg, 0, m.value_size - reg.off, m.value_size, "map value")
    off = reg.off + reg.var.value
    if m.max_entries != 1 or off >= m.value_size:
        raise VerifierError("direct value access on string failed", insn=pc)
    value = value_of(m)
    if b"\0" not in value[off:]:
        raise VerifierError("string is not zero-terminated", insn=pc)
    return value, off


def check_snprintf(pc: int, fmt: Reg, data_len: Reg) -> None:
    """check_bpf_snprintf_call: data is an array of u64, and the format takes at most that many."""
    if fmt.type is not RegType.PTR_TO_MAP_VALUE:
        return
    length = data_len.var.value
    if length % 8:
        raise VerifierError(f"data_len {length} is not a multiple of 8", insn=pc)
    value, off = value_of(fmt.map), fmt.off + fmt.var.value
    try:
        bprintf.check(value[off:], length // 8)
    except bprintf.FormatError:
        raise VerifierError("Invalid format string", insn=pc) from None
