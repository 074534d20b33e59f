"""Combined bounds checks: one range check for the accesses of a basic block that share a base.

A straight-line block often reads many fields off one pointer (`r5 + 8`, `r5 + 9`, ... a header,
an unrolled copy). Checking each access on its own costs a compare and a branch apiece and keeps
LLVM from merging the loads. Instead the block is emitted twice from one point on: a check that
every such group's whole span [base + min(off), base + max(off + size)) lies inside the cached
region or the current stack frame (writable when a group stores) selects a copy where the
grouped accesses run unchecked; when it fails, the ordinary copy checks every access on its
own, so a fault is still reported at exactly the instruction the interpreter names.

A block has no calls (they end blocks), so no helper can move or free memory between the
combined check and the accesses it covers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import InsnClass, Mode

_LOADS = (Mode.MEM, Mode.MEMSX)
MIN_GROUP = 4  # fewer accesses are cheaper checked one by one than through a second copy


@dataclass(frozen=True)
class Group:
    """Accesses off one value of a base register: its span relative to the register."""

    reg: int
    low: int
    high: int
    write: bool
    pcs: tuple[int, ...]


@dataclass(frozen=True)
class CheckPlan:
    """Where the combined check goes (index into the block's body) and what it covers."""

    at: int
    groups: tuple[Group, ...]

    @property
    def covered(self) -> frozenset[int]:
        return frozenset(pc for g in self.groups for pc in g.pcs)


def _access(insn: Instruction) -> tuple[int, int, int, bool] | None:
    """(base register, offset, size, writes) of a plain load/store/atomic, else None."""
    cls = insn.opcode & 0x07
    mode = insn.opcode & 0xE0
    if cls == InsnClass.LDX and mode in _LOADS and not (mode == Mode.MEMSX and insn.size == 8):
        return insn.src, insn.off, insn.size, False
    if cls == InsnClass.ST and mode == Mode.MEM:
        return insn.dst, insn.off, insn.size, True
    if cls == InsnClass.STX and (mode == Mode.MEM or (mode == Mode.ATOMIC and insn.size in (4, 8))):
        return insn.dst, insn.off, insn.size, True
    return None


def _writes(insn: Instruction) -> set[int]:
    """Registers `insn` may write (conservatively: atomics may write src and r0)."""
    cls = insn.opcode & 0x07
    if cls in (InsnClass.ALU, InsnClass.ALU64, InsnClass.LDX, InsnClass.LD):
        return {0, insn.dst} if cls == InsnClass.LD else {insn.dst}
    if cls == InsnClass.STX and insn.opcode & 0xE0 == Mode.ATOMIC:
        return {0, insn.src}
    return set()


def plan_checks(
    slots: Mapping[int, Instruction], body: Sequence[int], *, max_span: int = 4096
) -> CheckPlan | None:
    """The best single point to check groups of MIN_GROUP or more accesses at, or None."""
    groups: dict[tuple[int, int], list[tuple[int, int, int, bool]]] = {}
    last_def: dict[int, int] = {}
    for index, pc in enumerate(body):
        insn = slots[pc]
        access = _access(insn)
        if access is not None and access[0] < 10:  # r10 offsets fold away already
            reg, off, size, write = access
            groups.setdefault((reg, last_def.get(reg, 0)), []).append((pc, off, size, write))
        for reg in _writes(insn):
            last_def[reg] = index + 1
    candidates: dict[int, list[Group]] = {}
    for (reg, at), members in groups.items():
        if len(members) < MIN_GROUP:
            continue
        low = min(off for _, off, _, _ in members)
        high = max(off + size for _, off, size, _ in members)
        if high - low > max_span:
            continue
        group = Group(reg, low, high, any(w for *_, w in members), tuple(pc for pc, *_ in members))
        candidates.setdefault(at, []).append(group)
    position = {pc: index for index, pc in enumerate(body)}
    best: CheckPlan | None = None
    best_count = 0
    for at in sorted(candidates):
        # a group keyed by the last write of its register before `at` still holds that value
        usable = [g for a, gs in candidates.items() if a <= at for g in gs
                  if all(position[pc] >= at for pc in g.pcs)]
        count = sum(len(g.pcs) for g in usable)
        if count > best_count:
            best, best_count = CheckPlan(at, tuple(usable)), count
    return best
