"""Map helpers: bpf_map_lookup_elem/update/delete, push/pop/peek and map_lookup_percpu_elem."""

from __future__ import annotations

import ctypes
from typing import Any

from pybpf.collection import Map
from pybpf.errors import MapError
from pybpf.vm.helper_registry import HelperEnv, implements
from pybpf.vm.helpers_impl.common import EINVAL, ENOENT, expose, neg, rc


def _value_pointer(env: HelperEnv, m: Map, key: bytes, cpu: int, *, use: bool = True) -> int:
    """The program-visible pointer to `key`'s value (0 when absent)."""
    inner = getattr(m, "inner", None)
    if inner is not None:  # map-in-map: the value is the inner map itself
        found = inner(key)
        return 0 if found is None else env.map_pointer(found)
    lookup = getattr(m, "prog_lookup" if use else "value_address", None)
    if lookup is not None:
        address = lookup(key, cpu)
        if not address:
            return 0
        expose(
            env, address, m.value_size, writable=bool(getattr(m, "prog_writable", True)),
            name=f"map {m.name} value", owner=m,
        )  # fmt: skip
        return int(address)
    # a map without native storage: hand the program a copy (writes are not seen by the map)
    value = m.lookup(key)
    if value is None:
        return 0
    data = value[cpu] if isinstance(value, list) else value
    buf = ctypes.create_string_buffer(bytes(data), len(data))
    expose(
        env, ctypes.addressof(buf), len(data), writable=False, name=f"map {m.name} value", owner=buf
    )
    return ctypes.addressof(buf)


@implements(1)
def map_lookup_elem(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_map_lookup_elem(map, key): pointer to the value or NULL."""
    m = env.map_from_pointer(r1)
    key = env.read(r2, m.key_size)
    return _value_pointer(env, m, key, env.cpu)


@implements(195)
def map_lookup_percpu_elem(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_map_lookup_percpu_elem(map, key, cpu): pointer to CPU `cpu`'s value or NULL."""
    m = env.map_from_pointer(r1)
    key = env.read(r2, m.key_size)
    cpu = r3 & 0xFFFFFFFF
    if cpu >= int(getattr(m, "ncpus", 1)):
        return 0
    return _value_pointer(env, m, key, cpu)


@implements(2)
def map_update_elem(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_map_update_elem(map, key, value, flags): 0 or a negative errno (per-CPU: this CPU)."""
    m = env.map_from_pointer(r1)
    key = env.read(r2, m.key_size)
    value = env.read(r3, m.value_size)
    update: Any = getattr(m, "prog_update", None)
    if update is not None:
        return rc(update(key, value, r4, env.cpu))
    try:
        m.update(key, value, r4)
    except MapError as exc:
        return neg(exc.errno)
    return 0


@implements(3)
def map_delete_elem(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_map_delete_elem(map, key): 0 or a negative errno."""
    m = env.map_from_pointer(r1)
    key = env.read(r2, m.key_size)
    delete: Any = getattr(m, "prog_delete", None)
    if delete is not None:
        return rc(delete(key))
    try:
        m.delete(key)
    except MapError as exc:
        return neg(exc.errno)
    return 0


@implements(87)
def map_push_elem(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_map_push_elem(map, value, flags): 0, -E2BIG when full (BPF_EXIST overwrites), -EINVAL."""
    m = env.map_from_pointer(r1)
    push = getattr(m, "push_value", None)
    if push is None:
        return EINVAL
    return rc(push(env.read(r2, m.value_size), r3))


def _take(env: HelperEnv, r1: int, r2: int, method: str) -> int:
    m = env.map_from_pointer(r1)
    take = getattr(m, method, None)
    if take is None:
        return EINVAL
    value = take()
    if value is None:
        env.write(r2, bytes(m.value_size))  # the kernel zeroes the buffer when empty
        return ENOENT
    env.write(r2, value)
    return 0


@implements(88)
def map_pop_elem(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_map_pop_elem(map, value): take the next element into `value`; -ENOENT when empty."""
    return _take(env, r1, r2, "pop_value")


@implements(89)
def map_peek_elem(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_map_peek_elem(map, value): copy the next element into `value`; -ENOENT when empty.

    On a bloom filter it asks instead: 0 when `value` may have been pushed, -ENOENT when not.
    """
    m = env.map_from_pointer(r1)
    check = getattr(m, "peek_check", None)
    if check is not None:
        return rc(check(env.read(r2, m.value_size)))
    return _take(env, r1, r2, "peek_value")


@implements(93)
def spin_lock(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_spin_lock(lock): programs run one at a time in user space; the lock word is set to 1."""
    env.write(r1, (1).to_bytes(4, "little"))
    return 0


@implements(94)
def spin_unlock(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_spin_unlock(lock): the lock word back to 0."""
    env.write(r1, bytes(4))
    return 0
