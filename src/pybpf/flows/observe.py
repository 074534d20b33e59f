"""`pybpf flows observe`: attach the datapath, then print the flows that pass the filters."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from pybpf.errors import LoadError
from pybpf.flows.datapath import DEFAULT_RING_SIZE, Datapath
from pybpf.flows.filters import FlowFilters
from pybpf.flows.flow import Flow
from pybpf.flows.observer import DEFAULT_BUFFER, Observer
from pybpf.flows.policy import load_policy
from pybpf.flows.render import FORMATS, RENDER, lost_events, table_header


@dataclass
class DatapathOptions:
    """What `observe` and `serve` share: where to attach, the policy, volume control."""

    interfaces: Sequence[str]
    netns: str | None = None
    policy: str | None = None
    aggregate: bool = False
    buffer_size: int = DEFAULT_BUFFER
    ring_size: int = DEFAULT_RING_SIZE
    node_name: str | None = None

    def datapath(self) -> Datapath:
        if self.buffer_size < 1:
            raise LoadError("--buffer-size must be at least 1")
        rules = load_policy(self.policy) if self.policy else []
        return Datapath(self.interfaces, netns=self.netns, policy=rules, aggregate=self.aggregate,
                        ring_size=self.ring_size, node_name=self.node_name)


@dataclass
class ObserveOptions(DatapathOptions):
    follow: bool = False
    duration: float | None = None
    last: int = 0
    output: str = "compact"
    filters: list[tuple[str, str, bool]] = field(default_factory=list)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set an event instead of raising mid-batch, so no flow read is dropped on exit."""
    stopping = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stopping
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stopping.set())
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def observe(opts: ObserveOptions, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run until --duration passes (or Ctrl-C); with --last N print only the last N flows at the end."""
    if opts.output not in FORMATS:
        raise LoadError(f"unknown output format {opts.output!r} (choose from {', '.join(FORMATS)})")
    if opts.duration is not None and opts.duration <= 0:
        raise LoadError("--duration must be a positive number of seconds")
    if opts.last < 0:
        raise LoadError("--last must be a positive number of flows")
    filters = FlowFilters.build(opts.filters)
    render = RENDER[opts.output]
    streaming = not opts.last or opts.follow
    with opts.datapath() as dp:
        observer = Observer(dp, buffer_size=max(opts.buffer_size, opts.last or 1))
        where = f" in netns {opts.netns}" if opts.netns else ""
        print(f"observing {', '.join(dp.interfaces)} (ingress, egress){where}"
              + (f" for {opts.duration:g}s" if opts.duration else "; Ctrl-C to stop"), file=err, flush=True)
        if opts.output == "table" and streaming:
            print(table_header(), file=out, flush=True)
        deadline = time.monotonic() + opts.duration if opts.duration else None

        def show(flows: list[Flow], lost_before: int) -> None:
            if streaming:
                for flow in flows:
                    if filters.matches(flow):
                        print(render(flow), file=out)
                if observer.lost_kernel > lost_before:
                    print(lost_events(observer.lost_kernel - lost_before, fmt=opts.output), file=out)
                out.flush()

        with stop_on_signals() as stopping:
            while not stopping.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                before = observer.lost_kernel
                show(observer.poll(0.2 if left is None else min(0.2, left)), before)
        before = observer.lost_kernel
        flows = observer.process(dp.read_available())
        observer.check_lost()
        show(flows, before)
        if not streaming:
            if opts.output == "table":
                print(table_header(), file=out)
            for flow in observer.recent(filters, opts.last):
                print(render(flow), file=out)
        if observer.lost_kernel:
            print(f"{observer.lost_kernel} events lost: the ring buffer was full", file=err)
        out.flush()
    return 0

