"""The observer: datapath events -> is_reply, metrics, a bounded buffer of recent flows, live subscribers.

`poll()` drives it from the caller's loop (`pybpf flows observe`); `start()` runs the same loop
in a thread (`pybpf flows serve`). Loss is counted, never silent: events the kernel's ring buffer
had no room for (the datapath's `lost` counter) and flows a slow subscriber's queue could not
hold both go to hubble_lost_events_total.
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from pybpf.flows.filters import FlowFilters
from pybpf.flows.flow import VERDICT_DROPPED, Flow
from pybpf.flows.metrics import LOST_OBSERVER_QUEUE, LOST_PERF_RING, FlowMetrics
from pybpf.flows.replies import ReplyTracker

DEFAULT_BUFFER = 4095  # Hubble's default ring of recent flows


class FlowSource(Protocol):
    def read(self, timeout: float | None = 0.0) -> list[Flow]: ...
    def stats(self) -> dict[str, int]: ...


class Subscription:
    """A live feed of flows for one client: a bounded queue; what does not fit is counted as lost."""

    def __init__(self, filters: FlowFilters | None = None, size: int = 10000) -> None:
        self.filters = filters or FlowFilters()
        self.queue: queue.Queue[Flow] = queue.Queue(maxsize=size)
        self.lost = 0

    def offer(self, flow: Flow) -> bool:
        if not self.filters.matches(flow):
            return True
        try:
            self.queue.put_nowait(flow)
            return True
        except queue.Full:
            self.lost += 1
            return False

    def drain(self, limit: int = 1000) -> list[Flow]:
        out: list[Flow] = []
        while len(out) < limit:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return out


class Observer:
    """Everything above the datapath that `observe` and `serve` share."""

    def __init__(self, source: FlowSource, *, buffer_size: int = DEFAULT_BUFFER,
                 names: Mapping[str, str] | None = None, metrics: FlowMetrics | None = None) -> None:
        if buffer_size < 1:
            raise ValueError("the flow buffer holds at least one flow")
        self.source = source
        self.buffer: collections.deque[Flow] = collections.deque(maxlen=buffer_size)
        self.names = dict(names or {})
        self.metrics = metrics if metrics is not None else FlowMetrics()
        self.replies = ReplyTracker()
        self.total = 0
        self.lost_kernel = 0
        self.lost_subscribers = 0
        self._edges: dict[tuple[str, str], dict[str, Any]] = {}
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.error: BaseException | None = None

    # --- ingestion -------------------------------------------------------------------------
    def process(self, flows: Iterable[Flow]) -> list[Flow]:
        """Classify, count, buffer and publish flows; returns them."""
        out = []
        with self._lock:
            for flow in flows:
                flow.is_reply = self.replies.classify(flow)
                self.metrics.process(flow)
                self.buffer.append(flow)
                self.total += 1
                self._add_edge(flow)
                for sub in self._subscribers:
                    if not sub.offer(flow):
                        self.lost_subscribers += 1
                        self.metrics.add_lost(1, LOST_OBSERVER_QUEUE)
                out.append(flow)
        return out

    def check_lost(self) -> int:
        """Newly lost kernel events since the last check (also added to the metrics)."""
        lost = self.source.stats()["lost"]
        new = lost - self.lost_kernel
        if new > 0:
            self.lost_kernel = lost
            self.metrics.add_lost(new, LOST_PERF_RING)
        return max(new, 0)

    def poll(self, timeout: float | None = 0.1) -> list[Flow]:
        """Read what the datapath has (waiting up to `timeout`), process it and return it."""
        flows = self.process(self.source.read(timeout))
        self.check_lost()
        return flows

    # --- background loop -------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pybpf-flows-observer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.poll(0.1)
        except BaseException as exc:  # noqa: BLE001 - reported through .error, the server shows it
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None

    # --- queries ---------------------------------------------------------------------------
    def recent(self, filters: FlowFilters | Callable[[Flow], bool] | None = None, last: int = 0) -> list[Flow]:
        """Flows in the buffer (oldest first) that pass `filters`; only the `last` N when N > 0."""
        with self._lock:
            flows = list(self.buffer)
        if filters is not None:
            flows = [f for f in flows if filters(f)]
        return flows[-last:] if last > 0 else flows

    def subscribe(self, filters: FlowFilters | None = None, size: int = 10000) -> Subscription:
        sub = Subscription(filters, size)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def name(self, ip: str) -> str:
        return self.names.get(ip, ip)

    def _add_edge(self, flow: Flow) -> None:
        # replies are drawn on their request's edge: client -> server, as a service map shows them
        client, server = (flow.destination, flow.source) if flow.is_reply else (flow.source, flow.destination)
        edge = self._edges.get((client, server))
        if edge is None:
            edge = self._edges[(client, server)] = {"forwarded": 0, "dropped": 0, "ports": set(),
                                                    "protocols": set()}
        edge["dropped" if flow.verdict == VERDICT_DROPPED else "forwarded"] += 1
        edge["protocols"].add(flow.protocol_name)
        if flow.has_ports:
            edge["ports"].add(flow.source_port if flow.is_reply else flow.destination_port)

    def service_map(self) -> dict[str, Any]:
        """Nodes (endpoints, named by --name) and edges (client -> server) with counts by verdict."""
        with self._lock:
            edges = [(k, dict(v, ports=sorted(v["ports"]), protocols=sorted(v["protocols"])))
                     for k, v in self._edges.items()]
        nodes: dict[str, dict[str, Any]] = {}
        out_edges = []
        for (client, server), e in edges:
            for ip in (client, server):
                nodes.setdefault(ip, {"id": ip, "ip": ip, "name": self.name(ip)})
            verdict = "DROPPED" if e["dropped"] and not e["forwarded"] else (
                "MIXED" if e["dropped"] else "FORWARDED")
            out_edges.append({"source": client, "target": server, "forwarded": e["forwarded"],
                              "dropped": e["dropped"], "ports": e["ports"], "protocols": e["protocols"],
                              "verdict": verdict})
        return {"nodes": sorted(nodes.values(), key=lambda n: n["id"]), "edges": out_edges}

    def status(self) -> dict[str, Any]:
        stats = self.source.stats()
        return {"flows": self.total, "buffered": len(self.buffer), "buffer_size": self.buffer.maxlen,
                "subscribers": len(self._subscribers),
                "lost_events": {"kernel": stats["lost"], "subscribers": self.lost_subscribers},
                "datapath": stats}
