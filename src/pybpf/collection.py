"""The one interface every engine implements: live Map, Program, Collection and RunResult."""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Self

from pybpf.abi import PERCPU_MAP_TYPES, MapType, UpdateFlags
from pybpf.errors import BpfError, MapError
from pybpf.object.spec import MapSpec, ProgramSpec

KeyLike = bytes | bytearray | memoryview | int
# what run() takes as its packet: bytes are copied; a writable buffer (bytearray, writable
# memoryview, ctypes array) may be shared by the run (see Program.run)
DataLike = bytes | bytearray | memoryview
ValueLike = bytes | bytearray | memoryview | int | list


class RunResult(NamedTuple):
    """What one run of a program produced.

    An immutable record (a named tuple: building one costs a third of a frozen dataclass's, and
    a run from Python costs about a µs). Engines' per-run paths build it with `new_result`.
    """

    retval: int
    data_out: bytes | None = None
    ctx_out: bytes | None = None
    duration_ns: int | None = None
    instructions: int | None = None  # instructions executed (interpreter, JIT), when known


# new_result((retval, data_out, ctx_out, duration_ns, instructions)): a RunResult without the
# keyword handling of RunResult(...), for the engines' per-run paths
new_result: Callable[[tuple[int, bytes | None, bytes | None, int | None, int | None]], RunResult] = (
    functools.partial(tuple.__new__, RunResult))


def to_bytes(value: KeyLike | ValueLike, size: int, what: str) -> bytes:
    """Convert an int (little-endian) or bytes-like to exactly `size` bytes."""
    if isinstance(value, int):
        if size > 8 and value >= 0:
            return value.to_bytes(size, "little")
        try:
            return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        except OverflowError:
            raise BpfError(f"{what} {value} does not fit in {size} bytes") from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if len(data) != size:
            raise BpfError(f"{what} must be {size} bytes, got {len(data)}")
        return data
    raise BpfError(f"{what} must be bytes or int, not {type(value).__name__}")


class Map(abc.ABC):
    """A live map that behaves like a dict of bytes: m[key], m[key] = v, del m[key], iteration, len.

    Engines implement the five raw operations; keys and values given as ints are converted to
    little-endian bytes of the map's sizes. Per-CPU maps take and return a list of values per CPU.
    """

    spec: MapSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> MapType:
        return self.spec.type

    @property
    def key_size(self) -> int:
        return self.spec.key_size

    @property
    def value_size(self) -> int:
        return self.spec.value_size

    @property
    def max_entries(self) -> int:
        return self.spec.max_entries

    @property
    def percpu(self) -> bool:
        return self.spec.type in PERCPU_MAP_TYPES

    # --- raw operations every engine provides -------------------------------------------
    @abc.abstractmethod
    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        """The value for `key` (a list per CPU for per-CPU maps), or None if absent."""

    @abc.abstractmethod
    def update(self, key: bytes, value: bytes | list[bytes], flags: int = UpdateFlags.ANY) -> None:
        """Insert or replace; raises MapError with the kernel's errno on failure."""

    @abc.abstractmethod
    def delete(self, key: bytes) -> None:
        """Remove `key`; raises MapError(ENOENT) if absent (EINVAL for arrays)."""

    @abc.abstractmethod
    def next_key(self, key: bytes | None) -> bytes | None:
        """The key after `key` (the first key when None), or None at the end."""

    def close(self) -> None:  # noqa: B027 - optional for engines without resources
        """Release the map's resources (kernel fd, native memory)."""

    # --- dict-like convenience ---------------------------------------------------------
    def _key(self, key: KeyLike) -> bytes:
        return to_bytes(key, self.key_size, "key")

    def _value(self, value: ValueLike) -> bytes | list[bytes]:
        if self.percpu and isinstance(value, list):
            return [to_bytes(v, self.value_size, "value") for v in value]
        if isinstance(value, list):
            raise BpfError("a list of values is only valid for per-CPU maps")
        return to_bytes(value, self.value_size, "value")

    def __getitem__(self, key: KeyLike) -> bytes | list[bytes]:
        value = self.lookup(self._key(key))
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: KeyLike, value: ValueLike) -> None:
        self.update(self._key(key), self._value(value))

    def __delitem__(self, key: KeyLike) -> None:
        try:
            self.delete(self._key(key))
        except MapError as exc:
            raise KeyError(key) from exc

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (bytes, bytearray, memoryview, int)):
            return False
        return self.lookup(self._key(key)) is not None

    def get(self, key: KeyLike, default: Any = None) -> Any:
        value = self.lookup(self._key(key))
        return default if value is None else value

    def keys(self) -> Iterator[bytes]:
        key = self.next_key(None)
        seen = 0
        while key is not None:
            yield key
            seen += 1
            if seen > max(self.max_entries, 1) * 2 + 16:
                break  # a map changing under iteration must not loop forever
            key = self.next_key(key)

    def __iter__(self) -> Iterator[bytes]:
        return self.keys()

    def items(self) -> Iterator[tuple[bytes, bytes | list[bytes]]]:
        for key in self.keys():
            value = self.lookup(key)
            if value is not None:
                yield key, value

    def values(self) -> Iterator[bytes | list[bytes]]:
        for _, value in self.items():
            yield value

    def __len__(self) -> int:
        return sum(1 for _ in self.keys())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.type.name.lower()}>"


class Program(abc.ABC):
    """A live program: run it on a packet or a context."""

    spec: ProgramSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @abc.abstractmethod
    def run(self, data: DataLike = b"", *, ctx: bytes | None = None, repeat: int = 1) -> RunResult:
        """Run once (or `repeat` times) on packet `data` and/or context bytes `ctx`.

        Each run gets a fresh copy of `data`, except that a single run (repeat=1) of a program
        with a plain context (no packet type: not XDP or skb) on the user-space engines shares a
        writable buffer (a bytearray, a writable memoryview): it reads and writes the buffer in
        place, which holds the output when the run ends (or the writes done before a fault), and
        data_out is that buffer."""

    def close(self) -> None:  # noqa: B027 - optional for engines without resources
        """Release the program's resources."""


@dataclass
class Collection:
    """Live programs and maps made from a CollectionSpec by one engine."""

    programs: Mapping[str, Program] = field(default_factory=dict)
    maps: Mapping[str, Map] = field(default_factory=dict)
    engine: str = ""

    def close(self) -> None:
        for prog in self.programs.values():
            prog.close()
        for m in self.maps.values():
            m.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
