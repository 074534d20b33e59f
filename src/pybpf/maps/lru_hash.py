"""BPF_MAP_TYPE_LRU_HASH: a hash map that evicts the least recently used entry when full.

Same native table as pybpf.maps.hash (layout in pybpf.maps.hashtab). Recency is a use clock:
every insert, update and program lookup stamps the entry (user-space lookups do not, like the
kernel's sys-only lookup). Every update of a full map first evicts the entry with the oldest
stamp, as the kernel does (it takes a free element before looking at the key or the flags, so
even replacing an existing key, or an update the flags then refuse, evicts one). The kernel's
LRU approximates this order (per-CPU free lists, reference bits, and larger maps free several
entries at once); small maps evict exactly the same keys (checked in the tests).
"""

from __future__ import annotations

from pybpf.abi import MapType
from pybpf.maps.hash import HashMap


class LruHashMap(HashMap):
    """BPF_MAP_TYPE_LRU_HASH."""

    map_types = (MapType.LRU_HASH,)
    lru = True
