"""The profile as data: symbolised frames, stacks with counts, and the sampler's counters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MappingInfo:
    """Where a user frame's image was mapped (for pprof's Mapping message)."""

    start: int
    limit: int
    offset: int
    path: str
    build_id: str = ""


@dataclass(frozen=True)
class Frame:
    """One symbolised frame: kind is "user", "kernel" or "python"; module is the image, kernel module or file."""

    name: str
    module: str = ""
    kind: str = "user"
    address: int = 0
    mapping: MappingInfo | None = None

    @property
    def label(self) -> str:
        """The frame as flame graphs and folded stacks show it (kernel frames suffixed `_[k]`)."""
        if self.name == "[unknown]":
            base = f"[unknown in {self.module}]" if self.module else "[unknown]"
        else:
            base = self.name
        return f"{base}_[k]" if self.kind == "kernel" else base


@dataclass(frozen=True)
class Sample:
    """A distinct stack (root first) of one process, seen `count` times."""

    pid: int
    comm: str
    frames: tuple[Frame, ...]
    count: int


@dataclass
class Profile:
    """Samples of a profiling run, at `frequency` Hz of `event`, with the sampler's counters."""

    samples: list[Sample]
    frequency: int
    duration: float = 0.0
    event: str = "cpu-clock"
    stats: dict[str, int] = field(default_factory=dict)
    start_ns: int = 0

    @property
    def total(self) -> int:
        return sum(s.count for s in self.samples)

    @property
    def period_ns(self) -> int:
        return 1_000_000_000 // max(self.frequency, 1)

    def folded(self, *, with_comm: bool = True) -> Counter[str]:
        """Brendan Gregg's folded stacks: `comm;root;...;leaf` -> count."""
        out: Counter[str] = Counter()
        for s in self.samples:
            labels = [f.label.replace(";", ":") for f in s.frames]
            if with_comm:
                labels.insert(0, s.comm or str(s.pid))
            out[";".join(labels) or "[empty]"] += s.count
        return out

    def self_and_total(self) -> tuple[Counter[str], Counter[str]]:
        """Per function label: samples where it is the leaf (self) and where it is anywhere (total)."""
        own: Counter[str] = Counter()
        total: Counter[str] = Counter()
        for s in self.samples:
            if s.frames:
                own[s.frames[-1].label] += s.count
            for label in {f.label for f in s.frames}:
                total[label] += s.count
        return own, total
