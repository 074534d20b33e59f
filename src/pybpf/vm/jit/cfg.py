"""Control-flow facts about an eBPF program the translator needs: functions, successors, depth.

Pure functions over the instruction list (slot pcs, like the kernel): the pcs where functions
start, the successors of an instruction, what is reachable from a function's entry, how deep
calls can nest and how much of the stack a program can reach (to zero no more than that).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pybpf.isa.instruction import Instruction, func_pointer_target, iter_slots
from pybpf.isa.opcodes import (
    CALL,
    CALLX,
    EXIT,
    JA,
    JA32,
    LDDW,
    MAX_CALL_FRAMES,
    STACK_SIZE,
    CallSrc,
    InsnClass,
    PseudoSrc,
)


def find_functions(insns: Sequence[Instruction]) -> list[int]:
    """Slot pcs of every function: 0 and each local call / function-pointer target, sorted."""
    targets = {0}
    for pc, insn in iter_slots(insns):
        if insn.opcode == CALL and insn.src == CallSrc.LOCAL:
            targets.add(pc + 1 + insn.imm)
        elif insn.opcode == LDDW and insn.src == PseudoSrc.FUNC:
            targets.add(func_pointer_target(pc, insn))
    by_pc = {pc for pc, _ in iter_slots(insns)}
    return sorted(t for t in targets if t in by_pc)


def static_max_depth(insns: Sequence[Instruction], functions: Sequence[int]) -> int:
    """Deepest frame index a run can reach (MAX_CALL_FRAMES - 1 with recursion or callx)."""
    slots = dict(iter_slots(insns))
    edges: dict[int, set[int]] = {f: set() for f in functions}
    fset = set(functions)
    for f in functions:
        for pc in reachable(slots, f):
            insn = slots[pc]
            if insn.opcode == CALLX:
                return MAX_CALL_FRAMES - 1
            if insn.opcode == CALL and insn.src == CallSrc.LOCAL:
                target = pc + 1 + insn.imm
                if target in fset:
                    edges[f].add(target)
    depth: dict[int, int] = {}

    def visit(f: int, seen: frozenset[int]) -> int:
        if f in seen:
            return MAX_CALL_FRAMES
        if f not in depth:
            depth[f] = max((1 + visit(g, seen | {f}) for g in edges[f]), default=0)
        return depth[f]

    return min(visit(0, frozenset()) if 0 in fset else 0, MAX_CALL_FRAMES - 1)


def stack_bytes_used(insns: Sequence[Instruction]) -> int:
    """How many bytes below r10 the program can reach: 0 without r10, STACK_SIZE if r10 escapes.

    r10 used only as the base of loads/stores with constant offsets reaches max(-off) bytes;
    any other use (copied, compared, stored, passed) may reach the whole frame.
    """
    need = 0
    for insn in insns:
        cls = insn.opcode & 0x07
        if cls == InsnClass.LDX and insn.src == 10:
            need = max(need, -insn.off)
            continue
        if cls in (InsnClass.ST, InsnClass.STX) and insn.dst == 10:
            if cls == InsnClass.STX and insn.src == 10:
                return STACK_SIZE
            need = max(need, -insn.off)
            continue
        if insn.opcode in (CALL, EXIT, JA, JA32) or insn.opcode == LDDW:
            if insn.dst == 10 and insn.opcode == LDDW:
                return STACK_SIZE
            continue
        reads_src = cls in (InsnClass.ALU, InsnClass.ALU64, InsnClass.JMP, InsnClass.JMP32, InsnClass.STX)
        if insn.dst == 10 or (reads_src and insn.opcode & 0x08 and insn.src == 10):
            return STACK_SIZE
    return min((need + 7) // 8 * 8, STACK_SIZE)


def has_backward_jump(slots: Mapping[int, Instruction]) -> bool:
    """Whether any jump goes back (a loop, as compilers lay code out; not a proof of one)."""
    return any(target <= pc for pc in slots for target in successors(slots, pc))


def successors(slots: Mapping[int, Instruction], pc: int) -> list[int]:
    insn = slots[pc]
    nxt = pc + insn.slots
    cls = insn.opcode & 0x07
    if insn.opcode == EXIT:
        return []
    if insn.opcode == JA:
        return [pc + 1 + insn.off]
    if insn.opcode == JA32:
        return [pc + 1 + insn.imm]
    if cls in (InsnClass.JMP, InsnClass.JMP32) and insn.opcode not in (CALL, CALLX):
        return [nxt, pc + 1 + insn.off]
    return [nxt]


def reachable(slots: Mapping[int, Instruction], entry: int) -> list[int]:
    seen: set[int] = set()
    todo = [entry]
    while todo:
        pc = todo.pop()
        if pc in seen or pc not in slots:
            continue
        seen.add(pc)
        todo.extend(successors(slots, pc))
    return sorted(seen)


def block_leaders(slots: Mapping[int, Instruction], pcs: Sequence[int], entry: int) -> list[int]:
    """The first pc of every basic block among `pcs`: the entry, jump targets and what follows a branch."""
    leaders = {entry}
    for pc in pcs:
        insn = slots[pc]
        if insn.opcode & 0x07 in (InsnClass.JMP, InsnClass.JMP32):
            leaders.update(s for s in successors(slots, pc) if s in slots)
            if insn.opcode not in (EXIT, JA, JA32):
                leaders.add(pc + insn.slots)
    pcset = set(pcs)
    return sorted(p for p in leaders if p in pcset)


def block_bodies(slots: Mapping[int, Instruction], pcs: Sequence[int], leaders: Sequence[int]) -> dict[int, list[int]]:
    """Leader -> the pcs of its block, up to its jump or the next leader."""
    pcset = set(pcs)
    bodies: dict[int, list[int]] = {}
    for index, start in enumerate(leaders):
        end = leaders[index + 1] if index + 1 < len(leaders) else None
        body: list[int] = []
        pc = start
        while pc in pcset and (end is None or pc < end):
            body.append(pc)
            insn = slots[pc]
            if insn.opcode & 0x07 in (InsnClass.JMP, InsnClass.JMP32):
                break
            pc += insn.slots
        bodies[start] = body
    return bodies


def budget_regions(
    slots: Mapping[int, Instruction], entry: int, bodies: Mapping[int, Sequence[int]]
) -> tuple[set[int], dict[int, int]]:
    """Budget checkpoints of a function and, for each, the longest run to the next checkpoint.

    Checkpoints are the entry, every target of a DFS back edge (so every loop has one) and
    every block after a call (the callee spends budget). Between checkpoints the blocks form
    a DAG, so `maxpath[p]` (instructions on the longest path from checkpoint p until a
    checkpoint or an exit) bounds what can run before the next comparison.
    """
    succ: dict[int, list[int]] = {}
    after_call: set[int] = set()
    for start, body in bodies.items():
        if not body:
            succ[start] = []
            continue
        last = body[-1]
        insn = slots[last]
        succ[start] = [t for t in successors(slots, last) if t in bodies]
        if insn.opcode in (CALL, CALLX):
            after_call.update(succ[start])
    back_targets: set[int] = set()
    state: dict[int, int] = {}  # 1 on the DFS stack, 2 done
    stack: list[tuple[int, int]] = [(entry, 0)]
    state[entry] = 1
    while stack:
        node, index = stack.pop()
        children = succ.get(node, [])
        if index < len(children):
            stack.append((node, index + 1))
            child = children[index]
            if state.get(child) == 1:
                back_targets.add(child)
            elif child not in state:
                state[child] = 1
                stack.append((child, 0))
        else:
            state[node] = 2
    checkpoints = {entry} | back_targets | after_call
    longest: dict[int, int] = {}

    def kids(node: int) -> list[int]:
        return [c for c in succ.get(node, []) if c not in checkpoints]

    def run_from(block: int) -> int:
        """Instructions on the longest path from `block` to the next checkpoint (post-order)."""
        stack: list[tuple[int, bool]] = [(block, False)]
        while stack:
            node, expanded = stack.pop()
            if node in longest:
                continue
            if expanded:
                longest[node] = len(bodies[node]) + max((longest[c] for c in kids(node)), default=0)
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in kids(node) if c not in longest)
        return longest[block]

    maxpath = {
        p: len(bodies[p]) + max((run_from(c) for c in kids(p)), default=0)
        for p in checkpoints
        if p in bodies
    }
    return checkpoints, maxpath


def shortest_on_entry(
    slots: Mapping[int, Instruction], bodies: Mapping[int, Sequence[int]], checkpoints: set[int]
) -> dict[int, int]:
    """For each block, the fewest instructions any path runs from the last checkpoint to it.

    A checkpoint starts from 0; every edge into any other block is a forward edge (loop heads
    and blocks after calls are checkpoints), so the blocks between checkpoints form a DAG. The
    fast copy counts only how far a run is above this shortest path, so the count changes only
    on the edges that leave a shortest path (a skipped-over branch), not in every block.
    """
    preds: dict[int, list[int]] = {start: [] for start in bodies}
    for start, body in bodies.items():
        if body:
            for t in successors(slots, body[-1]):
                if t in preds:
                    preds[t].append(start)
    known: dict[int, int] = {}
    for block in bodies:
        stack = [block]
        while stack:
            node = stack[-1]
            if node in known:
                stack.pop()
                continue
            if node in checkpoints or not preds[node]:
                known[node] = 0
                stack.pop()
                continue
            pending = [p for p in preds[node] if p not in known]
            if pending:
                stack.extend(pending)
                continue
            known[node] = min(known[p] + len(bodies[p]) for p in preds[node])
            stack.pop()
    return known
