"""Kernel maps: BPF_MAP_CREATE, the element and batch commands, freeze, and the dict-like KernelMap."""

from __future__ import annotations

import ctypes
import errno
import re
from collections.abc import Iterator, Sequence

from pybpf.abi import PERCPU_MAP_TYPES, MapType, UpdateFlags
from pybpf.collection import Map
from pybpf.errors import KernelError, MapError
from pybpf.kernel.attr import MapBatchAttr, MapCreateAttr, MapElemAttr, ptr
from pybpf.kernel.cpus import possible_cpus
from pybpf.kernel.fd import FD, FdBacked
from pybpf.kernel.syscall import Cmd, bpf, errno_name
from pybpf.object.spec import MapSpec

_NAME_OK = re.compile(r"[^A-Za-z0-9_.]")


def object_name(name: str) -> bytes:
    """A name the kernel accepts for a map or program: [A-Za-z0-9_.], at most 15 bytes."""
    return _NAME_OK.sub("_", name).encode()[:15]


def create_map(
    map_type: int,
    key_size: int,
    value_size: int,
    max_entries: int,
    *,
    flags: int = 0,
    name: str = "",
    inner_map_fd: int = 0,
    btf_fd: int = 0,
    key_type_id: int = 0,
    value_type_id: int = 0,
    map_extra: int = 0,
    ifindex: int = 0,
) -> FD:
    """BPF_MAP_CREATE; returns the new map's fd."""
    a = MapCreateAttr(
        map_type=map_type, key_size=key_size, value_size=value_size, max_entries=max_entries,
        map_flags=flags, inner_map_fd=inner_map_fd, map_name=object_name(name), map_ifindex=ifindex,
        btf_fd=btf_fd, btf_key_type_id=key_type_id, btf_value_type_id=value_type_id, map_extra=map_extra,
    )
    try:
        return FD(bpf(Cmd.MAP_CREATE, a.raw()))
    except KernelError as exc:
        try:
            kind = MapType(map_type).name.lower()
        except ValueError:
            kind = f"type {map_type}"
        raise KernelError(
            f"cannot create map {name!r} ({kind}, key {key_size}, value {value_size}, "
            f"max_entries {max_entries}): {exc}",
            errno=exc.errno,
        ) from None


def _elem(cmd: Cmd, fd: int, key: bytes | None, value: ctypes.Array[ctypes.c_char] | None, flags: int) -> None:
    kbuf = None if key is None else ctypes.create_string_buffer(key, len(key))
    a = MapElemAttr(map_fd=fd, key=ptr(kbuf), value=ptr(value), flags=flags)
    bpf(cmd, a.raw())


def _map_error(exc: KernelError, what: str) -> MapError:
    return MapError(f"{what}: {errno_name(exc.errno)}", errno=exc.errno)


def _elem_out(cmd: Cmd, fd: int, key: bytes | None, size: int, what: str, flags: int = 0) -> bytes | None:
    """Run an element command that fills a `size`-byte buffer: its bytes, or None on ENOENT."""
    out = ctypes.create_string_buffer(size)
    try:
        _elem(cmd, fd, key, out, flags)
    except KernelError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise _map_error(exc, f"map {what} failed") from None
    return out.raw


def lookup_elem(fd: int, key: bytes, value_size: int, flags: int = 0) -> bytes | None:
    """BPF_MAP_LOOKUP_ELEM: the value bytes, or None when the key is absent."""
    return _elem_out(Cmd.MAP_LOOKUP_ELEM, fd, key, value_size, "lookup", flags)


def update_elem(fd: int, key: bytes, value: bytes, flags: int = UpdateFlags.ANY) -> None:
    """BPF_MAP_UPDATE_ELEM; MapError with the kernel's errno on failure."""
    buf = ctypes.create_string_buffer(value, len(value))
    try:
        _elem(Cmd.MAP_UPDATE_ELEM, fd, key, buf, flags)
    except KernelError as exc:
        raise _map_error(exc, "map update failed") from None


def delete_elem(fd: int, key: bytes) -> None:
    """BPF_MAP_DELETE_ELEM; MapError(ENOENT) when absent (EINVAL for arrays)."""
    try:
        _elem(Cmd.MAP_DELETE_ELEM, fd, key, None, 0)
    except KernelError as exc:
        raise _map_error(exc, "map delete failed") from None


def lookup_and_delete_elem(fd: int, key: bytes | None, value_size: int) -> bytes | None:
    """BPF_MAP_LOOKUP_AND_DELETE_ELEM (key None for queue/stack maps): the value or None when empty."""
    return _elem_out(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, fd, key, value_size, "lookup-and-delete")


def next_key(fd: int, key: bytes | None, key_size: int) -> bytes | None:
    """BPF_MAP_GET_NEXT_KEY: the first key when `key` is None; None at the end."""
    return _elem_out(Cmd.MAP_GET_NEXT_KEY, fd, key, key_size, "get-next-key")


def freeze(fd: int) -> None:
    """BPF_MAP_FREEZE: no more writes from user space."""
    a = MapElemAttr(map_fd=fd)
    bpf(Cmd.MAP_FREEZE, a.raw())


def lookup_batch(
    fd: int, key_size: int, value_size: int, *, chunk: int = 256, delete: bool = False
) -> Iterator[tuple[bytes, bytes]]:
    """BPF_MAP_LOOKUP_BATCH (or LOOKUP_AND_DELETE_BATCH): every (key, value) pair, `chunk` at a time."""
    keys = ctypes.create_string_buffer(key_size * chunk)
    values = ctypes.create_string_buffer(value_size * chunk)
    batch_size = max(key_size, 8)
    in_batch = ctypes.create_string_buffer(batch_size)
    out_batch = ctypes.create_string_buffer(batch_size)
    first = True
    cmd = Cmd.MAP_LOOKUP_AND_DELETE_BATCH if delete else Cmd.MAP_LOOKUP_BATCH
    while True:
        a = MapBatchAttr(
            in_batch=0 if first else ptr(in_batch), out_batch=ptr(out_batch), keys=ptr(keys),
            values=ptr(values), count=chunk, map_fd=fd,
        )
        buf = a.raw()
        done = False
        try:
            bpf(cmd, buf)
        except KernelError as exc:
            if exc.errno != errno.ENOENT:
                raise _map_error(exc, "map batch lookup failed") from None
            done = True
        a.load(buf)
        kr, vr = keys.raw, values.raw
        for i in range(a.count):
            yield kr[i * key_size:(i + 1) * key_size], vr[i * value_size:(i + 1) * value_size]
        if done:
            return
        ctypes.memmove(in_batch, out_batch, batch_size)
        first = False


def update_batch(fd: int, pairs: list[tuple[bytes, bytes]], flags: int = 0) -> int:
    """BPF_MAP_UPDATE_BATCH: write every pair; returns how many were written."""
    if not pairs:
        return 0
    keys = ctypes.create_string_buffer(b"".join(k for k, _ in pairs))
    values = ctypes.create_string_buffer(b"".join(v for _, v in pairs))
    a = MapBatchAttr(keys=ptr(keys), values=ptr(values), count=len(pairs), map_fd=fd, elem_flags=flags)
    return _batch_command(Cmd.MAP_UPDATE_BATCH, a, "map batch update failed")


def delete_batch(fd: int, keys: list[bytes]) -> int:
    """BPF_MAP_DELETE_BATCH: delete every key; returns how many were deleted."""
    if not keys:
        return 0
    kbuf = ctypes.create_string_buffer(b"".join(keys))
    a = MapBatchAttr(keys=ptr(kbuf), count=len(keys), map_fd=fd)
    return _batch_command(Cmd.MAP_DELETE_BATCH, a, "map batch delete failed")


def _batch_command(cmd: Cmd, a: MapBatchAttr, failure: str) -> int:
    """Run one batch command on `a`; how many elements the kernel says it handled."""
    buf = a.raw()
    try:
        bpf(cmd, buf)
    except KernelError as exc:
        raise _map_error(exc, failure) from None
    a.load(buf)
    return int(a.count)


class KernelMap(FdBacked, Map):
    """A live kernel map behind an fd, dict-like through the bpf() element commands."""

    def __init__(self, spec: MapSpec, fd: FD) -> None:
        self.spec = spec
        self._fd = fd
        self.percpu_stride = (spec.value_size + 7) & ~7
        self.ncpus = possible_cpus() if spec.type in PERCPU_MAP_TYPES else 1

    @classmethod
    def create(cls, spec: MapSpec, *, inner_map_fd: int = 0, btf_fd: int = 0) -> KernelMap:
        """BPF_MAP_CREATE from a MapSpec (BTF key/value ids are used only with a BTF fd)."""
        fd = create_map(
            spec.type, spec.key_size, spec.value_size, spec.max_entries, flags=spec.flags, name=spec.name,
            inner_map_fd=inner_map_fd, btf_fd=btf_fd,
            key_type_id=spec.key_type_id if btf_fd else 0, value_type_id=spec.value_type_id if btf_fd else 0,
            map_extra=getattr(spec, "map_extra", 0),
        )
        return cls(spec, fd)

    @classmethod
    def from_fd(cls, fd: FD) -> KernelMap:
        """A KernelMap for an fd of an existing map (its spec read back from the kernel); takes the fd."""
        from pybpf.kernel.info import map_info

        i = map_info(fd.fd)
        try:
            mtype = MapType(i.type)
        except ValueError:
            mtype = MapType.UNSPEC
        spec = MapSpec(name=i.name, type=mtype, key_size=i.key_size, value_size=i.value_size,
                       max_entries=i.max_entries, flags=i.flags, key_type_id=i.btf_key_type_id,
                       value_type_id=i.btf_value_type_id)
        return cls(spec, fd)

    @classmethod
    def open(cls, ref: int | str) -> KernelMap:
        """An existing map by id (int or digits) or by its bpffs pin path."""
        from pybpf.kernel.info import fd_by_id
        from pybpf.kernel.pin import get_object

        if isinstance(ref, int) or ref.isdigit():
            fd = fd_by_id("map", int(ref))
        else:
            fd = get_object(ref)
        try:
            return cls.from_fd(fd)
        except BaseException:
            fd.close()
            raise

    @property
    def _raw_value_size(self) -> int:
        if self.spec.type in PERCPU_MAP_TYPES:
            return self.percpu_stride * self.ncpus
        return self.spec.value_size

    def _check_key(self, key: bytes | None) -> None:
        # the kernel reads exactly key_size bytes from our buffer: a shorter one would expose memory
        if key is not None and len(key) != self.spec.key_size:
            raise MapError(f"map {self.name!r}: key must be {self.spec.key_size} bytes, got {len(key)}",
                           errno=errno.EINVAL)

    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        self._check_key(key)
        raw = lookup_elem(self.fd, key, self._raw_value_size)
        if raw is None:
            return None
        return self._split(raw)

    def _split(self, raw: bytes) -> bytes | list[bytes]:
        if self.spec.type not in PERCPU_MAP_TYPES:
            return raw
        s, size = self.percpu_stride, self.spec.value_size
        return [raw[i * s:i * s + size] for i in range(self.ncpus)]

    def _join(self, value: bytes | list[bytes]) -> bytes:
        if self.spec.type not in PERCPU_MAP_TYPES:
            if isinstance(value, list):
                raise MapError("a list of values is only valid for per-CPU maps", errno=errno.EINVAL)
            if len(value) != self.spec.value_size:
                raise MapError(f"map {self.name!r}: value must be {self.spec.value_size} bytes, got {len(value)}",
                               errno=errno.EINVAL)
            return bytes(value)
        values = value if isinstance(value, list) else [value] * self.ncpus
        if len(values) != self.ncpus:
            raise MapError(f"per-CPU map {self.name!r} needs {self.ncpus} values, got {len(values)}",
                           errno=errno.EINVAL)
        if any(len(v) != self.spec.value_size for v in values):
            raise MapError(f"per-CPU map {self.name!r}: each value must be {self.spec.value_size} bytes",
                           errno=errno.EINVAL)
        return b"".join(bytes(v).ljust(self.percpu_stride, b"\0") for v in values)

    def update(self, key: bytes, value: bytes | list[bytes], flags: int = UpdateFlags.ANY) -> None:
        self._check_key(key)
        update_elem(self.fd, key, self._join(value), flags)

    def delete(self, key: bytes) -> None:
        self._check_key(key)
        delete_elem(self.fd, key)

    def next_key(self, key: bytes | None) -> bytes | None:
        self._check_key(key)
        return next_key(self.fd, key, self.spec.key_size)

    def lookup_and_delete(self, key: bytes | None = None) -> bytes | list[bytes] | None:
        """Pop a value (queue/stack maps take no key)."""
        if self.spec.key_size:
            self._check_key(key if key is not None else b"")
        raw = lookup_and_delete_elem(self.fd, key, self._raw_value_size)
        return None if raw is None else self._split(raw)

    def push(self, value: bytes, flags: int = 0) -> None:
        """Push onto a queue/stack map."""
        value = self._join(value)
        buf = ctypes.create_string_buffer(value, len(value))
        a = MapElemAttr(map_fd=self.fd, key=0, value=ptr(buf), flags=flags)
        try:
            bpf(Cmd.MAP_UPDATE_ELEM, a.raw())
        except KernelError as exc:
            raise _map_error(exc, "map push failed") from None

    def batch_items(self, chunk: int = 256) -> Iterator[tuple[bytes, bytes | list[bytes]]]:
        """All entries through BPF_MAP_LOOKUP_BATCH (hash and array maps)."""
        for k, v in lookup_batch(self.fd, self.spec.key_size, self._raw_value_size, chunk=chunk):
            yield k, self._split(v)

    def update_batch(self, pairs: Sequence[tuple[bytes, bytes | list[bytes]]], flags: int = 0) -> int:
        for k, _ in pairs:
            self._check_key(k)
        return update_batch(self.fd, [(k, self._join(v)) for k, v in pairs], flags)

    def delete_batch(self, keys: list[bytes]) -> int:
        for k in keys:
            self._check_key(k)
        return delete_batch(self.fd, keys)

    def freeze(self) -> None:
        """BPF_MAP_FREEZE: further writes from user space fail with EPERM."""
        freeze(self.fd)
