"""State pruning: whether an explored, fully verified state subsumes the current one (states_equal)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pybpf.verifier.bounds import UNKNOWN
from pybpf.verifier.state import (
    EMPTY_SLOT,
    INVALID,
    MISC,
    SPILL,
    ZERO,
    Frame,
    Reg,
    RegType,
    Slot,
    State,
)

SPILL8 = SPILL * 8


@dataclass(slots=True)
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
    # stack liveness (the kernel's REG_LIVE_READ on slots), by 4-byte halves: (frame index, 2 * slot +
    # half) some continuation of this checkpoint read before overwriting; complete once branches is 0
    reads: set[tuple[int, int]] = field(default_factory=set)
    written: set[tuple[int, int]] = field(default_factory=set)  # halves overwritten on the way from parent
    by_frame: dict[int, list[int]] = field(default_factory=dict)  # the slots read, by frame
    # where the last comparison failed, and the current register that failed there (rejected again at
    # once: precision only grows, so a register once rejected stays rejected)
    hint: list[Any] = field(default_factory=lambda: [None, None])
    walks: dict[int, tuple[int, frozenset[int]]] = field(default_factory=dict)  # precision walks over hist
    loop_hint: int = 0  # the register that differed when this (branching) checkpoint was last checked for a loop


class _IdMap:
    __slots__ = ("fwd", "back", "fail")  # (one per comparison of two states: built often)

    def __init__(self) -> None:
        self.fwd: dict[int, int] = {}
        self.back: dict[int, int] = {}
        self.fail: tuple[int, int] | None = None  # the register (or -1-slot) that differed

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

    def check_scalar(self, old: int, cur: int) -> bool:
        """The kernel's check_scalar_ids: a missing id is a fresh one, linked to nothing."""
        if old == 0 and cur == 0:
            return True
        if old == 0:
            if cur in self.back:
                return False
            self.back[cur] = 0
            return True
        if cur == 0:
            if old in self.fwd:
                return False
            self.fwd[old] = 0
            return True
        return self.check(old, cur)


_NOT_INIT, _SCALAR = RegType.NOT_INIT, RegType.SCALAR
_PACKET = (RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META)


def regsafe(old: Reg, cur: Reg, ids: _IdMap, exact: bool, imprecise: bool = False) -> bool:
    """Whether every behaviour of `cur` was already covered when `old` was verified."""
    if exact:
        if old.with_(id=0, ref_obj_id=0) != cur.with_(id=0, ref_obj_id=0):
            return False
        return ids.check(old.id, cur.id)
    ot = old.type
    if ot is _NOT_INIT:
        return True
    if old is cur:  # unchanged since the checkpoint: only the id links need to agree
        if ot is _SCALAR:
            return imprecise or not old.id or ids.check_scalar(old.id, old.id)
        if not old.id and not old.ref_obj_id:
            return True
        ref = old.ref_obj_id + (1 << 40) if old.ref_obj_id else 0
        return ids.check(old.id, old.id) and ids.check(ref, ref)
    if cur.type is not ot:
        return False
    if ot is _SCALAR:
        if imprecise:
            return True
        return cur.var.within(old.var) and ids.check_scalar(old.id, cur.id)
    om, cm = old.map, cur.map
    if om is not cm and (om is None or cm is None or om.name != cm.name or om != cm):
        return False  # (another map: most often another name, without comparing whole specs)
    if (old.maybe_null, old.rdonly, old.ringbuf, old.frameno, old.mem_size, old.subprog,
            old.btf_name) != (cur.maybe_null, cur.rdonly, cur.ringbuf, cur.frameno, cur.mem_size,
                              cur.subprog, cur.btf_name):
        return False
    if old.off != cur.off or not cur.var.within(old.var):
        return False
    if ot in _PACKET and cur.range < old.range:
        return False
    if not ids.check(old.id, cur.id) or not ids.check(old.ref_obj_id + (1 << 40) if old.ref_obj_id else 0,
                                                      cur.ref_obj_id + (1 << 40) if cur.ref_obj_id else 0):
        return False
    return True


def _slot_exact(old: Slot, cur: Slot, ids: _IdMap) -> bool:
    """Same bytes, spilled registers equal up to a renaming of ids (loop detection)."""
    if old.kinds != cur.kinds or (old.spilled is None) != (cur.spilled is None):
        return False
    return old.spilled is None or cur.spilled is None or regsafe(old.spilled, cur.spilled, ids, True)


_UNBOUND = Reg(RegType.SCALAR, UNKNOWN)


def _scalar_view(slot: Slot, uninit_ok: bool) -> Reg | None:
    """The kernel's scalar_reg_for_stack: a 64-bit scalar spill, or unknown bytes read as a scalar."""
    if slot.spilled is not None and slot.kinds == SPILL8 and slot.spilled.type is RegType.SCALAR:
        return slot.spilled
    for k in slot.kinds:
        if k != MISC and not (k == INVALID and uninit_ok):
            return None
    return _UNBOUND


@lru_cache(maxsize=1024)
def _relevant(kinds: str, uninit_ok: bool) -> tuple[int, ...]:
    """The bytes of an old slot that constrain the current one."""
    return tuple(j for j, k in enumerate(kinds) if k != INVALID and not (uninit_ok and k == MISC))


def _slot_safe(old: Slot, cur: Slot, ids: _IdMap, imprecise: bool, uninit_ok: bool) -> bool:
    """The kernel's stacksafe for one 8-byte slot the old state's continuations read."""
    osp = old.spilled
    if old is cur:
        return osp is None or regsafe(osp, osp, ids, False, imprecise)
    if osp is not None and old.kinds == SPILL8 and osp.type is _SCALAR:  # the common case, in short:
        csp = cur.spilled  # two 64-bit scalar spills compare as registers
        if csp is not None and cur.kinds == SPILL8 and csp.type is _SCALAR:
            return regsafe(osp, csp, ids, False, imprecise)
    relevant = _relevant(old.kinds, uninit_ok)
    if not relevant:
        return True
    old_reg = _scalar_view(old, uninit_ok)
    if old_reg is not None:
        cur_reg = _scalar_view(cur, uninit_ok)
        if cur_reg is not None:
            return regsafe(old_reg, cur_reg, ids, False, imprecise and old_reg is old.spilled)
    ok, kc = old.kinds, cur.kinds
    for j in relevant:
        if ok[j] != kc[j] and not (ok[j] == MISC and kc[j] == ZERO):
            return False
    if ok[0] == SPILL:
        if old.spilled is None or cur.spilled is None:
            return old.spilled is None
        return regsafe(old.spilled, cur.spilled, ids, False, imprecise)
    return True


def _frame_safe(old: Frame, cur: Frame, live: Iterable[int], ids: _IdMap, exact: bool,
                fi: int, precise: set[tuple[int, int]] | None, reads: Mapping[int, list[int]] | None,
                uninit_ok: bool) -> bool:
    if old.callsite != cur.callsite or old.subprog != cur.subprog:
        return False
    oregs, cregs = old.regs, cur.regs
    if not exact:
        for r in live:
            o, c = oregs[r], cregs[r]
            if o is c:
                if not o.id and not o.ref_obj_id:
                    continue  # unchanged since the checkpoint and linked to nothing
            elif o.type is _SCALAR and c.type is _SCALAR and not o.id and not c.id:  # regsafe, in short
                if precise is None or (fi, r) in precise:
                    if not c.var.within(o.var):
                        ids.fail = (fi, r)
                        return False
                continue
            if not regsafe(o, c, ids, False, precise is not None and (fi, r) not in precise):
                ids.fail = (fi, r)
                return False
        return _stack_safe(old.stack, cur.stack, ids, fi, precise, reads, uninit_ok)
    for r in live:
        if not regsafe(oregs[r], cregs[r], ids, exact, precise is not None and (fi, r) not in precise):
            ids.fail = (fi, r)
            return False
    empty = EMPTY_SLOT
    for i in set(old.stack) | set(cur.stack):
        if not _slot_exact(old.stack.get(i, empty), cur.stack.get(i, empty), ids):
            return False
    return True


def _stack_safe(ostack: dict[int, Slot], cstack: dict[int, Slot], ids: _IdMap, fi: int,
                precise: set[tuple[int, int]] | None, reads: Mapping[int, list[int]] | None,
                uninit_ok: bool) -> bool:
    """The stack half of _frame_safe (not exact): the slots old's continuations read."""
    slots = ostack if reads is None else reads.get(fi, ())
    empty = EMPTY_SLOT
    for i in slots:
        so = ostack.get(i)
        if so is None:
            continue
        sc = cstack.get(i, empty)
        osp = so.spilled
        if so is sc:
            if osp is None or (not osp.id and not osp.ref_obj_id):
                continue  # unchanged since the checkpoint and linked to nothing
        elif osp is not None and osp.type is _SCALAR and not osp.id and so.kinds == SPILL8:
            csp = sc.spilled  # two unlinked 64-bit scalar spills: _slot_safe, in short
            if csp is not None and csp.type is _SCALAR and not csp.id and sc.kinds == SPILL8:
                if (precise is None or (fi, -1 - i) in precise) and not csp.var.within(osp.var):
                    ids.fail = (fi, -1 - i)
                    return False
                continue
        if not _slot_safe(so, sc, ids, precise is not None and (fi, -1 - i) not in precise, uninit_ok):
            ids.fail = (fi, -1 - i)
            return False
    return True


ALL = range(11)
_ONE = (0,)  # the frames of a one-frame state (no range built)


class _FreshIds(_IdMap):
    """What a new, empty id map answers, without building one (for the one-register pre-check)."""

    __slots__ = ()

    def check(self, old: int, cur: int) -> bool:
        return old == 0 or cur != 0

    def check_scalar(self, old: int, cur: int) -> bool:
        return True


_FRESH = _FreshIds()


def _differs(old: State, cur: State, key: tuple[int, int], precise: set[tuple[int, int]] | None,
             uninit_ok: bool) -> bool:
    """Whether one register or slot alone (the last one that differed) rules out subsumption."""
    fi, where = key
    if fi >= len(old.frames):
        return False
    fo, fc = old.frames[fi], cur.frames[fi]
    if where >= 0:
        o, c = fo.regs[where], fc.regs[where]
        if o is c:
            return False  # regsafe of a register with itself holds with a fresh id map
        return not regsafe(o, c, _FRESH, False, precise is not None and key not in precise)
    so = fo.stack.get(-1 - where)
    return so is not None and not _slot_safe(so, fc.stack.get(-1 - where, EMPTY_SLOT), _FRESH,
                                             precise is not None and key not in precise, uninit_ok)


def states_equal(old: State, cur: State, live: Iterable[int], exact: bool = False,
                 precise: set[tuple[int, int]] | None = None, reads: Mapping[int, list[int]] | None = None,
                 uninit_ok: bool = False, hint: list[Any] | None = None) -> bool:
    """Whether `cur` is subsumed by `old` (with register liveness of the current frame).

    `precise` names the scalars (frame, register or -1-slot) whose ranges old's verification
    depended on; other scalars only need to be scalars. None compares every scalar's range.
    `reads` names the stack slots (by frame) old's continuations read; None compares every slot.
    `uninit_ok` (privileged: the kernel's allow_uninit_stack): bytes old holds as unknown data
    match anything. `hint` ([key or None]) remembers where the last comparison with old failed;
    checking that first rejects most states at the cost of one register (a necessary condition:
    it never accepts on its own).
    """
    ofr, cfr = old.frames, cur.frames
    n = len(ofr)
    if n != len(cfr) or len(old.refs) != len(cur.refs):
        return False
    if hint is not None and not exact:
        key = hint[0]
        if key is not None and _differs(old, cur, key, precise, uninit_ok):
            return False
    return _states_safe(old, cur, live, exact, precise, reads, uninit_ok, hint)


def _states_safe(old: State, cur: State, live: Iterable[int], exact: bool,
                 precise: set[tuple[int, int]] | None, reads: Mapping[int, list[int]] | None,
                 uninit_ok: bool, hint: list[Any] | None) -> bool:
    """states_equal after its cheap necessary checks (same depth and references, the hint)."""
    ofr, cfr = old.frames, cur.frames
    n = len(ofr)
    ids = _IdMap()
    last = n - 1
    for i in range(n) if n > 1 else _ONE:
        if not _frame_safe(ofr[i], cfr[i], live if i == last else ALL, ids, exact, i, precise, reads,
                           uninit_ok):
            if hint is not None:
                hint[0] = ids.fail
                if len(hint) > 1:  # (a checkpoint's hint: the register it rejected is another one now)
                    hint[1] = None
            return False
    if old.refs:  # (most states hold no reference)
        for a, b in zip(old.refs, cur.refs, strict=False):
            if not ids.check(a.id + (1 << 40), b.id + (1 << 40)):
                return False
    return True


def subsumes(cp: Checkpoint, cur: State, live: Iterable[int], uninit_ok: bool) -> bool:
    """states_equal(cp.state, cur, ...) with the checkpoint's precision, reads and hint; the hint
    check for a register inline (most comparisons end there)."""
    old = cp.state
    ofr, cfr = old.frames, cur.frames
    n = len(ofr)
    if n != len(cfr) or len(old.refs) != len(cur.refs):
        return False
    precise = None if cp.all_precise else cp.precise
    hint = cp.hint
    key = hint[0]
    if key is not None:
        fi, where = key
        if fi < n:
            if where >= 0:
                c = cfr[fi].regs[where]
                if c is hint[1]:
                    return False
                o = ofr[fi].regs[where]
                if o is not c:
                    if o.type is _SCALAR:
                        if c.type is not _SCALAR or ((precise is None or key in precise)
                                                     and not c.var.within(o.var)):
                            hint[1] = c
                            return False
                    elif not regsafe(o, c, _FRESH, False, precise is not None and key not in precise):
                        hint[1] = c
                        return False
            else:
                sc = cfr[fi].stack.get(-1 - where, EMPTY_SLOT)
                if sc is hint[1]:
                    return False
                so = ofr[fi].stack.get(-1 - where)
                if so is not None and sc is not so:  # (a slot is safe against itself)
                    osp = so.spilled
                    if so.kinds == SPILL8 and osp is not None and osp.type is _SCALAR:
                        csp = sc.spilled  # two 64-bit scalar spills, in short
                        if csp is None or sc.kinds != SPILL8 or csp.type is not _SCALAR:
                            if not _slot_safe(so, sc, _FRESH, precise is not None and key not in precise,
                                              uninit_ok):
                                hint[1] = sc
                                return False
                        elif (precise is None or key in precise) and not csp.var.within(osp.var):
                            hint[1] = sc
                            return False
                    elif not _slot_safe(so, sc, _FRESH, precise is not None and key not in precise, uninit_ok):
                        hint[1] = sc
                        return False
    return _states_safe(old, cur, live, False, precise, cp.by_frame, uninit_ok, hint)


def states_looping(old: State, cur: State, live: Iterable[int] = ALL) -> bool:
    """The kernel's states_maybe_looping: same frame depth and identical live current-frame registers."""
    if len(old.frames) != len(cur.frames):
        return False
    a, b = old.cur.regs, cur.cur.regs
    for r in live:
        x, y = a[r], b[r]
        if x is not y and x != y:
            return False
    return True


def looping(cp: Checkpoint, cur: State, live: Iterable[int]) -> bool:
    """states_looping(cp.state, cur, live) for a checkpoint whose paths are still explored (its
    state is final): the register that differed last time is compared first (most checks end there)."""
    old = cp.state
    if len(old.frames) != len(cur.frames):
        return False
    a, b = old.frames[-1].regs, cur.frames[-1].regs
    r = cp.loop_hint
    x, y = a[r], b[r]
    if x is not y and x != y and r in live:
        return False
    for r in live:
        x, y = a[r], b[r]
        if x is not y and x != y:
            cp.loop_hint = r
            return False
    return True
