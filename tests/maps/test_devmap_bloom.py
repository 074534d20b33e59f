"""Device maps (devmap, devmap_hash, cpumap) and the bloom filter, by hand and against the kernel."""

from __future__ import annotations

import errno
import struct

import pytest

from maps.test_kernel_compare import Op, run_both
from pybpf.abi import MapType, UpdateFlags
from pybpf.errors import MapError
from pybpf.maps import BloomFilterMap, CpuMap, DevMap, create_map, possible_cpus
from pybpf.object.spec import MapSpec


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


def dev(ifindex: int, prog: int = 0) -> bytes:
    return struct.pack("<II", ifindex, prog)


def err(fn: object, *args: object) -> int:
    with pytest.raises(MapError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.errno


def test_devmap_slots() -> None:
    m = create_map(MapSpec("tx_ports", MapType.DEVMAP, 4, 8, 4))
    assert isinstance(m, DevMap)
    assert m.lookup(u32(0)) is None
    m.update(u32(0), dev(1))  # loopback
    assert m.lookup(u32(0)) == dev(1) and len(m) == 1
    assert err(m.update, u32(1), dev(0x7FFFFFF0)) == errno.EINVAL  # no such device
    assert err(m.update, u32(1), dev(1, prog=5)) == errno.EINVAL
    assert err(m.update, u32(4), dev(1)) == errno.E2BIG
    assert err(m.update, u32(2), dev(1), UpdateFlags.NOEXIST) == errno.EEXIST
    m.update(u32(2), dev(1), UpdateFlags.EXIST)
    m.update(u32(2), dev(0))  # ifindex 0 empties the slot
    assert m.lookup(u32(2)) is None
    m.delete(u32(3))  # deleting an empty slot is fine
    assert err(m.delete, u32(9)) == errno.EINVAL
    address = m.value_address(u32(0))
    assert address is not None and not m.memory_regions()[0].writable
    assert dict(m.items()) == {u32(0): dev(1)}


def test_cpumap() -> None:
    m = create_map(MapSpec("cpus", MapType.CPUMAP, 4, 4, 2))
    assert isinstance(m, CpuMap)
    m.update(u32(0), u32(192))
    assert m.lookup(u32(0)) == u32(192)
    assert err(m.update, u32(0), u32(100000)) == errno.EOVERFLOW
    assert err(m.update, u32(2), u32(64)) == errno.E2BIG
    m.update(u32(0), u32(0))
    assert m.lookup(u32(0)) is None
    if possible_cpus() < 2:
        assert err(m.update, u32(1), u32(64)) == errno.ENODEV


def test_bloom_filter() -> None:
    m = create_map(MapSpec("seen", MapType.BLOOM_FILTER, 0, 4, 100))
    assert isinstance(m, BloomFilterMap)
    m.push(7)
    assert 7 in m and 8 not in m
    assert m.peek_check(u32(7)) == 0 and m.peek_check(u32(8)) == -errno.ENOENT
    assert m.push_value(u32(9), UpdateFlags.EXIST) == -errno.EINVAL
    assert err(m.delete, b"") == errno.EOPNOTSUPP
    assert err(m.next_key, None) == errno.EOPNOTSUPP


@pytest.mark.kernel
def test_devmap_matches_kernel() -> None:
    ops: list[Op] = [
        ("lookup", u32(0), None, 0), ("lookup", u32(5), None, 0), ("update", u32(0), dev(1), 0),
        ("update", u32(1), dev(0x7FFFFFF0), 0), ("update", u32(1), dev(0), 0), ("update", u32(3), dev(1), 0),
        ("update", u32(0), dev(1), 1), ("update", u32(2), dev(1), 2), ("update", u32(0), dev(1), 3),
        ("update", u32(0), dev(1, 5), 0), ("lookup", u32(0), None, 0), ("lookup", u32(1), None, 0),
        ("lookup", u32(2), None, 0), ("delete", u32(1), None, 0), ("delete", u32(0), None, 0),
        ("delete", u32(0), None, 0), ("delete", u32(5), None, 0), ("next_key", None, None, 0),
        ("next_key", u32(0), None, 0), ("next_key", u32(2), None, 0), ("next_key", u32(9), None, 0),
    ]  # fmt: skip
    run_both(MapType.DEVMAP, 4, 8, 3, ops)


@pytest.mark.kernel
def test_devmap_hash_matches_kernel() -> None:
    ops: list[Op] = [
        ("update", u32(7), dev(1), 0), ("update", u32(7), dev(1), 1), ("update", u32(8), dev(0), 0),
        ("update", u32(9), dev(1), 0), ("update", u32(10), dev(1), 0), ("lookup", u32(7), None, 0),
        ("lookup", u32(8), None, 0), ("delete", u32(8), None, 0), ("update", u32(7), dev(1), 2),
        ("update", u32(11), dev(1), 2), ("delete", u32(9), None, 0), ("update", u32(11), dev(1), 2),
        ("keys", None, None, 0), ("update", u32(12), dev(1), 3),
    ]  # fmt: skip
    run_both(MapType.DEVMAP_HASH, 4, 8, 2, ops)


@pytest.mark.kernel
def test_cpumap_matches_kernel() -> None:
    ops: list[Op] = [
        ("lookup", u32(0), None, 0), ("update", u32(0), u32(192), 0), ("lookup", u32(0), None, 0),
        ("update", u32(0), u32(0), 0), ("lookup", u32(0), None, 0), ("update", u32(1), u32(100000), 0),
        ("update", u32(3), u32(192), 0), ("update", u32(0), u32(192), 1), ("update", u32(0), u32(192), 2),
        ("update", u32(0), u32(192), 3), ("delete", u32(0), None, 0), ("delete", u32(0), None, 0),
        ("next_key", None, None, 0), ("next_key", u32(2), None, 0),
    ]  # fmt: skip
    run_both(MapType.CPUMAP, 4, 4, 3, ops)
