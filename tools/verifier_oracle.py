"""A tiny private ctypes BPF_PROG_LOAD used only to label the verifier corpus with the kernel's verdict."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pybpf.isa.instruction import Instruction, encode
from pybpf.object.spec import MapReference, MapSpec

_SYS_BPF = 321  # x86_64
_BPF_MAP_CREATE, _BPF_MAP_UPDATE_ELEM, _BPF_PROG_LOAD, _BPF_MAP_FREEZE = 0, 2, 5, 22
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.syscall.restype = ctypes.c_long


@dataclass
class KernelVerdict:
    """What the kernel said about one program."""

    accepted: bool
    errno: int
    log: str
    insn: int | None
    message: str
    processed_insns: int | None
    verification_usec: int | None


def _bpf(cmd: int, attr: bytes) -> tuple[int, int]:
    buf = ctypes.create_string_buffer(attr, 256)
    ret = _libc.syscall(_SYS_BPF, cmd, buf, 256)
    return ret, (ctypes.get_errno() if ret < 0 else 0)


def _create_map(spec: MapSpec) -> int:
    name = spec.name.encode()[:15].replace(b".", b"_")
    attr = struct.pack("<IIIIIII16s", int(spec.type), spec.key_size, spec.value_size,
                       spec.max_entries, spec.flags | (0x80 if spec.frozen else 0), 0, 0, name)
    fd, err = _bpf(_BPF_MAP_CREATE, attr)
    if fd < 0:
        raise OSError(err, f"map create {spec.name}: {os.strerror(err)}")
    for key, value in spec.contents:
        kb, vb = ctypes.create_string_buffer(key), ctypes.create_string_buffer(value)
        attr = struct.pack("<I4xQQQ", fd, ctypes.addressof(kb), ctypes.addressof(vb), 0)
        _bpf(_BPF_MAP_UPDATE_ELEM, attr)
    if spec.frozen:
        _bpf(_BPF_MAP_FREEZE, struct.pack("<I", fd))
    return fd


_LAST_INSN = re.compile(r"^(\d+): \(", re.M)
_PROCESSED = re.compile(r"processed (\d+) insns")
_TIME = re.compile(r"verification time (\d+) usec")


def _parse_failure(log: str) -> tuple[int | None, str]:
    """The last logged instruction index and the kernel's reason line."""
    lines = [ln for ln in log.splitlines() if ln.strip()]
    body = [ln for ln in lines if not ln.startswith(("processed ", "verification time", "stack depth"))]
    message = body[-1] if body else ""
    insns = _LAST_INSN.findall(log)
    return (int(insns[-1]) if insns else None), message


def load(
    insns: Sequence[Instruction],
    prog_type: int,
    *,
    maps: Mapping[str, MapSpec] | None = None,
    map_references: Sequence[MapReference] = (),
    license: str = "GPL",
    expected_attach_type: int = 0,
    log_level: int = 5,
) -> KernelVerdict:
    """Load `insns` into the kernel (maps created, lddw patched) and report its verdict and log."""
    fds: dict[str, int] = {}
    try:
        for name, spec in (maps or {}).items():
            fds[name] = _create_map(spec)
        patched = list(insns)
        pcs = {}
        pc = 0
        for index, insn in enumerate(patched):
            pcs[pc] = index
            pc += insn.slots
        for ref in map_references:
            index = pcs[ref.pc]
            fd = fds[ref.map_name]
            if ref.kind == "fd":
                patched[index] = patched[index].replace(src=1, imm=fd)
            else:
                patched[index] = patched[index].replace(src=2, imm=fd | (ref.offset << 32))
        code = encode(patched)
        code_buf = ctypes.create_string_buffer(code, len(code))
        lic = ctypes.create_string_buffer(license.encode())
        log_size = 1 << 24
        log_buf = ctypes.create_string_buffer(log_size)
        attr = struct.pack("<IIQQIIQII16sII", prog_type, len(code) // 8, ctypes.addressof(code_buf),
                           ctypes.addressof(lic), log_level, log_size, ctypes.addressof(log_buf), 0, 0,
                           b"oracle", 0, expected_attach_type)
        fd, err = _bpf(_BPF_PROG_LOAD, attr)
        log = log_buf.value.decode(errors="replace")
        if fd > 0:
            os.close(fd)
        if fd < 0 and err == 28 and log_level:  # ENOSPC: the log (its tail is kept) overflowed
            terse = load(insns, prog_type, maps=maps, map_references=map_references, license=license,
                         expected_attach_type=expected_attach_type, log_level=0)
            fd, err = (0, 0) if terse.accepted else (-1, terse.errno)
        m, t = _PROCESSED.search(log), _TIME.search(log)
        insn, message = (None, "") if fd >= 0 else _parse_failure(log)
        if fd < 0 and not log.strip():
            message = f"errno {err}: {os.strerror(err)}"
        return KernelVerdict(fd >= 0, err, log, insn, message,
                             int(m.group(1)) if m else None, int(t.group(1)) if t else None)
    finally:
        for fd in fds.values():
            os.close(fd)
