"""Output formats of `pybpf flows observe`, after `hubble observe -o compact|json|table|dict`."""

from __future__ import annotations

import datetime
import json
from typing import Any

from pybpf.flows.flow import DROP_REASON_TEXT, VERDICT_DROPPED, Flow

FORMATS = ("compact", "json", "table", "dict")
TABLE_COLUMNS = ("TIMESTAMP", "SOURCE", "DESTINATION", "TYPE", "VERDICT", "SUMMARY")
TABLE_WIDTHS = (20, 42, 42, 14, 10)


def stamp(flow: Flow) -> str:
    """Local time as Go's time.StampMilli: `Jan _2 15:04:05.000`."""
    t = datetime.datetime.fromtimestamp(flow.time_ns / 1e9)
    return f"{t:%b} {t.day:2d} {t:%H:%M:%S}.{t.microsecond // 1000:03d}"


def type_text(flow: Flow) -> str:
    """Hubble's TYPE column: the observation point, or the drop reason's text for a drop."""
    if flow.verdict == VERDICT_DROPPED:
        return DROP_REASON_TEXT.get(flow.drop_reason, flow.drop_reason_desc)
    return flow.event_subtype


def compact(flow: Flow) -> str:
    return (f"{stamp(flow)}: {flow.endpoint('source')} -> {flow.endpoint('destination')} "
            f"{type_text(flow)} {flow.verdict} ({flow.summary()})")


def as_json(flow: Flow) -> str:
    return json.dumps(flow.to_hubble(), separators=(",", ":"))


def table_row(flow: Flow) -> str:
    cells = (stamp(flow), flow.endpoint("source"), flow.endpoint("destination"), type_text(flow), flow.verdict)
    return "".join(c.ljust(w) for c, w in zip(cells, TABLE_WIDTHS, strict=True)) + flow.summary()


def table_header() -> str:
    return "".join(c.ljust(w) for c, w in zip(TABLE_COLUMNS, TABLE_WIDTHS, strict=False)) + TABLE_COLUMNS[-1]


def as_dict(flow: Flow) -> str:
    rows = (("TIMESTAMP", stamp(flow)), ("SOURCE", flow.endpoint("source")),
            ("DESTINATION", flow.endpoint("destination")), ("TYPE", type_text(flow)),
            ("VERDICT", flow.verdict), ("SUMMARY", flow.summary()))
    return "\n".join(f"{k:>11}: {v}" for k, v in rows) + "\n------------"


RENDER = {"compact": compact, "json": as_json, "table": table_row, "dict": as_dict}


def lost_events(count: int, source: str = "PERF_EVENT_RING_BUFFER", fmt: str = "compact") -> str:
    """A lost-events notice: Hubble's LostEvent as JSON, or one line of text."""
    if fmt == "json":
        doc: dict[str, Any] = {"lost_events": {"source": source, "num_events_lost": str(count)}}
        return json.dumps(doc, separators=(",", ":"))
    return f"EVENTS LOST: {source} {count}"
