"""Program arrays, perf event arrays and maps of maps."""

from __future__ import annotations

import errno
from dataclasses import dataclass

import pytest

from maps.maputil import spec, u32
from pybpf.abi import MapType, ProgramType
from pybpf.errors import MapError
from pybpf.maps import (
    ArrayOfMaps,
    HashOfMaps,
    PerfEventArray,
    ProgArrayMap,
    create_map,
    possible_cpus,
)
from pybpf.maps.perf_event_array import BPF_F_CURRENT_CPU
from pybpf.object.spec import MapSpec


def err(fn: object, *args: object) -> int:
    with pytest.raises(MapError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.errno


@dataclass(frozen=True)
class FakeSpec:
    type: ProgramType


class FakeProgram:
    def __init__(self, ptype: ProgramType = ProgramType.XDP) -> None:
        self.spec = FakeSpec(ptype)


def test_prog_array_holds_programs() -> None:
    pa = create_map(spec(MapType.PROG_ARRAY, 4, 4, 4))
    assert isinstance(pa, ProgArrayMap)
    p1, p2 = FakeProgram(), FakeProgram()
    pa[1] = p1
    assert pa.get(1) is p1 and pa.get(0) is None
    pid = pa.lookup(u32(1))
    assert pid is not None and len(pid) == 4
    pa.update(u32(2), pid)  # by id, like writing a program's fd
    assert pa.get(2) is p1
    pa[3] = p2
    assert err(pa.update, u32(0), p1, 1) == errno.EINVAL  # only BPF_ANY
    assert err(pa.update, u32(4), p1) == errno.E2BIG
    assert err(pa.update, u32(0), u32(0xFFFFFF)) == errno.EINVAL  # no such program
    assert err(pa.update, u32(0), FakeProgram(ProgramType.SCHED_CLS)) == errno.EINVAL  # other type
    del pa[1]
    assert pa.get(1) is None and pa.lookup(u32(1)) is None
    assert err(pa.delete, u32(1)) == errno.ENOENT
    assert err(pa.delete, u32(9)) == errno.E2BIG
    assert list(pa.keys()) == [u32(i) for i in range(4)]


def test_perf_event_array_output_per_cpu() -> None:
    n = possible_cpus()
    pe = create_map(spec(MapType.PERF_EVENT_ARRAY, 4, 4, n))
    assert isinstance(pe, PerfEventArray)
    assert pe.output(BPF_F_CURRENT_CPU, b"on cpu 0", cpu=0) == 0
    assert pe.output(0, b"explicit 0", cpu=0) == 0
    if n > 1:
        assert pe.output(BPF_F_CURRENT_CPU, b"on cpu 1", cpu=1) == 0
        assert pe.output(0, b"wrong cpu", cpu=1) == -errno.EOPNOTSUPP
    assert pe.output(n, b"x", cpu=0) == -errno.E2BIG
    assert pe.output(1 << 52, b"x", cpu=0) == -errno.EINVAL
    samples = pe.read()
    # samples come back padded like the kernel's: size field + data fill a multiple of 8 bytes
    assert samples[:2] == [(0, b"on cpu 0" + bytes(4)), (0, b"explicit 0" + bytes(2))]
    if n > 1:
        assert samples[2] == (1, b"on cpu 1" + bytes(4))
    assert pe.read() == []
    pe.delete(u32(0))
    assert pe.output(0, b"x", cpu=0) == -errno.ENOENT
    pe.update(u32(0), u32(123))  # reopen the slot
    assert pe.output(0, b"back", cpu=0) == 0 and list(pe) == [b"back"]
    assert pe.output(0, b"12345", cpu=0) == 0 and pe.read_available() == [b"12345" + bytes(7)]
    assert err(pe.lookup, u32(0)) == 524


def test_perf_event_array_loses_samples_when_full() -> None:
    pe = PerfEventArray(spec(MapType.PERF_EVENT_ARRAY, 4, 4, 1), capacity=64)
    # each sample of 8 bytes costs 8 (header) + round_up(4 + 8, 8) = 24 bytes: two fit in 64
    assert [pe.output(0, b"12345678") for _ in range(3)] == [0, 0, 0]
    assert pe.pending() == 2 and pe.lost == [1] and pe.lost_total == 1
    assert pe.read_available() == [b"12345678" + bytes(4)] * 2
    assert pe.output(0, b"12345678") == 0 and pe.pending() == 1  # room again after reading


def test_perf_event_array_default_size_is_the_cpu_count() -> None:
    pe = create_map(MapSpec("events", MapType.PERF_EVENT_ARRAY, 0, 0, 0))
    assert pe.max_entries == possible_cpus() and pe.key_size == 4


def inner_spec(max_entries: int = 4, flags: int = 0) -> MapSpec:
    return MapSpec("inner", MapType.ARRAY, 4, 4, max_entries, flags=flags)


def test_array_of_maps() -> None:
    outer = create_map(MapSpec("outer", MapType.ARRAY_OF_MAPS, 4, 4, 2, inner_map=inner_spec()))
    assert isinstance(outer, ArrayOfMaps)
    inner = create_map(inner_spec())
    inner[1] = 42
    outer[0] = inner
    assert outer.inner(u32(0)) is inner and outer.inner(u32(1)) is None
    assert outer.lookup(u32(0)) == u32(inner.id)
    outer.update(u32(1), u32(inner.id))  # by id
    assert outer.inner(1) is inner
    assert err(outer.update, u32(0), create_map(inner_spec(max_entries=8))) == errno.EINVAL
    assert (
        err(outer.update, u32(0), create_map(MapSpec("h", MapType.HASH, 4, 4, 4))) == errno.EINVAL
    )
    assert err(outer.update, u32(0), u32(0x7FFFFFF)) == errno.EBADF
    del outer[0]
    assert outer.inner(0) is None


def test_inner_map_flag_allows_any_size() -> None:
    template = inner_spec(flags=1 << 12)
    outer = create_map(MapSpec("outer", MapType.ARRAY_OF_MAPS, 4, 4, 1, inner_map=template))
    assert isinstance(outer, ArrayOfMaps)
    outer[0] = create_map(inner_spec(max_entries=100, flags=1 << 12))
    assert outer.inner(0) is not None


def test_hash_of_maps() -> None:
    outer = create_map(MapSpec("outer", MapType.HASH_OF_MAPS, 8, 4, 2, inner_map=inner_spec()))
    assert isinstance(outer, HashOfMaps)
    a, b = create_map(inner_spec()), create_map(inner_spec())
    outer[b"key-aaaa"] = a
    outer.update(b"key-bbbb", u32(b.id))
    assert outer.inner(b"key-aaaa") is a and outer.inner(b"key-bbbb") is b
    assert outer.lookup(b"key-bbbb") == u32(b.id)
    assert err(outer.update, b"key-cccc", a) == errno.E2BIG
    assert err(outer.update, b"key-aaaa", b, 1) == errno.EEXIST
    del outer[b"key-aaaa"]
    assert outer.inner(b"key-aaaa") is None


def test_map_in_map_needs_a_template() -> None:
    assert err(create_map, MapSpec("o", MapType.ARRAY_OF_MAPS, 4, 4, 1)) == errno.EINVAL
    nested = MapSpec("o", MapType.ARRAY_OF_MAPS, 4, 4, 1, inner_map=inner_spec())
    assert (
        err(create_map, MapSpec("oo", MapType.ARRAY_OF_MAPS, 4, 4, 1, inner_map=nested))
        == errno.EINVAL
    )
