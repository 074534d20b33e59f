"""A tiny self-contained bpf(BPF_PROG_LOAD) wrapper for tests that ask the running kernel (no pybpf code)."""

from __future__ import annotations

import ctypes
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
SYS_BPF = 321 if os.uname().machine == "x86_64" else 280
BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM = 0, 1, 2, 3
BPF_MAP_GET_NEXT_KEY, BPF_PROG_LOAD = 4, 5
BPF_MAP_LOOKUP_AND_DELETE_ELEM = 21


def bpf(cmd: int, attr: bytes) -> tuple[int, int]:
    """Run bpf(cmd, attr); returns (result, errno)."""
    buf = ctypes.create_string_buffer(attr, 128 if len(attr) <= 128 else len(attr))
    ret = _libc.syscall(SYS_BPF, cmd, buf, len(buf))
    return ret, (ctypes.get_errno() if ret < 0 else 0)


def insn(opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", opcode, (src << 4) | dst, off, imm)


def prog_load(
    prog_type: int,
    code: bytes,
    *,
    expected_attach_type: int = 0,
    attach_btf_id: int = 0,
    prog_flags: int = 0,
    license: bytes = b"GPL",
) -> tuple[int, int, str]:
    """Load a program; returns (fd or -1, errno, verifier log)."""
    log = ctypes.create_string_buffer(1 << 16)
    lic = ctypes.create_string_buffer(license)
    ins = ctypes.create_string_buffer(code)
    attr = struct.pack(
        "<IIQQIIQII16sIIIIQIIQII",
        prog_type,
        len(code) // 8,
        ctypes.addressof(ins),
        ctypes.addressof(lic),
        1,
        len(log),
        ctypes.addressof(log),
        0,
        prog_flags,
        b"probe",
        0,
        expected_attach_type,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        attach_btf_id,
    )
    fd, err = bpf(BPF_PROG_LOAD, attr)
    text = log.value.decode(errors="replace")
    return fd, err, text


def close(fd: int) -> None:
    if fd >= 0:
        os.close(fd)
