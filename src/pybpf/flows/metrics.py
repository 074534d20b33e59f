"""Prometheus metrics of the flows, with Hubble's names and labels (via prometheus_client)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from pybpf.flows.flow import VERDICT_DROPPED, VERDICT_FORWARDED, Flow

LOST_PERF_RING = "perf_event_ring_buffer"    # lost in the kernel's ring buffer
LOST_OBSERVER_QUEUE = "observer_events_queue"  # a slow subscriber's queue overflowed


class FlowMetrics:
    """hubble_flows_processed_total, hubble_drop_total, hubble_tcp_flags_total, hubble_lost_events_total."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.flows = Counter("hubble_flows_processed", "Total number of flows processed",
                             ["type", "subtype", "verdict"], registry=self.registry)
        self.drops = Counter("hubble_drop", "Number of drops", ["reason", "protocol"], registry=self.registry)
        self.tcp_flags = Counter("hubble_tcp_flags", "TCP flag occurrences", ["flag", "family"],
                                 registry=self.registry)
        self.lost = Counter("hubble_lost_events", "Number of lost events", ["source"], registry=self.registry)
        self.lost.labels(LOST_PERF_RING)  # present (at 0) from the start: no loss is a fact to show

    def process(self, flow: Flow) -> None:
        """Count one flow the way Hubble's flow, drop and tcp handlers do."""
        self.flows.labels(flow.event_type, flow.event_subtype, flow.verdict).inc()
        if flow.verdict == VERDICT_DROPPED:
            self.drops.labels(flow.drop_reason_desc, flow.protocol_name).inc()
        elif flow.verdict == VERDICT_FORWARDED and flow.protocol == 6:
            family = f"IPv{flow.ip_version}"
            f = flow.tcp_flags
            if f & 0x01:
                self.tcp_flags.labels("FIN", family).inc()
            if f & 0x02:
                self.tcp_flags.labels("SYN-ACK" if f & 0x10 else "SYN", family).inc()
            if f & 0x04:
                self.tcp_flags.labels("RST", family).inc()

    def add_lost(self, count: int, source: str = LOST_PERF_RING) -> None:
        if count > 0:
            self.lost.labels(source).inc(count)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return bytes(generate_latest(self.registry))
