"""BPF_MAP_TYPE_PROG_ARRAY: slots of programs, the jump table of bpf_tail_call.

Values are program objects (anything the runtime can run, typically a `pybpf.collection.Program`)
or the u32 id of one (`register_program` gives ids, `program_by_id` resolves them); user-space
lookups return the id, as the kernel does. Like the kernel, every program in one array must have
the same program type (the first one stored fixes it; EINVAL otherwise). The runtime's tail call
uses `ProgArrayMap.get(index)`.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from typing import Any

from pybpf.abi import MapType
from pybpf.maps.base import EINVAL, fail
from pybpf.maps.fd_array import _U32, FdArrayMap
from pybpf.object.spec import MapSpec

_ids = itertools.count(1)
_lock = threading.Lock()
_by_id: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_id_of: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def register_program(program: Any) -> int:
    """The id of `program` for program arrays (assigned on first use; its own int `.id` if it has one)."""
    with _lock:
        known = _id_of.get(program)
        if known is not None:
            return known
        own = getattr(program, "id", None)
        pid = (
            own
            if isinstance(own, int) and own > 0 and own not in _by_id
            else next(_ids) + (1 << 20)
        )
        _by_id[pid] = program
        _id_of[program] = pid
        return pid


def program_by_id(program_id: int) -> Any:
    """The registered program with id `program_id`, or None."""
    return _by_id.get(program_id)


def program_type_of(program: Any) -> int | None:
    spec = getattr(program, "spec", None)
    ptype = getattr(spec, "type", None)
    return int(ptype) if ptype is not None else None


class ProgArrayMap(FdArrayMap):
    """A program array."""

    map_types = (MapType.PROG_ARRAY,)
    what = "program"

    def __init__(self, spec: MapSpec) -> None:
        super().__init__(spec)
        self.owner_type: int | None = None

    def resolve(self, value: Any) -> Any:
        if isinstance(value, (bytes, bytearray, memoryview)):
            if len(value) != 4:
                raise fail("a program is given as an object or its u32 id", EINVAL)
            pid = _U32.unpack(bytes(value))[0]
            program = program_by_id(pid)
            if program is None:
                raise fail(f"no program with id {pid}", EINVAL)
        elif isinstance(value, int):
            program = program_by_id(value)
            if program is None:
                raise fail(f"no program with id {value}", EINVAL)
        else:
            program = value
            register_program(program)
        ptype = program_type_of(program)
        if ptype is not None:
            if self.owner_type is None:
                self.owner_type = ptype
            elif ptype != self.owner_type:
                raise fail(
                    f"program array {self.name!r} holds programs of type {self.owner_type}, not {ptype}",
                    EINVAL,
                )
        return program

    def object_id(self, obj: Any) -> int:
        return register_program(obj)
