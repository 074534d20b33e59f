"""A process as the symboliser needs it: its command name and executable mappings from /proc/PID/maps."""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mapping:
    """One executable mapping of a process: [start, end) holds `path` from file offset `offset`."""

    start: int
    end: int
    offset: int
    path: str  # "" for anonymous memory (JIT code)

    @property
    def is_file(self) -> bool:
        return self.path.startswith("/")


@dataclass
class Process:
    """A snapshot of a process taken while it lived: comm and executable mappings, sorted by address."""

    pid: int
    comm: str
    mappings: list[Mapping] = field(default_factory=list)
    all_mappings: list[Mapping] = field(default_factory=list)  # executable or not, for base addresses
    _starts: list[int] = field(default_factory=list, repr=False)

    def mapping_at(self, address: int) -> Mapping | None:
        if len(self._starts) != len(self.mappings):
            self._starts = [m.start for m in self.mappings]
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self.mappings[i].end:
            return self.mappings[i]
        return None

    def merge(self, older: Process) -> None:
        """Keep the mappings of an older snapshot that no current mapping overlaps."""
        starts = [n.start for n in self.mappings]  # sorted, non-overlapping
        for m in older.mappings:
            i = bisect.bisect_left(starts, m.end) - 1  # the last current mapping starting before m ends
            if i < 0 or self.mappings[i].end <= m.start:
                self.mappings.append(m)
        self.mappings.sort(key=lambda m: m.start)
        self._starts = []

    def file_path(self, mapping: Mapping) -> str:
        """A path under which this process's file is readable from here (its own mount namespace first)."""
        inside = f"/proc/{self.pid}/root{mapping.path}"
        return inside if os.path.exists(inside) else mapping.path

    def first_mapping(self, path: str) -> Mapping | None:
        """The lowest mapping of `path` (its base address); all mappings of the file are considered."""
        return next((m for m in self.all_mappings if m.path == path), None)


def parse_maps(text: str) -> tuple[list[Mapping], list[Mapping]]:
    """(executable mappings, those and each file's offset-0 mapping) from the text of /proc/PID/maps."""
    exec_maps, every = [], []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5 or ("x" not in parts[1] and parts[2].strip("0")):
            continue  # only executable mappings and the first of each file (its base address) matter
        lo, _, hi = parts[0].partition("-")
        try:
            m = Mapping(int(lo, 16), int(hi, 16), int(parts[2], 16), parts[5].strip() if len(parts) > 5 else "")
        except ValueError:
            continue
        every.append(m)
        if "x" in parts[1]:
            exec_maps.append(m)
    return exec_maps, every


def snapshot(pid: int) -> Process | None:
    """The process now, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
        with open(f"/proc/{pid}/maps") as f:
            text = f.read()
    except OSError:
        return None
    exec_maps, every = parse_maps(text)
    return Process(pid, comm, sorted(exec_maps, key=lambda m: m.start), every)
