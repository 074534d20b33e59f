"""BPF_MAP_TYPE_LRU_PERCPU_HASH: an LRU hash map with one value per possible CPU.

Same native table as pybpf.maps.hash (layout in pybpf.maps.hashtab). Recency is a use clock:
every insert, update and program lookup stamps the entry (user-space lookups do not, like the
kernel's sys-only lookup); a full map evicts the entry with the oldest stamp. The kernel's LRU
approximates this order (per-CPU free lists, reference bits), pybpf's is exact.
"""

from __future__ import annotations

from pybpf.abi import MapType
from pybpf.maps.hash import HashMap


class LruPercpuHashMap(HashMap):
    """BPF_MAP_TYPE_LRU_PERCPU_HASH."""

    map_types = (MapType.LRU_PERCPU_HASH,)
    lru = True
