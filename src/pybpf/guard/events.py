"""Decode the kernel's records (exec, clone, exit, hook) into events in Tetragon's JSON layout.

process_exec / process_exit / process_tracepoint / process_uprobe, each with the process and its
parent from the cache, `node_name` and `time`, as protojson prints Tetragon's GetEventsResponse
(snake_case names, 64-bit integers as strings, empty values left out).
"""

from __future__ import annotations

import base64
import signal
import struct
from collections.abc import Sequence
from typing import Any

from pybpf.guard.bind import BoundHook
from pybpf.guard.process import ProcessCache, rfc3339

EV_EXEC, EV_EXIT, EV_CLONE, EV_HOOK = 1, 2, 3, 4
FLAG_TRUNC_ARGS, FLAG_TRUNC_CWD, FLAG_ERROR_ARGS = 1, 2, 4
EXEC_HDR = struct.Struct("<6IQ4I")  # kind pid tid ppid uid flags ktime bin_len args_len cwd_len pad
EXEC_BINARY, EXEC_ARGS, EXEC_CWD = 48, 48 + 256, 48 + 256 + 1024
SMALL = struct.Struct("<4IQ")  # exit: kind pid tid exit_code ktime; clone: kind pid ppid pad ktime
HOOK_HDR = struct.Struct("<4IQ2I")  # kind hook pid tid ktime action selector
ACTION_NAMES = {1: "KPROBE_ACTION_POST", 3: "KPROBE_ACTION_SIGKILL", 5: "KPROBE_ACTION_OVERRIDE",
                9: "KPROBE_ACTION_NOPOST", 10: "KPROBE_ACTION_SIGNAL"}


def signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"SIG{num}"


def _cstr(data: bytes) -> str:
    return data.split(b"\0", 1)[0].decode(errors="replace")


class EventDecoder:
    """Turns ring buffer records into event dicts, keeping the process cache up to date."""

    def __init__(self, cache: ProcessCache, hooks: Sequence[BoundHook]) -> None:
        self.cache = cache
        self.hooks = {h.id: h for h in hooks}
        self.node = cache.node

    def _wrap(self, kind: str, body: dict[str, Any], ktime: int) -> dict[str, Any]:
        return {kind: body, "node_name": self.node, "time": rfc3339(self.cache.boot_ns + ktime)}

    def _with_parent(self, proc: Any, tid: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"process": proc.to_json(tid=tid)}
        parent = self.cache.parent_of(proc)
        if parent is not None:
            out["parent"] = parent.to_json()
        return out

    def decode(self, record: bytes) -> dict[str, Any] | None:
        """The event for one record (None for the cache-only clone records)."""
        kind = int.from_bytes(record[:4], "little")
        if kind == EV_EXEC:
            return self.exec(record)
        if kind == EV_EXIT:
            _, pid, tid, code, ktime = SMALL.unpack_from(record)
            proc = self.cache.get(pid)
            body = self._with_parent(proc)
            sig, status = code & 0x7F, (code >> 8) & 0xFF
            if sig:
                body["signal"] = signal_name(sig)
            if status:
                body["status"] = status
            body["time"] = rfc3339(self.cache.boot_ns + ktime)
            self.cache.on_exit(pid)
            return self._wrap("process_exit", body, ktime)
        if kind == EV_CLONE:
            _, pid, ppid, _, ktime = SMALL.unpack_from(record)
            self.cache.on_clone(pid=pid, ppid=ppid, ktime=ktime)
            return None
        if kind == EV_HOOK:
            return self.hook(record)
        return None

    def exec(self, record: bytes) -> dict[str, Any]:
        _, pid, tid, ppid, uid, flags, ktime, bin_len, args_len, cwd_len, _ = EXEC_HDR.unpack_from(record)
        binary = record[EXEC_BINARY:EXEC_BINARY + min(bin_len, 255)].decode(errors="replace")
        raw_args = record[EXEC_ARGS:EXEC_ARGS + min(args_len, 1024)]
        argv = [a.decode(errors="replace") for a in raw_args.rstrip(b"\0").split(b"\0")] if raw_args else []
        parts = [p.decode(errors="replace") for p in record[EXEC_CWD:EXEC_CWD + cwd_len].split(b"\0") if p]
        cwd = "/" + "/".join(reversed(parts))
        extra = [name for bit, name in ((FLAG_TRUNC_ARGS, "truncArgs"), (FLAG_ERROR_ARGS, "errorArgs"),
                                        (FLAG_TRUNC_CWD, "errorCWD")) if flags & bit]
        proc = self.cache.on_exec(pid=pid, ppid=ppid, uid=uid, ktime=ktime, binary=binary, argv=argv or [binary],
                                  cwd=cwd, flags=extra)
        return self._wrap("process_exec", self._with_parent(proc), ktime)

    def hook(self, record: bytes) -> dict[str, Any] | None:
        _, hid, pid, tid, ktime, action, _sel = HOOK_HDR.unpack_from(record)
        h = self.hooks.get(hid)
        if h is None:
            return None
        proc = self.cache.get(pid)
        body = self._with_parent(proc, tid)
        args = []
        for a in h.args:
            if a.kind == "int":
                (raw,) = struct.unpack_from("<q" if a.signed else "<Q", record, h.int_offset + 8 * a.slot)
                if a.json_key in ("long_arg", "size_arg"):
                    value: Any = str(raw)
                else:
                    value = raw if a.signed else raw & 0xFFFFFFFF
                arg: dict[str, Any] = {a.json_key: value}
            else:
                off = h.str_offset + 260 * a.slot
                nbits = int.from_bytes(record[off:off + 4], "little")
                data = record[off + 4:off + 4 + nbits // 8]
                if a.json_key == "bytes_arg":
                    size = struct.unpack_from("<Q", record, h.int_offset + 8 * a.size_slot)[0]
                    encoded = base64.b64encode(data).decode()
                    arg = ({"truncated_bytes_arg": {"bytes_arg": encoded, "orig_size": str(size)}}
                           if size > len(data) else {"bytes_arg": encoded})
                else:
                    arg = {"string_arg": data.decode(errors="replace")}
            if a.label:
                arg["label"] = a.label
            args.append(arg)
        hook = h.hook
        if hook.kind == "tracepoint":
            sub, event = hook.target.split("/", 1)
            body.update(subsys=sub, event=event)
            kind = "process_tracepoint"
        else:
            body.update(path=h.path, symbol=h.symbol)
            kind = "process_uprobe"
        if args:
            body["args"] = args
        body["policy_name"] = h.policy
        if kind == "process_tracepoint":
            body["action"] = ACTION_NAMES.get(action, "KPROBE_ACTION_UNKNOWN")
        if hook.message:
            body["message"] = hook.message
        if hook.tags:
            body["tags"] = list(hook.tags)
        return self._wrap(kind, body, ktime)
