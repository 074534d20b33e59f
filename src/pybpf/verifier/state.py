"""Abstract machine state: register types and values, stack slots, call frames, references."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

from pybpf.verifier import bounds
from pybpf.verifier.bounds import Scalar


class RegType(Enum):
    """What a register holds (the kernel's enum bpf_reg_type, base types)."""

    NOT_INIT = "?"
    SCALAR = "scalar"
    PTR_TO_CTX = "ctx"
    CONST_PTR_TO_MAP = "map_ptr"
    PTR_TO_MAP_VALUE = "map_value"
    PTR_TO_MAP_KEY = "map_key"
    PTR_TO_STACK = "fp"
    PTR_TO_PACKET_META = "pkt_meta"
    PTR_TO_PACKET = "pkt"
    PTR_TO_PACKET_END = "pkt_end"
    PTR_TO_MEM = "mem"
    PTR_TO_BTF_ID = "ptr_"
    PTR_TO_FUNC = "func"
    PTR_TO_SOCKET = "sock"
    PTR_TO_SOCK_COMMON = "sock_common"
    PTR_TO_TCP_SOCK = "tcp_sock"
    PTR_TO_FLOW_KEYS = "flow_keys"


PACKET_TYPES = (RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META)


@dataclass(slots=True, eq=False)  # immutable by convention (frozen=True: 5x slower to build); eq and hash below
class Reg:
    """One register: its type; for pointers a fixed offset `off` plus a variable part `var`.

    For scalars `var` is the value itself. `id` links copies (null checks and range refinements
    apply to every register with the same id), `ref_obj_id` names an acquired reference.
    """

    type: RegType = RegType.NOT_INIT
    var: Scalar = bounds.known(0)
    off: int = 0
    id: int = 0
    ref_obj_id: int = 0
    maybe_null: bool = False
    rdonly: bool = False
    ringbuf: bool = False
    range: int = 0  # packet: bytes proven accessible from this pointer's offset
    map: Any = None  # MapSpec for map pointers and map values
    mem_size: int = 0  # PTR_TO_MEM / map key sizes
    frameno: int = 0  # stack pointers: which frame's stack
    subprog: int = 0  # PTR_TO_FUNC: slot pc of the callback
    btf_name: str = ""

    def __eq__(self, other: object) -> bool:
        """The generated __eq__'s answer, the value compared first: most registers compared unequal
        differ in it (the loop check compares registers often), and the other fields are then not
        gathered into tuples."""
        if other.__class__ is not Reg:
            return NotImplemented
        o: Reg = other
        return self.var == o.var and (
            self.type, self.off, self.id, self.ref_obj_id, self.maybe_null, self.rdonly, self.ringbuf, self.range,
            self.map, self.mem_size, self.frameno, self.subprog, self.btf_name) == (
            o.type, o.off, o.id, o.ref_obj_id, o.maybe_null, o.rdonly, o.ringbuf, o.range,
            o.map, o.mem_size, o.frameno, o.subprog, o.btf_name)

    def __hash__(self) -> int:
        """The hash of all fields, as dataclass(unsafe_hash=True) made it (written out: a class compiled by
        mypyc that defines __eq__ gets no generated __hash__)."""
        return hash((self.type, self.var, self.off, self.id, self.ref_obj_id, self.maybe_null, self.rdonly,
                     self.ringbuf, self.range, self.map, self.mem_size, self.frameno, self.subprog, self.btf_name))

    @property
    def is_scalar(self) -> bool:
        return self.type is RegType.SCALAR

    @property
    def is_pointer(self) -> bool:
        return self.type not in (RegType.SCALAR, RegType.NOT_INIT)

    def with_(self, **changes: Any) -> Reg:
        """A copy with some fields changed (dataclasses.replace is several times slower)."""
        r = Reg(self.type, self.var, self.off, self.id, self.ref_obj_id, self.maybe_null, self.rdonly, self.ringbuf,
                self.range, self.map, self.mem_size, self.frameno, self.subprog, self.btf_name)
        for name, value in changes.items():  # (a new register: nothing else holds it yet)
            setattr(r, name, value)
        return r

    def with_var(self, var: Scalar) -> Reg:
        """A copy with another value (the hot case of with_); itself when the value is the same object."""
        if var is self.var:
            return self
        return Reg(self.type, var, self.off, self.id, self.ref_obj_id, self.maybe_null, self.rdonly, self.ringbuf,
                   self.range, self.map, self.mem_size, self.frameno, self.subprog, self.btf_name)

    def with_id(self, id: int) -> Reg:  # noqa: A002 - the kernel's name
        """A copy with another id (the other hot case of with_); itself when the id is the same."""
        if id == self.id:
            return self
        return Reg(self.type, self.var, self.off, id, self.ref_obj_id, self.maybe_null, self.rdonly, self.ringbuf,
                   self.range, self.map, self.mem_size, self.frameno, self.subprog, self.btf_name)

    def type_str(self) -> str:
        """The kernel's reg_type_str: e.g. 'scalar', 'map_value_or_null', 'ringbuf_mem'."""
        name = self.type.value
        if self.type is RegType.PTR_TO_BTF_ID:
            name = f"ptr_{self.btf_name}" if self.btf_name else "ptr_"
        if self.type is RegType.PTR_TO_MEM and self.ringbuf:
            name = "ringbuf_mem"
        if self.rdonly and self.type in (RegType.PTR_TO_MEM, RegType.PTR_TO_BTF_ID):
            name = "rdonly_" + name
        if self.maybe_null:
            name += "_or_null"
        return name

    def describe(self) -> str:
        """Kernel-log style text for the state log."""
        if self.type is RegType.SCALAR:
            return self.var.describe() if self.var.is_const() else f"scalar({self.var.describe()})"
        if self.type is RegType.PTR_TO_STACK and self.var.is_const() and self.var.value == 0:
            return f"fp{self.off}"
        parts = []
        if self.id:
            parts.append(f"id={self.id}")
        if self.ref_obj_id:
            parts.append(f"ref_obj_id={self.ref_obj_id}")
        if self.off:
            parts.append(f"off={self.off}")
        if self.type in PACKET_TYPES:
            parts.append(f"r={self.range}")
        if self.map is not None:
            parts.append(f"ks={self.map.key_size},vs={self.map.value_size}")
        if not (self.var.is_const() and self.var.value == 0):
            parts.append(self.var.describe())
        return f"{self.type_str()}({','.join(parts)})"


NOT_INIT = Reg()
UNKNOWN_SCALAR = Reg(RegType.SCALAR, bounds.UNKNOWN)


@lru_cache(maxsize=1 << 16)
def scalar(value: Scalar) -> Reg:
    """A scalar register without links (shared: registers are immutable; most values recur)."""
    return Reg(RegType.SCALAR, value)


@lru_cache(maxsize=4096)
def const(value: int) -> Reg:
    """A known scalar (shared: registers are immutable)."""
    return scalar(bounds.known(value))


# Byte kinds of a stack slot.
INVALID, MISC, ZERO, SPILL = "I", "M", "Z", "S"


@dataclass(slots=True, unsafe_hash=True)  # immutable by convention (frozen=True: 5x slower to build)
class Slot:
    """8 bytes of stack: per-byte kinds (index 0 = lowest address) and the spilled register if any."""

    kinds: str = INVALID * 8
    spilled: Reg | None = None


EMPTY_SLOT = Slot()


@dataclass(slots=True)
class Frame:
    """One call frame: registers, stack slots (index i covers fp-8*(i+1) .. fp-8*i-1)."""

    regs: list[Reg]
    stack: dict[int, Slot]
    callsite: int = -1  # slot pc of the call that created this frame (-1 for the main program)
    subprog: int = 0  # slot pc of the function's first instruction
    depth: int = 0  # deepest stack byte used (positive)
    callback: Any = None  # for callback frames: (ret_min, ret_max)
    uid: int = field(default_factory=itertools.count(1).__next__)  # this call's frame, kept by copies

    def copy(self) -> Frame:
        return Frame(list(self.regs), dict(self.stack), self.callsite, self.subprog, self.depth, self.callback,
                     self.uid)


@dataclass(slots=True, frozen=True)  # shared by state copies
class Reference:
    """An acquired reference (ringbuf reservation, socket) and the instruction that made it."""

    id: int
    insn: int


@dataclass(slots=True)
class State:
    """The whole verifier state on one path: call frames, live references, id counter."""

    frames: list[Frame]
    refs: list[Reference] = field(default_factory=list)
    next_id: int = 1
    loop_depth: int = 0
    callback_unroll: int = 0  # callback iterations returned from on this path (the kernel's callback_unroll_depth)
    # (frame index, 2 * slot + half) 4-byte halves of stack slots fully overwritten since the path's
    # last checkpoint: reads of them do not reach the checkpoints above (REG_LIVE_WRITTEN)
    written: set[tuple[int, int]] = field(default_factory=set)

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    def copy(self) -> State:
        return State([f.copy() for f in self.frames], list(self.refs), self.next_id,
                     self.loop_depth, self.callback_unroll, set(self.written))

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def all_regs(self) -> list[tuple[int, int, Reg]]:
        """(frame index, register or -1-slot, reg) for every register and spilled register."""
        out = []
        for fi, frame in enumerate(self.frames):
            for r, reg in enumerate(frame.regs):
                out.append((fi, r, reg))
            for i, slot in frame.stack.items():
                if slot.spilled is not None:
                    out.append((fi, -1 - i, slot.spilled))
        return out

    def set_reg(self, fi: int, where: int, reg: Reg) -> None:
        """Replace a register (where >= 0) or a spilled register (where = -1 - slot index)."""
        frame = self.frames[fi]
        if where >= 0:
            frame.regs[where] = reg
        else:
            i = -1 - where
            frame.stack[i] = Slot(frame.stack[i].kinds, reg)

    def clear_singular_ids(self) -> None:
        """Drop scalar ids held by one register or slot only: they link nothing (the kernel's
        clear_singular_ids before a state is cached, so pruning need not match them)."""
        scalar = RegType.SCALAR
        held: list[tuple[int, Frame, int]] = []  # (id, frame, register or -1-slot)
        for frame in self.frames:
            held += [(reg.id, frame, r) for r, reg in enumerate(frame.regs) if reg.id and reg.type is scalar]
            if frame.stack:
                held += [(sp.id, frame, -1 - i) for i, slot in frame.stack.items()
                         if (sp := slot.spilled) is not None and sp.id and sp.type is scalar]
        if not held:
            return
        single = {h[0] for h in held}
        if len(single) != len(held):  # some ids repeat: drop them
            seen: set[int] = set()
            for h in held:
                if h[0] in seen:
                    single.discard(h[0])
                seen.add(h[0])
            if not single:
                return
        for i, frame, where in held:
            if i in single:
                if where >= 0:
                    frame.regs[where] = frame.regs[where].with_id(0)
                else:
                    slot = frame.stack[-1 - where]
                    frame.stack[-1 - where] = Slot(slot.kinds, slot.spilled.with_id(0))  # type: ignore[union-attr]
