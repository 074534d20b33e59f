"""Text for people: counters as a table, and one line per replayed packet."""

from __future__ import annotations

from typing import Any

from pybpf.errors import BpfError
from pybpf.hooks.packets import parse


def stats_text(stats: dict[str, Any]) -> str:
    """Per-VIP and per-real packets/bytes, then the global counters that are not zero."""
    lines = [f"{'VIP':<32} {'packets':>12} {'bytes':>14}"]
    for v in stats["vips"]:
        lines.append(f"{v['vip']:<32} {v['packets']:>12} {v['bytes']:>14}")
    lines.append(f"{'real':<32} {'packets':>12} {'bytes':>14}")
    for r in stats["reals"]:
        lines.append(f"{r['real']:<32} {r['packets']:>12} {r['bytes']:>14}")
    shown = [f"{k}={v}" for k, v in stats["global"].items() if v]
    lines.append("global: " + (" ".join(shown) if shown else "all zero"))
    return "\n".join(lines)


def describe_packet(data: bytes) -> str:
    """A frame in one line; an IPIP/IPv6-in-IPv6 frame as `outer src -> real: inner`."""
    try:
        p = parse(data)
        if p.proto in (4, 41) and p.ip_version is not None:
            inner_type = b"\x08\x00" if p.proto == 4 else b"\x86\xdd"
            inner = parse(bytes(12) + inner_type + p.payload)
            return f"IPIP {p.src} -> {p.dst}: {inner.describe()}"
        return p.describe()
    except BpfError:
        return f"{len(data)} bytes (not parsed)"


def packet_lines(verdicts: list[int], inputs: list[bytes], outputs: list[bytes]) -> list[str]:
    from pybpf.lb.replay import verdict_name

    lines = []
    for i, (v, data, out) in enumerate(zip(verdicts, inputs, outputs, strict=True), start=1):
        name = verdict_name(v)
        shown = describe_packet(out if name == "XDP_TX" else data)
        lines.append(f"{i:>6} {name:<9} {shown}")
    return lines
