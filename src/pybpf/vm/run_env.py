"""RunEnv: the concrete HelperEnv of the user-space runtime (memory, maps by pointer, trace output)."""

from __future__ import annotations

import ctypes
import threading
from typing import Any

from pybpf.abi import ProgramType
from pybpf.collection import Map
from pybpf.errors import RuntimeFault
from pybpf.vm.memory import Memory, Region, Stack


class RunEnv:
    """What helpers see while a program runs; implements the `pybpf.vm.helper_registry.HelperEnv` protocol.

    One RunEnv belongs to one loaded collection (its maps) and is reused across runs. Besides the
    protocol methods it offers `expose()`, through which a helper that returns a pointer to memory
    the program did not have before (a map value, ring buffer record, ...) makes it accessible.
    Regions exposed this way live until `end_run()`; helpers keep the backing object alive via
    `owner`, so a stale pointer can never reach freed host memory.

    `run_lock` serialises the runs of the collection's programs: memory model, stack and run state
    are shared, so two threads running at once would see each other's contexts.
    """

    def __init__(
        self, program_type: int = ProgramType.UNSPEC, *, cpu: int = 0, memory: Memory | None = None
    ) -> None:
        self.program_type = int(program_type)
        self.cpu = cpu
        self.memory = memory if memory is not None else Memory()
        self.stack = Stack(self.memory)
        self.trace_lines: list[str] = []
        self.run_lock = threading.RLock()
        self._maps_by_pointer: dict[int, Map] = {}
        self._pointer_by_map: dict[int, int] = {}
        self._handles: list[Any] = []
        self._run_regions: list[Region] = []
        # Set by the engine for the duration of a run: the context object (pybpf.vm.contexts).
        self.context: Any = None
        # Set by the engine: the interpreter running now (tail calls, bpf_loop callbacks).
        self.machine: Any = None
        # The instruction budget left in the current run, and tail calls taken (max 33).
        self.budget_left = 0
        self.tail_calls = 0
        # Extra per-engine data (program arrays, redirect target, ...).
        self.extra: dict[str, Any] = {}

    # --- HelperEnv protocol ------------------------------------------------------------
    def read(self, address: int, size: int) -> bytes:
        return self.memory.read(address, size, self._pc())

    def write(self, address: int, data: bytes) -> None:
        self.memory.write(address, data, self._pc())

    def read_str(self, address: int, max_len: int) -> bytes:
        return self.memory.read_str(address, max_len, self._pc())

    def map_from_pointer(self, value: int) -> Map:
        m = self._maps_by_pointer.get(value)
        if m is None:
            raise RuntimeFault(f"{value:#x} is not a map pointer", pc=self._pc())
        return m

    def map_pointer(self, m: Map) -> int:
        pointer = self._pointer_by_map.get(id(m))
        if pointer is None:
            pointer = self.register_map(m)
        return pointer

    def output(self, line: str) -> None:
        self.trace_lines.append(line)

    # --- runtime extensions ------------------------------------------------------------
    def register_map(self, m: Map, pointer: int | None = None) -> int:
        """Give map `m` a pointer value (a unique, never-mapped native address unless given)."""
        if pointer is None:
            handle = ctypes.create_string_buffer(16)
            self._handles.append(handle)
            pointer = ctypes.addressof(handle)
        self._maps_by_pointer[pointer] = m
        self._pointer_by_map[id(m)] = pointer
        return pointer

    @property
    def maps(self) -> list[Map]:
        return list(self._maps_by_pointer.values())

    def expose(
        self, address: int, size: int, *, writable: bool = True, name: str = "helper memory",
        owner: Any = None,
    ) -> Region:
        """Make [address, address+size) accessible to the program until the run ends."""
        existing = self.memory.region_at(address)
        if existing is not None and existing.contains(address, size):
            return existing
        region = self.memory.add(Region.at(address, size, name=name, writable=writable, owner=owner))
        self._run_regions.append(region)
        return region

    def add_run_region(self, region: Region) -> Region:
        """Add a region (context, packet) that lives until `end_run()`."""
        self.memory.add(region)
        self._run_regions.append(region)
        return region

    def end_run(self) -> None:
        """Drop the regions of the finished run (context, packet, exposed helper memory)."""
        regions, memory = self._run_regions, self.memory
        for region in regions:
            memory.remove(region)
        regions.clear()
        memory.forget()
        self.context = None

    def _pc(self) -> int | None:
        machine = self.machine
        return None if machine is None else machine.pc
