"""Name lookups in the kernel's own BTF (/sys/kernel/btf/vmlinux) for attach_btf_id, parsed minimally."""

from __future__ import annotations

import functools
import struct

from pybpf.errors import KernelError, LoadError

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
KIND_FUNC = 12
KIND_TYPEDEF = 8
KIND_STRUCT = 4
# bytes of kind-specific data after each btf_type: fixed part, per-vlen part
_EXTRA = {1: (4, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 13: (0, 8), 14: (4, 0), 15: (0, 12),
          17: (4, 0), 19: (0, 12)}


@functools.cache
def vmlinux_index(path: str = VMLINUX_BTF) -> dict[tuple[int, str], int]:
    """(kind, name) -> type id for every named type of the kernel's BTF."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise KernelError(f"cannot read kernel BTF {path}: {exc.strerror}", errno=exc.errno or 0) from None
    try:
        magic, _ver, _flags, hdr_len, type_off, type_len, str_off, _str_len = struct.unpack_from("<HBBIIIII", data)
    except struct.error:
        raise KernelError(f"{path} is not BTF") from None
    if magic != 0xEB9F:
        raise KernelError(f"{path} is not little-endian BTF")
    types = hdr_len + type_off
    strings = hdr_len + str_off
    end = types + type_len
    index: dict[tuple[int, str], int] = {}
    pos, tid = types, 1
    unpack = struct.unpack_from
    while pos < end:
        name_off, info, _ = unpack("<III", data, pos)
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        fixed, per = _EXTRA.get(kind, (0, 0))
        pos += 12 + fixed + per * vlen
        if name_off:
            s = strings + name_off
            name = data[s:data.index(b"\0", s)].decode()
            index.setdefault((kind, name), tid)
        tid += 1
    return index


def find_func(name: str) -> int:
    """The BTF id of kernel function `name` (for fentry/fexit/fmod_ret/lsm)."""
    tid = vmlinux_index().get((KIND_FUNC, name))
    if tid is None:
        raise LoadError(f"kernel function {name!r} not found in {VMLINUX_BTF} (not supported by this kernel)")
    return tid


def find_raw_tracepoint(name: str) -> int:
    """The BTF id of the typedef btf_trace_<name> that describes BTF tracepoint `name` (for tp_btf)."""
    tid = vmlinux_index().get((KIND_TYPEDEF, f"btf_trace_{name}"))
    if tid is None:
        raise LoadError(f"BTF tracepoint {name!r} not found in {VMLINUX_BTF} (not supported by this kernel)")
    return tid


def attach_btf_id(section_kind: str, target: str) -> int:
    """The attach_btf_id for a tracing program of kind fentry/fexit/fmod_ret/lsm/tp_btf/iter on `target`."""
    if section_kind in ("tp_btf",):
        return find_raw_tracepoint(target)
    if section_kind == "lsm":
        return find_func(f"bpf_lsm_{target}")
    if section_kind == "iter":
        return find_func(f"bpf_iter_{target}")
    return find_func(target)
