"""BPF_MAP_TYPE_CPUMAP: CPUs (with a queue size) that bpf_redirect_map may send XDP frames to.

Values are `struct bpf_cpumap_val { u32 qsize; u32 bpf_prog_fd_or_id; }` (value_size 8) or a
bare u32 qsize (4). Like the kernel: a sparse array indexed by CPU number (key >= max_entries is
E2BIG, a CPU that does not exist ENODEV), qsize 0 empties the slot, qsize above 16384 is
EOVERFLOW, BPF_NOEXIST is EEXIST, delete always succeeds, and max_entries may not exceed the
kernel's NR_CPUS (E2BIG). Values live in native memory, read-only to programs.
"""

from __future__ import annotations

import errno
import gzip
import struct
from functools import lru_cache

from pybpf.abi import MapType, UpdateFlags
from pybpf.maps.base import E2BIG, EINVAL, fail, possible_cpus
from pybpf.maps.devmap import DEV_CREATE_FLAGS, DevMap

_U32 = struct.Struct("<I")
MAX_QSIZE = 16384


@lru_cache(maxsize=1)
def nr_cpus() -> int:
    """CONFIG_NR_CPUS of the running kernel (8192 when unknown)."""
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            for line in f:
                if line.startswith("CONFIG_NR_CPUS="):
                    return int(line.split("=", 1)[1])
    except (OSError, ValueError):
        pass
    return 8192


class CpuMap(DevMap):
    """BPF_MAP_TYPE_CPUMAP."""

    map_types = (MapType.CPUMAP,)
    _kind = "cpumap"
    _key_word = "CPU"

    def validate(self) -> None:
        s = self.spec
        if (
            s.max_entries <= 0
            or s.key_size != 4
            or s.value_size not in (4, 8)
            or s.flags & ~DEV_CREATE_FLAGS
        ):
            raise fail(
                f"cpumap {s.name!r}: key_size 4, value_size 4 or 8, flags NUMA/RDONLY/WRONLY only",
                EINVAL,
            )
        if s.max_entries > nr_cpus():
            raise fail(
                f"cpumap {s.name!r}: max_entries {s.max_entries} exceeds NR_CPUS {nr_cpus()}", E2BIG
            )

    def update(self, key: bytes, value: bytes | list[bytes], flags: int = UpdateFlags.ANY) -> None:
        i, data = self._checked_slot(key, value, flags)
        if i >= possible_cpus():
            raise fail(f"CPU {i} does not exist", errno.ENODEV)
        qsize = _U32.unpack_from(data)[0]
        if len(data) >= 8 and _U32.unpack_from(data, 4)[0]:
            raise fail("programs on cpumap entries are not supported in user space", EINVAL)
        if qsize > MAX_QSIZE:
            raise fail(f"qsize {qsize} is above {MAX_QSIZE}", errno.EOVERFLOW)
        self._store(i, data, bool(qsize))
