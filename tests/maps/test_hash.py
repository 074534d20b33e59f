"""Hash, per-CPU hash, LRU and LRU per-CPU hash maps: flags, errors, iteration, eviction order."""

from __future__ import annotations

import ctypes
import errno
import random

import pytest

from maps.maputil import spec, u32, u64
from pybpf.abi import MapType, UpdateFlags
from pybpf.errors import MapError
from pybpf.maps import create_map, possible_cpus
from pybpf.maps.hashtab import fnv1a


def err(fn: object, *args: object) -> int:
    with pytest.raises(MapError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.errno


def test_hash_basic_dict_behaviour() -> None:
    m = create_map(spec(MapType.HASH, 4, 8, 8))
    assert len(m) == 0 and m.next_key(None) is None
    m[7] = 70
    m[3] = 30
    assert m[7] == u64(70) and m[3] == u64(30)
    assert set(m.keys()) == {u32(7), u32(3)}
    assert len(m) == 2
    del m[7]
    assert 7 not in m and len(m) == 1
    with pytest.raises(KeyError):
        del m[7]
    with pytest.raises(KeyError):
        m[12345]


def test_hash_update_flags_and_errors() -> None:
    m = create_map(spec(MapType.HASH, 4, 4, 2))
    assert err(m.update, u32(1), b"aaaa", UpdateFlags.EXIST) == errno.ENOENT
    m.update(u32(1), b"aaaa", UpdateFlags.NOEXIST)
    assert err(m.update, u32(1), b"bbbb", UpdateFlags.NOEXIST) == errno.EEXIST
    m.update(u32(1), b"bbbb", UpdateFlags.EXIST)
    assert m[1] == b"bbbb"
    m.update(u32(2), b"cccc")
    assert err(m.update, u32(3), b"dddd") == errno.E2BIG  # full
    m.update(u32(1), b"eeee")  # replacing in a full map works
    assert err(m.update, u32(1), b"eeee", 3) == errno.EINVAL
    assert err(m.update, u32(1), b"eeee", UpdateFlags.LOCK) == errno.EINVAL
    assert err(m.delete, u32(9)) == errno.ENOENT
    assert m.lookup(u32(9)) is None


def test_hash_next_key_restarts_on_missing_key() -> None:
    m = create_map(spec(MapType.HASH, 4, 4, 8))
    for k in (5, 6, 7):
        m[k] = k
    first = m.next_key(None)
    assert m.next_key(u32(99)) == first
    # a full walk visits every key exactly once
    seen = []
    key = m.next_key(None)
    while key is not None:
        seen.append(key)
        key = m.next_key(key)
    assert sorted(seen) == [u32(5), u32(6), u32(7)]


def test_hash_delete_while_iterating() -> None:
    m = create_map(spec(MapType.HASH, 4, 4, 64))
    for k in range(50):
        m[k] = k
    for key in list(m.keys()):
        del m[key]
    assert len(m) == 0


@pytest.mark.parametrize(
    ("key_size", "value_size", "max_entries", "flags"),
    [(0, 4, 1, 0), (4, 0, 1, 0), (4, 4, 0, 0), (4, 4, 1, 2)],
)
def test_hash_create_rejects(key_size: int, value_size: int, max_entries: int, flags: int) -> None:
    assert (
        err(create_map, spec(MapType.HASH, key_size, value_size, max_entries, flags=flags))
        == errno.EINVAL
    )


def test_lru_without_prealloc_is_enotsupp() -> None:
    assert err(create_map, spec(MapType.LRU_HASH, 4, 4, 4, flags=1)) == 524


def test_hash_random_operations_match_a_dict() -> None:
    rng = random.Random(1234)
    m = create_map(spec(MapType.HASH, 2, 4, 40))
    model: dict[bytes, bytes] = {}
    for _ in range(3000):
        key = rng.randrange(64).to_bytes(2, "little")
        op = rng.random()
        if op < 0.5:
            value = rng.randbytes(4)
            if key not in model and len(model) == 40:
                assert err(m.update, key, value) == errno.E2BIG
            else:
                m.update(key, value)
                model[key] = value
        elif op < 0.8:
            if key in model:
                m.delete(key)
                del model[key]
            else:
                assert err(m.delete, key) == errno.ENOENT
        else:
            assert m.lookup(key) == model.get(key)
    assert dict(m.items()) == model
    assert len(m) == len(model)


def test_hash_values_have_stable_addresses() -> None:
    m = create_map(spec(MapType.HASH, 4, 4, 16))
    m[1] = b"one!"
    addr = m.value_address(u32(1))
    assert addr is not None
    for k in range(2, 16):
        m[k] = k
    for k in range(2, 16):
        del m[k]  # tombstones and rehashing do not move live values
    assert m.value_address(u32(1)) == addr
    ctypes.memmove(addr, b"ONE!", 4)
    assert m[1] == b"ONE!"
    assert m.value_span(addr + 3) == (addr, 4)
    del m[1]
    assert m.value_address(u32(1)) is None
    assert m.value_span(addr) is None


def test_native_table_layout_is_as_documented() -> None:
    """Walk the native table with ctypes only, following the hashtab docstring."""
    m = create_map(spec(MapType.HASH, 4, 8, 4))
    m[0xAABBCCDD] = 0x1122334455667788
    base = m.table.base  # type: ignore[attr-defined]
    words = (ctypes.c_uint32 * 24).from_address(base)
    assert words[0] == 0x54484250 and words[2] == 4 and words[3] == 8 and words[4] == 4
    n_buckets, count, entry_size = words[5], words[6], words[9]
    assert count == 1 and n_buckets >= 8 and n_buckets & (n_buckets - 1) == 0
    key = u32(0xAABBCCDD)
    h = 0x811C9DC5
    for b in key:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    assert fnv1a(key) == h
    buckets = (ctypes.c_uint32 * n_buckets).from_address(base + words[12])
    i = h & (n_buckets - 1)
    while buckets[i] in (0, 0xFFFFFFFF):
        i = (i + 1) & (n_buckets - 1)
    slot = buckets[i] - 1
    entry = base + words[16] + slot * entry_size
    assert ctypes.c_uint32.from_address(entry).value == h
    assert ctypes.string_at(entry + words[10], 4) == key
    assert ctypes.string_at(entry + words[11], 8) == u64(0x1122334455667788)
    assert ctypes.c_uint8.from_address(base + words[15] + slot).value == 1


def test_percpu_hash() -> None:
    n = possible_cpus()
    m = create_map(spec(MapType.PERCPU_HASH, 4, 4, 4))
    m[1] = [u32(c) for c in range(n)]
    assert m[1] == [u32(c) for c in range(n)]
    # a program inserting a new key sets its CPU's copy and zeroes the others
    assert m.prog_update(u32(2), u32(99), 0, cpu=0) == 0
    assert m[2] == [u32(99)] + [bytes(4)] * (n - 1)
    # updating an existing key from a program touches only that CPU
    assert m.prog_update(u32(1), u32(55), 0, cpu=n - 1) == 0
    assert m[1] == [u32(c) for c in range(n - 1)] + [u32(55)]
    a0, alast = m.value_address(u32(1), 0), m.value_address(u32(1), n - 1)
    assert a0 is not None and alast is not None
    assert ctypes.string_at(alast, 4) == u32(55)
    assert m.value_span(alast + 2) == (alast, 4)


def keys_of(m: object) -> list[int]:
    return sorted(int.from_bytes(k, "little") for k in m.keys())  # type: ignore[attr-defined]


def test_lru_evicts_least_recently_used() -> None:
    m = create_map(spec(MapType.LRU_HASH, 4, 4, 3))
    for k in (1, 2, 3):
        m[k] = k
    m[4] = 4  # evicts 1, the oldest
    assert keys_of(m) == [2, 3, 4]
    assert m.prog_lookup(u32(2)) is not None  # a program lookup is a use: 3 is now the oldest
    m[5] = 5
    assert keys_of(m) == [2, 4, 5]
    m.lookup(u32(4))  # a user-space lookup is not a use (like the kernel's sys-only lookup)
    m[6] = 6  # evicts 4
    assert keys_of(m) == [2, 5, 6]
    m[2] = 22  # an update is a use
    m[7] = 7  # evicts 5
    assert keys_of(m) == [2, 6, 7]
    assert m.prog_update(u32(8), u32(8), 0) == 0  # programs evict too
    assert keys_of(m) == [2, 7, 8]
    assert err(m.update, u32(9), u32(9), UpdateFlags.EXIST) == errno.ENOENT


def test_lru_percpu_hash() -> None:
    n = possible_cpus()
    m = create_map(spec(MapType.LRU_PERCPU_HASH, 4, 8, 2))
    m[1] = [u64(1)] * n
    m[2] = [u64(2)] * n
    m[3] = [u64(3)] * n
    assert keys_of(m) == [2, 3]
    assert m[3] == [u64(3)] * n
