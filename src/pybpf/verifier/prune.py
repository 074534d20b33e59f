"""State pruning: whether an explored, fully verified state subsumes the current one (states_equal)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pybpf.verifier.state import INVALID, MISC, SPILL, ZERO, Frame, Reg, RegType, Slot, State


@dataclass
class Checkpoint:
    """A state saved at a prune point; `branches` counts the paths below it still being explored."""

    pc: int
    state: State
    parent: Checkpoint | None
    branches: int
    hits: int = 0
    misses: int = 0
    hist: list[Any] = field(default_factory=list)
    precise: set[tuple[int, int]] = field(default_factory=set)
    all_precise: bool = False
    # stack liveness (the kernel's REG_LIVE_READ on slots): (frame index, slot) some continuation of
    # this checkpoint read before overwriting; complete once branches reaches 0
    reads: set[tuple[int, int]] = field(default_factory=set)
    written: set[tuple[int, int]] = field(default_factory=set)  # overwritten on the way from parent


class _IdMap:
    def __init__(self) -> None:
        self.fwd: dict[int, int] = {}
        self.back: dict[int, int] = {}

    def check(self, old: int, cur: int) -> bool:
        if old == 0:
            return True
        if cur == 0:
            return False
        a, b = self.fwd.get(old), self.back.get(cur)
        if a is None and b is None:
            self.fwd[old] = cur
            self.back[cur] = old
            return True
        return a == cur and b == old


def regsafe(old: Reg, cur: Reg, ids: _IdMap, exact: bool, imprecise: bool = False) -> bool:
    """Whether every behaviour of `cur` was already covered when `old` was verified."""
    if exact:
        if old.with_(id=0, ref_obj_id=0) != cur.with_(id=0, ref_obj_id=0):
            return False
        return ids.check(old.id, cur.id)
    if old.type is RegType.NOT_INIT:
        return True
    if cur.type is not old.type:
        return False
    if old.type is RegType.SCALAR:
        if imprecise:
            return True
        if not cur.var.within(old.var):
            return False
        return ids.check(old.id, cur.id)
    if (old.maybe_null, old.rdonly, old.ringbuf, old.map, old.frameno, old.mem_size, old.subprog,
            old.btf_name) != (cur.maybe_null, cur.rdonly, cur.ringbuf, cur.map, cur.frameno, cur.mem_size,
                              cur.subprog, cur.btf_name):
        return False
    if old.off != cur.off or not cur.var.within(old.var):
        return False
    if old.type in (RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META) and cur.range < old.range:
        return False
    if not ids.check(old.id, cur.id) or not ids.check(old.ref_obj_id + (1 << 40) if old.ref_obj_id else 0,
                                                      cur.ref_obj_id + (1 << 40) if cur.ref_obj_id else 0):
        return False
    return True


def _slot_safe(old: Slot, cur: Slot, ids: _IdMap, exact: bool, imprecise: bool = False) -> bool:
    if exact:  # same bytes, spilled registers equal up to a renaming of ids
        if old.kinds != cur.kinds or (old.spilled is None) != (cur.spilled is None):
            return False
        return old.spilled is None or cur.spilled is None or regsafe(old.spilled, cur.spilled, ids, True)
    for k_old, k_cur in zip(old.kinds, cur.kinds, strict=False):
        if k_old == INVALID:
            continue
        if k_old == MISC and k_cur in (MISC, ZERO):
            continue
        if k_old == ZERO and k_cur == ZERO:
            continue
        if k_old == SPILL and k_cur == SPILL:
            continue
        if k_old == MISC and k_cur == SPILL and cur.spilled is not None and cur.spilled.is_scalar:
            continue
        return False
    if old.spilled is not None and SPILL in old.kinds:
        if cur.spilled is None:
            return False
        if not regsafe(old.spilled, cur.spilled, ids, False, imprecise):
            return False
        if old.kinds.count(SPILL) != cur.kinds.count(SPILL):
            return False
    return True


def _frame_safe(old: Frame, cur: Frame, live: Iterable[int], ids: _IdMap, exact: bool,
                fi: int, precise: set[tuple[int, int]] | None, reads: set[tuple[int, int]] | None) -> bool:
    if old.callsite != cur.callsite or old.subprog != cur.subprog:
        return False
    for r in live:
        imprecise = precise is not None and (fi, r) not in precise
        if not regsafe(old.regs[r], cur.regs[r], ids, exact, imprecise):
            return False
    empty = Slot()
    slots = set(old.stack) | set(cur.stack) if reads is None else [i for f, i in reads if f == fi]
    for i in slots:
        imprecise = precise is not None and (fi, -1 - i) not in precise
        if not _slot_safe(old.stack.get(i, empty), cur.stack.get(i, empty), ids, exact, imprecise):
            return False
    return True


ALL = range(11)


def states_equal(old: State, cur: State, live: Iterable[int], exact: bool = False,
                 precise: set[tuple[int, int]] | None = None, reads: set[tuple[int, int]] | None = None) -> bool:
    """Whether `cur` is subsumed by `old` (with register liveness of the current frame).

    `precise` names the scalars (frame, register or -1-slot) whose ranges old's verification
    depended on; other scalars only need to be scalars. None compares every scalar's range.
    `reads` names the stack slots (frame, slot) old's continuations read; None compares every slot.
    """
    if len(old.frames) != len(cur.frames):
        return False
    if len(old.refs) != len(cur.refs):
        return False
    ids = _IdMap()
    n = len(old.frames)
    for i in range(n):
        regs = live if i == n - 1 else ALL
        if not _frame_safe(old.frames[i], cur.frames[i], regs, ids, exact, i, precise, reads):
            return False
    for a, b in zip(old.refs, cur.refs, strict=False):
        if not ids.check(a.id + (1 << 40), b.id + (1 << 40)):
            return False
    return True


def states_looping(old: State, cur: State, live: Iterable[int] = ALL) -> bool:
    """The kernel's states_maybe_looping: same frame depth and identical live current-frame registers."""
    if len(old.frames) != len(cur.frames):
        return False
    a, b = old.cur.regs, cur.cur.regs
    return all(a[r] == b[r] for r in live)
