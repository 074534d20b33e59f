"""The user-space runtime's memory model: bounds-checked regions at native (ctypes) addresses.

Every byte a program may touch belongs to a `Region` (address, size, writable, name) backed by
ctypes memory: the context, the packet, one 512-byte stack per call frame, map values and memory
helpers hand out. Pointers are the real native addresses, so the JIT and native map storage see
the same numbers. Every access is checked against the regions; an access that is out of bounds,
unmapped, or a write to a read-only region raises `RuntimeFault` naming the pc, the address and
the size, and never touches host memory outside the regions.
"""

from __future__ import annotations

import bisect
import ctypes
import mmap
import struct
from collections.abc import Callable, Iterable
from typing import Any

from pybpf.errors import RuntimeFault
from pybpf.isa.opcodes import M64 as MASK64
from pybpf.isa.opcodes import MAX_CALL_FRAMES, MAX_CHAIN_FRAMES, STACK_SIZE

# Unsigned little-endian codecs by access size, shared by the interpreter's fast paths.
UNPACK: dict[int, Callable[[Any, int], tuple[int, ...]]] = {
    1: struct.Struct("<B").unpack_from,
    2: struct.Struct("<H").unpack_from,
    4: struct.Struct("<I").unpack_from,
    8: struct.Struct("<Q").unpack_from,
}
PACK: dict[int, Callable[..., None]] = {
    1: struct.Struct("<B").pack_into,
    2: struct.Struct("<H").pack_into,
    4: struct.Struct("<I").pack_into,
    8: struct.Struct("<Q").pack_into,
}
SIZE_MASK = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF, 8: MASK64}

# A frame's stack sits in a slot of twice its size: the upper half is the stack, the lower half
# an unmapped guard, so running off the bottom of one frame's stack faults instead of landing
# in the next frame's.
_FRAME_STRIDE = 2 * STACK_SIZE


class Region:
    """A contiguous range of program-visible memory at a native address.

    `buffer` is a ctypes object (or any writable buffer) whose first byte is at `address`;
    `owner` keeps the memory it views alive for as long as the region exists.
    `ctx` is set for a program context whose accesses must be converted (pointer fields of
    `xdp_md`/`__sk_buff`, read-only fields): every access to such a region goes through
    `ctx.load(offset, size, pc)` / `ctx.store(offset, size, value, pc)` instead of the bytes.
    """

    __slots__ = ("address", "size", "end", "writable", "name", "buffer", "owner", "ctx")

    def __init__(
        self,
        buffer: Any,
        *,
        name: str,
        writable: bool = True,
        size: int | None = None,
        owner: Any = None,
    ) -> None:
        self.buffer = buffer
        self.address: int = ctypes.addressof(buffer)
        self.size: int = ctypes.sizeof(buffer) if size is None else size
        self.end = self.address + self.size
        self.writable = writable
        self.name = name
        self.owner = owner
        self.ctx: Any = None

    @classmethod
    def allocate(cls, size: int, *, name: str, writable: bool = True, init: bytes = b"") -> Region:
        """A new zeroed region of `size` bytes (optionally starting with `init`)."""
        buf = (ctypes.c_ubyte * max(size, 1))()
        if init:
            ctypes.memmove(buf, init, min(len(init), size))
        return cls(buf, name=name, writable=writable, size=size)

    @classmethod
    def at(
        cls, address: int, size: int, *, name: str, writable: bool = True, owner: Any = None
    ) -> Region:
        """A region viewing `size` bytes of existing native memory kept alive by `owner`."""
        buf = (ctypes.c_ubyte * max(size, 1)).from_address(address)
        return cls(buf, name=name, writable=writable, size=size, owner=owner)

    @classmethod
    def within(
        cls, view: memoryview, base: int, address: int, size: int, *, name: str,
        writable: bool = True, owner: Any = None,
    ) -> Region:
        """A region of `size` bytes at `address` inside the memory `view` (a byte memoryview of
        native memory starting at `base`, kept alive by `owner`): no new ctypes object."""
        region = cls.__new__(cls)
        region.buffer = view[address - base : address - base + size]
        region.address = address
        region.size = size
        region.end = address + size
        region.writable = writable
        region.name = name
        region.owner = owner
        region.ctx = None
        return region

    def contains(self, address: int, size: int = 1) -> bool:
        return self.address <= address and address + size <= self.end

    def read(self, offset: int, size: int) -> bytes:
        return bytes(memoryview(self.buffer).cast("B")[offset : offset + size])

    def write(self, offset: int, data: bytes) -> None:
        memoryview(self.buffer).cast("B")[offset : offset + len(data)] = data

    def __repr__(self) -> str:
        mode = "rw" if self.writable else "ro"
        return f"<Region {self.name} {self.address:#x}+{self.size} {mode}>"


def _nowhere() -> Region:
    """An empty region no access fits in: the initial value of the fast-path caches."""
    region = Region.allocate(1, name="nowhere", writable=False)
    region.address = region.end = region.size = 0
    return region


NOWHERE = _nowhere()

# A provider resolves addresses the memory does not know (e.g. a map's value storage) to a region.
RegionProvider = Callable[[int], "Region | None"]


class Memory:
    """The set of regions a running program may access, with bounds-checked loads and stores."""

    def __init__(self, regions: Iterable[Region] = ()) -> None:
        self._regions: list[Region] = []
        self._starts: list[int] = []
        self._providers: list[RegionProvider] = []
        # The most recently used region, and writable region (the interpreter's fast paths).
        self.last: Region = NOWHERE
        self.last_w: Region = NOWHERE
        for region in regions:
            self.add(region)

    # --- the region table ------------------------------------------------------------
    def add(self, region: Region) -> Region:
        """Make `region` accessible (it must not overlap a region already present)."""
        regions, starts, address = self._regions, self._starts, region.address
        index = bisect.bisect_right(starts, address)
        if index and regions[index - 1].end > address:
            prev = regions[index - 1]
            if prev.address == address and prev.size == region.size:
                return prev  # the same memory exposed twice: keep the first
            raise ValueError(f"{region!r} overlaps {prev!r}")
        if index < len(regions) and regions[index].address < region.end:
            raise ValueError(f"{region!r} overlaps {regions[index]!r}")
        regions.insert(index, region)
        starts.insert(index, address)
        return region

    def remove(self, region: Region) -> None:
        """Make `region` inaccessible again (no-op when absent)."""
        regions, address = self._regions, region.address
        index = bisect.bisect_left(self._starts, address)
        while index < len(regions) and regions[index].address == address:
            if regions[index] is region:
                del regions[index]
                del self._starts[index]
                self.last = self.last_w = NOWHERE
                return
            index += 1

    def forget(self) -> None:
        """Reset the fast-path caches (after regions change)."""
        self.last = NOWHERE
        self.last_w = NOWHERE

    def add_provider(self, provider: RegionProvider) -> None:
        """Consult `provider(address)` for addresses no region covers (map storage, ...)."""
        self._providers.append(provider)

    @property
    def regions(self) -> tuple[Region, ...]:
        return tuple(self._regions)

    def region_at(self, address: int) -> Region | None:
        """The region containing `address`, or None."""
        index = bisect.bisect_right(self._starts, address) - 1
        if index >= 0:
            region = self._regions[index]
            if address < region.end:
                return region
        for provider in self._providers:
            found = provider(address)
            if found is not None and found.address <= address < found.end:
                return found
        return None

    # --- checked access ------------------------------------------------------------------
    def find(self, address: int, size: int, pc: int | None = None, *, write: bool = False) -> Region:
        """The region that holds all of [address, address+size), or RuntimeFault."""
        region = self.last
        if not (region.address <= address and address + size <= region.end):
            found = self.region_at(address)
            if found is None:
                raise RuntimeFault(
                    f"invalid memory access: {size} bytes at {address:#x} (unmapped)",
                    pc=pc,
                    address=address,
                    size=size,
                )
            if address + size > found.end:
                raise RuntimeFault(
                    f"out of bounds memory access: {size} bytes at {address:#x}"
                    f" ({found.name} is {found.address:#x}+{found.size})",
                    pc=pc,
                    address=address,
                    size=size,
                )
            region = found
            if region.ctx is None:  # context accesses are converted: never on the fast path
                self.last = region
        if write:
            if not region.writable:
                raise RuntimeFault(
                    f"write to read-only memory: {size} bytes at {address:#x} ({region.name})",
                    pc=pc,
                    address=address,
                    size=size,
                )
            if region.ctx is None:
                self.last_w = region
        return region

    def load(self, address: int, size: int, pc: int | None = None) -> int:
        """Load an unsigned little-endian integer of `size` (1/2/4/8) bytes."""
        region = self.find(address, size, pc)
        if region.ctx is not None:
            value: int = region.ctx.load(address - region.address, size, pc)
            return value
        return UNPACK[size](region.buffer, address - region.address)[0]

    def store(self, address: int, size: int, value: int, pc: int | None = None) -> None:
        """Store the low `size` bytes of `value`, little-endian."""
        region = self.find(address, size, pc, write=True)
        if region.ctx is not None:
            region.ctx.store(address - region.address, size, value & SIZE_MASK[size], pc)
            return
        PACK[size](region.buffer, address - region.address, value & SIZE_MASK[size])

    def read(self, address: int, size: int, pc: int | None = None) -> bytes:
        """Read `size` bytes (size 0 is allowed anywhere and reads nothing)."""
        if size < 0:
            raise RuntimeFault(f"negative size {size}", pc=pc, address=address, size=size)
        if size == 0:
            return b""
        region = self.find(address, size, pc)
        return region.read(address - region.address, size)

    def write(self, address: int, data: bytes, pc: int | None = None) -> None:
        """Write `data` at `address` into a writable region."""
        if not data:
            return
        region = self.find(address, len(data), pc, write=True)
        region.write(address - region.address, bytes(data))

    def read_str(self, address: int, max_len: int, pc: int | None = None) -> bytes:
        """A NUL-terminated string of at most `max_len` bytes (the terminator excluded)."""
        if max_len <= 0:
            return b""
        region = self.find(address, 1, pc)
        offset = address - region.address
        chunk = region.read(offset, min(max_len, region.size - offset))
        nul = chunk.find(b"\0")
        if nul >= 0:
            return chunk[:nul]
        if len(chunk) < max_len:
            end = region.end
            raise RuntimeFault(
                f"unterminated string at {address:#x} runs past {region.name} (ends {end:#x})",
                pc=pc,
                address=end,
                size=1,
            )
        return chunk


class Stack:
    """Call-frame stacks: STACK_SIZE bytes per frame, separated by unmapped guards.

    Frame k's stack is the region [top(k) - STACK_SIZE, top(k)); r10 = top(k). A program's own
    calls use MAX_CALL_FRAMES frames; tail calls from sub-programs reach deeper ones (up to
    MAX_CHAIN_FRAMES). The frames live in anonymous memory the kernel zero-fills on first touch,
    so the deep ones cost nothing until a run tail-calls (`mark_deep`), which maps their regions
    and has `clear()` zero them all after that run. The interpreter tells `use(frames)` how many
    frames a run reached, so `clear()` zeroes those only (a run that makes no call, one).
    """

    def __init__(self, memory: Memory, frames: int = MAX_CHAIN_FRAMES) -> None:
        self.frames = frames
        self._memory = memory
        self._map = mmap.mmap(-1, _FRAME_STRIDE * frames)
        self._buffer = (ctypes.c_ubyte * (_FRAME_STRIDE * frames)).from_buffer(self._map)
        self._view = memoryview(self._buffer).cast("B")
        base = ctypes.addressof(self._buffer)
        self.tops = [base + k * _FRAME_STRIDE + 2 * STACK_SIZE for k in range(frames)]
        self.regions: list[Region] = []
        self._deep = False
        # frames that may hold data since the last clear(); None: unknown (an engine that does
        # not report its frames, such as the JIT's Python helpers), so all of them
        self.used: int | None = None
        self._map_frames(min(frames, MAX_CALL_FRAMES))

    def _map_frames(self, count: int) -> None:
        for k in range(len(self.regions), count):
            region = Region.at(self.tops[k] - STACK_SIZE, STACK_SIZE, name=f"stack[{k}]", owner=self._buffer)
            self._memory.add(region)
            self.regions.append(region)

    def top(self, frame: int) -> int:
        """r10 of call frame `frame` (0 = the program's own frame)."""
        return self.tops[frame]

    def use(self, frames: int) -> None:
        """A run reaches frames [0, frames): clear() must zero them."""
        used = self.used
        if used is not None and frames > used:
            self.used = frames

    def mark_deep(self) -> None:
        """A tail call may use frames past MAX_CALL_FRAMES in this run: map them, clear them all next time."""
        self._deep = True
        self._map_frames(self.frames)

    def clear(self) -> None:
        """Zero every frame a run may have used (programs must not see a previous run's stack)."""
        if self._deep:
            size = len(self._view)
        elif self.used is None:
            size = _FRAME_STRIDE * min(self.frames, MAX_CALL_FRAMES)
        else:
            size = _FRAME_STRIDE * min(self.used, MAX_CALL_FRAMES)
        if size:
            self._view[:size] = _ZEROS[:size] if size <= len(_ZEROS) else bytes(size)
        self._deep = False
        self.used = 0


_ZEROS = bytes(_FRAME_STRIDE * MAX_CALL_FRAMES)
