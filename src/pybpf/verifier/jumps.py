"""Conditional jumps: branch pruning by known outcome, range refinement of both branches, null checks, packet ranges."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf.errors import VerifierError
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import InsnClass, JmpOp
from pybpf.verifier import branch, precision
from pybpf.verifier.bounds import MASK32, Scalar
from pybpf.verifier.state import PACKET_TYPES, Reg, RegType, Slot, State, const

if TYPE_CHECKING:
    from pybpf.verifier.checker import Checker, _Path

JMP_NAMES = {JmpOp.JEQ: "jeq", JmpOp.JNE: "jne", JmpOp.JGT: "jgt", JmpOp.JGE: "jge", JmpOp.JLT: "jlt",
             JmpOp.JLE: "jle", JmpOp.JSGT: "jsgt", JmpOp.JSGE: "jsge", JmpOp.JSLT: "jslt", JmpOp.JSLE: "jsle",
             JmpOp.JSET: "jset"}
_NAMES = {int(k): v for k, v in JMP_NAMES.items()}
_SCALAR = RegType.SCALAR
_JMP32 = int(InsnClass.JMP32)


JumpPlan = tuple[str, int, bool, Reg]


def plan(insn: Instruction) -> JumpPlan | None:
    """(condition, width, register source, the immediate as a register) of a conditional jump whose
    fields are valid (its scalar case then needs no check), or None."""
    name = _NAMES.get(insn.opcode & 0xF0)
    is32 = insn.opcode & 0x07 == _JMP32
    srcx = bool(insn.opcode & 0x08)
    if name is None or insn.dst > 10 or (srcx and (insn.imm or insn.src > 10)) or (not srcx and insn.src):
        return None
    return name, 32 if is32 else 64, srcx, const(insn.imm if not is32 else insn.imm & MASK32)


def cond_jump(ck: Checker, pc: int, insn: Instruction, st: State, path: _Path, work: list[_Path]) -> int | None:
    ck.jumps += 1
    p = ck.jump_plans[pc]
    if p is not None:  # two scalars: straight to the comparison
        name, width, srcx, k = p
        regs = st.frames[-1].regs
        dst = regs[insn.dst]
        src = regs[insn.src] if srcx else k
        if dst.type is _SCALAR and src.type is _SCALAR:
            return scalar_jump(ck, pc, insn, st, path, work, name, dst, src, srcx, width)
    op = insn.opcode & 0xF0
    if op not in _NAMES:
        raise VerifierError(f"invalid BPF_JMP/JMP32 opcode {op:x}", insn=pc)
    name = _NAMES[op]
    is32 = insn.opcode & 0x07 == _JMP32
    width = 32 if is32 else 64
    srcx = bool(insn.opcode & 0x08)
    if (srcx and insn.imm) or (not srcx and insn.src):
        raise VerifierError("BPF_JMP/JMP32 uses reserved fields", insn=pc)
    dst = ck.read(st, pc, insn.dst)
    src = ck.read(st, pc, insn.src) if srcx else const(insn.imm if not is32 else insn.imm & MASK32)
    target = pc + insn.off + 1
    fall = pc + 1
    dst_ptr, src_ptr = dst.type is not _SCALAR, src.type is not _SCALAR  # (read registers are initialised)
    if src_ptr and not dst_ptr and srcx and not ck.privileged:
        raise VerifierError(f"R{insn.src} pointer comparison prohibited", insn=pc)

    # pointer null checks and packet range comparisons
    if dst_ptr or src_ptr:
        return pointer_jump(ck, pc, insn, st, path, work, name, dst, src, srcx, is32, target, fall)

    return scalar_jump(ck, pc, insn, st, path, work, name, dst, src, srcx, width)


def scalar_jump(ck: Checker, pc: int, insn: Instruction, st: State, path: _Path, work: list[_Path], name: str,
                dst: Reg, src: Reg, srcx: bool, width: int) -> int:
    """A comparison of two scalars: the decided branch, or both branches with refined operands."""
    target = pc + insn.off + 1
    taken = branch.branch_taken(name, dst.var, src.var, width)
    if taken is not None:  # (ck.mark_precise, without the call through it: path is ck.cur_path)
        precision.backtrack(ck.prog, path.hist, path.parent, (insn.dst, insn.src) if srcx else (insn.dst,), (),
                            len(st.frames) - 1, True)
        return target if taken else pc + 1
    if dst.id or (srcx and src.id):
        note_linked(ck, st, insn, srcx, dst, src)
    yes = branch.refine(name, dst.var, src.var, width)
    no = branch.refine(branch.NEGATE[name], dst.var, src.var, width)
    other = st.copy()
    apply_refinement(ck, other, insn, srcx, dst, src, yes)
    apply_refinement(ck, st, insn, srcx, dst, src, no)
    ck.push(work, target, other, path)
    return pc + 1


def note_linked(ck: Checker, st: State, insn: Instruction, srcx: bool, dst: Reg, src: Reg) -> None:
    """Remember which scalars share an id with the compared ones (they are refined together)."""
    ids = {dst.id, src.id} if srcx else {dst.id}
    ids.discard(0)
    if not ids:
        return
    keys = set()
    frame = st.frames[-1]
    for r, reg in enumerate(frame.regs):
        if reg.id in ids and reg.type is _SCALAR:
            keys.add(("r", r))
    for i, slot in frame.stack.items():
        sp = slot.spilled
        if sp is not None and sp.id in ids and sp.type is _SCALAR:
            keys.add(("s", i))
    if any(reg.id in ids and reg.type is _SCALAR for f in st.frames[:-1] for reg in f.regs) or any(
        sl.spilled is not None and sl.spilled.id in ids for f in st.frames[:-1] for sl in f.stack.values()
    ):
        keys.add(("x", 0))
    ck.note = ("linked", frozenset(keys))


def apply_refinement(ck: Checker, st: State, insn: Instruction, srcx: bool, dst: Reg, src: Reg,
                     refined: tuple[Scalar, Scalar] | None) -> None:
    if refined is None:
        return
    nd, ns = refined
    set_linked(ck, st, insn.dst, dst, nd)
    if srcx:
        set_linked(ck, st, insn.src, src, ns)


def set_linked(ck: Checker, st: State, r: int, old: Reg, new: Scalar) -> None:
    st.frames[-1].regs[r] = old.with_var(new)
    if old.id == 0:
        return
    rid = old.id
    for frame in st.frames:  # every scalar with the same id, in every frame and spill
        regs = frame.regs
        for i, reg in enumerate(regs):
            if reg.id == rid and reg.type is _SCALAR:
                regs[i] = reg.with_var(new)
        stack = frame.stack
        for i, slot in stack.items():
            sp = slot.spilled
            if sp is not None and sp.id == rid and sp.type is _SCALAR:
                stack[i] = Slot(slot.kinds, sp.with_var(new))  # (same key: the dict keeps its size)


def pointer_jump(ck: Checker, pc: int, insn: Instruction, st: State, path: _Path, work: list[_Path], name: str,
                 dst: Reg, src: Reg, srcx: bool, is32: bool, target: int, fall: int) -> int | None:
    # null checks: ptr ==/!= 0
    zero_src = src.is_scalar and src.var.is_const() and src.var.value == 0
    zero_dst = dst.is_scalar and dst.var.is_const() and dst.var.value == 0
    if name in ("jeq", "jne") and not is32 and (zero_src or zero_dst):
        ptr, preg = (dst, insn.dst) if zero_src else (src, insn.src)
        if ptr.maybe_null:
            other = st.copy()
            null_state, ok_state = (other, st) if name == "jeq" else (st, other)
            mark_null(ck, null_state, ptr, True)
            mark_null(ck, ok_state, ptr, False)
            ck.push(work, target, other, path)
            return fall
        if srcx:
            ck.mark_precise(st, [insn.src if zero_src else insn.dst])
        if ptr.type in (RegType.PTR_TO_MAP_VALUE, RegType.PTR_TO_MEM, RegType.CONST_PTR_TO_MAP,
                        RegType.PTR_TO_SOCKET, RegType.PTR_TO_SOCK_COMMON, RegType.PTR_TO_TCP_SOCK,
                        RegType.PTR_TO_MAP_KEY):
            return fall if name == "jeq" else target
    if not ck.privileged and not (
        dst.type in PACKET_TYPES + (RegType.PTR_TO_PACKET_END,)
        and src.type in PACKET_TYPES + (RegType.PTR_TO_PACKET_END,)
    ):
        r = insn.dst if dst.is_pointer else insn.src
        raise VerifierError(f"R{r} pointer comparison prohibited", insn=pc)
    other = st.copy()
    if srcx and not is32:
        packet_compare(ck, name, insn, dst, src, fall_state=st, taken_state=other)
    ck.push(work, target, other, path)
    return fall


def mark_null(ck: Checker, st: State, ptr: Reg, is_null: bool) -> None:
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


def packet_compare(ck: Checker, name: str, insn: Instruction, dst: Reg, src: Reg, fall_state: State,
                   taken_state: State) -> None:
    pkt, end = RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_END
    meta = RegType.PTR_TO_PACKET_META

    def fwd(a: Reg, b: Reg) -> bool:  # a is data' and b is its end (pkt vs end, meta vs pkt)
        return (a.type is pkt and b.type is end) or (a.type is meta and b.type is pkt and b.off == 0
                                                    and b.var.is_const() and b.var.value == 0)

    if name == "jgt":
        if fwd(dst, src):
            good_pkt(ck, fall_state, dst, False)
        elif fwd(src, dst):
            good_pkt(ck, taken_state, src, True)
    elif name == "jlt":
        if fwd(dst, src):
            good_pkt(ck, taken_state, dst, True)
        elif fwd(src, dst):
            good_pkt(ck, fall_state, src, False)
    elif name == "jge":
        if fwd(dst, src):
            good_pkt(ck, fall_state, dst, True)
        elif fwd(src, dst):
            good_pkt(ck, taken_state, src, False)
    elif name == "jle":
        if fwd(dst, src):
            good_pkt(ck, taken_state, dst, False)
        elif fwd(src, dst):
            good_pkt(ck, fall_state, src, True)


def good_pkt(ck: Checker, st: State, reg: Reg, right_open: bool) -> None:
    if reg.off < 0 or (reg.off == 0 and right_open):
        return
    if reg.var.umax > 0xFFFF or reg.var.umax + reg.off > 0xFFFF:
        return
    new_range = reg.off + (1 if right_open else 0)
    for fi, where, r in st.all_regs():
        if r.type is reg.type and r.id == reg.id and r.range < new_range:
            st.set_reg(fi, where, r.with_(range=new_range))
