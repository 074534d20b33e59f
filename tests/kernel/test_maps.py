"""Kernel maps through bpf(): CRUD and errno for array, hash, per-CPU, queue and batch operations."""

from __future__ import annotations

import errno

import pytest

from pybpf.abi import MapType, UpdateFlags
from pybpf.errors import KernelError, MapError
from pybpf.kernel import info
from pybpf.kernel.maps import KernelMap, possible_cpus
from pybpf.object.spec import MapSpec

pytestmark = pytest.mark.kernel


def make(mtype: MapType, key: int = 4, value: int = 8, entries: int = 16, flags: int = 0) -> KernelMap:
    return KernelMap.create(MapSpec(name="t_" + mtype.name.lower(), type=mtype, key_size=key,
                                    value_size=value, max_entries=entries, flags=flags))


def test_hash_crud_and_errno() -> None:
    with make(MapType.HASH) as m:
        assert len(m) == 0
        m[1] = 10
        m[2] = 20
        assert m[1] == (10).to_bytes(8, "little")
        assert sorted(int.from_bytes(k, "little") for k in m) == [1, 2]
        with pytest.raises(MapError) as exc:
            m.update((1).to_bytes(4, "little"), bytes(8), UpdateFlags.NOEXIST)
        assert exc.value.errno == errno.EEXIST
        with pytest.raises(MapError) as exc:
            m.update((3).to_bytes(4, "little"), bytes(8), UpdateFlags.EXIST)
        assert exc.value.errno == errno.ENOENT
        del m[1]
        assert 1 not in m and 2 in m
        with pytest.raises(KeyError):
            del m[1]
        with pytest.raises(KeyError):
            m[42]
        assert m.get(42) is None


def test_hash_full_gives_e2big() -> None:
    with make(MapType.HASH, entries=2) as m:
        m[1] = 1
        m[2] = 2
        with pytest.raises(MapError) as exc:
            m[3] = 3
        assert exc.value.errno == errno.E2BIG


def test_array_semantics() -> None:
    with make(MapType.ARRAY, entries=4) as m:
        assert len(m) == 4  # arrays always hold every index
        assert m[3] == bytes(8)
        m[2] = 0x1122
        assert m[2] == (0x1122).to_bytes(8, "little")
        assert m.get(4) is None  # out of range reads as absent
        with pytest.raises(MapError) as exc:
            m.delete((0).to_bytes(4, "little"))
        assert exc.value.errno == errno.EINVAL
        with pytest.raises(MapError) as exc:
            m[9] = 1
        assert exc.value.errno == errno.E2BIG


def test_percpu_values_are_lists_rounded_to_eight() -> None:
    n = possible_cpus()
    with make(MapType.PERCPU_ARRAY, value=4, entries=2) as m:
        value = m[0]
        assert isinstance(value, list) and len(value) == n and value[0] == bytes(4)
        m[1] = [(i + 1).to_bytes(4, "little") for i in range(n)]
        assert m[1] == [(i + 1).to_bytes(4, "little") for i in range(n)]
        with pytest.raises(MapError):
            m.update((0).to_bytes(4, "little"), [bytes(4)] * (n + 1))


def test_queue_push_pop() -> None:
    with make(MapType.QUEUE, key=0, value=4, entries=4) as q:
        for i in range(3):
            q.push(i.to_bytes(4, "little"))
        assert [q.lookup_and_delete() for _ in range(4)] == [
            (0).to_bytes(4, "little"), (1).to_bytes(4, "little"), (2).to_bytes(4, "little"), None]


def test_batch_operations() -> None:
    with make(MapType.HASH, entries=1000) as m:
        pairs = [(i.to_bytes(4, "little"), (i * 3).to_bytes(8, "little")) for i in range(600)]
        assert m.update_batch(pairs) == 600
        got = dict(m.batch_items(chunk=64))
        assert got == dict(pairs)
        assert m.delete_batch([k for k, _ in pairs[:100]]) == 100
        assert len(m) == 500


def test_freeze_blocks_user_writes() -> None:
    with make(MapType.ARRAY, entries=1) as m:
        m[0] = 5
        m.freeze()
        with pytest.raises(MapError) as exc:
            m[0] = 6
        assert exc.value.errno == errno.EPERM
        assert m[0] == (5).to_bytes(8, "little")


def test_map_info_and_ids() -> None:
    with make(MapType.HASH, key=8, value=16, entries=7) as m:
        i = info.map_info(m.fd)
        assert (i.type, i.key_size, i.value_size, i.max_entries, i.name) == (
            MapType.HASH, 8, 16, 7, "t_hash")
        assert i.id in set(info.object_ids("map"))
        with info.fd_by_id("map", i.id) as fd2:
            assert info.map_info(fd2.fd).id == i.id


def test_create_errors_name_the_map() -> None:
    with pytest.raises(KernelError) as exc:
        make(MapType.HASH, key=0)
    assert exc.value.errno == errno.EINVAL and "t_hash" in str(exc.value)


def test_wrong_sizes_are_bpf_errors() -> None:
    with make(MapType.HASH) as m:
        with pytest.raises(Exception) as exc:
            m[b"\x01"] = 1
        assert "4 bytes" in str(exc.value)


def test_raw_operations_check_sizes() -> None:
    # the kernel reads key_size/value_size bytes from our buffers: short ones must never reach it
    with make(MapType.HASH) as m:
        for call in (lambda: m.lookup(b"\x01"), lambda: m.update(b"\x01", bytes(8)),
                     lambda: m.update(bytes(4), bytes(3)), lambda: m.delete(b""), lambda: m.next_key(b"12345"),
                     lambda: m.update_batch([(b"1", bytes(8))]), lambda: m.delete_batch([b"123"])):
            with pytest.raises(MapError) as exc:
                call()
            assert exc.value.errno == errno.EINVAL
    with make(MapType.PERCPU_HASH, value=4) as pm:
        with pytest.raises(MapError):
            pm.update(bytes(4), [bytes(3)] * possible_cpus())


def test_tracepoint_format_fields() -> None:
    from pybpf.kernel.tracefs import tracepoint_format, tracepoint_id

    fields = {f.name: f for f in tracepoint_format("syscalls/sys_enter_openat")}
    assert fields["filename"].size == 8 and fields["flags"].offset > fields["filename"].offset
    assert fields["common_pid"].signed
    assert tracepoint_id("syscalls", "sys_enter_openat") > 0
    from pybpf.errors import LoadError

    with pytest.raises(LoadError):
        tracepoint_id("syscalls/no_such_event")
