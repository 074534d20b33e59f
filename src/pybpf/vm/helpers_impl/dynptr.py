"""Dynptr helpers: bpf_dynptr_from_mem/read/write/data and the ring buffer dynptr trio.

A `struct bpf_dynptr` is 16 bytes on the program's stack, laid out like the kernel's
bpf_dynptr_kern: u64 data pointer, u32 size (bits 0..23) with the type in bits 28..30 and the
read-only flag in bit 31, u32 offset. A null dynptr is all zeros. Return codes follow the kernel:
-EINVAL for flags, null or read-only dynptrs, -E2BIG for an offset/length past the end (or a
size above 16 MiB - 1); a failed ring buffer reservation is -EINVAL and leaves a null dynptr.
"""

from __future__ import annotations

import struct
from typing import Any

from pybpf.errors import RuntimeFault
from pybpf.vm.helper_registry import HelperEnv, helper_state, implements
from pybpf.vm.helpers_impl.common import E2BIG, EINVAL, expose, rc

DYNPTR = struct.Struct("<QII")
SIZE_MASK = 0xFFFFFF
TYPE_SHIFT = 28
RDONLY_BIT = 1 << 31
TYPE_LOCAL = 1
TYPE_RINGBUF = 2
MAX_SIZE = SIZE_MASK


def _set(env: HelperEnv, address: int, data: int, size: int, kind: int, offset: int = 0) -> None:
    env.write(address, DYNPTR.pack(data, size | (kind << TYPE_SHIFT), offset))


def _set_null(env: HelperEnv, address: int) -> None:
    env.write(address, bytes(DYNPTR.size))


def _get(env: HelperEnv, address: int) -> tuple[int, int, int, bool, int]:
    """(data, size, offset, read-only, type) of the dynptr at `address`."""
    data, size_word, offset = DYNPTR.unpack(env.read(address, DYNPTR.size))
    return (
        data,
        size_word & SIZE_MASK,
        offset,
        bool(size_word & RDONLY_BIT),
        (size_word >> TYPE_SHIFT) & 7,
    )


def _check_off_len(size: int, offset: int, length: int) -> int:
    if offset > size or length > size - offset:
        return E2BIG
    return 0


@implements(197)
def dynptr_from_mem(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_dynptr_from_mem(data, size, flags, ptr): a local dynptr over program memory."""
    size = r2 & 0xFFFFFFFF
    if size > MAX_SIZE:
        _set_null(env, r4)
        return E2BIG
    if r3:
        _set_null(env, r4)
        return EINVAL
    _set(env, r4, r1, size, TYPE_LOCAL)
    return 0


@implements(201)
def dynptr_read(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_dynptr_read(dst, len, src, offset, flags): copy out of a dynptr."""
    length, offset = r2 & 0xFFFFFFFF, r4 & 0xFFFFFFFF
    data, size, base, _, _ = _get(env, r3)
    if not data or r5:
        return EINVAL
    err = _check_off_len(size, offset, length)
    if err:
        return err
    env.write(r1, env.read(data + base + offset, length))
    return 0


@implements(202)
def dynptr_write(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_dynptr_write(dst, offset, src, len, flags): copy into a dynptr."""
    offset, length = r2 & 0xFFFFFFFF, r4 & 0xFFFFFFFF
    data, size, base, rdonly, _ = _get(env, r1)
    if not data or rdonly:
        return EINVAL
    err = _check_off_len(size, offset, length)
    if err:
        return err
    if r5:
        return EINVAL
    env.write(data + base + offset, env.read(r3, length))
    return 0


@implements(203)
def dynptr_data(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_dynptr_data(ptr, offset, len): a direct pointer into the dynptr, or NULL."""
    offset, length = r2 & 0xFFFFFFFF, r3 & 0xFFFFFFFF
    data, size, base, rdonly, _ = _get(env, r1)
    if not data or _check_off_len(size, offset, length) or rdonly:
        return 0
    return data + base + offset


def _records(env: HelperEnv) -> dict[int, Any]:
    return helper_state(env, "ringbuf_records", dict)


@implements(198)
def ringbuf_reserve_dynptr(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ringbuf_reserve_dynptr(ringbuf, size, flags, ptr): a ring buffer record as a dynptr."""
    ring = env.map_from_pointer(r1)
    reserve = getattr(ring, "reserve", None)
    if reserve is None:
        raise RuntimeFault(f"map {ring.name!r} is not a ring buffer")
    size = r2 & 0xFFFFFFFF
    if r3:
        _set_null(env, r4)
        return EINVAL
    if size > MAX_SIZE:
        _set_null(env, r4)
        return E2BIG
    address = int(reserve(size, 0))
    if not address:
        _set_null(env, r4)
        return EINVAL
    _records(env)[address] = ring
    expose(env, address, size, writable=True, name=f"ringbuf {ring.name} record", owner=ring)
    _set(env, r4, address, size, TYPE_RINGBUF)
    return 0


def _commit_dynptr(env: HelperEnv, r1: int, flags: int, discard: bool) -> int:
    data, _, _, _, _ = _get(env, r1)
    if not data:
        return 0
    ring = _records(env).pop(data, None)
    if ring is None:
        raise RuntimeFault(f"dynptr at {r1:#x} is not a reserved ring buffer record", address=r1)
    ring.commit(data, flags, discard=discard)
    _set_null(env, r1)
    return 0


@implements(199)
def ringbuf_submit_dynptr(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ringbuf_submit_dynptr(ptr, flags): submit the record and null the dynptr."""
    return rc(_commit_dynptr(env, r1, r2, False))


@implements(200)
def ringbuf_discard_dynptr(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ringbuf_discard_dynptr(ptr, flags): discard the record and null the dynptr."""
    return rc(_commit_dynptr(env, r1, r2, True))


@implements(209)
def user_ringbuf_drain(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_user_ringbuf_drain(map, callback, ctx, flags): callback(dynptr, ctx) for each sample."""
    from pybpf.vm.memory import Region

    if r4 & ~3:  # BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP
        return EINVAL
    ring = env.map_from_pointer(r1)
    drain = getattr(ring, "drain", None)
    machine = getattr(env, "machine", None)
    memory = getattr(env, "memory", None)
    if drain is None or machine is None or memory is None:
        raise RuntimeFault("bpf_user_ringbuf_drain needs a user ring buffer and a running program")

    def deliver(address: int, size: int) -> int:
        holder = Region.allocate(DYNPTR.size, name="user ringbuf dynptr")
        # like the kernel: a plain (writable) local dynptr over the sample
        sample = Region.at(
            address, size, name=f"user ringbuf {ring.name} sample", writable=True, owner=ring
        )
        holder.write(0, DYNPTR.pack(address, size | (TYPE_LOCAL << TYPE_SHIFT), 0))
        added = [holder] + ([sample] if size else [])
        for region in added:
            memory.add(region)
        try:
            return int(machine.call_function(r2, (holder.address, r3))) & 0xFFFFFFFFFFFFFFFF
        finally:
            for region in added:
                memory.remove(region)

    return rc(drain(deliver))
