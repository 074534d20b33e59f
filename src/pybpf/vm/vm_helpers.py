"""Helpers that reach into the running VM: bpf_tail_call, bpf_loop and bpf_for_each_map_elem.

Tail calls replace the running program by one from a prog_array (at most 33 in a chain, like the
kernel's MAX_TAIL_CALL_CNT); bpf_loop and for_each_map_elem call a callback of the program
(a `lddw rX, func` pointer) through the machine's local-call machinery, each call in a fresh frame.
"""

from __future__ import annotations

import errno
from typing import Any

from pybpf.abi import PERCPU_MAP_TYPES, MapType
from pybpf.errors import RuntimeFault
from pybpf.isa.opcodes import M64, MAX_TAIL_CALL_CNT
from pybpf.vm.helper_registry import HelperEnv, implements
from pybpf.vm.memory import Region

BPF_MAX_LOOPS = 1 << 23
ENOENT = -errno.ENOENT & M64
EINVAL = -errno.EINVAL & M64
E2BIG = -errno.E2BIG & M64
ENOTSUPP = -524 & M64

FOR_EACH_MAP_TYPES = frozenset(
    {
        MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH,
        MapType.ARRAY, MapType.PERCPU_ARRAY,
    }
)  # fmt: skip


def _machine(env: HelperEnv) -> Any:
    machine = getattr(env, "machine", None)
    if machine is None:
        raise RuntimeFault("this helper needs a running program")
    return machine


def program_in_slot(env: HelperEnv, prog_array: Any, index: int) -> Any:
    """The machine in slot `index` of a prog_array, or None (empty slot / out of range)."""
    if index >= prog_array.max_entries:
        return None
    target = prog_array.get(index)  # a program object (pybpf.maps) or its u32 id as bytes
    if isinstance(target, (bytes, bytearray)):
        if len(target) < 4:
            return None
        prog_id = int.from_bytes(bytes(target)[:4], "little")
        target = getattr(env, "extra", {}).get("programs", {}).get(prog_id)
        if target is None:
            try:
                from pybpf.maps import program_by_id
            except ImportError:
                return None
            target = program_by_id(prog_id)
    if target is None:
        return None
    return getattr(target, "machine", target)


@implements(12)
def tail_call(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_tail_call(ctx, prog_array, index): jump to another program; returns only on failure."""
    from pybpf.vm.interpreter import TailCall

    prog_array = env.map_from_pointer(r2)
    if prog_array.type != MapType.PROG_ARRAY:
        raise RuntimeFault(f"bpf_tail_call on map {prog_array.name!r}, which is not a prog_array")
    count = getattr(env, "tail_calls", 0)
    if count >= MAX_TAIL_CALL_CNT:
        return ENOENT
    target = program_in_slot(env, prog_array, r3 & 0xFFFFFFFF)
    if target is None:
        return ENOENT
    env.tail_calls = count + 1  # type: ignore[attr-defined]
    stack = getattr(env, "stack", None)
    if stack is not None:  # from a sub-program the target runs in frames past MAX_CALL_FRAMES
        stack.mark_deep()
    raise TailCall(target, r1)


@implements(181)
def loop(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_loop(nr_loops, callback_fn, callback_ctx, flags): call callback(i, ctx) until it returns 1."""
    if r4:
        return EINVAL
    nr_loops = r1 & 0xFFFFFFFF
    if nr_loops > BPF_MAX_LOOPS:
        # With constant flags 0 the kernel inlines bpf_loop, and the inlined code sets r0 with a
        # 32-bit move: the program sees 0x00000000fffffff9, not the helper's 64-bit -E2BIG.
        return E2BIG & 0xFFFFFFFF
    machine = _machine(env)
    for i in range(nr_loops):
        if machine.call_function(r2, (i, r3)) & M64:
            return i + 1
    return nr_loops


@implements(164)
def for_each_map_elem(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_for_each_map_elem(map, callback_fn, callback_ctx, flags): callback(map, &key, &value, ctx)."""
    if r4:
        return EINVAL
    m = env.map_from_pointer(r1)
    if m.type not in FOR_EACH_MAP_TYPES:
        return ENOTSUPP
    machine = _machine(env)
    memory = getattr(env, "memory", None)
    cpu = getattr(env, "cpu", 0)
    value_address = getattr(m, "value_address", None)
    count = 0
    for key in list(m.keys()):
        key_region = Region.allocate(len(key), name=f"map {m.name} key", writable=False, init=key)
        address = value_address(key, cpu) if value_address is not None else None
        copy: Region | None = None
        if address is None:  # no native value storage: run on a copy and write it back
            value = m.lookup(key)
            if value is None:
                continue
            current = value[cpu] if isinstance(value, list) else value
            copy = Region.allocate(len(current), name=f"map {m.name} value", init=current)
            address = copy.address
        added = [r for r in (key_region, copy) if r is not None]
        if memory is not None:
            for region in added:
                memory.add(region)
        try:
            count += 1
            stop = machine.call_function(r2, (r1, key_region.address, address, r3)) & M64
        finally:
            if memory is not None:
                for region in added:
                    memory.remove(region)
        if copy is not None:
            _write_back(m, key, copy.read(0, copy.size), cpu)
        if stop:
            break
    return count


def _write_back(m: Any, key: bytes, value: bytes, cpu: int) -> None:
    if m.type in PERCPU_MAP_TYPES:
        values = list(m.lookup(key) or [])
        if cpu < len(values):
            values[cpu] = value
            m.update(key, values)
        return
    m.update(key, value)
