"""A profiling run: sample for a while (a process, a command or the whole system) and return a Profile."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pybpf.errors import LoadError
from pybpf.profile import procmaps, python
from pybpf.profile.model import Profile
from pybpf.profile.sampler import Sampler, StackKey
from pybpf.profile.symbolize import Symbolizer

POLL_SECONDS = 0.25


@dataclass
class ProfileOptions:
    """What to profile and how: -F HZ, --event, -p PID or -c CMD (neither: the whole system), -d SECONDS."""

    frequency: int = 19
    event: str = "cpu-clock"
    pid: int = 0
    command: Sequence[str] = ()
    duration: float | None = None
    python: bool = True


class _Watcher:
    """What the run learns while processes live: their mappings, interpreters and code object names."""

    def __init__(self, sampler: Sampler, symbolizer: Symbolizer, python_frames: bool) -> None:
        self.sampler, self.symbolizer, self.python_frames = sampler, symbolizer, python_frames
        self.maps_seen: dict[int, int] = {}
        self.pythons: set[int] = set()
        self.named: set[StackKey] = set()

    def watch(self, pid: int) -> None:
        """Snapshot `pid` again whenever its mappings change (exec, libraries loaded) and find its interpreter."""
        if not procmaps.maps_changed(pid, self.maps_seen):
            return
        self.symbolizer.refresh(pid)
        proc = self.symbolizer.processes.get(pid)
        if proc is None or not self.python_frames or pid in self.pythons:
            return
        py = python.detect(proc)
        if py is not None:
            self.pythons.add(pid)
            self.symbolizer.add_python(py)
            self.sampler.register_python(pid, py.layout.pack(py.tstate_current))

    def poll(self) -> None:
        for key in self.sampler.counts():
            self.watch(key.pid)
            if key.py_frames and key not in self.named:
                self.named.add(key)
                for code in key.py_frames:
                    self.symbolizer.name_code(key.pid, code)


def _start_command(command: Sequence[str]) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(list(command))
    except OSError as exc:
        raise LoadError(f"cannot run {command[0]!r}: {exc.strerror}") from None


def record(options: ProfileOptions, *, stop: Callable[[], bool] | None = None) -> Profile:
    """Sample until the duration passes, the command exits, the target dies, `stop()` or Ctrl-C."""
    if options.pid and not os.path.exists(f"/proc/{options.pid}"):
        raise LoadError(f"no process with pid {options.pid}")
    symbolizer = Symbolizer()
    child: subprocess.Popen[bytes] | None = None
    started = time.monotonic()
    start_ns = time.time_ns()
    # a command: first only ourselves (nothing sampled while it starts), then the command from its start
    first = os.getpid() if options.command else options.pid
    with Sampler(options.frequency, event=options.event, pid=first) as sampler:
        if options.command:
            child = _start_command(options.command)
            sampler.set_target(child.pid)
        target = child.pid if child else options.pid
        watcher = _Watcher(sampler, symbolizer, options.python)
        if target:
            watcher.watch(target)
        try:
            while True:
                time.sleep(POLL_SECONDS)
                watcher.poll()
                if options.duration is not None and time.monotonic() - started >= options.duration:
                    break
                if child is not None and child.poll() is not None:
                    break
                if not child and target and not os.path.exists(f"/proc/{target}"):
                    break
                if stop is not None and stop():
                    break
        except KeyboardInterrupt:
            pass
        finally:
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGINT if options.duration is None else signal.SIGTERM)
                try:
                    child.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        if sampler.link is not None:  # stop sampling before reading (the maps stay until the end)
            sampler.link.close()
            sampler.link = None
        duration = time.monotonic() - started
        counts = sampler.counts()
        stats = sampler.stats()
        samples = [symbolizer.sample(key, sampler.stack(key.user_stack_id), sampler.stack(key.kernel_stack_id), n)
                   for key, n in counts.items()]
    samples.sort(key=lambda s: -s.count)
    return Profile(samples, options.frequency, duration, options.event, stats, start_ns)
