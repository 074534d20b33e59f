"""A minimal HelperEnv for testing helper implementations without the interpreter."""

from __future__ import annotations

import ctypes
from typing import Any

from pybpf.collection import Map
from pybpf.errors import RuntimeFault


class FakeEnv:
    """Bounds-checked memory made of ctypes buffers, maps by pointer, collected trace output."""

    def __init__(self, program_type: int = 0, cpu: int = 0) -> None:
        self.program_type = program_type
        self.cpu = cpu
        self.lines: list[str] = []
        self.extra: dict[str, Any] = {}
        self._regions: list[tuple[int, int, bool, Any]] = []
        self._maps: dict[int, Map] = {}
        self._handles: list[Any] = []

    # --- memory --------------------------------------------------------------------------
    def alloc(self, data: bytes | int, *, writable: bool = True) -> int:
        """A new region holding `data` (or that many zero bytes); returns its address."""
        init = bytes(data) if isinstance(data, (bytes, bytearray)) else bytes(data)
        buf = ctypes.create_string_buffer(init, max(len(init), 1))
        address = ctypes.addressof(buf)
        self._regions.append((address, len(init), writable, buf))
        return address

    def expose(
        self, address: int, size: int, *, writable: bool = True, name: str = "", owner: Any = None
    ) -> None:
        self._regions.append((address, size, writable, owner))

    def _find(self, address: int, size: int, write: bool) -> None:
        for start, length, writable, _ in self._regions:
            if start <= address and address + size <= start + length:
                if write and not writable:
                    raise RuntimeFault("write to read-only memory", address=address, size=size)
                return
        raise RuntimeFault("invalid memory access", address=address, size=size)

    def read(self, address: int, size: int) -> bytes:
        if size == 0:
            return b""
        self._find(address, size, False)
        return ctypes.string_at(address, size)

    def write(self, address: int, data: bytes) -> None:
        if not data:
            return
        self._find(address, len(data), True)
        ctypes.memmove(address, bytes(data), len(data))

    def read_str(self, address: int, max_len: int) -> bytes:
        out = bytearray()
        while len(out) < max_len:
            b = self.read(address + len(out), 1)
            if b == b"\0":
                break
            out += b
        return bytes(out)

    # --- maps and output -------------------------------------------------------------------
    def map_pointer(self, m: Map) -> int:
        for pointer, known in self._maps.items():
            if known is m:
                return pointer
        handle = ctypes.create_string_buffer(8)
        self._handles.append(handle)
        pointer = ctypes.addressof(handle)
        self._maps[pointer] = m
        return pointer

    def map_from_pointer(self, value: int) -> Map:
        m = self._maps.get(value)
        if m is None:
            raise RuntimeFault(f"{value:#x} is not a map")
        return m

    def output(self, line: str) -> None:
        self.lines.append(line)
