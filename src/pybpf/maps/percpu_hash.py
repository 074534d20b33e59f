"""BPF_MAP_TYPE_PERCPU_HASH: a hash map with one value per possible CPU (per-CPU values in a separate block).

Same native table as pybpf.maps.hash (layout in pybpf.maps.hashtab).
"""

from __future__ import annotations

from pybpf.abi import MapType
from pybpf.maps.hash import HashMap


class PercpuHashMap(HashMap):
    """BPF_MAP_TYPE_PERCPU_HASH."""

    map_types = (MapType.PERCPU_HASH,)
    lru = False
