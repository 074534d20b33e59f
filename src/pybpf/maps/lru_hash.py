"""BPF_MAP_TYPE_LRU_HASH: a hash map that evicts the least recently used entry when full.

Same native table as pybpf.maps.hash (layout in pybpf.maps.hashtab); which element an insert
evicts follows the kernel's LRU algorithm step for step (pybpf.maps.lru): program lookups mark
elements referenced (bpf() lookups do not), a full map reclaims nodes from the tail of the
inactive list (referenced ones get a second chance), several at once in bigger maps, and an
update of a full map evicts before it looks at the key or the flags. The tests check the key
sets against the kernel's after every operation.
"""

from __future__ import annotations

from pybpf.abi import MapType
from pybpf.maps.hash import HashMap


class LruHashMap(HashMap):
    """BPF_MAP_TYPE_LRU_HASH."""

    map_types = (MapType.LRU_HASH,)
    lru = True
