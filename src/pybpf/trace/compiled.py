"""A compiled script as the runtime needs it: the collection, probes, event records and map descriptions.

Kept free of the compiler's own modules so that a cached compilation loads without importing them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pybpf.object.spec import CollectionSpec
from pybpf.trace.errors import TraceError
from pybpf.trace.probes import ConcreteProbe
from pybpf.trace.types import MapInfo, Type

JOIN_ARGS = 16
EVENTS_MAP = "events"
LOST_MAP = "lost"
JOIN_MAP = "join_buf"
STACKS_MAP = "stacks"
START_MAP = "start_ns"
SKB_MAP = "skb_events"  # skboutput(): a perf event array of packets


@dataclass
class Event:
    """A record kind sent to user space: printf/exit/print/clear/zero/time/join/print_value."""

    kind: str
    fmt: str = ""
    types: list[Type] = field(default_factory=list)
    map_name: str = ""
    args: tuple[int, ...] = ()


@dataclass
class Program:
    """What the code generator shares between probes: maps (name -> kernel map name), events, constants."""

    maps: dict[str, MapInfo]
    map_names: dict[str, str]
    events: list[Event] = field(default_factory=list)
    start_ns: int = 0
    uses_user_symbols: bool = False
    cpid: int = 0
    cpid_sites: list[tuple[str, int]] = field(default_factory=list)  # (program, insn index) loading cpid

    def event(self, ev: Event) -> int:
        self.events.append(ev)
        return len(self.events) - 1


@dataclass
class CompiledProbe:
    name: str  # program name in the collection
    probe: ConcreteProbe
    source: Any  # the ast.Probe it came from (None in a compilation loaded from the cache)


@dataclass
class CompiledScript:
    """Everything the runtime needs: the collection to load, the probes to attach, maps and events."""

    script: Any  # the ast.Script (None in a compilation loaded from the cache)
    spec: CollectionSpec
    program: Program
    probes: list[CompiledProbe] = field(default_factory=list)
    warnings: list[TraceError] = field(default_factory=list)
    missing_probes: str = "error"  # what to do with a probe that fails to attach: error, warn or ignore

    @property
    def attach_count(self) -> int:
        return len(self.probes)
