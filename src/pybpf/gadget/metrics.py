"""Prometheus metrics from a running gadget's maps: a gauge or counter per metric map, a histogram per log2 map.

A map named in the manifest's `metrics` is read at every scrape; a struct key gives one label per
field, a scalar key the label `key`; integer values (or the sum of a per-CPU map's values) are
the samples, e.g. `pybpf_gadget_opensnoop_opens{key="1234"} 3` (a `type: counter` map gets the
`_total` suffix). A `histograms` map (u32 log2 slot -> u64 count, bpftrace's slots) becomes a
Prometheus histogram whose bucket bounds are the slots' upper ends: `le="0"`, `"1"`, `"3"`, `"7"`...
(slot 0, the negative values, is `le="-1"`); it has no `_sum`, which the map does not keep.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry


def _metric_name(*parts: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", "_".join(parts))


def _labels(key: Any) -> dict[str, str]:
    if isinstance(key, dict):
        return {_metric_name(k): str(v) for k, v in key.items()}
    return {"key": str(key)}


def _sample(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


def slot_upper_bound(slot: int) -> int:
    """The largest value bpftrace's log2 `slot` holds: -1 for the negatives, 0, then 2^(slot-1) - 1."""
    return -1 if slot == 0 else (1 << (slot - 1)) - 1


def histogram_samples(buckets: Mapping[int, int]) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs of log2 slot counts, ending with +Inf."""
    out: list[tuple[str, float]] = []
    total = 0
    for slot in range(max(buckets, default=0) + 1):
        total += buckets.get(slot, 0)
        out.append((str(slot_upper_bound(slot)), float(total)))
    out.append(("+Inf", float(total)))
    return out


class MapCollector(Collector):
    """Reads the gadget's metric and histogram maps at scrape time."""

    def __init__(self, gadget: str, maps: Mapping[str, Any], btf: Any,
                 kinds: Mapping[str, str] | None = None, histograms: Mapping[str, Any] | None = None) -> None:
        self.gadget = gadget
        self.maps = dict(maps)
        self.btf = btf
        self.kinds = dict(kinds or {})
        self.histograms = dict(histograms or {})

    def collect(self) -> Iterator[Metric]:
        from pybpf.btf.entries import map_dump
        from pybpf.gadget.summary import histogram_buckets

        for name, m in self.maps.items():
            family = self._family(name, (map_dump(m, self.btf) or {}).get("entries", []))
            if family is not None:
                yield family
        for name, m in self.histograms.items():
            family_name = _metric_name("pybpf_gadget", self.gadget, name)
            buckets = histogram_buckets(map_dump(m, self.btf) or {})
            yield HistogramMetricFamily(family_name, f"log2 histogram {name} of gadget {self.gadget}",
                                        buckets=histogram_samples(buckets))

    def _family(self, name: str, entries: list[dict[str, Any]]) -> Metric | None:
        family: GaugeMetricFamily | CounterMetricFamily | None = None
        for row in (e.get("formatted") for e in entries):
            if not row:
                continue
            value = row.get("value")
            if value is None and "values" in row:
                parts = [_sample(v.get("value")) for v in row["values"]]
                value = sum(p for p in parts if p is not None)
            sample = _sample(value)
            if sample is None:
                continue
            labels = _labels(row.get("key"))
            if family is None:
                kind = CounterMetricFamily if self.kinds.get(name) == "counter" else GaugeMetricFamily
                family = kind(_metric_name("pybpf_gadget", self.gadget, name),
                              f"map {name} of gadget {self.gadget}", labels=sorted(labels))
            family.add_metric([labels[k] for k in sorted(labels)], sample)
        return family


def serve(listen: str, gadget: str, maps: Mapping[str, Any], btf: Any,
          kinds: Mapping[str, str] | None = None, histograms: Mapping[str, Any] | None = None) -> Any:
    """Serve /metrics on HOST:PORT for `maps` and `histograms`; returns the server (call .shutdown())."""
    from prometheus_client import start_http_server

    from pybpf.gadget.store import GadgetError

    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise GadgetError(f"--listen takes HOST:PORT, not {listen!r}")
    registry = CollectorRegistry()
    registry.register(MapCollector(gadget, maps, btf, kinds, histograms))
    try:
        server, _ = start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry)
    except OSError as exc:
        raise GadgetError(f"cannot listen on {listen}: {exc.strerror}") from None
    return server
