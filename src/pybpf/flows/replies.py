"""is_reply for flows without kernel conntrack: TCP handshake flags, ICMP echo types, first-seen direction."""

from __future__ import annotations

from collections import OrderedDict

from pybpf.flows.flow import Flow

ECHO_REQUESTS = {(1, 8), (58, 128)}
ECHO_REPLIES = {(1, 0), (58, 129)}
Key = tuple[int, str, int, str, int]


class ReplyTracker:
    """Remembers which way each connection was first seen (bounded, oldest forgotten first)."""

    def __init__(self, size: int = 65536) -> None:
        self.size = size
        self._dir: OrderedDict[Key, bool] = OrderedDict()

    def _remember(self, key: Key, is_reply: bool) -> None:
        rev = (key[0], key[3], key[4], key[1], key[2])
        for k, value in ((key, is_reply), (rev, not is_reply)):
            self._dir[k] = value
            self._dir.move_to_end(k)
        while len(self._dir) > self.size:
            self._dir.popitem(last=False)

    def classify(self, flow: Flow) -> bool | None:
        """True for a reply, False for a request/original direction, None when it cannot be told."""
        if flow.protocol in (1, 58):
            kind = (flow.protocol, flow.icmp_type)
            if kind in ECHO_REQUESTS:
                return False
            if kind in ECHO_REPLIES:
                return True
            return None
        key = (flow.protocol, flow.source, flow.source_port, flow.destination, flow.destination_port)
        if flow.protocol == 6 and flow.tcp_flags & 0x02:  # SYN: the handshake says who started
            self._remember(key, bool(flow.tcp_flags & 0x10))
            return bool(flow.tcp_flags & 0x10)
        known = self._dir.get(key)
        if known is None:
            self._remember(key, False)
            return False
        self._dir.move_to_end(key)
        return known
