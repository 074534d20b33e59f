"""The process cache: every process guard knows of, with Tetragon's fields, seeded from /proc.

Tetragon identifies a process execution by `exec_id`, base64 of "NODE:KTIME:PID" where KTIME is
the execution's start in nanoseconds since boot; `parent_exec_id` links it to its parent's. The
cache is fed by the kernel's exec, clone and exit records and seeded from /proc at start (those
entries carry the `procFS` flag, as in Tetragon).
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass, replace
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def boot_wall_ns() -> int:
    """Wall-clock time of boot in ns: bpf_ktime_get_boot_ns() + this = the wall clock."""
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def rfc3339(ns: int) -> str:
    """Like protojson's Timestamp: UTC, 0/3/6/9 fractional digits, Z."""
    secs, frac = divmod(ns, 10**9)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac == 0:
        return base + "Z"
    digits = f"{frac:09d}"
    for n in (3, 6):
        if digits[n:] == "0" * (9 - n):
            digits = digits[:n]
            break
    return f"{base}.{digits}Z"


def make_exec_id(node: str, ktime: int, pid: int) -> str:
    return base64.b64encode(f"{node}:{ktime}:{pid}".encode()).decode()


def join_arguments(argv: list[str]) -> str:
    """Tetragon's `arguments`: argv[1:] separated by spaces, an argument with spaces quoted."""
    return " ".join(f'"{a}"' if (" " in a or not a) else a for a in argv[1:])


@dataclass
class Process:
    pid: int
    uid: int
    cwd: str
    binary: str
    arguments: str
    ktime: int
    exec_id: str
    parent_exec_id: str
    ppid: int
    flags: str
    start_ns: int  # wall clock
    tid: int = 0

    def to_json(self, *, tid: int | None = None) -> dict[str, Any]:
        """The process as Tetragon's JSON shows it (protojson: empty strings left out); a fresh dict."""
        cached = self.__dict__.get("_json")
        if cached is None or cached[0] != self.parent_exec_id:
            cached = (self.parent_exec_id, self._json())
            self.__dict__["_json"] = cached
        out = dict(cached[1])
        if tid is not None:
            out["tid"] = tid
        return out

    def _json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"exec_id": self.exec_id, "pid": self.pid, "uid": self.uid}
        if self.cwd:
            out["cwd"] = self.cwd
        out["binary"] = self.binary
        if self.arguments:
            out["arguments"] = self.arguments
        out["flags"] = self.flags
        out["start_time"] = rfc3339(self.start_ns)
        if self.parent_exec_id:
            out["parent_exec_id"] = self.parent_exec_id
        return out


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _link(path: str) -> str:
    try:
        return os.readlink(path).removesuffix(" (deleted)")
    except OSError:
        return ""


class ProcessCache:
    """pid -> Process, kept current by the kernel's lifecycle records."""

    def __init__(self, node_name: str, boot_ns: int | None = None) -> None:
        self.node = node_name
        self.boot_ns = boot_wall_ns() if boot_ns is None else boot_ns
        self.procs: dict[int, Process] = {}

    def from_proc(self, pid: int) -> Process | None:
        """One process read from /proc (None if it is gone or a kernel thread)."""
        stat = _read(f"/proc/{pid}/stat")
        cmdline = _read(f"/proc/{pid}/cmdline")
        if stat is None or not cmdline:
            return None
        try:
            fields = stat[stat.rindex(b")") + 2:].split()
            ppid, start_ticks = int(fields[1]), int(fields[19])
        except (ValueError, IndexError):
            return None
        uid = 0
        status = _read(f"/proc/{pid}/status") or b""
        for line in status.splitlines():
            if line.startswith(b"Uid:"):
                parts = line.split()
                uid = int(parts[2]) if len(parts) > 2 else 0  # the effective uid
        argv = [a.decode(errors="replace") for a in cmdline.rstrip(b"\0").split(b"\0")]
        ktime = start_ticks * (10**9 // CLK_TCK)
        return Process(pid=pid, uid=uid, cwd=_link(f"/proc/{pid}/cwd"), binary=_link(f"/proc/{pid}/exe") or argv[0],
                       arguments=join_arguments(argv), ktime=ktime, exec_id=make_exec_id(self.node, ktime, pid),
                       parent_exec_id="", ppid=ppid, flags="procFS", start_ns=self.boot_ns + ktime)

    def seed(self) -> int:
        """Every process of /proc into the cache; returns how many."""
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) not in self.procs:
                p = self.from_proc(int(name))
                if p is not None:
                    self.procs[p.pid] = p
        for p in self.procs.values():
            parent = self.procs.get(p.ppid)
            if parent is not None and not p.parent_exec_id:
                p.parent_exec_id = parent.exec_id
        return len(self.procs)

    def get(self, pid: int) -> Process:
        """The cached process, else one read from /proc now, else a stub flagged `unknown`."""
        p = self.procs.get(pid)
        if p is None:
            p = self.from_proc(pid)
            if p is None:
                ktime = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
                p = Process(pid, 0, "", "", "", ktime, make_exec_id(self.node, ktime, pid), "", 0, "unknown",
                            self.boot_ns + ktime)
            else:
                parent = self.procs.get(p.ppid)
                p.parent_exec_id = parent.exec_id if parent else ""
            self.procs[pid] = p
        return p

    def parent_of(self, p: Process) -> Process | None:
        return self.procs.get(p.ppid) if p.ppid else None

    def on_exec(self, *, pid: int, ppid: int, uid: int, ktime: int, binary: str, argv: list[str], cwd: str,
                flags: list[str]) -> Process:
        old = self.procs.get(pid)
        parent = self.procs.get(ppid) or (self.get(ppid) if ppid else None)
        if binary and not binary.startswith("/"):
            binary = os.path.normpath(os.path.join(cwd or "/", binary))
        all_flags = ["execve"] + (["rootcwd"] if cwd == "/" else []) + (["clone"] if old is None or
                                                                         "clone" in old.flags else [])
        p = Process(pid=pid, uid=uid, cwd=cwd, binary=binary, arguments=join_arguments(argv), ktime=ktime,
                    exec_id=make_exec_id(self.node, ktime, pid),
                    parent_exec_id=parent.exec_id if parent else "", ppid=ppid,
                    flags=" ".join(all_flags + flags), start_ns=self.boot_ns + ktime)
        self.procs[pid] = p
        return p

    def on_clone(self, *, pid: int, ppid: int, ktime: int) -> Process:
        parent = self.get(ppid)
        child = replace(parent, pid=pid, ktime=ktime, exec_id=make_exec_id(self.node, ktime, pid),
                        parent_exec_id=parent.exec_id, ppid=ppid, flags="clone", start_ns=self.boot_ns + ktime)
        self.procs[pid] = child
        return child

    def on_exit(self, pid: int) -> Process:
        p = self.get(pid)
        self.procs.pop(pid, None)
        return p
