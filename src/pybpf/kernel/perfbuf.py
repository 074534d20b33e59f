"""Perf buffer reader: one PERF_COUNT_SW_BPF_OUTPUT event and mmap ring per CPU, samples and lost counts."""

from __future__ import annotations

import mmap
import select
import struct
from collections.abc import Callable
from typing import Any

from pybpf.abi import MapType
from pybpf.errors import KernelError
from pybpf.kernel import perf
from pybpf.kernel.epoll_reader import EpollReader

PERF_RECORD_LOST = 2
PERF_RECORD_SAMPLE = 9
_HEAD_OFF, _TAIL_OFF = 1024, 1032
_HDR = struct.Struct("<IHH")


class _CpuRing:
    def __init__(self, cpu: int, pages: int) -> None:
        self.cpu = cpu
        attr = perf.PerfEventAttr(type=perf.PerfType.SOFTWARE, config=perf.SwEvent.BPF_OUTPUT,
                                  sample_type=perf.PERF_SAMPLE_RAW, sample_period=1, wakeup_events=1)
        self.fd = perf.perf_event_open(attr, pid=-1, cpu=cpu)
        page = mmap.PAGESIZE
        self.size = pages * page
        try:
            self.mem = mmap.mmap(self.fd.fd, page + self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as exc:
            self.fd.close()
            raise KernelError(f"cannot mmap perf buffer of CPU {cpu}: {exc.strerror}", errno=exc.errno or 0) from None
        self.data_off = page
        # data_head / data_tail through a typed view: one aligned 8-byte access each (no tearing)
        self._q = memoryview(self.mem).cast("Q")

    def _read(self, pos: int, n: int) -> bytes:
        start = pos % self.size
        end = start + n
        base = self.data_off
        if end <= self.size:
            return self.mem[base + start:base + end]
        return self.mem[base + start:base + self.size] + self.mem[base:base + end - self.size]

    def pending(self) -> bool:
        return bool(self._q[_HEAD_OFF // 8] != self._q[_TAIL_OFF // 8])

    def read(self) -> tuple[list[bytes], int]:
        """(samples, lost count) available now; advances data_tail."""
        head = self._q[_HEAD_OFF // 8]
        tail = self._q[_TAIL_OFF // 8]
        samples: list[bytes] = []
        lost = 0
        while tail < head:
            rtype, _misc, size = _HDR.unpack(self._read(tail, 8))
            if size < 8:
                break  # corrupt header: stop rather than loop
            body = self._read(tail + 8, size - 8)
            if rtype == PERF_RECORD_SAMPLE and len(body) >= 4:
                raw = int.from_bytes(body[:4], "little")
                samples.append(body[4:4 + raw])
            elif rtype == PERF_RECORD_LOST and len(body) >= 16:
                lost += int.from_bytes(body[8:16], "little")
            tail += size
        self._q[_TAIL_OFF // 8] = tail
        return samples, lost

    def close(self) -> None:
        self._q.release()
        self.mem.close()
        self.fd.close()


class PerfBuffer(EpollReader):
    """Reads bpf_perf_event_output() samples from a BPF_MAP_TYPE_PERF_EVENT_ARRAY map, all CPUs.

    Each sample's bytes include the kernel's padding to 8 bytes (the u32 size field counts it).
    Lost-sample records are counted in `lost` and reported to `lost_callback(cpu, count)`.
    """

    def __init__(self, perf_map: Any, callback: Callable[[Any], object] | None = None, *, pages: int = 8,
                 lost_callback: Callable[[int, int], object] | None = None,
                 decode: Callable[[bytes], Any] | None = None, cpus: list[int] | None = None) -> None:
        spec = getattr(perf_map, "spec", None)
        if spec is not None and spec.type != MapType.PERF_EVENT_ARRAY:
            raise KernelError(f"map {spec.name!r} is not a perf event array")
        if pages <= 0 or pages & (pages - 1):
            raise KernelError(f"perf buffer pages must be a power of two, not {pages}")
        from pybpf.kernel.links import _online_cpus
        from pybpf.kernel.maps import possible_cpus, update_elem

        fd = perf_map if isinstance(perf_map, int) else perf_map.fd
        entries = spec.max_entries if spec is not None else possible_cpus()
        self.callback = callback
        self.lost_callback = lost_callback
        self.decode = decode
        self.lost = 0
        self.received = 0
        self._rings: dict[int, _CpuRing] = {}
        self._epoll = select.epoll()
        try:
            for cpu in cpus if cpus is not None else _online_cpus(possible_cpus()):
                if cpu >= entries:
                    continue
                ring = _CpuRing(cpu, pages)
                self._rings[ring.fd.fd] = ring
                update_elem(fd, cpu.to_bytes(4, "little"), ring.fd.fd.to_bytes(4, "little"))
                perf.ioctl(ring.fd.fd, perf.PERF_EVENT_IOC_ENABLE)
                self._epoll.register(ring.fd.fd, select.EPOLLIN)
        except BaseException:
            self.close()
            raise

    def read_available(self) -> list[Any]:
        """Every sample available now on every CPU (lost counts are updated)."""
        out: list[Any] = []
        for ring in self._rings.values():
            samples, lost = ring.read()
            if lost:
                self.lost += lost
                if self.lost_callback is not None:
                    self.lost_callback(ring.cpu, lost)
            out.extend(self.decode(s) for s in samples) if self.decode else out.extend(samples)
        self.received += len(out)
        return out

    def wait(self, timeout: float | None = None) -> bool:
        if any(r.pending() for r in self._rings.values()):
            return True
        try:
            return bool(self._epoll.poll(-1 if timeout is None else timeout))
        except InterruptedError:
            return False

    def poll(self, timeout: float | None = None) -> int:
        """Wait up to `timeout` seconds, then hand every sample to the callback; returns how many."""
        self.wait(timeout)
        samples = self.read_available()
        if self.callback is not None:
            for s in samples:
                self.callback(s)
        return len(samples)

    def close(self) -> None:
        for ring in self._rings.values():
            ring.close()
        self._rings = {}
        if not self._epoll.closed:
            self._epoll.close()


__all__ = ["PerfBuffer"]
