"""Prometheus metrics from a running gadget's metric maps: one gauge per map, the key's fields as labels.

A map named in the manifest's `metrics` is read at every scrape; a struct key gives one label per
field, a scalar key the label `key`; integer values (or the sum of a per-CPU map's values) are
the samples, e.g. `pybpf_gadget_opensnoop_opens{key="1234"} 3`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import GaugeMetricFamily
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


class MapCollector(Collector):
    """Reads the gadget's metric maps at scrape time."""

    def __init__(self, gadget: str, maps: Mapping[str, Any], btf: Any) -> None:
        self.gadget = gadget
        self.maps = dict(maps)
        self.btf = btf

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from pybpf.btf.entries import map_dump

        for name, m in self.maps.items():
            dump = map_dump(m, self.btf) or {}
            rows = [e.get("formatted") for e in dump.get("entries", []) if e.get("formatted")]
            family: GaugeMetricFamily | None = None
            for row in rows:
                value = row.get("value")
                if value is None and "values" in row:
                    parts = [_sample(v.get("value")) for v in row["values"]]
                    value = sum(p for p in parts if p is not None)
                sample = _sample(value)
                if sample is None:
                    continue
                labels = _labels(row.get("key"))
                if family is None:
                    family = GaugeMetricFamily(_metric_name("pybpf_gadget", self.gadget, name),
                                               f"map {name} of gadget {self.gadget}", labels=sorted(labels))
                family.add_metric([labels[k] for k in sorted(labels)], sample)
            if family is not None:
                yield family


def serve(listen: str, gadget: str, maps: Mapping[str, Any], btf: Any) -> Any:
    """Serve /metrics on HOST:PORT for `maps`; returns the server (call .shutdown())."""
    from prometheus_client import start_http_server

    from pybpf.gadget.store import GadgetError

    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise GadgetError(f"--listen takes HOST:PORT, not {listen!r}")
    registry = CollectorRegistry()
    registry.register(MapCollector(gadget, maps, btf))
    try:
        server, _ = start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry)
    except OSError as exc:
        raise GadgetError(f"cannot listen on {listen}: {exc.strerror}") from None
    return server
