"""The abstract interpreter: explores every path of a program over register/stack states, like the kernel."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pybpf.abi import ProgramType
from pybpf.errors import VerifierError
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import CALL, EXIT, JA, JA32, LDDW, InsnClass, JmpOp, Mode, PseudoSrc
from pybpf.object.spec import MapReference, MapSpec
from pybpf.verifier import bounds, branch, cfg, memory, precision
from pybpf.verifier.bounds import MASK32, S64_MAX, S64_MIN, Scalar, s64
from pybpf.verifier.context import LD_ABS_TYPES, PACKET_ACCESS, RETURN_RANGES
from pybpf.verifier.log import StateLog
from pybpf.verifier.prune import Checkpoint, states_equal, states_looping
from pybpf.verifier.state import (
    NOT_INIT,
    PACKET_TYPES,
    UNKNOWN_SCALAR,
    Frame,
    Reg,
    RegType,
    Slot,
    State,
    const,
    scalar,
)

INSN_LIMIT = 1_000_000
MAX_CALL_FRAMES = 8
MAX_VAR_OFF = 1 << 29
ALU_NAMES = {0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and", 0x60: "lsh",
             0x70: "rsh", 0x80: "neg", 0x90: "mod", 0xA0: "xor", 0xB0: "mov", 0xC0: "arsh", 0xD0: "end"}
ALU_STRING = {0x00: "+=", 0x10: "-=", 0x20: "*=", 0x30: "/=", 0x40: "|=", 0x50: "&=", 0x60: "<<=",
              0x70: ">>=", 0x80: "neg", 0x90: "%=", 0xA0: "^=", 0xB0: "=", 0xC0: "s>>=", 0xD0: "endian"}
JMP_NAMES = {JmpOp.JEQ: "jeq", JmpOp.JNE: "jne", JmpOp.JGT: "jgt", JmpOp.JGE: "jge", JmpOp.JLT: "jlt",
             JmpOp.JLE: "jle", JmpOp.JSGT: "jsgt", JmpOp.JSGE: "jsge", JmpOp.JSLT: "jslt", JmpOp.JSLE: "jsle",
             JmpOp.JSET: "jset"}


@dataclass
class Outcome:
    """What a successful verification measured."""

    processed_insns: int
    peak_states: int
    total_states: int
    max_stack_depth: int
    time_ns: int
    log: str = ""


@dataclass
class _Path:
    pc: int
    state: State
    parent: Checkpoint | None
    last_pc: int = -1
    hist: list[Any] = field(default_factory=list)


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

    def __post_init__(self) -> None:
        self.refs_by_pc = {r.pc: r for r in self.map_references}
        self.log = StateLog(self.log_enabled)
        self.processed = 0
        self.explored: dict[int, list[Checkpoint]] = {}
        self.total_states = 0
        self.peak_states = 0
        self.cur_states = 0
        self.subprog_depth: dict[int, int] = {}
        self.ctx_ids = 0
        self.jumps = self.prev_jumps = 0
        self.prev_processed = -100
        self.gpl = self.license.split("\0")[0] in ("GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                                                    "Dual MIT/GPL", "Dual MPL/GPL")

    # ---- entry ---------------------------------------------------------------------------------

    def run(self) -> Outcome:
        start = time.perf_counter_ns()
        self.prog = cfg.build(self.insns)
        self.log.program = self.prog
        st = self.initial_state()
        work: list[_Path] = [_Path(0, st, None)]
        try:
            while work:
                path = work.pop()
                self.explore(path, work)
        except VerifierError as exc:
            exc.log = self.log.text(str(exc.reason))
            raise
        self.check_stack_depth()
        depth = max(self.subprog_depth.values(), default=0)
        return Outcome(self.processed, self.peak_states, self.total_states, depth,
                       time.perf_counter_ns() - start, self.log.text(None))

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
        while True:
            self.processed += 1
            if self.processed > INSN_LIMIT:
                raise VerifierError(f"BPF program is too large. Processed {self.processed} insn", insn=pc)
            if pc in self.prog.prune_points and path.last_pc != pc:
                if self.visit_state(pc, st, path):
                    self.end_path(path)
                    return
            path.last_pc = -1
            insn = self.prog.by_pc[pc]
            self.log.insn(pc, insn, st)
            self.cur_path = path
            self.note: Any = None
            path.hist.append((pc, None))
            nxt = self.step(pc, insn, st, path, work)
            if self.note is not None:
                path.hist[-1] = (pc, self.note)
            if nxt is None:
                self.end_path(path)
                return
            pc = nxt
            path.pc = pc

    def end_path(self, path: _Path) -> None:
        cp = path.parent
        while cp is not None:
            cp.branches -= 1
            if cp.branches:
                break
            cp = cp.parent

    def visit_state(self, pc: int, st: State, path: _Path) -> bool:
        """Prune the path if an explored state at pc subsumes it; detect infinite loops."""
        live = self.prog.live_in.get(pc, cfg.ALL_REGS)
        add_new = (self.jumps - self.prev_jumps >= 2 and self.processed - self.prev_processed >= 8) \
            or pc in self.callback_sites
        keep: list[Checkpoint] = []
        cps = self.explored.get(pc, [])
        for i, cp in enumerate(cps):
            if cp.branches and pc not in self.callback_sites:
                if states_looping(cp.state, st) and states_equal(cp.state, st, live, exact=True):
                    raise VerifierError(f"infinite loop detected at insn {pc}", insn=pc)
            elif states_equal(cp.state, st, live, precise=None if cp.all_precise else cp.precise):
                cp.hits += 1
                self.propagate_precision(cp, st, path)
                keep.extend(cps[i:])
                self.explored[pc] = keep
                return True
            if add_new:
                cp.misses += 1
            if cp.misses > cp.hits * 3 + 3:
                continue  # evict: unlikely to help pruning
            keep.append(cp)
        self.explored[pc] = keep
        if pc in self.callback_sites:
            for cp in keep:
                if cp.branches:
                    widen_scalars(cp.state, st)
                    break
        if not add_new:
            return False
        self.prev_jumps, self.prev_processed = self.jumps, self.processed
        cp = Checkpoint(pc, st.copy(), path.parent, 1)
        cp.hist = path.hist
        path.hist = []
        keep.append(cp)
        path.parent = cp
        self.total_states += 1
        self.cur_states = sum(len(v) for v in self.explored.values()) if self.total_states % 64 == 0 \
            else self.cur_states + 1
        self.peak_states = max(self.peak_states, self.cur_states)
        return False

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
        if old.all_precise or any(fi != len(st.frames) - 1 for fi, _ in old.precise):
            cp = path.parent
            while cp is not None:
                cp.all_precise = True
                cp = cp.parent
            return
        regs = [w for _, w in old.precise if w >= 0]
        slots = [-1 - w for _, w in old.precise if w < 0]
        precision.backtrack(self.prog, path.hist, path.parent, regs, slots, len(st.frames) - 1, False)

    def push(self, work: list[_Path], pc: int, st: State, path: _Path) -> None:
        if path.parent is not None:
            path.parent.branches += 1
        work.append(_Path(pc, st, path.parent, hist=list(path.hist)))
        if len(work) > 8192:
            raise VerifierError("The sequence of 8193 jumps is too complex.", insn=pc)

    # ---- one instruction -----------------------------------------------------------------------

    def step(self, pc: int, insn: Instruction, st: State, path: _Path, work: list[_Path]) -> int | None:
        cls = insn.opcode & 0x07
        if cls in (InsnClass.ALU, InsnClass.ALU64):
            self.alu(pc, insn, st)
            return pc + 1
        if cls == InsnClass.LDX:
            self.ldx(pc, insn, st)
            return pc + 1
        if cls in (InsnClass.ST, InsnClass.STX):
            self.store(pc, insn, st)
            return pc + 1
        if insn.opcode == LDDW:
            self.lddw(pc, insn, st)
            return pc + 2
        if cls == InsnClass.LD:
            self.ld_abs(pc, insn, st)
            return pc + 1
        # jumps
        if insn.opcode == JA or insn.opcode == JA32:
            if insn.opcode == JA and (insn.src or insn.dst or insn.imm):
                raise VerifierError("BPF_JA uses reserved fields", insn=pc)
            self.jumps += 1
            return cfg.jump_target(pc, insn)
        if insn.opcode == EXIT:
            return self.exit(pc, insn, st, path, work)
        if insn.opcode & 0xF7 == CALL:
            return self.call(pc, insn, st, path, work)
        return self.cond_jump(pc, insn, st, path, work)

    # ---- registers -----------------------------------------------------------------------------

    def read(self, st: State, pc: int, r: int) -> Reg:
        if r > 10:
            raise VerifierError(f"R{r} is invalid", insn=pc)
        reg = st.cur.regs[r]
        if reg.type is RegType.NOT_INIT:
            raise VerifierError(f"R{r} !read_ok", insn=pc)
        return reg

    def check_dst(self, st: State, pc: int, r: int) -> None:
        if r > 10:
            raise VerifierError(f"R{r} is invalid", insn=pc)
        if r == 10:
            raise VerifierError("frame pointer is read only", insn=pc)

    def is_ptr_leak(self, reg: Reg) -> bool:
        return not self.privileged and reg.is_pointer

    # ---- ALU -----------------------------------------------------------------------------------

    def alu(self, pc: int, insn: Instruction, st: State) -> None:
        op = insn.opcode & 0xF0
        is64 = insn.opcode & 0x07 == InsnClass.ALU64
        srcx = bool(insn.opcode & 0x08)
        regs = st.cur.regs
        name = ALU_NAMES.get(op)
        if name is None:
            raise VerifierError(f"invalid BPF_ALU opcode {op:x}", insn=pc)
        if name == "end":
            if insn.src or insn.off or insn.imm not in (16, 32, 64) or (is64 and srcx):
                raise VerifierError("BPF_END uses reserved fields", insn=pc)
            dst = self.read(st, pc, insn.dst)
            self.check_dst(st, pc, insn.dst)
            regs[insn.dst] = scalar(self.bswap(dst, insn, is64)) if dst.is_scalar else UNKNOWN_SCALAR
            return
        if name == "neg":
            if srcx or insn.src or insn.off or insn.imm:
                raise VerifierError("BPF_NEG uses reserved fields", insn=pc)
            dst = self.read(st, pc, insn.dst)
            if self.is_ptr_leak(dst):
                raise VerifierError(f"R{insn.dst} pointer arithmetic prohibited", insn=pc)
            self.check_dst(st, pc, insn.dst)
            if dst.is_scalar and dst.var.is_const():
                v = -dst.var.value
                regs[insn.dst] = const(v if is64 else v & MASK32)
            else:
                regs[insn.dst] = scalar(bounds.UNKNOWN if is64 else bounds.zext32(bounds.UNKNOWN))
            return
        if name == "mov":
            self.mov(pc, insn, st, is64, srcx)
            return
        # reserved fields
        if srcx:
            if insn.imm or (insn.off and not (name in ("div", "mod") and insn.off == 1)):
                raise VerifierError("BPF_ALU uses reserved fields", insn=pc)
        elif insn.src or (insn.off and not (name in ("div", "mod") and insn.off == 1)):
            raise VerifierError("BPF_ALU uses reserved fields", insn=pc)
        if srcx:
            src = self.read(st, pc, insn.src)
        else:
            imm = insn.imm & (0xFFFFFFFFFFFFFFFF if is64 else MASK32)
            if is64:
                imm = insn.imm & 0xFFFFFFFFFFFFFFFF
            src = const(imm)
            if name in ("div", "mod") and insn.imm == 0:
                raise VerifierError("div by zero", insn=pc)
            if name in ("lsh", "rsh", "arsh") and not 0 <= insn.imm < (64 if is64 else 32):
                raise VerifierError(f"invalid shift {insn.imm}", insn=pc)
        dst = self.read(st, pc, insn.dst)
        self.check_dst(st, pc, insn.dst)
        if dst.is_pointer or src.is_pointer:
            regs[insn.dst] = self.pointer_alu(pc, insn, st, name, op, dst, src, is64, srcx)
            return
        if insn.off == 1:
            name = "s" + name
        result = bounds.alu(name, dst.var, src.var, is64)
        regs[insn.dst] = scalar(result)

    def bswap(self, dst: Reg, insn: Instruction, is64: bool) -> Scalar:
        bits = insn.imm
        v = dst.var
        to_le = not (insn.opcode & 0x08) and not is64
        if to_le:
            return bounds.truncate(v, bits // 8) if bits < 64 else v
        if v.is_const():
            raw = (v.value & ((1 << bits) - 1)).to_bytes(bits // 8, "little")
            return bounds.known(int.from_bytes(raw, "big"))
        return bounds.unsigned_range(0, (1 << bits) - 1) if bits < 64 else bounds.UNKNOWN

    def mov(self, pc: int, insn: Instruction, st: State, is64: bool, srcx: bool) -> None:
        regs = st.cur.regs
        if srcx:
            if insn.imm or insn.off not in (0, 8, 16, 32) or (not is64 and insn.off == 32):
                raise VerifierError("BPF_MOV uses reserved fields", insn=pc)
            src = self.read(st, pc, insn.src)
            self.check_dst(st, pc, insn.dst)
            if insn.off:
                if src.is_pointer:
                    if not self.privileged:
                        raise VerifierError(f"R{insn.src} sign-extension part of pointer", insn=pc)
                    regs[insn.dst] = UNKNOWN_SCALAR
                    return
                regs[insn.dst] = scalar(bounds.sign_extend(src.var, insn.off, is64))
                return
            if is64:
                if src.is_scalar and not src.var.is_const() and src.id == 0:
                    src = src.with_(id=st.new_id())
                    regs[insn.src] = src
                regs[insn.dst] = src
                return
            if src.is_pointer:
                if not self.privileged:
                    raise VerifierError(f"R{insn.src} partial copy of pointer", insn=pc)
                regs[insn.dst] = scalar(bounds.zext32(bounds.UNKNOWN))
                return
            z = bounds.zext32(src.var)
            if src.var.umax <= MASK32 and not src.var.is_const():
                if src.id == 0:
                    src = src.with_(id=st.new_id())
                    regs[insn.src] = src
                regs[insn.dst] = scalar(z).with_(id=src.id)
            else:
                regs[insn.dst] = scalar(z)
            return
        if insn.src or insn.off:
            raise VerifierError("BPF_MOV uses reserved fields", insn=pc)
        self.check_dst(st, pc, insn.dst)
        regs[insn.dst] = const(insn.imm if is64 else insn.imm & MASK32)

    def pointer_alu(self, pc: int, insn: Instruction, st: State, name: str, op: int, dst: Reg, src: Reg,
                    is64: bool, srcx: bool) -> Reg:
        d = insn.dst
        if dst.is_pointer and src.is_pointer:
            if name == "sub" and self.privileged:
                return UNKNOWN_SCALAR
            raise VerifierError(f"R{d} pointer {ALU_STRING[op]} pointer prohibited", insn=pc)
        if src.is_pointer:
            if name == "sub" and is64:
                raise VerifierError(f"R{d} tried to subtract pointer from scalar", insn=pc)
            ptr, off = src, dst
            self.mark_precise(st, [insn.dst])
        else:
            ptr, off = dst, src
            if srcx:
                self.mark_precise(st, [insn.src])
        if not is64:
            if name == "sub" and self.privileged:
                return scalar(bounds.zext32(bounds.UNKNOWN))
            raise VerifierError(f"R{d} 32-bit pointer arithmetic prohibited", insn=pc)
        if ptr.maybe_null:
            raise VerifierError(f"R{d} pointer arithmetic on {ptr.type_str()} prohibited, null-check it first",
                                insn=pc)
        known = off.var.is_const()
        t = ptr.type
        allowed = t in (RegType.PTR_TO_CTX, RegType.PTR_TO_MAP_VALUE, RegType.PTR_TO_MAP_KEY,
                        RegType.PTR_TO_STACK, RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META,
                        RegType.PTR_TO_BTF_ID, RegType.PTR_TO_MEM, RegType.PTR_TO_FUNC)
        if t is RegType.PTR_TO_FLOW_KEYS and known:
            allowed = True
        if t is RegType.CONST_PTR_TO_MAP and known and off.var.smin == 0 and name == "add":
            allowed = True
        if not allowed:
            raise VerifierError(f"R{d} pointer arithmetic on {ptr.type_str()} prohibited", insn=pc)
        tname = ptr.type_str()
        self.sane_offset(pc, off, tname)
        self.sane_offset(pc, ptr, tname)
        smin = off.var.smin
        if name == "add":
            if known and -(1 << 31) <= ptr.off + smin < (1 << 31):
                out = ptr.with_(off=ptr.off + smin)
            else:
                var = bounds.alu("add", ptr.var, off.var, True)
                out = ptr.with_(var=var)
                if t in PACKET_TYPES:
                    out = out.with_(id=st.new_id(), range=0)
        elif name == "sub":
            if t is RegType.PTR_TO_STACK:
                raise VerifierError(f"R{d} subtraction from stack pointer prohibited", insn=pc)
            if known and -(1 << 31) <= ptr.off - smin < (1 << 31):
                out = ptr.with_(off=ptr.off - smin)
            else:
                var = bounds.alu("sub", ptr.var, off.var, True)
                out = ptr.with_(var=var)
                if t in PACKET_TYPES:
                    out = out.with_(id=st.new_id(), range=ptr.range if smin >= 0 else 0)
        elif name in ("and", "or", "xor"):
            raise VerifierError(f"R{d} bitwise operator {ALU_STRING[op]} on pointer prohibited", insn=pc)
        else:
            raise VerifierError(f"R{d} pointer arithmetic with {ALU_STRING[op]} operator prohibited", insn=pc)
        self.sane_offset(pc, out, tname)
        if not self.privileged:
            self.unpriv_pointer_bounds(pc, d, out)
        return out

    def sane_offset(self, pc: int, reg: Reg, tname: str) -> None:
        v = reg.var
        if v.is_const() and not -MAX_VAR_OFF < s64(v.value) < MAX_VAR_OFF:
            raise VerifierError(f"math between {tname} pointer and {s64(v.value)} is not allowed", insn=pc)
        if not -MAX_VAR_OFF < reg.off < MAX_VAR_OFF:
            raise VerifierError(f"{tname} pointer offset {reg.off} is not allowed", insn=pc)
        if v.smin == S64_MIN:
            raise VerifierError(f"math between {tname} pointer and register with unbounded min value is not "
                                "allowed", insn=pc)
        if not -MAX_VAR_OFF < v.smin < MAX_VAR_OFF:
            raise VerifierError(f"value {v.smin} makes {tname} pointer be out of bounds", insn=pc)

    def unpriv_pointer_bounds(self, pc: int, d: int, out: Reg) -> None:
        if out.type is RegType.PTR_TO_STACK:
            if not out.var.is_const():
                raise VerifierError(f"R{d} variable stack access prohibited for !root, var_off={out.var.var} "
                                    f"off={out.off}", insn=pc)
            o = out.off + s64(out.var.value)
            if o < -512 or o >= 0:
                raise VerifierError(f"R{d} stack pointer arithmetic goes out of range, prohibited for !root",
                                    insn=pc)
        elif out.type is RegType.PTR_TO_MAP_VALUE:
            if out.off + out.var.smin < 0 or out.off + out.var.umax >= out.map.value_size:
                raise VerifierError(f"R{d} pointer arithmetic of map value goes out of range, prohibited for !root",
                                    insn=pc)

    # ---- loads and stores ----------------------------------------------------------------------

    def ldx(self, pc: int, insn: Instruction, st: State) -> None:
        mode = insn.opcode & 0xE0
        if mode not in (Mode.MEM, Mode.MEMSX) or insn.imm:
            raise VerifierError("BPF_LDX uses reserved fields", insn=pc)
        self.read(st, pc, insn.src)
        self.check_dst(st, pc, insn.dst)
        size = insn.size
        val = memory.check_access(self, st, pc, insn.src, insn.off, size, False, None)
        assert val is not None
        if mode == Mode.MEMSX and val.is_scalar:
            val = scalar(bounds.sign_extend(val.var, size * 8, True))
        elif val.is_scalar and size < 8:
            val = scalar(bounds.truncate(val.var, size)).with_(id=val.id)
        st.cur.regs[insn.dst] = val

    def store(self, pc: int, insn: Instruction, st: State) -> None:
        mode = insn.opcode & 0xE0
        cls = insn.opcode & 0x07
        size = insn.size
        if mode == Mode.ATOMIC:
            self.atomic(pc, insn, st)
            return
        if mode != Mode.MEM:
            raise VerifierError("unknown opcode", insn=pc)
        if cls == InsnClass.STX:
            if insn.imm:
                raise VerifierError("BPF_STX uses reserved fields", insn=pc)
            value = self.read(st, pc, insn.src)
            self.read(st, pc, insn.dst)
            if value.is_scalar and not value.var.is_const() and value.id == 0 and size == 8:
                value = value.with_(id=st.new_id())
                st.cur.regs[insn.src] = value
            memory.check_access(self, st, pc, insn.dst, insn.off, size, True, value, insn.src)
        else:
            if insn.src:
                raise VerifierError("BPF_ST uses reserved fields", insn=pc)
            self.read(st, pc, insn.dst)
            memory.check_access(self, st, pc, insn.dst, insn.off, size, True, None, st_imm=insn.imm)

    def atomic(self, pc: int, insn: Instruction, st: State) -> None:
        size = insn.size
        if size not in (4, 8):
            raise VerifierError("invalid atomic operand size", insn=pc)
        if insn.imm not in (0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xA0, 0xA1, 0xE1, 0xF1):
            raise VerifierError(f"BPF_ATOMIC uses invalid atomic opcode {insn.imm:02x}", insn=pc)
        src = self.read(st, pc, insn.src)
        self.read(st, pc, insn.dst)
        if insn.imm == 0xF1:
            self.read(st, pc, 0)
            if st.cur.regs[0].is_pointer and not self.privileged:
                raise VerifierError("R0 leaks addr into mem", insn=pc)
        if src.is_pointer:
            if not self.privileged:
                raise VerifierError(f"R{insn.src} leaks addr into mem", insn=pc)
        dst = st.cur.regs[insn.dst]
        if dst.type in (RegType.PTR_TO_CTX, RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META,
                        RegType.PTR_TO_FLOW_KEYS, RegType.PTR_TO_SOCKET, RegType.PTR_TO_SOCK_COMMON):
            raise VerifierError(f"BPF_ATOMIC stores into R{insn.dst} {dst.type_str()} is not allowed", insn=pc)
        loaded = memory.check_access(self, st, pc, insn.dst, insn.off, size, False, None)
        memory.check_access(self, st, pc, insn.dst, insn.off, size, True, UNKNOWN_SCALAR if size == 8 else None,
                            insn.src, st_imm=None if size == 8 else 1)
        if loaded is not None and loaded.is_pointer:
            raise VerifierError(f"R{insn.dst} leaks addr into mem", insn=pc)
        res = scalar(bounds.UNKNOWN if size == 8 else bounds.zext32(bounds.UNKNOWN))
        if insn.imm == 0xF1:
            st.cur.regs[0] = res
        elif insn.imm & 0x01:
            self.check_dst(st, pc, insn.src)
            st.cur.regs[insn.src] = res

    def lddw(self, pc: int, insn: Instruction, st: State) -> None:
        self.check_dst(st, pc, insn.dst)
        if insn.off:
            raise VerifierError("invalid bpf_ld_imm64 insn", insn=pc)
        ref = self.refs_by_pc.get(pc)
        regs = st.cur.regs
        if ref is not None:
            m = self.maps.get(ref.map_name)
            if m is None:
                raise VerifierError(f"fd {ref.map_name} is not pointing to valid bpf_map", insn=pc)
            if ref.kind == "fd":
                regs[insn.dst] = Reg(RegType.CONST_PTR_TO_MAP, map=m)
            else:
                if ref.offset >= max(m.value_size, 1) or ref.offset < 0:
                    raise VerifierError(f"invalid access to map value pointer, value_size={m.value_size} "
                                        f"off={ref.offset}", insn=pc)
                regs[insn.dst] = Reg(RegType.PTR_TO_MAP_VALUE, map=m, off=ref.offset,
                                     rdonly=bool(m.frozen or m.flags & 0x80))
            return
        if insn.src == PseudoSrc.IMM:
            regs[insn.dst] = const(insn.imm)
            return
        if insn.src == PseudoSrc.FUNC:
            if not self.func_infos:
                raise VerifierError("missing btf func_info", insn=pc)
            target = cfg.jump_target(pc, Instruction(JA32, imm=s32imm(insn.imm)))
            regs[insn.dst] = Reg(RegType.PTR_TO_FUNC, subprog=target)
            return
        if insn.src in (PseudoSrc.MAP_FD, PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX, PseudoSrc.MAP_IDX_VALUE):
            raise VerifierError(f"fd {insn.imm & MASK32} is not pointing to valid bpf_map", insn=pc)
        raise VerifierError("unsupported pseudo ld_imm64 (BTF ids need kernel BTF)", insn=pc)

    def ld_abs(self, pc: int, insn: Instruction, st: State) -> None:
        mode = insn.opcode & 0xE0
        if self.program_type not in LD_ABS_TYPES:
            raise VerifierError("BPF_LD_[ABS|IND] instructions not allowed for this program type", insn=pc)
        if insn.dst or insn.off or insn.size == 8 or (mode == Mode.ABS and insn.src):
            raise VerifierError("BPF_LD_[ABS|IND] uses reserved fields", insn=pc)
        ctx = self.read(st, pc, 6)
        if st.refs:
            raise VerifierError("BPF_LD_[ABS|IND] cannot be mixed with socket references", insn=pc)
        if ctx.type is not RegType.PTR_TO_CTX:
            raise VerifierError("at the time of BPF_LD_ABS|IND R6 != pointer to skb", insn=pc)
        if mode == Mode.IND:
            self.read(st, pc, insn.src)
        regs = st.cur.regs
        for r in range(1, 6):
            regs[r] = NOT_INIT
        regs[0] = scalar(bounds.unsigned_range(0, (1 << (insn.size * 8)) - 1))

    # ---- conditional jumps ---------------------------------------------------------------------

    def cond_jump(self, pc: int, insn: Instruction, st: State, path: _Path, work: list[_Path]) -> int | None:
        self.jumps += 1
        op = insn.opcode & 0xF0
        name = JMP_NAMES.get(JmpOp(op)) if op in JMP_NAMES else None
        if name is None:
            raise VerifierError(f"invalid BPF_JMP/JMP32 opcode {op:x}", insn=pc)
        is32 = insn.opcode & 0x07 == InsnClass.JMP32
        width = 32 if is32 else 64
        srcx = bool(insn.opcode & 0x08)
        if (srcx and insn.imm) or (not srcx and insn.src):
            raise VerifierError("BPF_JMP/JMP32 uses reserved fields", insn=pc)
        dst = self.read(st, pc, insn.dst)
        src = self.read(st, pc, insn.src) if srcx else const(insn.imm if not is32 else insn.imm & MASK32)
        target = cfg.jump_target(pc, insn)
        fall = pc + 1
        if src.is_pointer and not dst.is_pointer and srcx and not self.privileged:
            raise VerifierError(f"R{insn.src} pointer comparison prohibited", insn=pc)

        # pointer null checks and packet range comparisons
        if dst.is_pointer or src.is_pointer:
            return self.pointer_jump(pc, insn, st, path, work, name, dst, src, srcx, is32, target, fall)

        taken = branch.branch_taken(name, dst.var, src.var, width)
        if taken is not None:
            self.mark_precise(st, [insn.dst, insn.src] if srcx else [insn.dst])
            return target if taken else fall
        self.note_linked(st, insn, srcx, dst, src)
        yes = branch.refine(name, dst.var, src.var, width)
        no = branch.refine(branch.NEGATE[name], dst.var, src.var, width)
        other = st.copy()
        self.apply_refinement(other, insn, srcx, dst, src, yes)
        self.apply_refinement(st, insn, srcx, dst, src, no)
        self.push(work, target, other, path)
        return fall

    def note_linked(self, st: State, insn: Instruction, srcx: bool, dst: Reg, src: Reg) -> None:
        """Remember which scalars share an id with the compared ones (they are refined together)."""
        ids = {dst.id} | ({src.id} if srcx else set())
        ids.discard(0)
        if not ids:
            return
        keys = set()
        frame = st.cur
        for r, reg in enumerate(frame.regs):
            if reg.is_scalar and reg.id in ids:
                keys.add(("r", r))
        for i, slot in frame.stack.items():
            if slot.spilled is not None and slot.spilled.is_scalar and slot.spilled.id in ids:
                keys.add(("s", i))
        if any(reg.is_scalar and reg.id in ids for f in st.frames[:-1] for reg in f.regs) or any(
            sl.spilled is not None and sl.spilled.id in ids for f in st.frames[:-1] for sl in f.stack.values()
        ):
            keys.add(("x", 0))
        self.note = ("linked", frozenset(keys))

    def apply_refinement(self, st: State, insn: Instruction, srcx: bool, dst: Reg, src: Reg,
                         refined: tuple[Scalar, Scalar] | None) -> None:
        if refined is None:
            return
        nd, ns = refined
        self.set_linked(st, insn.dst, dst, nd)
        if srcx:
            self.set_linked(st, insn.src, src, ns)

    def set_linked(self, st: State, r: int, old: Reg, new: Scalar) -> None:
        st.cur.regs[r] = old.with_(var=new)
        if old.id == 0:
            return
        for fi, where, reg in st.all_regs():
            if reg.is_scalar and reg.id == old.id:
                st.set_reg(fi, where, reg.with_(var=new))

    def pointer_jump(self, pc: int, insn: Instruction, st: State, path: _Path, work: list[_Path], name: str,
                     dst: Reg, src: Reg, srcx: bool, is32: bool, target: int, fall: int) -> int | None:
        # null checks: ptr ==/!= 0
        zero_src = src.is_scalar and src.var.is_const() and src.var.value == 0
        zero_dst = dst.is_scalar and dst.var.is_const() and dst.var.value == 0
        if name in ("jeq", "jne") and not is32 and (zero_src or zero_dst):
            ptr, preg = (dst, insn.dst) if zero_src else (src, insn.src)
            if ptr.maybe_null:
                other = st.copy()
                null_state, ok_state = (other, st) if name == "jeq" else (st, other)
                self.mark_null(null_state, ptr, True)
                self.mark_null(ok_state, ptr, False)
                self.push(work, target, other, path)
                return fall
            if srcx:
                self.mark_precise(st, [insn.src if zero_src else insn.dst])
            if ptr.type in (RegType.PTR_TO_MAP_VALUE, RegType.PTR_TO_MEM, RegType.CONST_PTR_TO_MAP,
                            RegType.PTR_TO_SOCKET, RegType.PTR_TO_SOCK_COMMON, RegType.PTR_TO_TCP_SOCK,
                            RegType.PTR_TO_MAP_KEY):
                return fall if name == "jeq" else target
        if not self.privileged and not (
            dst.type in PACKET_TYPES + (RegType.PTR_TO_PACKET_END,)
            and src.type in PACKET_TYPES + (RegType.PTR_TO_PACKET_END,)
        ):
            r = insn.dst if dst.is_pointer else insn.src
            raise VerifierError(f"R{r} pointer comparison prohibited", insn=pc)
        other = st.copy()
        if srcx and not is32:
            self.packet_compare(name, insn, dst, src, fall_state=st, taken_state=other)
        self.push(work, target, other, path)
        return fall

    def mark_null(self, st: State, ptr: Reg, is_null: bool) -> None:
        """Null-check outcome for every copy of the pointer (same id)."""
        pid = ptr.id
        for fi, where, reg in st.all_regs():
            if reg.id == pid and reg.maybe_null and reg.type is ptr.type:
                if is_null:
                    st.set_reg(fi, where, const(0))
                else:
                    st.set_reg(fi, where, reg.with_(maybe_null=False))
        if is_null and ptr.ref_obj_id:
            st.refs = [r for r in st.refs if r.id != ptr.ref_obj_id]

    def packet_compare(self, name: str, insn: Instruction, dst: Reg, src: Reg, fall_state: State,
                       taken_state: State) -> None:
        pkt, end = RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_END
        meta = RegType.PTR_TO_PACKET_META

        def fwd(a: Reg, b: Reg) -> bool:  # a is data' and b is its end (pkt vs end, meta vs pkt)
            return (a.type is pkt and b.type is end) or (a.type is meta and b.type is pkt and b.off == 0
                                                        and b.var.is_const() and b.var.value == 0)

        if name == "jgt":
            if fwd(dst, src):
                self.good_pkt(fall_state, dst, False)
            elif fwd(src, dst):
                self.good_pkt(taken_state, src, True)
        elif name == "jlt":
            if fwd(dst, src):
                self.good_pkt(taken_state, dst, True)
            elif fwd(src, dst):
                self.good_pkt(fall_state, src, False)
        elif name == "jge":
            if fwd(dst, src):
                self.good_pkt(fall_state, dst, True)
            elif fwd(src, dst):
                self.good_pkt(taken_state, src, False)
        elif name == "jle":
            if fwd(dst, src):
                self.good_pkt(taken_state, dst, False)
            elif fwd(src, dst):
                self.good_pkt(fall_state, src, True)

    def good_pkt(self, st: State, reg: Reg, right_open: bool) -> None:
        if reg.off < 0 or (reg.off == 0 and right_open):
            return
        if reg.var.umax > 0xFFFF or reg.var.umax + reg.off > 0xFFFF:
            return
        new_range = reg.off + (1 if right_open else 0)
        for fi, where, r in st.all_regs():
            if r.type is reg.type and r.id == reg.id and r.range < new_range:
                st.set_reg(fi, where, r.with_(range=new_range))

    # ---- exit and calls -------------------------------------------------------------------------

    def exit(self, pc: int, insn: Instruction, st: State, path: _Path, work: list[_Path]) -> int | None:
        if insn.src or insn.dst or insn.off or insn.imm:
            raise VerifierError("BPF_EXIT uses reserved fields", insn=pc)
        frame = st.cur
        if len(st.frames) > 1:
            r0 = self.read(st, pc, 0)
            if frame.callback is not None:
                return self.callback_exit(pc, st, r0)
            if not r0.is_scalar:
                raise VerifierError(f"At subprogram exit the register R0 is not a scalar value ({r0.type_str()})",
                                    insn=pc)
            st.frames.pop()
            caller = st.cur
            caller.regs[0] = r0
            for r in range(1, 6):
                caller.regs[r] = NOT_INIT
            return frame.callsite + 1
        if st.refs:
            ref = st.refs[0]
            raise VerifierError(f"Unreleased reference id={ref.id} alloc_insn={ref.insn}", insn=pc)
        r0 = self.read(st, pc, 0)
        if self.is_ptr_leak(r0):
            raise VerifierError("R0 leaks addr as return value", insn=pc)
        rng = RETURN_RANGES.get(self.program_type)
        if rng is not None:
            if not r0.is_scalar:
                raise VerifierError(f"At program exit the register R0 is not a known value ({r0.type_str()})",
                                    insn=pc)
            self.mark_precise(st, [0])
            v = r0.var
            if v.smin < rng[0] or v.smax > rng[1]:
                raise VerifierError(f"At program exit the register R0 has smin={v.smin} smax={v.smax} should "
                                    f"have been in [{rng[0]}, {rng[1]}]", insn=pc)
        return None

    def call(self, pc: int, insn: Instruction, st: State, path: _Path, work: list[_Path]) -> int | None:
        from pybpf.verifier import helpers_check

        if insn.opcode != CALL:
            raise VerifierError("BPF_CALL uses reserved fields", insn=pc)
        if insn.src == 1:
            if insn.off or insn.dst:
                raise VerifierError("BPF_CALL uses reserved fields", insn=pc)
            return self.local_call(pc, pc + insn.imm + 1, st)
        if insn.src == 2:
            raise VerifierError("calling kernel function is not supported without kernel BTF", insn=pc)
        if insn.src or insn.off or insn.dst:
            raise VerifierError("BPF_CALL uses reserved fields", insn=pc)
        return helpers_check.helper_call(self, pc, insn.imm, st, path, work)

    def local_call(self, pc: int, target: int, st: State, callback: Any = None) -> int:
        if len(st.frames) >= MAX_CALL_FRAMES:
            raise VerifierError(f"the call stack of {len(st.frames) + 1} frames is too deep !", insn=pc)
        caller = st.cur
        regs = [NOT_INIT] * 11
        for r in range(1, 6):
            regs[r] = caller.regs[r]
        regs[10] = Reg(RegType.PTR_TO_STACK, frameno=len(st.frames))
        st.frames.append(Frame(regs, {}, pc, target, 0, callback))
        self.note = ("frame",)
        return target

    def callback_exit(self, pc: int, st: State, r0: Reg) -> int:
        frame = st.cur
        self.mark_all_precise()
        lo, hi = frame.callback
        if not r0.is_scalar:
            raise VerifierError(f"At callback return the register R0 is not a known value ({r0.type_str()})",
                                insn=pc)
        if r0.var.smin < lo or r0.var.smax > hi:
            raise VerifierError(f"At callback return the register R0 has smin={r0.var.smin} smax={r0.var.smax} "
                                f"should have been in [{lo}, {hi}]", insn=pc)
        st.frames.pop()
        # back to the helper call: it may call the callback again or return
        return frame.callsite

    def check_stack_depth(self) -> None:
        """The kernel's check_max_stack_depth over the static call graph (rounded to 32 per frame)."""
        depths: dict[int, int] = {}
        for cps in self.explored.values():
            for cp in cps:
                for f in cp.state.frames:
                    depths[f.subprog] = max(depths.get(f.subprog, 0), f.depth)
        for sub, d in self.frame_depths.items():
            depths[sub] = max(depths.get(sub, 0), d)
        self.subprog_depth = depths
        calls: dict[int, set[int]] = {}
        for pc in self.prog.order:
            insn = self.prog.by_pc[pc]
            if insn.opcode == CALL and insn.src == 1:
                calls.setdefault(self.prog.subprog_of(pc), set()).add(pc + insn.imm + 1)

        def rounded(sub: int) -> int:
            d = depths.get(sub, 0)
            return (max(d, 1) + 31) // 32 * 32

        def walk(sub: int, total: int, nframes: int, seen: tuple[int, ...]) -> None:
            total += rounded(sub)
            if total > 512:
                raise VerifierError(f"combined stack size of {nframes} calls is {total}. Too large")
            for callee in calls.get(sub, ()):
                if callee in seen:
                    continue
                walk(callee, total, nframes + 1, seen + (callee,))

        walk(0, 0, 1, (0,))

    frame_depths: dict[int, int] = field(default_factory=dict)
    callback_sites: set[int] = field(default_factory=set)


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


def s32imm(x: int) -> int:
    x &= MASK32
    return x - (1 << 32) if x >> 31 else x


__all__ = ["Checker", "Outcome", "INSN_LIMIT", "S64_MAX"]
