"""BPF_MAP_TYPE_LRU_PERCPU_HASH: an LRU hash map with one value per possible CPU.

Same native table as pybpf.maps.hash, same eviction as pybpf.maps.lru_hash (the kernel's LRU
algorithm); an update of an existing key writes its values in place and marks it referenced.
"""

from __future__ import annotations

from pybpf.abi import MapType
from pybpf.maps.hash import HashMap


class LruPercpuHashMap(HashMap):
    """BPF_MAP_TYPE_LRU_PERCPU_HASH."""

    map_types = (MapType.LRU_PERCPU_HASH,)
    lru = True
