"""Common shape of the epoll-driven buffer readers (ring buffer, perf buffer): iteration and lifetime."""

from __future__ import annotations

import select
from collections.abc import Iterator
from typing import Any, Self


class EpollReader:
    """Base of a reader that waits on `self._epoll`; subclasses give read_available(), wait(), close()."""

    _epoll: select.epoll

    def read_available(self) -> list[Any]:
        raise NotImplementedError

    def wait(self, timeout: float | None = None) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Any]:
        while not self.closed:
            items = self.read_available()
            if not items:
                self.wait(None)
                continue
            yield from items

    @property
    def closed(self) -> bool:
        return self._epoll.closed

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass
