"""`pybpf lb replay`: run the balancer over a capture on an engine, keep what it transmits.

The JIT runs the whole capture through its native batch loop (chunks of packets per call);
the interpreter and the kernel (BPF_PROG_TEST_RUN) run packet by packet. Every engine starts
from the same freshly loaded maps and the same configuration, so their outputs are identical.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pybpf.abi import XdpAction
from pybpf.engine import Collection
from pybpf.hooks.pcap import CapturedPacket
from pybpf.lb.config import LbConfig
from pybpf.lb.control import Balancer
from pybpf.lb.program import PROGRAM, load

BATCH = 4096
ETH_MIN = 14


@dataclass
class Replay:
    """Per-packet verdicts and output packets of one replay, and how fast it ran."""

    engine: str
    verdicts: list[int] = field(default_factory=list)
    outputs: list[bytes] = field(default_factory=list)
    seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        """Packets per verdict name (XDP_TX, XDP_PASS, XDP_DROP, ...)."""
        counts = collections.Counter(verdict_name(v) for v in self.verdicts)
        return dict(sorted(counts.items()))

    @property
    def packets_per_second(self) -> float:
        return len(self.verdicts) / self.seconds if self.seconds else float("inf")

    def transmitted(self, packets: Sequence[CapturedPacket]) -> list[CapturedPacket]:
        """The XDP_TX packets, with the input's timestamps and the verdict as comment."""
        return [CapturedPacket(p.timestamp, out, f"packet {i + 1}: {verdict_name(v)}")
                for i, (p, v, out) in enumerate(zip(packets, self.verdicts, self.outputs,
                                                    strict=True))
                if v == XdpAction.TX]


def verdict_name(value: int) -> str:
    try:
        return f"XDP_{XdpAction(value).name}"
    except ValueError:
        return f"verdict {value}"


def run_packets(collection: Collection, engine: str, frames: Sequence[bytes]) -> tuple[
        list[int], list[bytes], float]:
    """Verdicts and output packets of `frames` through the loaded balancer."""
    program: Any = collection.programs[PROGRAM]
    verdicts: list[int] = []
    outputs: list[bytes] = []
    start = time.perf_counter()
    if engine == "jit":
        short = [i for i, f in enumerate(frames) if len(f) < ETH_MIN]
        if short:
            from pybpf.errors import BpfError

            raise BpfError(f"packet {short[0] + 1} is shorter than an Ethernet header")
        for base in range(0, len(frames), BATCH):
            result = program.run_batch(frames[base:base + BATCH], keep_output=True)
            verdicts.extend(result.retvals)
            outputs.extend(result.outputs or [])
    else:
        for frame in frames:
            r = program.run(frame)
            verdicts.append(r.retval)
            outputs.append(r.data_out or b"")
    return verdicts, outputs, time.perf_counter() - start


def replay(config: LbConfig, packets: Sequence[CapturedPacket], engine: str = "jit") -> Replay:
    """Load the balancer on `engine`, apply `config`, run every packet; the result and counters."""
    collection = load(config, engine)
    try:
        balancer = Balancer(collection.maps)
        balancer.apply(config)
        verdicts, outputs, seconds = _on_cpu0(engine, collection, [p.data for p in packets])
        return Replay(engine, verdicts, outputs, seconds, balancer.stats())
    finally:
        collection.close()


def _on_cpu0(engine: str, collection: Collection, frames: list[bytes]) -> tuple[
        list[int], list[bytes], float]:
    # BPF_PROG_TEST_RUN runs on the calling thread's CPU; per-CPU maps (the connection table)
    # then behave as on the user-space engines, which run as CPU 0.
    import os

    if engine != "kernel" or not hasattr(os, "sched_setaffinity"):
        return run_packets(collection, engine, frames)
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {0})
    except OSError:
        return run_packets(collection, engine, frames)
    try:
        return run_packets(collection, engine, frames)
    finally:
        os.sched_setaffinity(0, before)


__all__ = ["Replay", "replay", "run_packets", "verdict_name", "LbConfig"]
