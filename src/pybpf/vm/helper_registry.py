"""The contract between the user-space runtime and helper implementations (HelperEnv, registry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pybpf.collection import Map


class HelperEnv(Protocol):
    """What a helper implementation may do while a program runs (the interpreter and JIT provide it).

    Every memory method is bounds-checked against the program's regions and raises
    RuntimeFault on an invalid access; addresses are the program's pointers (native addresses).
    """

    program_type: int  # pybpf.abi.ProgramType of the running program
    cpu: int  # the CPU id the program "runs on" (bpf_get_smp_processor_id)

    def read(self, address: int, size: int) -> bytes:
        """Read `size` bytes at a program pointer."""
        ...

    def write(self, address: int, data: bytes) -> None:
        """Write bytes at a program pointer (must be a writable region)."""
        ...

    def read_str(self, address: int, max_len: int) -> bytes:
        """Read a NUL-terminated string of at most `max_len` bytes (terminator excluded)."""
        ...

    def map_from_pointer(self, value: int) -> Map:
        """The map a register holds after `lddw rX, map` (RuntimeFault if it is not a map)."""
        ...

    def map_pointer(self, m: Map) -> int:
        """The register value that stands for map `m` (inverse of map_from_pointer)."""
        ...

    def output(self, line: str) -> None:
        """Emit a trace_printk line (collected by the runtime, printed by the CLI)."""
        ...


# A helper implementation: fn(env, r1, r2, r3, r4, r5) -> r0 (as an unsigned 64-bit int).
HelperFn = Callable[[HelperEnv, int, int, int, int, int], int]

# Helper implementations by kernel helper id; modules register with @implements(id).
REGISTRY: dict[int, HelperFn] = {}


def implements(helper_id: int) -> Callable[[HelperFn], HelperFn]:
    """Register `fn` as the user-space implementation of kernel helper `helper_id`."""

    def decorate(fn: HelperFn) -> HelperFn:
        REGISTRY[helper_id] = fn
        return fn

    return decorate


def helper_state(env: Any, key: str, factory: Callable[[], Any]) -> Any:
    """Per-runtime state a helper family keeps (e.g. the prandom generator), created on first use."""
    store: dict[str, Any] = env.__dict__.setdefault("_helper_state", {})
    if key not in store:
        store[key] = factory()
    return store[key]
