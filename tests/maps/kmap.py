"""A tiny self-contained bpf() map wrapper used by the kernel-comparison tests (independent of pybpf)."""

from __future__ import annotations

import ctypes
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
SYS_BPF = 321 if os.uname().machine == "x86_64" else 280
MAP_CREATE, LOOKUP, UPDATE, DELETE, NEXT_KEY = 0, 1, 2, 3, 4
LOOKUP_AND_DELETE = 21
FREEZE = 22


def _bpf(cmd: int, attr: bytes) -> tuple[int, int]:
    buf = ctypes.create_string_buffer(attr, 128)
    ret = _libc.syscall(SYS_BPF, cmd, buf, 128)
    return int(ret), (ctypes.get_errno() if ret < 0 else 0)


class KernelMap:
    """A kernel map; every operation returns (errno, result) with errno 0 on success."""

    def __init__(
        self,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        flags: int = 0,
        ncpus: int = 1,
    ) -> None:
        attr = struct.pack("<IIIII", map_type, key_size, value_size, max_entries, flags)
        fd, err = _bpf(MAP_CREATE, attr)
        self.create_errno = err
        self.fd = fd
        self.key_size = key_size
        self.value_size = value_size
        self.ncpus = ncpus
        self.vbuf_size = max(((value_size + 7) & ~7) * ncpus, value_size, 8)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> KernelMap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _elem(
        self, cmd: int, key: bytes | None, value: bytes | None, flags: int
    ) -> tuple[int, bytes]:
        kbuf = (
            ctypes.create_string_buffer(key or b"\0", max(len(key or b""), 1))
            if key is not None
            else None
        )
        vbuf = ctypes.create_string_buffer(value or b"", self.vbuf_size)
        kaddr = ctypes.addressof(kbuf) if kbuf is not None else 0
        attr = struct.pack("<I4xQQQ", self.fd, kaddr, ctypes.addressof(vbuf), flags)
        _, err = _bpf(cmd, attr)
        return err, vbuf.raw

    def lookup(self, key: bytes | None) -> tuple[int, bytes]:
        err, raw = self._elem(LOOKUP, key, None, 0)
        return err, raw[: self.value_size if self.ncpus == 1 else self.vbuf_size]

    def update(self, key: bytes | None, value: bytes, flags: int = 0) -> int:
        return self._elem(UPDATE, key, value, flags)[0]

    def delete(self, key: bytes | None) -> int:
        kbuf = (
            ctypes.create_string_buffer(key or b"\0", max(len(key or b""), 1))
            if key is not None
            else None
        )
        attr = struct.pack("<I4xQ", self.fd, ctypes.addressof(kbuf) if kbuf is not None else 0)
        return _bpf(DELETE, attr)[1]

    def lookup_and_delete(self, key: bytes | None) -> tuple[int, bytes]:
        err, raw = self._elem(LOOKUP_AND_DELETE, key, None, 0)
        return err, raw[: self.value_size]

    def next_key(self, key: bytes | None) -> tuple[int, bytes]:
        kbuf = ctypes.create_string_buffer(key, len(key)) if key is not None else None
        nbuf = ctypes.create_string_buffer(max(self.key_size, 1))
        attr = struct.pack(
            "<I4xQQ",
            self.fd,
            ctypes.addressof(kbuf) if kbuf is not None else 0,
            ctypes.addressof(nbuf),
        )
        err = _bpf(NEXT_KEY, attr)[1]
        return err, nbuf.raw[: self.key_size]

    def freeze(self) -> int:
        return _bpf(FREEZE, struct.pack("<I", self.fd))[1]

    def keys(self) -> list[bytes]:
        out = []
        err, key = self.next_key(None)
        while not err:
            out.append(key)
            err, key = self.next_key(key)
        return out
