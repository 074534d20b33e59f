"""Queue (FIFO) and stack (LIFO) maps: push/pop/peek, BPF_EXIST overwrite, errors."""

from __future__ import annotations

import errno

import pytest

from maps.maputil import spec, u32
from pybpf.abi import MapType, UpdateFlags
from pybpf.errors import MapError
from pybpf.maps import QueueMap, StackMap, create_map


def err(fn: object, *args: object) -> int:
    with pytest.raises(MapError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.errno


def test_queue_is_fifo() -> None:
    q = create_map(spec(MapType.QUEUE, 0, 4, 3))
    assert isinstance(q, QueueMap)
    assert err(q.peek) == errno.ENOENT and err(q.pop) == errno.ENOENT
    for i in (1, 2, 3):
        q.push(i)
    assert len(q) == 3
    assert err(q.push, 4) == errno.E2BIG
    assert q.peek() == u32(1)
    assert [q.pop(), q.pop()] == [u32(1), u32(2)]
    q.push(4)
    q.push(5)
    assert list(q.drain()) == [u32(3), u32(4), u32(5)]


def test_stack_is_lifo() -> None:
    s = create_map(spec(MapType.STACK, 0, 4, 3))
    assert isinstance(s, StackMap)
    for i in (1, 2, 3):
        s.push(i)
    assert s.peek() == u32(3)
    assert [s.pop(), s.pop(), s.pop()] == [u32(3), u32(2), u32(1)]
    assert err(s.pop) == errno.ENOENT


def test_exist_overwrites_the_oldest() -> None:
    q = create_map(spec(MapType.QUEUE, 0, 4, 2))
    assert isinstance(q, QueueMap)
    q.push(1)
    q.push(2)
    q.push(3, UpdateFlags.EXIST)  # drops 1
    assert list(q.drain()) == [u32(2), u32(3)]
    s = create_map(spec(MapType.STACK, 0, 4, 2))
    assert isinstance(s, StackMap)
    s.push(1)
    s.push(2)
    s.push(3, UpdateFlags.EXIST)  # drops 1, the oldest (the bottom)
    assert list(s.drain()) == [u32(3), u32(2)]


def test_syscall_style_api_and_errors() -> None:
    q = create_map(spec(MapType.QUEUE, 0, 4, 2))
    assert q.lookup(b"") is None
    q.update(b"", b"abcd")
    assert q.lookup(b"") == b"abcd"  # lookup = peek
    assert err(q.update, b"", b"abcd", UpdateFlags.NOEXIST) == errno.EINVAL
    assert err(q.update, b"", b"abcd", UpdateFlags.LOCK) == errno.EINVAL
    assert err(q.delete, b"") == errno.EINVAL
    assert err(q.next_key, None) == errno.EINVAL
    assert isinstance(q, QueueMap)
    assert q.lookup_and_delete() == b"abcd"
    assert q.lookup_and_delete() is None  # empty: None, like the kernel engine's map


def test_program_side_push_pop() -> None:
    q = create_map(spec(MapType.QUEUE, 0, 4, 1))
    assert isinstance(q, QueueMap)
    assert q.push_value(b"wxyz", 0) == 0
    assert q.push_value(b"wxyz", 0) == -errno.E2BIG
    assert q.push_value(b"abcd", UpdateFlags.EXIST) == 0
    assert q.push_value(b"abcd", 3) == -errno.EINVAL
    assert q.pop_value() == b"abcd" and q.pop_value() is None


@pytest.mark.parametrize(("key_size", "value_size"), [(4, 4), (0, 0)])
def test_create_rejects(key_size: int, value_size: int) -> None:
    assert err(create_map, spec(MapType.QUEUE, key_size, value_size, 4)) == errno.EINVAL
