"""Helpers of the guard tests: a Guard whose events are collected into one log, waited on by predicate.

Not a conftest.py: see tests/examples/examples_support.py for why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

WAIT_S = 20.0  # generous: the machine is shared; tests wait for events, they never time anything


class EventLog:
    """Every event a running Guard posted, and waiting until one matching a predicate arrives."""

    def __init__(self, guard: Any) -> None:
        self.guard = guard
        self.events: list[dict[str, Any]] = []

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float = WAIT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if pred(event):
                    return event
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the expected event did not arrive")
            self.events.extend(self.guard.poll(min(left, 0.2)))

    def of_pid(self, kind: str, pid: int) -> list[dict[str, Any]]:
        return [e[kind] for e in self.events if kind in e and e[kind]["process"]["pid"] == pid]

    def exit_of(self, pid: int) -> dict[str, Any]:
        return self.wait_for(lambda e: "process_exit" in e and e["process_exit"]["process"]["pid"] == pid)[
            "process_exit"]

    def exec_of(self, pid: int) -> dict[str, Any]:
        return self.wait_for(lambda e: "process_exec" in e and e["process_exec"]["process"]["pid"] == pid)[
            "process_exec"]
