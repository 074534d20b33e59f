"""Tests of the bounds-checked memory model and the RunEnv helper environment."""

from __future__ import annotations

import ctypes

import pytest

from pybpf.errors import RuntimeFault
from pybpf.vm.memory import Memory, Region, Stack
from pybpf.vm.run_env import RunEnv


def test_load_store_little_endian() -> None:
    mem = Memory()
    r = mem.add(Region.allocate(16, name="buf", init=bytes(range(16))))
    assert mem.load(r.address, 4) == 0x03020100
    assert mem.load(r.address + 8, 8) == 0x0F0E0D0C0B0A0908
    mem.store(r.address + 2, 2, 0x12345)
    assert mem.read(r.address, 4) == bytes([0, 1, 0x45, 0x23])


def test_out_of_bounds_names_pc_address_size() -> None:
    mem = Memory()
    r = mem.add(Region.allocate(8, name="buf"))
    with pytest.raises(RuntimeFault) as info:
        mem.load(r.address + 6, 4, pc=7)
    assert info.value.pc == 7 and info.value.address == r.address + 6 and info.value.size == 4
    assert "out of bounds" in str(info.value)


def test_unmapped_and_null() -> None:
    mem = Memory()
    with pytest.raises(RuntimeFault) as info:
        mem.load(0, 8, pc=1)
    assert info.value.address == 0 and "unmapped" in str(info.value)


def test_read_only_region() -> None:
    mem = Memory()
    r = mem.add(Region.allocate(8, name="ro", writable=False))
    assert mem.load(r.address, 1) == 0
    with pytest.raises(RuntimeFault, match="read-only"):
        mem.store(r.address, 1, 1, pc=3)


def test_region_view_of_existing_memory() -> None:
    backing = (ctypes.c_ubyte * 32)()
    mem = Memory()
    r = mem.add(Region.at(ctypes.addressof(backing) + 8, 8, name="value", owner=backing))
    mem.store(r.address, 8, 0x1122334455667788)
    assert bytes(backing)[8:16] == bytes.fromhex("8877665544332211")
    with pytest.raises(RuntimeFault):
        mem.load(r.address - 1, 1)  # byte 7 of the backing buffer is not exposed


def test_overlap_refused_and_remove() -> None:
    mem = Memory()
    r = mem.add(Region.allocate(8, name="a"))
    with pytest.raises(ValueError):
        mem.add(Region.at(r.address + 4, 8, name="b", owner=r))
    mem.remove(r)
    with pytest.raises(RuntimeFault):
        mem.load(r.address, 1)


def test_stack_frames_have_guards() -> None:
    mem = Memory()
    stack = Stack(mem)
    top = stack.top(0)
    mem.store(top - 512, 8, 5)
    assert mem.load(top - 512, 8) == 5
    with pytest.raises(RuntimeFault):
        mem.load(top - 513, 1)
    with pytest.raises(RuntimeFault):
        mem.load(top, 1)
    assert stack.top(1) - stack.top(0) >= 1024


def test_read_str() -> None:
    mem = Memory()
    r = mem.add(Region.allocate(8, name="s", init=b"abc\0def\0"))
    assert mem.read_str(r.address, 100) == b"abc"
    assert mem.read_str(r.address, 2) == b"ab"
    r2 = mem.add(Region.allocate(3, name="t", init=b"xyz"))
    with pytest.raises(RuntimeFault):
        mem.read_str(r2.address, 10)


def test_runenv_maps_and_expose() -> None:
    env = RunEnv()
    sentinel = object()
    ptr = env.register_map(sentinel)  # type: ignore[arg-type]
    assert env.map_from_pointer(ptr) is sentinel
    assert env.map_pointer(sentinel) == ptr
    with pytest.raises(RuntimeFault):
        env.map_from_pointer(ptr + 1)
    with pytest.raises(RuntimeFault):
        env.read(ptr, 1)  # a map pointer is not memory
    backing = (ctypes.c_ubyte * 4)(1, 2, 3, 4)
    env.expose(ctypes.addressof(backing), 4, owner=backing)
    assert env.read(ctypes.addressof(backing), 4) == b"\1\2\3\4"
    env.write(ctypes.addressof(backing), b"\x09")
    assert backing[0] == 9
    env.end_run()
    with pytest.raises(RuntimeFault):
        env.read(ctypes.addressof(backing), 4)
    env.output("hello")
    assert env.trace_lines == ["hello"]


def test_provider_resolves_addresses_outside_the_table() -> None:
    backing = (ctypes.c_ubyte * 64)()
    base = ctypes.addressof(backing)
    calls: list[int] = []

    def provider(address: int) -> Region | None:
        calls.append(address)
        if base + 16 <= address < base + 24:  # one 8-byte "value" inside the storage
            return Region.at(base + 16, 8, name="value", owner=backing)
        return None

    mem = Memory()
    mem.add_provider(provider)
    mem.store(base + 16, 8, 0xAABB)
    assert mem.load(base + 16, 2) == 0xAABB and bytes(backing)[16:18] == b"\xbb\xaa"
    with pytest.raises(RuntimeFault, match="out of bounds"):
        mem.load(base + 20, 8)  # crosses the end of the value
    with pytest.raises(RuntimeFault, match="unmapped"):
        mem.load(base + 8, 1)  # storage outside any value is not program memory
    assert calls


def test_context_regions_route_through_their_context() -> None:
    class Ctx:
        def load(self, offset: int, size: int, pc: int | None) -> int:
            return 1000 + offset

        def store(self, offset: int, size: int, value: int, pc: int | None) -> None:
            raise RuntimeFault("read-only context", pc=pc)

    mem = Memory()
    region = mem.add(Region.allocate(8, name="ctx"))
    region.ctx = Ctx()
    assert mem.load(region.address + 4, 4) == 1004
    assert mem.last is not region  # context accesses never take the fast path
    with pytest.raises(RuntimeFault, match="read-only context"):
        mem.store(region.address, 4, 1)
