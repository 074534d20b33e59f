"""Run policies: load the generated programs, attach them, seed the process cache, stream events.

    with Guard(load_policy_files(["policy.yaml"])) as guard:
        for event in guard.poll(1.0): print(event)

Lost events (ring buffer full) are counted by the kernel programs and read with `lost()`;
`metrics` (a prometheus_client registry) counts events by type and policy when requested.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from typing import Any, Self

from pybpf.guard.bind import BoundHook, bind_policies
from pybpf.guard.codegen import Generated, generate
from pybpf.guard.events import EventDecoder
from pybpf.guard.policy import TracingPolicy
from pybpf.guard.process import ProcessCache
from pybpf.kernel.held_command import HeldCommand


class GuardMetrics:
    """Prometheus counters in their own registry: events by type, policy events, lost, killed."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = CollectorRegistry()
        self.events = Counter("pybpf_guard_events", "Events posted to user space, by type", ["type"],
                              registry=self.registry)
        self.policy_events = Counter("pybpf_guard_policy_events", "Hook events by policy, hook and action",
                                     ["policy", "hook", "action"], registry=self.registry)
        self.lost = Gauge("pybpf_guard_lost_events", "Events the kernel could not post (ring buffer full)",
                          registry=self.registry)
        self.killed = Gauge("pybpf_guard_sigkills", "Processes sent SIGKILL by a policy",
                            registry=self.registry)

    def observe(self, event: dict[str, Any]) -> None:
        kind = next(k for k in event if k not in ("node_name", "time"))
        self.events.labels(kind).inc()
        body = event[kind]
        if "policy_name" in body:
            hook = f"{body['subsys']}/{body['event']}" if "subsys" in body else f"{body['path']}:{body['symbol']}"
            self.policy_events.labels(body["policy_name"], hook, body.get("action", "")).inc()

    def serve(self, listen: str) -> Any:
        """Serve /metrics on HOST:PORT in a background thread; returns the server (shutdown() stops it)."""
        from prometheus_client import start_http_server

        host, _, port = listen.rpartition(":")
        server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=self.registry)
        return server


class Guard:
    """Policies running in the kernel; iterate `poll()` for events."""

    def __init__(self, policies: Sequence[TracingPolicy], *, node_name: str | None = None,
                 metrics: GuardMetrics | None = None) -> None:
        self.policies = list(policies)
        self.hooks: list[BoundHook] = bind_policies(self.policies)
        self.generated: Generated = generate(self.hooks)
        self.cache = ProcessCache(node_name or socket.gethostname())
        self.decoder = EventDecoder(self.cache, self.hooks)
        self.metrics = metrics
        self.coll: Any = None
        self.links: list[Any] = []
        self.ring: Any = None

    def start(self) -> Self:
        from pybpf.guard.build import load_generated
        from pybpf.kernel import RingBuffer, attach_raw_tracepoint, attach_tracepoint, attach_uprobe

        self.coll = load_generated(self.generated)
        try:
            progs = self.coll.programs
            self.links.append(attach_tracepoint(progs["guard_exec"], "sched/sched_process_exec"))
            self.links.append(attach_raw_tracepoint(progs["guard_clone"], "sched_process_fork"))
            self.links.append(attach_tracepoint(progs["guard_exit"], "sched/sched_process_exit"))
            self.ring = RingBuffer(self.coll.maps["events"])
            self.cache.seed()
            self._seed_binaries()
            for h in self.hooks:
                prog = progs[f"hook{h.id}"]
                if h.hook.kind == "tracepoint":
                    self.links.append(attach_tracepoint(prog, h.hook.target))
                else:
                    self.links.append(attach_uprobe(prog, h.path, h.symbol))
        except BaseException:
            self.close()
            raise
        return self

    def _seed_binaries(self) -> None:
        """execve_map entries for running processes whose binary a matchBinaries names."""
        ids = self.generated.binary_ids
        if not ids:
            return
        emap = self.coll.maps["execve_map"]
        for p in list(self.cache.procs.values()):
            bid = ids.get(p.binary)
            if bid:
                emap[struct.pack("<I", p.pid)] = struct.pack("<QIIQ", p.ktime, bid, p.ppid, 0)

    def poll(self, timeout: float = 0.1) -> list[dict[str, Any]]:
        """Events available now, waiting up to `timeout` seconds for the first."""
        self.ring.wait(timeout)
        out = []
        for record in self.ring.read_available():
            event = self.decoder.decode(bytes(record))
            if event is not None:
                out.append(event)
                if self.metrics is not None:
                    self.metrics.observe(event)
        if self.metrics is not None:
            self.metrics.lost.set(self.lost())
            self.metrics.killed.set(self.killed())
        return out

    def _counter(self, index: int) -> int:
        if self.coll is None:
            return 0
        value = self.coll.maps["counters"][struct.pack("<I", 0)]
        return int(struct.unpack_from("<2Q", value)[index])

    def lost(self) -> int:
        """Events the kernel dropped because the ring buffer was full."""
        return self._counter(0)

    def killed(self) -> int:
        return self._counter(1)

    def close(self) -> None:
        for link in reversed(self.links):
            link.close()
        self.links = []
        if self.ring is not None:
            self.ring.close()
            self.ring = None
        if self.coll is not None:
            self.coll.close()
            self.coll = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class Command(HeldCommand):
    """A command started held: it execs only after release() (the hooks are attached by then)."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv, verb="guard")
