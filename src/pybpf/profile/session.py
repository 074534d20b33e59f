"""A profiling run: sample for a while (a process, a command or the whole system) and return a Profile."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pybpf.errors import LoadError
from pybpf.profile import python
from pybpf.profile.model import Profile
from pybpf.profile.sampler import Sampler, StackKey
from pybpf.profile.symbolize import Symbolizer

POLL_SECONDS = 0.5
RESNAPSHOT_SECONDS = 2.0


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
        self.pythons: set[int] = set()
        self.seen: set[StackKey] = set()
        self.snapshots: dict[int, float] = {}  # pid -> when its mappings were last read

    def watch(self, pid: int) -> None:
        """Snapshot `pid`'s mappings (again) and find its interpreter.

        A process is read again at most every RESNAPSHOT_SECONDS: the frame-pointer walk of code built
        without frame pointers yields addresses in no mapping, and re-reading the maps of such a busy
        process at every poll would be most of the profiler's own cost.
        """
        now = time.monotonic()
        if now - self.snapshots.get(pid, -RESNAPSHOT_SECONDS) < RESNAPSHOT_SECONDS:
            return
        self.snapshots[pid] = now
        self.symbolizer.refresh(pid)
        proc = self.symbolizer.processes.get(pid)
        if proc is None or not self.python_frames or pid in self.pythons:
            return
        py = python.detect(proc)
        if py is not None:
            self.pythons.add(pid)
            self.symbolizer.add_python(py)
            self.sampler.register_python(pid, py.layout.pack(py.tstate_current))

    def covered(self, pid: int, stack_id: int) -> bool:
        """True when every address of a user stack lies in a mapping we know for `pid`."""
        proc = self.symbolizer.processes.get(pid)
        if proc is None:
            return False
        return all(proc.mapping_at(ip) is not None for ip in self.sampler.stack(stack_id))

    def poll(self) -> None:
        """Look at the stacks sampled since the last poll: new processes, addresses outside the mappings
        known (exec, libraries loaded: snapshot again), and the names of the code objects seen."""
        new = [key for key in self.sampler.counts() if key not in self.seen]
        self.seen.update(new)
        stale: set[int] = set()
        for key in new:
            if key.pid not in stale and not self.covered(key.pid, key.user_stack_id):
                stale.add(key.pid)
        for pid in stale:
            self.watch(pid)
        for key in new:
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
