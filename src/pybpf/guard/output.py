"""Event output: JSON lines (Tetragon's export format) and `tetra getevents -o compact` lines."""

from __future__ import annotations

import json
from typing import Any


def maybe_quote(s: str) -> str:
    """Quote strings with spaces or unprintable characters, as tetra's compact encoder does."""
    if any(c == " " or not c.isprintable() for c in s):
        return json.dumps(s, ensure_ascii=False)
    return s


def to_json(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def to_compact(event: dict[str, Any]) -> str | None:
    """One compact line, or None for an event kind the compact encoder does not show."""
    node = maybe_quote(event.get("node_name", ""))
    if "process_exec" in event:
        p = event["process_exec"]["process"]
        return f"🚀 {'process':<7} {node} {maybe_quote(p['binary'])} {maybe_quote(p.get('arguments', ''))}".rstrip()
    if "process_exit" in event:
        e = event["process_exit"]
        p = e["process"]
        status = e.get("signal") or str(e.get("status", 0))
        return f"💥 {'exit':<7} {node} {maybe_quote(p['binary'])} {maybe_quote(p.get('arguments', ''))} {status}"
    if "process_tracepoint" in event:
        t = event["process_tracepoint"]
        return (f"⁉️ {'tracepoint':<7} {node} {maybe_quote(t['process']['binary'])} "
                f"{t['subsys']} {t['event']}")
    if "process_uprobe" in event:
        u = event["process_uprobe"]
        return (f"🕵️ {'uprobe':<7} {node} {maybe_quote(u['process']['binary'])} "
                f"{maybe_quote(u['path'])} {maybe_quote(u['symbol'])}")
    return None


def formatter(mode: str) -> Any:
    if mode == "json":
        return to_json
    if mode == "compact":
        return to_compact
    raise ValueError(mode)
