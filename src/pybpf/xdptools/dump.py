"""`pybpf dump`: capture packets at XDP entry (like xdp-tools' xdpdump) into pcapng.

The capture program (bpf/dump.c) sends each packet's first `snaplen` bytes through a perf
event array and passes the packet on. On an interface without an XDP program it is attached
directly; on an interface run by pybpf's XDP dispatcher it joins the chain in front of every
other program. xdpdump reaches a foreign XDP program through fentry/fexit tracing programs;
where those are refused (EPERM), such an interface cannot be captured and dump says so.
"""

from __future__ import annotations

import contextlib
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pybpf.errors import BpfError, KernelError
from pybpf.hooks.pcap import CapturedPacket

SOURCE = Path(__file__).with_name("bpf") / "dump.c"
PROGRAM = "xdp_dump"
FIRST = -(1 << 30)  # dispatcher priority: before every other program
_HEADER = struct.Struct("<QIIII")


@contextlib.contextmanager
def _netns(name: str | None) -> Iterator[None]:
    if name is None:
        yield
        return
    from pybpf.kernel.netns import in_netns

    if not os.path.exists(f"/run/netns/{name}"):
        raise BpfError(f"no network namespace {name!r} (/run/netns/{name})")
    with in_netns(name):
        yield


class XdpDump:
    """A running capture on one interface; `packets()` returns what arrived since last time."""

    def __init__(self, interface: str, *, netns: str | None = None, snaplen: int = 262144,
                 mode: str = "") -> None:
        if not 1 <= snaplen <= 262144:
            raise BpfError(f"snaplen must be 1..262144, not {snaplen}")
        self.interface = interface
        self.netns = netns
        self.snaplen = snaplen
        self.mode = mode
        self.lost = 0
        self._coll: Any = None
        self._link: Any = None
        self._reader: Any = None
        self._dispatched: Any = None  # (Dispatcher, program id) when inside a dispatcher chain
        self._captures: Any = None  # the perf array, when made apart from the program
        self._pinned = ""
        self._clock = time.time() - time.monotonic()

    def start(self) -> XdpDump:
        from pybpf.kernel.engine import load_collection, set_globals
        from pybpf.kernel.links import attach_xdp
        from pybpf.kernel.perfbuf import PerfBuffer
        from pybpf.object import load_file
        from pybpf.toolchain import compile_c
        from pybpf.xdptools.dispatcher import Dispatcher

        spec = set_globals(load_file(compile_c(SOURCE)), {"snaplen": self.snaplen})
        try:
            with _netns(self.netns):
                dispatcher = Dispatcher(self.interface)
                if dispatcher.exists:
                    self._start_in_chain(dispatcher, spec)
                else:
                    self._coll = load_collection(spec, pin_path=None)
                    try:
                        self._link = attach_xdp(self._coll.programs[PROGRAM], self.interface,
                                                mode=self.mode)
                    except KernelError as exc:
                        raise BpfError(
                            f"{self.interface} runs an XDP program pybpf's dispatcher does not "
                            "manage; capturing in front of it needs fentry/fexit tracing programs,"
                            " which this kernel refuses here. Load XDP programs with `pybpf xdp "
                            f"load` and dump joins their chain ({exc})") from None
            perf_map = self._captures if self._coll is None else self._coll.maps["captures"]
            self._reader = PerfBuffer(perf_map, pages=64,
                                      lost_callback=self._on_lost)
        except BaseException:
            self.close()
            raise
        return self

    def _start_in_chain(self, dispatcher: Any, spec: Any) -> None:
        import dataclasses

        from pybpf.kernel.engine import create_collection_map

        # the perf array is made (and pinned) first so this process keeps reading it
        perf = dataclasses.replace(spec.maps["captures"], pinning=1)
        maps = dict(spec.maps)
        maps["captures"] = perf
        spec = dataclasses.replace(spec, maps=maps)
        self._pinned = os.path.join(dispatcher.path, "captures")
        if os.path.exists(self._pinned):
            raise BpfError(f"a capture already runs on {self.interface} ({self._pinned})")
        self._captures = create_collection_map(perf, pin_path=dispatcher.path)
        loaded = dispatcher.load(spec, PROGRAM, priority=FIRST, chain_actions=["pass"])
        self._dispatched = (dispatcher, loaded.entry.prog_id)

    def _on_lost(self, _cpu: int, count: int) -> None:
        self.lost += count

    def packets(self, timeout: float = 0.1) -> list[CapturedPacket]:
        """The packets captured since the last call (waits up to `timeout` for the first)."""
        assert self._reader is not None
        self._reader.wait(timeout)
        out = []
        for sample in self._reader.read_available():
            ktime, length, caplen, _ifindex, _queue = _HEADER.unpack_from(sample)
            data = bytes(sample[_HEADER.size:_HEADER.size + caplen])
            out.append(CapturedPacket(ktime / 1e9 + self._clock, data, length=length))
        return out

    def close(self) -> None:
        if self._dispatched is not None:
            dispatcher, prog_id = self._dispatched
            self._dispatched = None
            with _netns(self.netns), contextlib.suppress(BpfError):
                dispatcher.unload(prog_id=prog_id)
            with contextlib.suppress(OSError):
                os.unlink(self._pinned)
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._link is not None:
            self._link.close()
            self._link = None
        if self._coll is not None:
            self._coll.close()
            self._coll = None
        if self._captures is not None:
            self._captures.close()
            self._captures = None

    def __enter__(self) -> XdpDump:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
