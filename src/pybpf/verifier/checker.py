"""The abstract interpreter: explores every path of a program over register/stack states, like the kernel."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pybpf.abi import ProgramType
from pybpf.errors import VerifierError
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import CALL, EXIT, JA, JA32, LDDW, InsnClass
from pybpf.object.spec import MapReference, MapSpec
from pybpf.verifier import alu, calls, cfg, exits, global_funcs, jumps, load_store, precision
from pybpf.verifier.bounds import S64_MAX
from pybpf.verifier.context import PACKET_ACCESS
from pybpf.verifier.log import StateLog
from pybpf.verifier.prune import Checkpoint, looping, states_equal, subsumes
from pybpf.verifier.state import (
    EMPTY_SLOT,
    NOT_INIT,
    UNKNOWN_SCALAR,
    Frame,
    Reg,
    RegType,
    Slot,
    State,
)

INSN_LIMIT = 1_000_000
_NOT_INIT = RegType.NOT_INIT
_ALU, _ALU64, _LDX, _ST, _STX, _LD = (int(InsnClass.ALU), int(InsnClass.ALU64), int(InsnClass.LDX),
                                      int(InsnClass.ST), int(InsnClass.STX), int(InsnClass.LD))
_JMP, _JMP32 = int(InsnClass.JMP), int(InsnClass.JMP32)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a verification: the walk allocates millions of
    short-lived, acyclic states and registers, and the collector would re-scan every live one
    again and again (its cost grows with the number of checkpoints kept)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class Outcome:
    """What a successful verification measured."""

    processed_insns: int
    peak_states: int
    total_states: int
    max_stack_depth: int
    time_ns: int
    log: str = ""


@dataclass(slots=True)
class _Path:
    pc: int
    state: State
    parent: Checkpoint | None
    hist: list[Any] = field(default_factory=list)
    origin: int | None = None  # the jump this path was pushed at (for the log)


@dataclass
class Checker:
    """Verifies one program (its instructions with sub-programs) of one program type."""

    insns: Sequence[Instruction]
    program_type: int = ProgramType.SOCKET_FILTER
    privileged: bool = True
    maps: Mapping[str, MapSpec] = field(default_factory=dict)
    map_references: Sequence[MapReference] = ()
    license: str = "GPL"
    log_enabled: bool = False
    allow_uninit_indirect: bool = True
    packet_types: frozenset[int] = PACKET_ACCESS
    func_infos: tuple[Any, ...] = ()
    btf: Any = None
    attach_type: int | None = None  # the expected attach type (some context rules depend on it)
    attach_to: str = ""  # the BTF attach target of tracing and LSM programs
    frame_depths: dict[int, int] = field(default_factory=dict)
    callback_sites: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.refs_by_pc = {r.pc: r for r in self.map_references}
        self.lddw_regs: dict[int, Reg] = {}  # the register each map-reference lddw loads (shared)
        self.log = StateLog(self.log_enabled)
        self.processed = 0
        self.note: Any = None  # what the instruction being checked leaves for precision (see precision.Entry)
        self.explored: dict[int, list[Checkpoint]] = {}
        self.total_states = 0
        self.peak_states = 0
        self.cur_states = 0
        self.subprog_depth: dict[int, int] = {}
        self.ctx_ids = 0
        self.jumps = self.prev_jumps = 0
        self.prev_processed = -100
        self.globals: dict[int, global_funcs.GlobalFunc] = {}
        self.globals_called: set[int] = set()
        self.entry_global: global_funcs.GlobalFunc | None = None
        self.gpl = self.license.split("\0")[0] in ("GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                                                    "Dual MIT/GPL", "Dual MPL/GPL")

    # ---- entry ---------------------------------------------------------------------------------

    def run(self) -> Outcome:
        with _collector_paused():
            try:
                return self._run()
            finally:  # free the checkpoints while the collector is paused: it would scan them all once more
                self.explored = {}

    def _run(self) -> Outcome:
        start = time.perf_counter_ns()
        self.prog = cfg.build(self.insns)
        self.alu_plans: list[alu.Plan | None] = [None] * self.prog.nslots
        self.jump_plans: list[jumps.JumpPlan | None] = [None] * self.prog.nslots
        for pc, insn in self.prog.by_pc.items():
            cls = insn.opcode & 0x07
            if cls == _ALU or cls == _ALU64:
                self.alu_plans[pc] = alu.plan(insn, self.privileged)
            elif (cls == _JMP or cls == _JMP32) and insn.opcode & 0xF0 not in (0x00, 0x80, 0x90):
                self.jump_plans[pc] = jumps.plan(insn)  # (conditional jumps: not ja, call, exit)
        self.log.program = self.prog
        try:
            calls.check_tail_calls(self)
            self.globals = global_funcs.global_funcs(self.btf, self.func_infos, self.program_type)
            self.walk(0, self.initial_state())
            verified: set[int] = set()
            while self.globals_called - verified:  # each global function on its own, once
                pc = min(self.globals_called - verified)
                verified.add(pc)
                self.entry_global = self.globals[pc]
                self.log.line(f"Validating {self.entry_global.name}() func#{self.entry_global.index}...")
                self.walk(pc, global_funcs.entry_state(self.entry_global, State([])))
        except VerifierError as exc:
            exc.log = self.log.text(str(exc.reason))
            raise
        calls.check_stack_depth(self)
        depth = max(self.subprog_depth.values(), default=0)
        return Outcome(self.processed, self.peak_states, self.total_states, depth,
                       time.perf_counter_ns() - start, self.log.text(None))

    def walk(self, pc: int, st: State) -> None:
        """Explore every path from `pc` (the program's entry or a global function's)."""
        work: list[_Path] = [_Path(pc, st, None)]
        while work:
            path = work.pop()
            self.explore(path, work)

    def initial_state(self) -> State:
        regs = [NOT_INIT] * 11
        regs[1] = Reg(RegType.PTR_TO_CTX)
        regs[10] = Reg(RegType.PTR_TO_STACK)
        return State([Frame(regs, {}, -1, 0)])

    def packet_writable(self) -> bool:
        return self.program_type in (ProgramType.XDP, ProgramType.SCHED_CLS, ProgramType.SCHED_ACT,
                                     ProgramType.LWT_XMIT, ProgramType.SK_SKB, ProgramType.SK_MSG)

    def id_for_ctx_load(self) -> int:
        self.ctx_ids += 1
        return 1_000_000 + self.ctx_ids

    def rodata_value(self, m: MapSpec, off: int, size: int) -> int | None:
        """The bytes of a frozen read-only map at `off` (the kernel reads them at verification time)."""
        if not m.frozen or not m.contents or off < 0 or off + size > m.value_size:
            return None
        value = m.contents[0][1]
        chunk = value[off:off + size].ljust(size, b"\0")
        return int.from_bytes(chunk, "little")

    # ---- the path walk -------------------------------------------------------------------------

    def explore(self, path: _Path, work: list[_Path]) -> None:
        st = path.state
        pc = path.pc
        self.cur_work = work
        self.cur_path = path
        log = self.log
        logging = log.enabled
        if logging:
            log.path(pc, st, path.origin)
        prune_points = self.prog.prune_points
        by_pc = self.prog.by_pc
        hist = path.hist
        step = self.step
        alu_insn = alu.alu
        alu_fast = alu.fast
        plans = self.alu_plans
        jplans = self.jump_plans
        cond_jump = jumps.cond_jump
        ldx_insn = load_store.fast_ldx
        processed = self.processed
        try:
            while True:
                processed += 1
                if processed > INSN_LIMIT:
                    raise VerifierError(f"BPF program is too large. Processed {processed} insn", insn=pc)
                if pc in prune_points:
                    self.processed = processed
                    if self.visit_state(pc, st, path):
                        if logging:
                            log.line(f"{pc}: safe")
                        self.end_path(path)
                        return
                    hist = path.hist  # a new checkpoint starts a new history
                insn = by_pc[pc]
                if logging:
                    log.insn(pc, insn, st)
                hist.append(pc)
                cls = insn.opcode & 0x07
                if cls == _ALU or cls == _ALU64:  # the most frequent class, without the call through step
                    p = plans[pc]  # (leaves no note)
                    if p is None or not alu_fast(p, st):
                        alu_insn(self, pc, insn, st)
                    if logging:
                        log.after(st)
                    pc += 1
                    path.pc = pc
                    continue
                self.note = None
                self.processed = processed
                if jplans[pc] is not None:  # a conditional jump with valid fields: what step would call
                    nxt = cond_jump(self, pc, insn, st, path, work)
                elif cls == _LDX:  # (likewise, without the call through step)
                    ldx_insn(self, pc, insn, st)
                    nxt = pc + 1
                else:
                    nxt = step(pc, insn, st, path, work)
                if logging:
                    log.after(st)
                if self.note is not None:
                    hist[-1] = (pc, self.note)
                if nxt is None:
                    self.end_path(path)
                    return
                pc = nxt
                path.pc = pc
        finally:
            self.processed = processed

    def end_path(self, path: _Path) -> None:
        cp = path.parent
        while cp is not None:
            cp.branches -= 1
            if cp.branches:
                break
            cp = cp.parent

    def visit_state(self, pc: int, st: State, path: _Path) -> bool:
        """Prune the path if an explored state at pc subsumes it; detect infinite loops."""
        in_callback = pc in self.callback_sites
        add_new = (self.jumps - self.prev_jumps >= 2 and self.processed - self.prev_processed >= 8) or in_callback
        cps = self.explored.get(pc)
        if cps and self.pruned(pc, st, path, cps, add_new, in_callback):
            return True
        if not add_new:
            return False
        keep = self.explored[pc] if cps else self.explored.setdefault(pc, [])
        if in_callback:
            for cp in keep:
                if cp.branches:
                    widen_scalars(cp.state, st)
                    break
        self.prev_jumps, self.prev_processed = self.jumps, self.processed
        st.clear_singular_ids()
        cp = Checkpoint(pc, st.copy(), path.parent, 1, hist=path.hist, written=st.written)  # (the written
        st.written = set()  # halves and the history since the parent move to the checkpoint)
        if keep:  # start from the live register where the newest comparison at pc failed
            live = self.prog.live_in.get(pc, cfg.ALL_REGS)
            for other in reversed(keep):
                key = other.hint[0]
                if key is not None and key[1] in live:
                    cp.hint[0] = key
                    break
        path.hist = []
        keep.append(cp)
        path.parent = cp
        self.total_states += 1
        self.cur_states = sum(map(len, self.explored.values())) if self.total_states % 64 == 0 \
            else self.cur_states + 1
        self.peak_states = max(self.peak_states, self.cur_states)
        return False

    def pruned(self, pc: int, st: State, path: _Path, cps: list[Checkpoint], add_new: bool,
               in_callback: bool) -> bool:
        """Compare with the checkpoints at pc in order: prune on the first that subsumes the state,
        raise on an infinite loop. When `add_new`, count the misses and evict the checkpoints that
        miss too often (explored[pc] is then the list kept; otherwise no count changes and every
        checkpoint stays: eviction was decided when its misses last grew)."""
        live = self.prog.live_in.get(pc, cfg.ALL_REGS)
        uninit_ok = self.privileged
        keep: list[Checkpoint] = []
        evicted = 0  # (the index of a checkpoint is len(keep) + evicted: no enumerate in the hot loop)
        cfr = st.frames
        n = len(cfr)
        for cp in cps:
            hint = cp.hint
            failed = hint[1]
            if failed is not None and (fi := hint[0][0]) < n and (  # the register or slot this checkpoint
                    cfr[fi].regs[w] if (w := hint[0][1]) >= 0  # rejected last time (subsumes, in short)
                    else cfr[fi].stack.get(-1 - w, EMPTY_SLOT)) is failed:
                if not add_new:
                    continue
            elif cp.branches and not in_callback:
                old = cp.state
                if old.callback_unroll == st.callback_unroll and len(old.frames) == n:
                    r = cp.loop_hint  # (looping's first test, inline: most loop checks end there)
                    x, y = old.frames[-1].regs[r], cfr[-1].regs[r]
                    if (x is y or r not in live or x == y) and looping(cp, st, live) \
                            and states_equal(old, st, live, exact=True):
                        raise VerifierError(f"infinite loop detected at insn {pc}", insn=pc)
            elif subsumes(cp, st, live, uninit_ok):
                cp.hits += 1
                self.propagate_precision(cp, st, path)
                parent = path.parent
                if parent is not None:  # what old's continuation read, cur's would read too
                    for key in cp.reads.difference(parent.reads, st.written):  # (others: marked)
                        self.mark_half_read(st, key, parent)
                if add_new:
                    keep.extend(cps[len(keep) + evicted:])
                    self.explored[pc] = keep
                return True
            if add_new:
                cp.misses += 1
                if cp.misses > cp.hits * 3 + 3:
                    evicted += 1
                    continue  # evict: unlikely to help pruning
                keep.append(cp)
        if add_new:
            self.explored[pc] = keep
        return False

    def mark_stack_read(self, st: State, fi: int, slot: int, path: _Path | None = None,
                        halves: tuple[int, ...] = (0, 1)) -> None:
        """A read of (4-byte halves of) stack slot `slot` of frame `fi`: the checkpoints whose value it
        is must compare the slot. A half overwritten on the way screens the checkpoints above."""
        parent = (path or self.cur_path).parent
        k0, k1 = (fi, 2 * slot), (fi, 2 * slot + 1)
        if len(halves) == 2 and k0 not in st.written and k1 not in st.written:
            self.mark_slot_read(st, k0, k1, parent)
            return
        for h in halves:
            self.mark_half_read(st, (fi, 2 * slot + h), parent)

    def mark_slot_read(self, st: State, k0: tuple[int, int], k1: tuple[int, int], cp: Checkpoint | None) -> None:
        """mark_half_read of both halves of a slot (neither overwritten on this path), in one walk: at
        each checkpoint the first half's step, then the second's, as the two walks would leave them."""
        fi = k0[0]
        slot = k0[1] >> 1
        uid = st.frames[fi].uid
        a0 = a1 = True  # the halves whose walk goes on
        while cp is not None:
            if a0:
                step = _half_read_step(cp, k0, k1, slot, uid)
                if step < 0:
                    return  # (the other half's walk stops here too)
                a0 = step > 0
            if a1:
                step = _half_read_step(cp, k1, k0, slot, uid)
                if step < 0:
                    return
                a1 = step > 0
            if not (a0 or a1):
                return
            cp = cp.parent

    def mark_half_read(self, st: State, key: tuple[int, int], cp: Checkpoint | None) -> None:
        if key in st.written:
            return
        fi, half = key
        other = (fi, half ^ 1)
        uid = st.frames[fi].uid
        while cp is not None:
            reads = cp.reads
            if key in reads:
                return  # marked before: and therefore above
            frames = cp.state.frames
            if len(frames) <= fi or frames[fi].uid != uid:
                return
            if other not in reads:  # the slot's first half read: compare the slot
                cp.by_frame.setdefault(fi, []).append(half >> 1)
            reads.add(key)
            if key in cp.written:
                return
            cp = cp.parent

    def mark_precise(self, st: State, regs: Iterable[int] = (), slots: Iterable[int] = ()) -> None:
        """The exact range of these scalars (current frame) decided something: mark their sources."""
        path = self.cur_path
        precision.backtrack(self.prog, path.hist, path.parent, regs, slots, len(st.frames) - 1, True)

    def mark_all_precise(self) -> None:
        cp = self.cur_path.parent
        while cp is not None:
            cp.all_precise = True
            cp = cp.parent

    def propagate_precision(self, old: Checkpoint, st: State, path: _Path) -> None:
        """cur was pruned against old: what old's continuation needed, cur's ancestors need too."""
        top = len(st.frames) - 1
        if not old.all_precise:
            regs: list[int] = []
            slots: list[int] = []
            for fi, w in old.precise:
                if fi != top:
                    break  # another frame's scalars: mark everything
                if w >= 0:
                    regs.append(w)
                else:
                    slots.append(-1 - w)
            else:
                if regs or slots:
                    precision.backtrack(self.prog, path.hist, path.parent, regs, slots, top, False)
                return
        cp = path.parent
        while cp is not None:
            cp.all_precise = True
            cp = cp.parent

    def push(self, work: list[_Path], pc: int, st: State, path: _Path) -> None:
        if path.parent is not None:
            path.parent.branches += 1
        work.append(_Path(pc, st, path.parent, hist=list(path.hist), origin=path.pc))
        if len(work) > 8192:
            raise VerifierError("The sequence of 8193 jumps is too complex.", insn=pc)

    # ---- one instruction -----------------------------------------------------------------------

    def step(self, pc: int, insn: Instruction, st: State, path: _Path, work: list[_Path]) -> int | None:
        op = insn.opcode
        cls = op & 0x07
        if cls == _ALU64 or cls == _ALU:
            alu.alu(self, pc, insn, st)
            return pc + 1
        if cls == _LDX:
            load_store.fast_ldx(self, pc, insn, st)
            return pc + 1
        if cls == _STX or cls == _ST:
            load_store.fast_store(self, pc, insn, st)
            return pc + 1
        if op == LDDW:
            load_store.lddw(self, pc, insn, st)
            return pc + 2
        if cls == _LD:
            load_store.ld_abs(self, pc, insn, st)
            return pc + 1
        # jumps
        if op == JA or op == JA32:
            if op == JA and (insn.src or insn.dst or insn.imm):
                raise VerifierError("BPF_JA uses reserved fields", insn=pc)
            self.jumps += 1
            return cfg.jump_target(pc, insn)
        if op == EXIT:
            self.jumps += 1  # the kernel's jmps_processed counts every JMP-class instruction
            return exits.exit(self, pc, insn, st, path, work)
        if op & 0xF7 == CALL:
            self.jumps += 1
            return calls.call(self, pc, insn, st, path, work)
        return jumps.cond_jump(self, pc, insn, st, path, work)

    # ---- registers -----------------------------------------------------------------------------

    def read(self, st: State, pc: int, r: int) -> Reg:
        if r > 10:
            raise VerifierError(f"R{r} is invalid", insn=pc)
        reg = st.frames[-1].regs[r]
        if reg.type is _NOT_INIT:
            raise VerifierError(f"R{r} !read_ok", insn=pc)
        return reg

    def check_dst(self, st: State, pc: int, r: int) -> None:
        if r > 10:
            raise VerifierError(f"R{r} is invalid", insn=pc)
        if r == 10:
            raise VerifierError("frame pointer is read only", insn=pc)

    def is_ptr_leak(self, reg: Reg) -> bool:
        return not self.privileged and reg.is_pointer



def widen_scalars(old: State, cur: State) -> None:
    """Forget the value of stack scalars that changed since `old` (callback iterations converge)."""
    if len(old.frames) != len(cur.frames):
        return
    for fo, fc in zip(old.frames, cur.frames, strict=True):
        for i, slot in list(fc.stack.items()):
            sp = slot.spilled
            if sp is None or not sp.is_scalar:
                continue
            before = fo.stack.get(i)
            if before is None or before.spilled is None or before.spilled != sp:
                fc.stack[i] = Slot(slot.kinds, UNKNOWN_SCALAR)


__all__ = ["Checker", "Outcome", "INSN_LIMIT", "S64_MAX"]


def _half_read_step(cp: Checkpoint, key: tuple[int, int], other: tuple[int, int], slot: int, uid: int) -> int:
    """One checkpoint's step of a half's read walk (mark_slot_read): 1 go on to the parent, 0 this half's
    walk ends here, -1 the frame is not this one any more (both walks end)."""
    reads = cp.reads
    if key in reads:
        return 0
    fi = key[0]
    frames = cp.state.frames
    if len(frames) <= fi or frames[fi].uid != uid:
        return -1
    if other not in reads:
        cp.by_frame.setdefault(fi, []).append(slot)
    reads.add(key)
    return 0 if key in cp.written else 1
