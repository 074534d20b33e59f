"""The base of every user-space map: native (ctypes) storage, ids, errors, flags and the program-side API.

A `NativeMap` is a `pybpf.collection.Map` (the dict-like API users see, with the kernel's bpf()
semantics and errno values) plus the program-side operations the helper implementations call:

- `value_address(key, cpu)`: the stable native address of a value (the CPU's copy for per-CPU
  maps), or None. It is what `bpf_map_lookup_elem` returns to the program; the address stays valid
  until the element is deleted (the storage is preallocated, like the kernel's default).
- `prog_lookup/prog_update/prog_delete`: what the helpers do (0 or a negative errno, like the
  kernel; LRU maps count program lookups as uses).
- `memory_regions()`: the native storage areas as `MemoryRegion(address, size, writable, name)`,
  and `value_span(address)`: the single value an address falls in, so the VM can bounds-check a
  pointer to the exact value.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import itertools
import os
import struct
import threading
import weakref
from dataclasses import dataclass
from functools import lru_cache

from pybpf.abi import MapFlags, MapType, UpdateFlags
from pybpf.collection import Map
from pybpf.errors import MapError
from pybpf.object.spec import MapSpec

ENOENT = _errno.ENOENT
EEXIST = _errno.EEXIST
E2BIG = _errno.E2BIG
EINVAL = _errno.EINVAL
ENOMEM = _errno.ENOMEM
ENOSPC = _errno.ENOSPC
EPERM = _errno.EPERM
EBADF = _errno.EBADF
EAGAIN = _errno.EAGAIN
EBUSY = _errno.EBUSY
ENOMEM = _errno.ENOMEM
ENOTSUPP = 524  # the kernel-internal "operation not supported" some map types return
EOPNOTSUPP = _errno.EOPNOTSUPP

# The access bits every map type accepts in map_flags (pybpf.abi.MapFlags; an int so ~ stays unbounded).
ACCESS_FLAGS = int(MapFlags.RDONLY | MapFlags.WRONLY | MapFlags.RDONLY_PROG | MapFlags.WRONLY_PROG)


_U32_KEY = struct.Struct("<I")


def round8(n: int) -> int:
    return (n + 7) & ~7


@lru_cache(maxsize=1)
def possible_cpus() -> int:
    """Number of possible CPUs (the length of per-CPU value lists), as the kernel counts them."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
        count = 0
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            count += (int(hi) - int(lo) + 1) if hi else 1
        return max(count, 1)
    except (OSError, ValueError):
        return max(os.cpu_count() or 1, 1)


def next_array_key(index: int | None, max_entries: int) -> bytes | None:
    """BPF_MAP_GET_NEXT_KEY of an array-like map (u32 keys 0..max_entries-1, all present).

    `index` is the current key's index (None for the first key); an index out of range restarts at 0.
    """
    i = 0xFFFFFFFF if index is None else index
    if i >= max_entries:
        return _U32_KEY.pack(0)
    if i == max_entries - 1:
        return None
    return _U32_KEY.pack(i + 1)


@dataclass(frozen=True, slots=True)
class MemoryRegion:
    """A native storage area of a map that programs may point into."""

    address: int
    size: int
    writable: bool
    name: str = ""


def fail(message: str, err: int) -> MapError:
    """A MapError carrying errno `err` whose message names the errno like strerror does."""
    name = "ENOTSUPP" if err == ENOTSUPP else _errno.errorcode.get(err, str(err))
    return MapError(f"{message} ({name})", errno=err)


_ids = itertools.count(1)
_registry: weakref.WeakValueDictionary[int, NativeMap] = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()


def map_by_id(map_id: int) -> NativeMap | None:
    """The live user-space map with id `map_id` (ids are unique per process, like kernel map ids)."""
    return _registry.get(map_id)


class NativeMap(Map):
    """A user-space map whose values live in ctypes memory at stable native addresses."""

    # map types and the (key_size, value_size) rules each subclass checks in `validate`
    map_types: tuple[MapType, ...] = ()

    def __init__(self, spec: MapSpec) -> None:
        self.spec = spec
        self.ncpus = possible_cpus()
        self.frozen = False
        self.closed = False
        self._buffers: list[ctypes.Array[ctypes.c_char]] = []
        self.validate()
        from pybpf.maps.budget import charge

        charge(self, self.spec, self.ncpus)  # ENOMEM before allocating, like the kernel's memcg charge
        with _registry_lock:
            self.id = next(_ids)
            _registry[self.id] = self

    # --- creation ------------------------------------------------------------------------
    def validate(self) -> None:
        """Check the spec like BPF_MAP_CREATE does; raise MapError(EINVAL) when invalid."""
        s = self.spec
        if s.max_entries <= 0:
            raise fail(f"map {s.name!r}: max_entries must be > 0", EINVAL)
        if s.flags & MapFlags.RDONLY and s.flags & MapFlags.WRONLY:
            raise fail(f"map {s.name!r}: BPF_F_RDONLY and BPF_F_WRONLY together", EINVAL)
        if s.flags & MapFlags.RDONLY_PROG and s.flags & MapFlags.WRONLY_PROG:
            raise fail(f"map {s.name!r}: BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together", EINVAL)

    def allocate(self, size: int) -> int:
        """Zeroed native memory of `size` bytes kept alive by this map; returns its address."""
        buf = ctypes.create_string_buffer(max(size, 1))
        self._buffers.append(buf)
        return ctypes.addressof(buf)

    # --- access rules -------------------------------------------------------------------
    @property
    def prog_writable(self) -> bool:
        """Whether programs may write the values (not frozen read-only data, not BPF_F_RDONLY_PROG)."""
        return not (self.spec.flags & MapFlags.RDONLY_PROG) and not (self.frozen and self.spec.frozen)

    def freeze(self) -> None:
        """BPF_MAP_FREEZE: no more writes from user space (and none from programs for .rodata)."""
        self.frozen = True

    def check_open(self) -> None:
        if self.closed:
            raise fail(f"map {self.name!r} is closed", EBADF)

    def check_syscall_write(self) -> None:
        self.check_open()
        if self.frozen or self.spec.flags & MapFlags.RDONLY:
            raise fail(f"map {self.name!r} is read-only from user space", EPERM)

    def check_syscall_read(self) -> None:
        self.check_open()
        if self.spec.flags & MapFlags.WRONLY:
            raise fail(f"map {self.name!r} is write-only from user space", EPERM)

    @staticmethod
    def check_update_flags(flags: int, allowed: int = UpdateFlags.EXIST) -> int:
        """Validate update flags; returns the flags without BPF_F_LOCK (EINVAL when unsupported)."""
        if flags & UpdateFlags.LOCK:
            # BPF_F_LOCK needs a struct bpf_spin_lock in the value (a BTF-described map)
            raise fail("BPF_F_LOCK on a map without a bpf_spin_lock", EINVAL)
        if flags < 0 or flags > allowed:
            raise fail(f"invalid update flags {flags:#x}", EINVAL)
        return flags

    def lookup_and_delete(self, key: bytes | None = None) -> bytes | list[bytes] | None:
        """BPF_MAP_LOOKUP_AND_DELETE_ELEM: the value (None when absent), removed from the map.

        Hash maps and queue/stack maps support it; other map types are ENOTSUPP, as in the kernel.
        """
        self.check_open()
        raise fail(f"{self.type.name.lower()} maps do not support lookup-and-delete", ENOTSUPP)

    def close(self) -> None:
        """Mark the map closed; its memory stays valid while a runtime still holds pointers."""
        self.closed = True

    # --- program-side API (helpers) -------------------------------------------------------
    def value_address(self, key: bytes, cpu: int = 0) -> int | None:
        """The native address of the value for `key` (CPU `cpu`'s copy for per-CPU maps), or None."""
        return None

    def prog_lookup(self, key: bytes, cpu: int = 0) -> int | None:
        """bpf_map_lookup_elem from a program: the value's address or None."""
        return self.value_address(key, cpu)

    def prog_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """bpf_map_update_elem from a program: 0 or a negative errno. Per-CPU: this CPU's copy."""
        try:
            self.update(key, value, flags)
        except MapError as exc:
            return -exc.errno
        return 0

    def prog_delete(self, key: bytes) -> int:
        """bpf_map_delete_elem from a program: 0 or a negative errno."""
        try:
            self.delete(key)
        except MapError as exc:
            return -exc.errno
        return 0

    def memory_regions(self) -> list[MemoryRegion]:
        """The native areas holding values (what programs may point into)."""
        return []

    def value_span(self, address: int) -> tuple[int, int] | None:
        """(start, size) of the value containing `address`, or None if it is in no live value."""
        return None

    # --- helpers for subclasses ------------------------------------------------------------
    def percpu_values(self, value: bytes | list[bytes]) -> list[bytes]:
        """Per-CPU update input as one value per possible CPU (a single value is copied to all)."""
        size = self.value_size
        if isinstance(value, list):
            if len(value) != self.ncpus:
                raise fail(f"per-CPU value needs {self.ncpus} values, got {len(value)}", EINVAL)
            out = [bytes(v) for v in value]
        else:
            out = [bytes(value)] * self.ncpus
        for v in out:
            if len(v) != size:
                raise fail(f"value must be {size} bytes, got {len(v)}", EINVAL)
        return out

    def check_key(self, key: bytes) -> bytes:
        key = bytes(key)
        if len(key) != self.key_size:
            raise fail(f"key must be {self.key_size} bytes, got {len(key)}", EINVAL)
        return key

    def check_value(self, value: bytes | list[bytes]) -> bytes:
        if isinstance(value, list):
            raise fail("a list of values is only valid for per-CPU maps", EINVAL)
        value = bytes(value)
        if len(value) != self.value_size:
            raise fail(f"value must be {self.value_size} bytes, got {len(value)}", EINVAL)
        return value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} id={self.id} {self.type.name.lower()}>"


def read_mem(address: int, size: int) -> bytes:
    """Copy `size` bytes of native memory (map storage only)."""
    return ctypes.string_at(address, size)


def write_mem(address: int, data: bytes) -> None:
    """Copy bytes into native memory (map storage only)."""
    ctypes.memmove(address, data, len(data))


class NoProgramElements:
    """A map whose elements programs cannot reach through the map helpers (the verifier refuses the
    calls): a lookup finds nothing, an update or delete fails with -`prog_errno`. Mix in before
    NativeMap."""

    prog_errno = EINVAL

    def prog_lookup(self, key: bytes, cpu: int = 0) -> int | None:
        return None

    def prog_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        return -self.prog_errno

    def prog_delete(self, key: bytes) -> int:
        return -self.prog_errno
