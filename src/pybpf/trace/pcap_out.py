"""skboutput(): packets that probes send through bpf_skb_output, written to pcap files (dpkt's writer)."""

from __future__ import annotations

import time
from typing import Any

from pybpf.trace.compiled import Event

RECORD = 16  # the probe's record before the packet bytes: event id, bpf_ktime_get_ns()


class SkbWriter:
    """Reads the skb perf event array and appends each packet to the pcap file its skboutput() names."""

    def __init__(self, perf_map: Any, events: list[Event]) -> None:
        from pybpf.kernel.perfbuf import PerfBuffer

        self.events = events
        self.files: dict[str, Any] = {}
        self.writers: dict[str, Any] = {}
        self.buffer = PerfBuffer(perf_map)

    def writer(self, path: str) -> Any:
        if path not in self.writers:
            import dpkt

            self.files[path] = open(path, "wb")  # noqa: SIM115 - closed in close()
            self.writers[path] = dpkt.pcap.Writer(self.files[path], linktype=dpkt.pcap.DLT_EN10MB, nano=True)
        return self.writers[path]

    def drain(self) -> None:
        for sample in self.buffer.read_available():
            if len(sample) < RECORD:
                continue
            index = int.from_bytes(sample[:8], "little")
            if index >= len(self.events) or self.events[index].kind != "skboutput":
                continue
            ktime = int.from_bytes(sample[8:16], "little")
            wall = time.time() - (time.monotonic_ns() - ktime) / 1e9
            self.writer(self.events[index].fmt).writepkt(sample[RECORD:], ts=wall)

    def close(self) -> None:
        self.drain()
        for f in self.files.values():
            f.close()
        self.buffer.close()
