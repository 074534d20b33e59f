"""A command started held: forked at once, but it execs only after release(), once probes are attached.

`pybpf trace -c` and `pybpf guard run -c` both need the workload's pid before it runs (to filter on
it) and must not miss its first events, so the child waits on a pipe until the tool says go.
"""

from __future__ import annotations

import os
import signal

from pybpf.errors import BpfError


class HeldCommand:
    """`argv` forked and held; `release()` lets it exec, `poll()` reaps it, `kill()` ends it."""

    def __init__(self, argv: list[str], *, verb: str) -> None:
        if not argv:
            raise BpfError("-c needs a command")
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.close(w)
                os.read(r, 1)
                os.execvp(argv[0], argv)
            except OSError as exc:
                os.write(2, f"pybpf {verb}: cannot run {argv[0]}: {exc.strerror}\n".encode())
            os._exit(127)
        os.close(r)
        self.pid = pid
        self._w: int | None = w
        self.status: int | None = None

    def release(self) -> None:
        """Let the command exec."""
        if self._w is not None:
            os.write(self._w, b"x")
            os.close(self._w)
            self._w = None

    def poll(self) -> bool:
        """True once the command has exited (its wait status is then in `status`)."""
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status is not None

    def kill(self) -> None:
        """End the command (SIGTERM) and reap it; a command never released ends without running."""
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self._w is not None:  # never started: closing the pipe after the signal ends it too
                os.close(self._w)
                self._w = None
            _, self.status = os.waitpid(self.pid, 0)
