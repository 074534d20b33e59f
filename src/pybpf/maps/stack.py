"""BPF_MAP_TYPE_STACK: LIFO pop/peek over the queue's ring (layout and errors: pybpf.maps.queue).

push with BPF_EXIST on a full stack drops the OLDEST element (the bottom), as the kernel does.
"""

from __future__ import annotations

from pybpf.abi import MapType
from pybpf.maps.queue import QueueStackMap


class StackMap(QueueStackMap):
    """BPF_MAP_TYPE_STACK: pop and peek take the newest value."""

    map_types = (MapType.STACK,)
    lifo = True
