"""What a gadget prints when it stops: its metric maps as key/value lines, its log2 histograms as bpftrace does.

A histogram map holds one u64 count per slot, the slot being bpftrace's log2 bucket (1 for 0,
k + 2 for [2^k, 2^(k+1)), 0 for negatives); the bars and labels are pybpf.trace's printer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _value(v: Any) -> Any:
    if isinstance(v, dict) and "values" in v:  # per-CPU: the sum
        return sum(x.get("value") or 0 for x in v["values"])
    return v.get("value") if isinstance(v, dict) else v


def histogram_buckets(dump: Mapping[str, Any]) -> dict[int, int]:
    """slot -> count of a histogram map's dump (empty slots left out)."""
    out: dict[int, int] = {}
    for e in dump.get("entries", []):
        row = e.get("formatted") or {}
        key, value = row.get("key"), _value(row)
        if isinstance(key, int) and isinstance(value, int) and value:
            out[key] = out.get(key, 0) + value
    return out


def histogram_text(name: str, dump: Mapping[str, Any]) -> str:
    """`@name:` and the bars, as bpftrace prints a hist() map."""
    from pybpf.trace.output import bars, hist_label

    return f"@{name}: \n{bars(histogram_buckets(dump), hist_label)}"


def summary_lines(config: Mapping[str, Any], dumps: Mapping[str, Any], output: str) -> list[str]:
    """The lines printed after the events: metrics (JSON lines with -o json), then histograms."""
    histograms = {m["map"] for m in config.get("histograms", [])}
    lines: list[str] = []
    for name, dump in dumps.items():
        dump = dump or {}
        if name in histograms:
            if output == "json":
                from pybpf.trace.output import hist_bucket

                buckets = histogram_buckets(dump)
                lines.append(json.dumps({"histogram": name, "buckets": [
                    {"slot": k, **hist_bucket(k, buckets[k])} for k in sorted(buckets)]}))
            else:
                lines.append("")
                lines.extend(histogram_text(name, dump).rstrip("\n").split("\n"))
            continue
        rows = [e.get("formatted") or {"key": e.get("key"), "value": e.get("value")} for e in dump.get("entries", [])]
        if output == "json":
            lines.append(json.dumps({"metric": name, "entries": rows}, default=str))
        else:
            lines.append(f"\n{name}:")
            lines.extend(f"  {json.dumps(r['key'])}: {json.dumps(_value(r))}" for r in rows)
    return lines
