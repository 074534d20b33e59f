"""Compact lines as `tetra getevents -o compact` prints them, and JSON lines."""

from __future__ import annotations

import json

from pybpf.guard.output import maybe_quote, to_compact, to_json
from pybpf.guard.process import join_arguments, make_exec_id, rfc3339

PROC = {"exec_id": "x", "pid": 7, "uid": 0, "binary": "/usr/bin/cat", "arguments": "/etc/passwd",
        "flags": "execve", "start_time": "2026-01-01T00:00:00Z"}


def test_compact_lines() -> None:
    assert to_compact({"process_exec": {"process": PROC}, "node_name": "host", "time": "t"}) == \
        "🚀 process host /usr/bin/cat /etc/passwd"
    assert to_compact({"process_exit": {"process": PROC, "signal": "SIGKILL"}, "node_name": "host"}) == \
        "💥 exit    host /usr/bin/cat /etc/passwd SIGKILL"
    assert to_compact({"process_exit": {"process": PROC, "status": 3}, "node_name": "host"}) == \
        "💥 exit    host /usr/bin/cat /etc/passwd 3"
    assert to_compact({"process_exit": {"process": PROC}, "node_name": "host"}) == \
        "💥 exit    host /usr/bin/cat /etc/passwd 0"
    tp = {"process": PROC, "subsys": "syscalls", "event": "sys_enter_openat"}
    assert to_compact({"process_tracepoint": tp, "node_name": "host"}) == \
        "⁉️ tracepoint host /usr/bin/cat syscalls sys_enter_openat"
    up = {"process": PROC, "path": "/lib/libc.so.6", "symbol": "chdir"}
    assert to_compact({"process_uprobe": up, "node_name": "host"}) == \
        "🕵️ uprobe  host /usr/bin/cat /lib/libc.so.6 chdir"


def test_quoting_and_arguments() -> None:
    assert maybe_quote("a b") == '"a b"'
    assert maybe_quote("plain") == "plain"
    assert maybe_quote("bell\a") == '"bell\\u0007"'
    assert join_arguments(["sh", "-c", "echo hi", ""]) == '-c "echo hi" ""'


def test_exec_id_and_time() -> None:
    assert make_exec_id("node", 123, 45) == "bm9kZToxMjM6NDU="  # base64 of "node:123:45"
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1_500_000_000) == "1970-01-01T00:00:01.500Z"
    assert rfc3339(1_000_001_000) == "1970-01-01T00:00:01.000001Z"
    assert rfc3339(1_000_000_001) == "1970-01-01T00:00:01.000000001Z"
    assert json.loads(to_json({"a": "é"})) == {"a": "é"}
