"""Running a compiled script: load, attach, BEGIN, event loop (printf, exit, print...), END, map printing."""

from __future__ import annotations

import signal
import struct
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from pybpf.errors import BpfError
from pybpf.kernel.held_command import HeldCommand
from pybpf.trace.compiled import (
    EVENTS_MAP,
    JOIN_ARGS,
    LOST_MAP,
    SKB_MAP,
    STACKS_MAP,
    START_MAP,
    CompiledProbe,
    CompiledScript,
    Event,
)
from pybpf.trace.launch import attaching_line
from pybpf.trace.output import (
    cstr,
    decode_value,
    format_printf,
    json_line,
    map_json,
    map_text,
    value_text,
)
from pybpf.trace.symbols import Symbolizer
from pybpf.trace.types import STRLEN

if TYPE_CHECKING:
    from pybpf.trace.launch import Launched


def _alive(pid: int) -> bool:
    """True while process `pid` runs (a zombie waiting for its parent counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class Child(HeldCommand):
    """A command started stopped: it execs only when release() is called (probes attached by then)."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv, verb="trace")


def _plan(ev: Event) -> tuple[struct.Struct, int, list[tuple[int, Any]]]:
    """A struct layout for an event's arguments, and which of them need text decoding."""
    fmt = "<"
    kinds: list[tuple[int, Any]] = []
    for i, t in enumerate(ev.types):
        if t.kind == "int":
            fmt += "Q"
        else:
            fmt += f"{t.storage}s"
            kinds.append((i, None if t.kind == "str" else t))
    layout = struct.Struct(fmt)
    return layout, layout.size, kinds


class TraceRun:
    """One execution of a compiled script against the kernel."""

    def __init__(self, compiled: CompiledScript, out: TextIO | None = None, *, json_mode: bool = False,
                 pid: int | None = None) -> None:
        self.c = compiled
        self.out = out or sys.stdout
        self.json = json_mode
        self.pid = pid
        self.stop = False
        self.coll: Any = None
        self.links: list[Any] = []
        self.attached: list[CompiledProbe] = []  # the probe of each link
        self.attached_at: float = 0.0
        self.child: HeldCommand | None = None
        self.sym = Symbolizer()
        self.lost = 0
        self._plans: dict[int, tuple[struct.Struct, int, list[tuple[int, Any]]]] = {}

    def write(self, text: str) -> None:
        self.out.write(text)

    # -- attaching ---------------------------------------------------------------------------
    def attach(self, cp: CompiledProbe) -> Any:
        from pybpf.trace.attach import attach_probe

        pid = self.pid or (self.child.pid if self.child is not None else 0)
        return attach_probe(self.coll.programs[cp.name], cp.probe, self.pid or 0, pid)

    # -- events ------------------------------------------------------------------------------
    def handle(self, record: bytes) -> None:
        if len(record) < 8:
            return
        index = int.from_bytes(record[:8], "little")
        if index >= len(self.c.program.events):
            return
        ev = self.c.program.events[index]
        body = record[8:]
        kind = ev.kind
        if kind == "printf":
            text = format_printf(ev.fmt, self._values(ev, body))
            self.write(json_line("printf", text) if self.json else text)
        elif kind == "exit":
            self.stop = True
        elif kind == "cat":
            path = format_printf(ev.fmt, self._values(ev, body))
            try:
                with open(path, errors="replace") as f:
                    text = f.read()
            except OSError as exc:
                text = f"{path}: {exc.strerror}\n"
            self.write(json_line("cat", text) if self.json else text)
        elif kind == "system":
            import subprocess

            command = format_printf(ev.fmt, self._values(ev, body))
            self.out.flush()
            text = subprocess.run(command, shell=True, capture_output=True, text=True, check=False).stdout
            self.write(json_line("system", text) if self.json else text)
        elif kind == "time":
            text = time.strftime(ev.fmt)
            self.write(json_line("time", text) if self.json else text)
        elif kind == "print_value":
            v = self._values(ev, body)[0]
            self.write(json_line("value", v) if self.json else f"{v}\n")
        elif kind == "join":
            args = [cstr(body[i * STRLEN:(i + 1) * STRLEN]) for i in range(JOIN_ARGS)]
            words = []
            for a in args:
                if not a:
                    break
                words.append(a)
            text = ev.fmt.join(words)
            self.write(json_line("join", text) if self.json else text + "\n")
        elif kind == "print":
            self.print_map(ev.map_name, *ev.args[:2])
        elif kind in ("clear", "zero"):
            self.clear_map(ev.map_name, zero=kind == "zero")

    def _values(self, ev: Event, body: bytes) -> list[Any]:
        """The arguments of an event record: ints, strings (up to the NUL), symbolized stacks/symbols."""
        plan = self._plans.get(id(ev))
        if plan is None:
            plan = self._plans[id(ev)] = _plan(ev)
        layout, size, kinds = plan
        if len(body) < size:
            body = body.ljust(size, b"\0")
        values = list(layout.unpack_from(body))
        for i, t in kinds:
            if t is None:
                values[i] = values[i].split(b"\0", 1)[0].decode("utf-8", "replace")
            else:
                values[i] = value_text(decode_value(t, values[i], self.sym))
        return values

    # -- maps --------------------------------------------------------------------------------
    def kernel_map(self, name: str) -> Any:
        return self.coll.maps[self.c.program.map_names[name]]

    def entries(self, name: str) -> list[tuple[bytes, Any]]:
        m = self.kernel_map(name)
        out = []
        key = m.next_key(None)
        while key is not None:
            value = m.lookup(key)
            if value is not None:
                out.append((key, value))
            key = m.next_key(key)
        return out

    def print_map(self, name: str, top: int = 0, div: int = 0) -> None:
        info = self.c.program.maps[name]
        entries = self.entries(name)
        if self.json:
            self.write(map_json(info, entries, top, self.sym))
        else:
            self.write(map_text(info, entries, top, div, self.sym))

    def clear_map(self, name: str, *, zero: bool) -> None:
        info = self.c.program.maps[name]
        m = self.kernel_map(name)
        for key, value in self.entries(name):
            # like bpftrace 0.17: clear() deletes, except the value of a count() map without keys
            if zero or (info.key is None and info.kind == "count"):
                blank: Any = [bytes(len(v)) for v in value] if isinstance(value, list) else bytes(len(value))
                m.update(key, blank)
            else:
                m.delete(key)

    # -- the run -----------------------------------------------------------------------------
    def _load(self) -> Any:
        from pybpf.kernel.kernel_engine import load_collection

        try:
            return load_collection(self.c.spec)
        except BpfError as exc:
            if "(tracing)" in str(exc) and any(p.probe.provider in ("fentry", "fexit", "iter") for p in self.c.probes):
                raise BpfError(f"fentry/fexit (kfunc/kretfunc) and iter probes are not supported by this kernel "
                               f"(it refuses tracing programs): {exc}") from None
            raise

    def _attach_all(self) -> None:
        for cp in self.c.probes:
            if cp.probe.provider not in ("BEGIN", "END"):
                try:
                    self.links.append(self.attach(cp))
                    self.attached.append(cp)
                except BpfError as exc:
                    # config = { missing_probes = warn|ignore }: a probe that cannot attach is skipped
                    if self.c.missing_probes == "error":
                        raise
                    if self.c.missing_probes == "warn":
                        print(f"WARNING: skipped {cp.probe.probe_text}: {exc}", file=sys.stderr)

    def run(self, child: HeldCommand | None = None, *, on_attached: Callable[[], None] | None = None,
            launched: Launched | None = None, announced: bool = False) -> int:
        """Load, attach, run until the child exits, Ctrl-C or exit(), then print the maps. With `launched` (see
        pybpf.trace.launch) the programs are already loaded and attached; `announced`: "Attaching..." was
        printed already."""
        from pybpf.kernel.ringbuf import RingBuffer

        self.child = child
        if not announced:
            self.write(attaching_line(self.c.attach_count, self.json))
            self.out.flush()
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def interrupt(_sig: int, _frame: Any) -> None:
            self.stop = True

        if launched is None:
            self.coll = self._load()
        else:
            self.coll, self.links, self.attached = launched.adopt(self.c)
        rb = None
        skb = None
        if SKB_MAP in self.coll.maps:
            from pybpf.trace.pcap_out import SkbWriter

            skb = SkbWriter(self.coll.maps[SKB_MAP], self.c.program.events)
        if STACKS_MAP in self.coll.maps:
            self.sym = Symbolizer(self.coll.maps[STACKS_MAP])
        try:
            if launched is None:
                self._attach_all()
                # `elapsed` counts from here (CLOCK_MONOTONIC is the clock of bpf_ktime_get_ns)
                self.coll.maps[START_MAP].update(bytes(4), time.monotonic_ns().to_bytes(8, "little"))
            self.attached_at = time.monotonic()
            if on_attached is not None:
                on_attached()
            rb = RingBuffer(self.coll.maps[EVENTS_MAP])
            for s in old:
                signal.signal(s, interrupt)
            self.run_special("BEGIN")
            self.drain(rb)
            iters = [link for cp, link in zip(self.attached, self.links, strict=True) if cp.probe.provider == "iter"]
            if iters:  # like bpftrace: the iterators run to their end, then the script ends
                from pybpf.kernel.link.iter import run_iter

                for link in iters:
                    run_iter(link)
                    self.drain(rb)
                self.stop = True
            if child is not None:
                child.release()
            while not self.stop:
                rb.wait(0.1 if child is None else 0.02)
                self.drain(rb)
                if skb is not None:
                    skb.drain()
                if child is not None and child.poll():
                    self.drain(rb)
                    break
                if child is not None and self.c.program.uses_user_symbols:
                    self.sym.remember(child.pid)
                if self.pid and not _alive(self.pid):  # -p PID: stop when the process is gone
                    self.drain(rb)
                    break
            for link in self.links:  # detach first: nothing new arrives while the maps are printed
                link.close()
            self.links = []
            self.drain(rb)  # what the probes emitted until now (nothing after an exit())
            self.stop = False
            self.run_special("END")
            self.drain(rb)
            self.write("\n\n")
            for name in sorted(self.c.program.maps):
                self.print_map(name)
            self.out.flush()
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            for link in self.links:
                link.close()
            if rb is not None:
                rb.close()
            if skb is not None:
                skb.close()
            if child is not None:
                child.kill()
            self.coll.close()
        return 0

    def drain(self, rb: Any) -> None:
        """Handle every record available now (none after exit()), then report newly lost ones."""
        handle = self.handle
        for record in rb.read_available():
            if self.stop:
                break
            handle(record)
        self.report_lost()
        self.out.flush()

    def report_lost(self) -> None:
        """bpftrace's "Lost N events" when the ring buffer was full for some records."""
        raw = self.coll.maps[LOST_MAP].lookup(bytes(4))
        total = sum(int.from_bytes(v[:8], "little") for v in raw) if isinstance(raw, list) else 0
        if total > self.lost:
            n, self.lost = total - self.lost, total
            self.write(json_line("lost_events", {"events": n}) if self.json else f"Lost {n} events\n")

    def run_special(self, kind: str) -> None:
        for cp in self.c.probes:
            if cp.probe.provider == kind:
                from pybpf.kernel.programs import test_run

                test_run(self.coll.programs[cp.name].fd, ctx=bytes(8), ctx_out_size=0)
