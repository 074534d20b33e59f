"""The in-kernel half of the profiler: load profile.bpf.c, attach it to a sampling event on every CPU, read counts.

The eBPF C source ships as package data and is compiled with pybpf.toolchain (cached by content).
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType

from pybpf.errors import KernelError, LoadError
from pybpf.kernel import perf
from pybpf.kernel.links import Link
from pybpf.kernel.maps import KernelMap
from pybpf.kernel.programs import KernelProgram
from pybpf.profile.events import EVENTS

MAX_STACK_DEPTH = 127
MAX_PY_FRAMES = 24
_KEY = struct.Struct(f"<IiiI{MAX_PY_FRAMES}Q")
STAT_NAMES = ("samples", "lost", "kernel_stack_collisions", "user_stack_collisions", "kernel_stack_missing",
              "user_stack_missing", "python_read_errors", "idle")

@dataclass(frozen=True)
class StackKey:
    """One distinct sample: the process, its stack ids (negative: none) and its Python code objects."""

    pid: int
    user_stack_id: int
    kernel_stack_id: int
    py_frames: tuple[int, ...] = ()  # code object addresses | is_entry bit, innermost first

    @classmethod
    def unpack(cls, raw: bytes) -> StackKey:
        pid, ustack, kstack, depth, *frames = _KEY.unpack(raw)
        return cls(pid, ustack, kstack, tuple(frames[:min(depth, MAX_PY_FRAMES)]))


def source_path() -> Path:
    """The eBPF C source of the sampler, shipped inside the package."""
    return Path(str(resources.files("pybpf.profile") / "bpf" / "profile.bpf.c"))


def compile_object() -> Path:
    """The sampler's eBPF object, compiled once per source version (pybpf.toolchain's cache)."""
    from pybpf.toolchain import compile_c

    return compile_c(source_path())


class Sampler:
    """profile.bpf.c loaded in the kernel and attached to `event` at `frequency` Hz on every online CPU."""

    def __init__(self, frequency: int = 19, *, event: str = "cpu-clock", pid: int = 0,
                 cpus: list[int] | None = None) -> None:
        if event not in EVENTS:
            raise LoadError(f"unknown event {event!r} (choose from {', '.join(EVENTS)})")
        if not 1 <= frequency <= 999:
            raise LoadError(f"sampling frequency {frequency} Hz is out of range (1..999)")
        self.frequency, self.event, self.cpus = frequency, event, cpus
        from pybpf.kernel.engine import load_collection
        from pybpf.object import load_file

        self.collection = load_collection(load_file(compile_object()), pin_path=None)
        self.maps: dict[str, KernelMap] = {name: m for name, m in self.collection.maps.items()
                                           if isinstance(m, KernelMap)}
        self.set_target(pid)
        self.link: Link | None = None
        self._stacks: dict[int, tuple[int, ...]] = {}
        try:
            self._attach()
        except BaseException:
            self.collection.close()
            raise

    def _attach(self) -> None:
        from pybpf.kernel.links import attach_sampling

        etype, config = EVENTS[self.event]
        try:
            program = self.collection.programs["profile_sample"]
            assert isinstance(program, KernelProgram)
            self.link = attach_sampling(program, frequency=self.frequency,
                                        event_type=etype, config=config, cpus=self.cpus)
        except KernelError as exc:
            if etype == perf.PerfType.HARDWARE and exc.errno in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV):
                raise KernelError(f"hardware event {self.event!r} is not available: this machine exposes no "
                                  f"CPU PMU (perf_event_open: {errno.errorcode.get(exc.errno, exc.errno)}); "
                                  f"use --event cpu-clock", errno=exc.errno) from None
            raise

    def set_target(self, pid: int) -> None:
        """Sample only process `pid` (0: every process)."""
        self.maps["config"][(0).to_bytes(4, "little")] = pid.to_bytes(4, "little")

    def register_python(self, pid: int, proc: bytes) -> None:
        """Walk the interpreter frames of CPython process `pid` (a packed struct python_proc)."""
        self.maps["python_procs"][pid.to_bytes(4, "little")] = proc

    def counts(self) -> dict[StackKey, int]:
        """Every distinct sample so far with its count."""
        out: dict[StackKey, int] = {}
        for key, value in self.maps["counts"].batch_items():
            raw = value if isinstance(value, bytes) else value[0]
            out[StackKey.unpack(key)] = int.from_bytes(raw[:8], "little")
        return out

    def stack(self, stack_id: int) -> tuple[int, ...]:
        """The instruction pointers of a stack id, innermost first (empty when it was evicted)."""
        if stack_id < 0:
            return ()
        if stack_id in self._stacks:  # ids stay bound to their stack (no BPF_F_REUSE_STACKID)
            return self._stacks[stack_id]
        raw = self.maps["stacks"].lookup(stack_id.to_bytes(4, "little"))
        if not isinstance(raw, bytes):
            return ()
        ips = struct.unpack(f"<{len(raw) // 8}Q", raw)
        out = []
        for ip in ips:
            if not ip:
                break
            out.append(ip)
        self._stacks[stack_id] = stack = tuple(out)
        return stack

    def stats(self) -> dict[str, int]:
        """The sampler's counters summed over CPUs (samples, lost, stack collisions, ...)."""
        out = {}
        stats = self.maps["stats"]
        for i, name in enumerate(STAT_NAMES):
            value = stats.lookup(i.to_bytes(4, "little"))
            parts = value if isinstance(value, list) else [value or b""]
            out[name] = sum(int.from_bytes(p[:8], "little") for p in parts if p)
        return out

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        self.collection.close()

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
