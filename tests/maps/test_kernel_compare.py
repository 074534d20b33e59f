"""The user-space maps against the Linux kernel's: the same operations give the same errnos and results."""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Callable

import pytest

from maps.kmap import KernelMap
from pybpf.abi import MapType
from pybpf.errors import MapError
from pybpf.maps import NativeMap, QueueMap, create_map, possible_cpus
from pybpf.object.spec import MapSpec

pytestmark = pytest.mark.kernel

Op = tuple[str, bytes | None, bytes | None, int]


def ours(fn: Callable[..., object], *args: object) -> tuple[int, object]:
    try:
        return 0, fn(*args)
    except MapError as exc:
        return exc.errno, None


def run_both(
    map_type: MapType,
    key_size: int,
    value_size: int,
    max_entries: int,
    ops: list[Op],
    flags: int = 0,
) -> None:
    ncpus = possible_cpus() if map_type in (MapType.PERCPU_ARRAY, MapType.PERCPU_HASH) else 1
    with KernelMap(map_type, key_size, value_size, max_entries, flags, ncpus=ncpus) as k:
        assert k.create_errno == 0
        m = create_map(MapSpec("cmp", map_type, key_size, value_size, max_entries, flags=flags))
        for step, (op, key, value, fl) in enumerate(ops):
            where = f"step {step}: {op} key={key!r} value={value!r} flags={fl}"
            if op == "update":
                assert value is not None
                stride = (value_size + 7) & ~7  # per-CPU values are 8-byte aligned in bpf() buffers
                kvalue = value.ljust(stride, b"\0") * ncpus if ncpus > 1 else value
                kerr = k.update(key, kvalue, fl)
                perr, _ = ours(m.update, key or b"", [value] * ncpus if ncpus > 1 else value, fl)
                assert perr == kerr, where
            elif op == "lookup":
                kerr, kval = k.lookup(key)
                perr, pval = ours(m.lookup, key or b"")
                if perr == 0 and pval is None:
                    perr = 2  # bpf() says ENOENT where the dict API says None
                assert perr == kerr, where
                if not kerr:
                    if isinstance(pval, list):
                        stride = (value_size + 7) & ~7
                        kvals = [kval[i * stride : i * stride + value_size] for i in range(ncpus)]
                        assert pval == kvals, where
                    else:
                        assert pval == kval, where
            elif op == "delete":
                assert ours(m.delete, key or b"")[0] == k.delete(key), where
            elif op == "next_key":
                kerr, knext = k.next_key(key)
                perr, pnext = ours(m.next_key, key)
                if perr == 0 and pnext is None:
                    perr = 2  # the end of the keys: ENOENT from bpf()
                assert perr == kerr, where
                if not kerr and map_type not in (
                    MapType.HASH,
                    MapType.PERCPU_HASH,
                    MapType.LRU_HASH,
                ):
                    assert pnext == knext, where
            elif op == "pop":
                kerr, kval = k.lookup_and_delete(key)
                assert isinstance(m, QueueMap) or hasattr(m, "pop")
                perr, pval = ours(m.pop)
                assert perr == kerr and (kerr or pval == kval), where
            elif op == "keys":
                assert sorted(k.keys()) == sorted(m.keys()), where
            else:  # pragma: no cover
                raise AssertionError(op)


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


def test_array_semantics_match_kernel() -> None:
    ops: list[Op] = [
        ("lookup", u32(0), None, 0), ("lookup", u32(3), None, 0), ("update", u32(1), b"abcd", 0),
        ("update", u32(3), b"abcd", 0), ("update", u32(0), b"abcd", 1), ("update", u32(0), b"abcd", 2),
        ("update", u32(0), b"abcd", 3), ("update", u32(0), b"abcd", 4), ("update", u32(9), b"abcd", 4),
        ("delete", u32(0), None, 0), ("delete", u32(7), None, 0), ("lookup", u32(1), None, 0),
        ("next_key", None, None, 0), ("next_key", u32(1), None, 0), ("next_key", u32(2), None, 0),
        ("next_key", u32(50), None, 0), ("keys", None, None, 0),
    ]  # fmt: skip
    run_both(MapType.ARRAY, 4, 4, 3, ops)
    run_both(MapType.PERCPU_ARRAY, 4, 4, 3, ops)


def test_hash_semantics_match_kernel() -> None:
    ops: list[Op] = [
        ("update", u32(1), b"aaaa", 2), ("update", u32(1), b"aaaa", 0), ("update", u32(1), b"bbbb", 1),
        ("lookup", u32(1), None, 0), ("update", u32(2), b"cccc", 1), ("update", u32(3), b"dddd", 0),
        ("update", u32(1), b"eeee", 0), ("update", u32(1), b"eeee", 2), ("update", u32(1), b"eeee", 3),
        ("update", u32(1), b"eeee", 4), ("lookup", u32(1), None, 0), ("delete", u32(5), None, 0),
        ("next_key", u32(9), None, 0), ("keys", None, None, 0), ("delete", u32(1), None, 0),
        ("update", u32(3), b"dddd", 0), ("keys", None, None, 0), ("lookup", u32(1), None, 0),
    ]  # fmt: skip
    run_both(MapType.HASH, 4, 4, 2, ops)
    run_both(MapType.PERCPU_HASH, 4, 4, 2, ops)


def test_random_hash_operations_match_kernel() -> None:
    rng = random.Random(7)
    ops: list[Op] = []
    for _ in range(400):
        key = bytes([rng.randrange(24), 0, 0])
        choice = rng.random()
        if choice < 0.5:
            ops.append(("update", key, rng.randbytes(5), rng.choice([0, 0, 1, 2])))
        elif choice < 0.75:
            ops.append(("delete", key, None, 0))
        else:
            ops.append(("lookup", key, None, 0))
    ops.append(("keys", None, None, 0))
    run_both(MapType.HASH, 3, 5, 16, ops)


def test_lpm_trie_matches_kernel() -> None:
    def key(plen: int, *data: int) -> bytes:
        return struct.pack("<I", plen) + bytes(data)

    ops: list[Op] = [
        ("update", key(8, 10, 1, 2, 3), b"aaaa", 0), ("update", key(16, 10, 1, 9, 9), b"bbbb", 0),
        ("update", key(24, 10, 1, 2, 0), b"cccc", 0), ("update", key(32, 1, 1, 1, 1), b"dddd", 0),
        ("update", key(33, 1, 1, 1, 1), b"dddd", 0), ("update", key(8, 10, 0, 0, 0), b"AAAA", 0),
        ("update", key(8, 10, 0, 0, 0), b"AAAA", 1), ("update", key(9, 10, 0, 0, 0), b"AAAA", 2),
        ("update", key(8, 10, 0, 0, 0), b"AAAA", 3), ("lookup", key(32, 10, 1, 2, 3), None, 0),
        ("lookup", key(32, 10, 1, 9, 1), None, 0), ("lookup", key(32, 11, 0, 0, 0), None, 0),
        ("lookup", key(12, 10, 1, 2, 3), None, 0), ("lookup", key(40, 10, 1, 2, 3), None, 0),
        ("next_key", None, None, 0), ("next_key", key(24, 10, 1, 2, 0), None, 0),
        ("next_key", key(16, 10, 1, 9, 9), None, 0), ("next_key", key(8, 10, 0, 0, 0), None, 0),
        ("next_key", key(20, 1, 2, 3, 4), None, 0), ("delete", key(16, 10, 1, 0, 0), None, 0),
        ("delete", key(16, 10, 2, 0, 0), None, 0), ("delete", key(40, 0, 0, 0, 0), None, 0),
        ("next_key", None, None, 0),
    ]  # fmt: skip
    run_both(MapType.LPM_TRIE, 8, 4, 3, ops, flags=1)


def test_lpm_iteration_order_matches_kernel() -> None:
    rng = random.Random(3)
    ops: list[Op] = []
    for _ in range(40):
        plen = rng.randrange(0, 33)
        ops.append(("update", struct.pack("<I", plen) + rng.randbytes(4), b"vvvv", 0))
    run_both(MapType.LPM_TRIE, 8, 4, 64, ops, flags=1)
    with KernelMap(MapType.LPM_TRIE, 8, 4, 64, 1) as k:
        m: NativeMap = create_map(MapSpec("o", MapType.LPM_TRIE, 8, 4, 64, flags=1))
        for _, key, value, fl in ops:
            assert key is not None and value is not None
            k.update(key, value, fl)
            m.update(key, value, fl)
        assert list(m.keys()) == k.keys()  # the same post-order walk, key by key


def test_queue_and_stack_match_kernel() -> None:
    ops: list[Op] = [
        ("lookup", None, None, 0), ("pop", None, None, 0), ("update", None, b"aaaa", 0),
        ("update", None, b"bbbb", 0), ("update", None, b"cccc", 0), ("update", None, b"cccc", 2),
        ("update", None, b"dddd", 1), ("update", None, b"dddd", 4), ("delete", None, None, 0),
        ("next_key", None, None, 0), ("lookup", None, None, 0), ("pop", None, None, 0),
        ("pop", None, None, 0), ("pop", None, None, 0),
    ]  # fmt: skip
    run_both(MapType.QUEUE, 0, 4, 2, ops)
    run_both(MapType.STACK, 0, 4, 2, ops)


@pytest.mark.parametrize(
    ("map_type", "key_size", "value_size", "max_entries", "flags"),
    [
        (MapType.ARRAY, 8, 4, 1, 0),
        (MapType.ARRAY, 4, 0, 1, 0),
        (MapType.HASH, 0, 4, 1, 0),
        (MapType.HASH, 4, 4, 1, 2),
        (MapType.LRU_HASH, 4, 4, 1, 1),
        (MapType.LPM_TRIE, 8, 4, 1, 0),
        (MapType.LPM_TRIE, 4, 4, 1, 1),
        (MapType.QUEUE, 4, 4, 1, 0),
        (MapType.RINGBUF, 0, 0, 4096 * 3, 0),
        (MapType.RINGBUF, 0, 0, 1024, 0),
        (MapType.RINGBUF, 4, 4, 4096, 0),
        (MapType.PROG_ARRAY, 4, 8, 1, 0),
        (MapType.ARRAY, 4, 4, 0, 0),
    ],
)
def test_create_errors_match_kernel(
    map_type: MapType, key_size: int, value_size: int, max_entries: int, flags: int
) -> None:
    with KernelMap(map_type, key_size, value_size, max_entries, flags) as k:
        kerr = k.create_errno
    perr, _ = ours(
        lambda: create_map(MapSpec("c", map_type, key_size, value_size, max_entries, flags=flags))
    )
    assert perr == kerr


def test_ringbuf_element_ops_match_kernel() -> None:
    with KernelMap(MapType.RINGBUF, 0, 0, 4096) as k:
        m = create_map(MapSpec("rb", MapType.RINGBUF, 0, 0, 4096))
        assert ours(lambda: m.lookup(b""))[0] == k.lookup(None)[0] == 524
        assert ours(lambda: m.delete(b""))[0] == k.delete(None)
        assert ours(lambda: m.next_key(None))[0] == k.next_key(None)[0]


def test_small_lru_eviction_order_matches_kernel() -> None:
    """A 4-entry LRU map evicts the same keys as the kernel's (bigger kernel LRU maps free entries
    in batches, so only the order of eviction, not the count, is comparable there)."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})  # the kernel's LRU lists are per CPU: stay on one
    try:
        with KernelMap(MapType.LRU_HASH, 4, 4, 4) as k:
            m = create_map(MapSpec("lru", MapType.LRU_HASH, 4, 4, 4))
            steps = [("update", i) for i in range(5)] + [
                ("update", 1), ("update", 5), ("update", 6), ("lookup", 3), ("update", 7), ("update", 5),
                ("update", 8), ("noexist", 8), ("exist", 42), ("noexist", 9), ("exist", 9),
            ]  # fmt: skip
            flag = {"update": 0, "noexist": 1, "exist": 2}
            for op, n in steps:
                if op == "lookup":
                    k.lookup(u32(n))
                    m.lookup(u32(n))
                else:
                    kerr = k.update(u32(n), u32(n), flag[op])
                    perr, _ = ours(m.update, u32(n), u32(n), flag[op])
                    assert perr == kerr, (op, n)
                assert sorted(m.keys()) == sorted(k.keys()), (op, n)
    finally:
        os.sched_setaffinity(0, old)


@pytest.mark.parametrize("map_type", [MapType.HASH, MapType.LRU_HASH, MapType.PERCPU_HASH, MapType.ARRAY,
                                      MapType.PERCPU_ARRAY])  # fmt: skip
def test_lookup_and_delete_matches_kernel(map_type: MapType) -> None:
    ncpus = possible_cpus() if map_type in (MapType.PERCPU_HASH, MapType.PERCPU_ARRAY) else 1
    with KernelMap(map_type, 4, 8, 4, ncpus=ncpus) as k:
        m = create_map(MapSpec("lad", map_type, 4, 8, 4))
        value = b"abcdefgh"
        assert k.update(u32(1), value * ncpus) == 0
        m.update(u32(1), [value] * ncpus if ncpus > 1 else value)
        for _ in range(2):
            kerr, kval = k.lookup_and_delete(u32(1))
            perr, pval = ours(m.lookup_and_delete, u32(1))
            if perr == 0 and pval is None:
                perr = 2  # bpf() says ENOENT where pybpf says None
            assert perr == kerr
            if not kerr:
                assert pval == ([value] * ncpus if ncpus > 1 else value)
