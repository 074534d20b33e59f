"""Array and per-CPU array maps: kernel errno semantics, iteration, native layout."""

from __future__ import annotations

import ctypes
import errno

import pytest

from maps.maputil import spec, u32
from pybpf.abi import MapType, UpdateFlags
from pybpf.errors import MapError
from pybpf.maps import create_map, possible_cpus


def err(fn: object, *args: object) -> int:
    with pytest.raises(MapError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.errno


def test_array_starts_zeroed_and_always_has_every_index() -> None:
    m = create_map(spec(MapType.ARRAY, 4, 6, 3))
    assert len(m) == 3
    assert m[0] == bytes(6) and m[2] == bytes(6)
    assert list(m.keys()) == [u32(0), u32(1), u32(2)]
    assert m.lookup(u32(3)) is None  # out of range: ENOENT from bpf()
    assert 3 not in m and 2 in m


def test_array_update_and_errors() -> None:
    m = create_map(spec(MapType.ARRAY, 4, 4, 3))
    m[1] = 0x11223344
    assert m[1] == bytes([0x44, 0x33, 0x22, 0x11])
    m.update(u32(1), b"abcd", UpdateFlags.EXIST)
    assert m[1] == b"abcd"
    assert err(m.update, u32(3), b"abcd") == errno.E2BIG
    assert err(m.update, u32(0), b"abcd", UpdateFlags.NOEXIST) == errno.EEXIST
    assert err(m.update, u32(0), b"abcd", 3) == errno.EINVAL
    assert err(m.update, u32(0), b"abcd", UpdateFlags.LOCK) == errno.EINVAL
    assert err(m.delete, u32(0)) == errno.EINVAL
    assert err(m.update, u32(0), b"abc") == errno.EINVAL  # wrong value size


def test_array_next_key_like_the_kernel() -> None:
    m = create_map(spec(MapType.ARRAY, 4, 4, 3))
    assert m.next_key(None) == u32(0)
    assert m.next_key(u32(1)) == u32(2)
    assert m.next_key(u32(2)) is None
    assert m.next_key(u32(99)) == u32(0)


@pytest.mark.parametrize(
    ("key_size", "value_size", "max_entries", "flags"),
    [(8, 4, 1, 0), (4, 0, 1, 0), (4, 4, 0, 0), (4, 4, 1, 1)],  # flag 1 = BPF_F_NO_PREALLOC
)
def test_array_create_rejects(key_size: int, value_size: int, max_entries: int, flags: int) -> None:
    assert (
        err(create_map, spec(MapType.ARRAY, key_size, value_size, max_entries, flags=flags))
        == errno.EINVAL
    )


def test_array_value_address_is_stable_native_memory() -> None:
    m = create_map(spec(MapType.ARRAY, 4, 12, 4))
    a1 = m.value_address(u32(1))
    a3 = m.value_address(u32(3))
    assert a1 is not None and a3 is not None
    assert a3 - a1 == 2 * 16  # elem_size = round_up(12, 8)
    ctypes.memmove(a3, b"hello world!", 12)  # what a program's store does
    assert m[3] == b"hello world!"
    m[1] = b"x" * 12
    assert ctypes.string_at(a1, 12) == b"x" * 12
    assert m.value_address(u32(4)) is None
    (region,) = m.memory_regions()
    assert region.address == m.value_address(u32(0)) and region.size == 4 * 16 and region.writable
    assert m.value_span(a3 + 5) == (a3, 12)
    assert m.value_span(a3 + 12) is None  # padding after the value
    assert m.value_span(region.address + region.size) is None


def test_array_prog_update_errors() -> None:
    m = create_map(spec(MapType.ARRAY, 4, 4, 2))
    assert m.prog_update(u32(1), b"wxyz", 0) == 0 and m[1] == b"wxyz"
    assert m.prog_update(u32(2), b"wxyz", 0) == -errno.E2BIG
    assert m.prog_update(u32(0), b"wxyz", UpdateFlags.NOEXIST) == -errno.EEXIST
    assert m.prog_delete(u32(0)) == -errno.EINVAL


def test_percpu_array_lists_one_value_per_cpu() -> None:
    n = possible_cpus()
    m = create_map(spec(MapType.PERCPU_ARRAY, 4, 4, 2))
    assert m.percpu
    assert m[0] == [bytes(4)] * n
    m[0] = [u32(10 + c) for c in range(n)]
    assert m[0] == [u32(10 + c) for c in range(n)]
    # a program updates only its CPU's copy
    assert m.prog_update(u32(1), u32(7), 0, cpu=n - 1) == 0
    assert m[1] == [bytes(4)] * (n - 1) + [u32(7)]
    # and looks up its CPU's copy
    addr = m.value_address(u32(0), cpu=n - 1)
    assert addr is not None and ctypes.string_at(addr, 4) == u32(10 + n - 1)
    with pytest.raises(MapError):
        m.update(u32(0), [u32(1)] * (n + 1))


def test_frozen_and_readonly_maps() -> None:
    m = create_map(spec(MapType.ARRAY, 4, 4, 1, contents=((u32(0), b"rodt"),), frozen=True))
    assert m[0] == b"rodt"
    assert err(m.update, u32(0), b"xxxx") == errno.EPERM
    assert not m.memory_regions()[0].writable
    rdonly_prog = create_map(spec(MapType.ARRAY, 4, 4, 1, flags=1 << 7))
    assert not rdonly_prog.memory_regions()[0].writable
    rdonly = create_map(spec(MapType.ARRAY, 4, 4, 1, flags=1 << 3))
    assert err(rdonly.update, u32(0), b"xxxx") == errno.EPERM


def test_closed_map_is_ebadf() -> None:
    m = create_map(spec(MapType.ARRAY, 4, 4, 1))
    m.close()
    assert err(m.lookup, u32(0)) == errno.EBADF


def test_create_unfrozen_then_freeze() -> None:
    m = create_map(
        spec(MapType.ARRAY, 4, 4, 1, contents=((u32(0), b"init"),), frozen=True), freeze=False
    )
    m.update(u32(0), b"glob")  # e.g. a `const volatile` global set before loading
    m.freeze()
    assert m[0] == b"glob"
    assert err(m.update, u32(0), b"xxxx") == errno.EPERM
