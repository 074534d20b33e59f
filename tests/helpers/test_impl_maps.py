"""Map and event-output helper implementations, called as the runtime calls them."""

from __future__ import annotations

import ctypes
import errno
import struct

from helpers.fakeenv import FakeEnv
from pybpf.abi import MapType, ProgramType
from pybpf.maps import PerfEventArray, QueueMap, RingBuffer, create_map, possible_cpus
from pybpf.object.spec import MapSpec
from pybpf.vm.helper_registry import REGISTRY
from pybpf.vm.helpers_impl import map_ops, output  # noqa: F401 - registers the helpers

M64 = (1 << 64) - 1


def neg(e: int) -> int:
    return -e & M64


def call(helper_id: int, env: FakeEnv, *args: int) -> int:
    regs = list(args) + [0] * (5 - len(args))
    return REGISTRY[helper_id](env, *regs)


def test_lookup_update_delete_through_pointers() -> None:
    env = FakeEnv()
    m = create_map(MapSpec("h", MapType.HASH, 4, 8, 4))
    mp = env.map_pointer(m)
    key = env.alloc(struct.pack("<I", 7))
    value = env.alloc(struct.pack("<Q", 1234))
    assert call(1, env, mp, key) == 0  # absent: NULL
    assert call(2, env, mp, key, value, 0) == 0
    assert call(2, env, mp, key, value, 1) == neg(errno.EEXIST)
    ptr = call(1, env, mp, key)
    assert ptr and struct.unpack("<Q", env.read(ptr, 8))[0] == 1234
    env.write(ptr, struct.pack("<Q", 99))  # the program writes through the pointer
    assert m[7] == struct.pack("<Q", 99)
    assert call(3, env, mp, key) == 0
    assert call(3, env, mp, key) == neg(errno.ENOENT)


def test_array_lookup_out_of_range_and_delete() -> None:
    env = FakeEnv()
    m = create_map(MapSpec("a", MapType.ARRAY, 4, 4, 2))
    mp = env.map_pointer(m)
    assert call(1, env, mp, env.alloc(struct.pack("<I", 2))) == 0
    assert call(1, env, mp, env.alloc(struct.pack("<I", 1))) != 0
    assert call(3, env, mp, env.alloc(struct.pack("<I", 1))) == neg(errno.EINVAL)


def test_percpu_lookup_uses_the_env_cpu() -> None:
    n = possible_cpus()
    env = FakeEnv(cpu=n - 1)
    m = create_map(MapSpec("pa", MapType.PERCPU_ARRAY, 4, 4, 1))
    m[0] = [struct.pack("<I", 100 + c) for c in range(n)]
    mp = env.map_pointer(m)
    key = env.alloc(bytes(4))
    ptr = call(1, env, mp, key)
    assert env.read(ptr, 4) == struct.pack("<I", 100 + n - 1)
    ptr0 = call(195, env, mp, key, 0)
    assert env.read(ptr0, 4) == struct.pack("<I", 100)
    assert call(195, env, mp, key, n) == 0
    assert call(2, env, mp, key, env.alloc(struct.pack("<I", 5)), 0) == 0
    assert m[0] == [struct.pack("<I", 100 + c) for c in range(n - 1)] + [struct.pack("<I", 5)]


def test_map_in_map_lookup_returns_the_inner_map() -> None:
    env = FakeEnv()
    inner_spec = MapSpec("inner", MapType.ARRAY, 4, 4, 1)
    outer = create_map(MapSpec("outer", MapType.ARRAY_OF_MAPS, 4, 4, 2, inner_map=inner_spec))
    inner = create_map(inner_spec)
    inner[0] = 77
    outer.update(struct.pack("<I", 1), struct.pack("<I", inner.id))
    pointer = call(1, env, env.map_pointer(outer), env.alloc(struct.pack("<I", 1)))
    assert env.map_from_pointer(pointer) is inner
    value = call(1, env, pointer, env.alloc(bytes(4)))
    assert env.read(value, 4) == struct.pack("<I", 77)
    assert call(1, env, env.map_pointer(outer), env.alloc(bytes(4))) == 0


def test_push_pop_peek() -> None:
    env = FakeEnv()
    q = create_map(MapSpec("q", MapType.QUEUE, 0, 4, 2))
    assert isinstance(q, QueueMap)
    qp = env.map_pointer(q)
    assert call(87, env, qp, env.alloc(b"aaaa"), 0) == 0
    assert call(87, env, qp, env.alloc(b"bbbb"), 0) == 0
    assert call(87, env, qp, env.alloc(b"cccc"), 0) == neg(errno.E2BIG)
    buf = env.alloc(4)
    assert call(89, env, qp, buf) == 0 and env.read(buf, 4) == b"aaaa"
    assert call(88, env, qp, buf) == 0 and env.read(buf, 4) == b"aaaa"
    assert call(88, env, qp, buf) == 0 and env.read(buf, 4) == b"bbbb"
    assert call(88, env, qp, buf) == neg(errno.ENOENT) and env.read(buf, 4) == bytes(4)


def test_ringbuf_reserve_submit_and_output() -> None:
    env = FakeEnv()
    rb = create_map(MapSpec("rb", MapType.RINGBUF, 0, 0, 4096))
    assert isinstance(rb, RingBuffer)
    rp = env.map_pointer(rb)
    sample = call(131, env, rp, 12, 0)
    assert sample
    env.write(sample, b"hello, ring!")
    assert call(132, env, sample, 0) == 0
    discarded = call(131, env, rp, 4, 0)
    assert call(133, env, discarded, 0) == 0
    assert call(130, env, rp, env.alloc(b"output"), 6, 0) == 0
    assert call(130, env, rp, env.alloc(b"output"), 6, 8) == neg(errno.EINVAL)
    assert call(131, env, rp, 8, 1) == 0  # flags must be 0
    assert call(134, env, rp, 1) == 4096
    assert call(134, env, rp, 0) == 24 + 16 + 16  # round_up(size + 8, 8) per record, unconsumed
    assert rb.consume() == [b"hello, ring!", b"output"]


def test_perf_event_output_current_cpu_and_packet_bytes() -> None:
    env = FakeEnv(program_type=ProgramType.TRACEPOINT)
    pe = create_map(MapSpec("events", MapType.PERF_EVENT_ARRAY, 4, 4, possible_cpus()))
    assert isinstance(pe, PerfEventArray)
    pp = env.map_pointer(pe)
    data = env.alloc(b"sample")
    assert call(25, env, 0, pp, 0xFFFFFFFF, data, 6) == 0
    assert call(25, env, 0, pp, (4 << 32) | 0xFFFFFFFF, data, 6) == neg(errno.EINVAL)
    assert pe.read() == [(0, b"sample" + bytes(6))]

    class Ctx:
        packet = (env.alloc(b"PACKETBYTES"), 11)

    xdp = FakeEnv(program_type=ProgramType.XDP)
    xdp.context = Ctx()  # type: ignore[attr-defined]
    xdp._regions = env._regions
    pp = xdp.map_pointer(pe)
    assert call(25, xdp, 0, pp, (6 << 32) | 0xFFFFFFFF, data, 6) == 0
    assert call(25, xdp, 0, pp, (60 << 32) | 0xFFFFFFFF, data, 6) == neg(errno.EFAULT)
    assert pe.read() == [(0, b"samplePACKET")]  # 12 bytes: 4 + 12 is a multiple of 8


def test_exposed_value_is_read_only_for_frozen_maps() -> None:
    env = FakeEnv()
    ro = create_map(
        MapSpec(".rodata", MapType.ARRAY, 4, 4, 1, contents=((bytes(4), b"ro!!"),), frozen=True)
    )
    ptr = call(1, env, env.map_pointer(ro), env.alloc(bytes(4)))
    assert env.read(ptr, 4) == b"ro!!"
    try:
        env.write(ptr, b"xxxx")
    except Exception as exc:  # RuntimeFault
        assert "read-only" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("write to a frozen map value was allowed")
    assert ctypes.string_at(ptr, 4) == b"ro!!"


def test_spin_lock_sets_and_clears_the_lock_word() -> None:
    env = FakeEnv()
    lock = env.alloc(b"\x00" * 4)
    assert call(93, env, lock) == 0 and env.read(lock, 4) == b"\x01\x00\x00\x00"
    assert call(94, env, lock) == 0 and env.read(lock, 4) == bytes(4)
