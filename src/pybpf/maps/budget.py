"""Memory accounting of user-space maps: a process-wide limit, as the kernel charges maps to a memcg.

Maps preallocate their storage (entries × key and value, per CPU for per-CPU maps), so a spec with
huge `max_entries` or values would take the host's memory before any check could stop it. Each map
is charged its estimated size before it allocates; over the limit, creation fails with ENOMEM and a
message saying how much was asked and what the limit is. The charge is returned when the map is
garbage-collected. The limit is `PYBPF_MAP_MEMORY_LIMIT` (bytes, or with a K/M/G suffix), else half
of the machine's physical memory.
"""

from __future__ import annotations

import errno
import os
import threading
import weakref

from pybpf.abi import MapType
from pybpf.errors import MapError
from pybpf.object.spec import MapSpec

_PERCPU = (MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH)
_BYTES_SIZED = (MapType.RINGBUF, MapType.USER_RINGBUF)
_lock = threading.Lock()
_charged = 0


def _round8(n: int) -> int:
    return (n + 7) & ~7


def limit() -> int:
    """The process-wide budget for user-space map memory, in bytes."""
    text = os.environ.get("PYBPF_MAP_MEMORY_LIMIT", "").strip().upper()
    if text:
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1], 1)
        try:
            return int(text[:-1] if scale > 1 else text) * scale
        except ValueError:
            raise MapError(f"PYBPF_MAP_MEMORY_LIMIT={text!r} is not a size (e.g. 4G, 512M)", errno=errno.EINVAL) from None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError):
        return 8 << 30


def estimate(spec: MapSpec, ncpus: int) -> int:
    """Bytes a map of `spec` preallocates (keys, values, per-CPU copies and per-entry bookkeeping)."""
    entries = max(spec.max_entries, 0)
    if spec.type in _BYTES_SIZED:
        return 2 * entries  # data pages plus the consumer's copy at most
    copies = ncpus if spec.type in _PERCPU else 1
    per_entry = _round8(spec.key_size) + _round8(spec.value_size) * copies + 24
    return entries * per_entry


def charged() -> int:
    """Bytes currently charged to live user-space maps."""
    return _charged


def charge(owner: object, spec: MapSpec, ncpus: int) -> None:
    """Charge `owner` (a map being created) its estimated size, or raise MapError(ENOMEM) over the limit."""
    global _charged
    size = estimate(spec, ncpus)
    budget = limit()
    with _lock:
        if _charged + size > budget:
            raise MapError(
                f"map {spec.name!r}: needs {_mib(size)} but user-space maps may use {_mib(budget)} in all"
                f" ({_mib(_charged)} in use); lower max_entries or the value size, or raise"
                " PYBPF_MAP_MEMORY_LIMIT",
                errno=errno.ENOMEM,
            )
        _charged += size
    weakref.finalize(owner, _uncharge, size)


def _uncharge(size: int) -> None:
    global _charged
    with _lock:
        _charged -= size


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n < 1 << 30 else f"{n / (1 << 30):.1f} GiB"
