"""Load and store instructions: LDX, ST/STX, atomics, ld_imm64 (maps, functions) and the legacy ld_abs/ld_ind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf.errors import VerifierError
from pybpf.isa.instruction import Instruction, func_pointer_target
from pybpf.isa.opcodes import InsnClass, Mode, PseudoSrc
from pybpf.verifier import bounds, kfuncs, memory
from pybpf.verifier.bounds import MASK32
from pybpf.verifier.context import LD_ABS_TYPES
from pybpf.verifier.state import NOT_INIT, UNKNOWN_SCALAR, Reg, RegType, State, const, scalar

_SCALAR = RegType.SCALAR

if TYPE_CHECKING:
    from pybpf.verifier.checker import Checker


_STACK = RegType.PTR_TO_STACK
_NOT_INIT = RegType.NOT_INIT
_SIZE = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}  # by opcode & 0x18
_LDX_MEM, _ST_MEM, _STX_MEM = 0x61, 0x62, 0x63  # opcode & 0xE7: BPF_MEM mode of each class


def _fixed_slot(st: State, reg: Reg, off: int, size: int) -> int | None:
    """fp+start of an aligned access of `size` bytes through a stack pointer at a constant offset,
    inside the stack and the frame's depth so far; None for any other access (the general path
    checks it)."""
    if reg.type is not _STACK or reg.var.var.mask or reg.maybe_null:
        return None
    start = reg.off + off + bounds.s64(reg.var.var.value)
    if start % size or not -memory.STACK_SIZE <= start <= -size or -start > st.frames[reg.frameno].depth:
        return None
    return start


def fast_ldx(ck: Checker, pc: int, insn: Instruction, st: State) -> None:
    """ldx, with the fast path for a load from a fixed stack slot (a fill) tried first."""
    if insn.opcode & 0xE7 != _LDX_MEM or insn.imm or insn.dst >= 10 or insn.src > 10 or not fill(ck, pc, insn, st):
        ldx(ck, pc, insn, st)


def fast_store(ck: Checker, pc: int, insn: Instruction, st: State) -> None:
    """store, with the fast path for a (privileged) store to a fixed stack slot tried first."""
    op = insn.opcode & 0xE7
    if not ck.privileged or insn.dst > 10 or not (
            (op == _STX_MEM and not insn.imm and insn.src <= 10) or (op == _ST_MEM and not insn.src)) \
            or not stack_store(ck, pc, insn, st):
        store(ck, pc, insn, st)


def fill(ck: Checker, pc: int, insn: Instruction, st: State) -> bool:
    """A load from a fixed stack slot: what ldx does, without its general checks."""
    regs = st.frames[-1].regs
    reg = regs[insn.src]
    size = _SIZE[insn.opcode & 0x18]
    start = _fixed_slot(st, reg, insn.off, size)
    if start is None:
        return False
    fi = reg.frameno
    frame = st.frames[fi]
    slot = (-start - 1) // 8
    ck.note = ("stack", fi, slot)
    b = start % 8
    ck.mark_stack_read(st, fi, slot, None, (0, 1) if b < 4 < b + size else (b // 4,))
    if ck.privileged:
        memory.link_fill(st, frame, slot, start, size)
    val = memory.read_stack_fixed(ck, frame, pc, start, size, insn.off)
    if size < 8 and val.type is _SCALAR:
        val = scalar(bounds.truncate(val.var, size)).with_id(val.id)
    regs[insn.dst] = val
    return True


def stack_store(ck: Checker, pc: int, insn: Instruction, st: State) -> bool:
    """A store (privileged) to a fixed stack slot: what store does, without its general checks."""
    regs = st.frames[-1].regs
    size = _SIZE[insn.opcode & 0x18]
    reg = regs[insn.dst]
    start = _fixed_slot(st, reg, insn.off, size)
    if start is None:
        return False
    value: Reg | None = None
    imm: int | None = None
    if insn.opcode & 0x07 == InsnClass.STX:
        value = regs[insn.src]
        if value.type is _NOT_INIT:
            return False
        if value.type is _SCALAR and value.id == 0 and value.var.var.mask \
                and value.var.umax.bit_length() <= 8 * size:  # a spill that keeps the value links both
            value = value.with_id(st.new_id())
            regs[insn.src] = value
    else:
        imm = insn.imm
    fi = reg.frameno
    frame = st.frames[fi]
    slot = (-start - 1) // 8
    ck.note = ("stack", fi, slot)
    memory.write_stack_fixed(ck, frame, pc, start, size, value, imm)
    if size == 8:
        st.written.update(((fi, 2 * slot), (fi, 2 * slot + 1)))
    elif size == 4:  # aligned: one whole half of the slot
        st.written.add((fi, 2 * slot + (start % 8) // 4))
    if frame.stack[slot].spilled is not None:  # a spill: the slot's value is the register's
        ck.note = ("stack", fi, slot, True)
    return True


def ldx(ck: Checker, pc: int, insn: Instruction, st: State) -> None:
    mode = insn.opcode & 0xE0
    if mode not in (Mode.MEM, Mode.MEMSX) or insn.imm:
        raise VerifierError("BPF_LDX uses reserved fields", insn=pc)
    ck.read(st, pc, insn.src)
    if insn.dst >= 10:
        ck.check_dst(st, pc, insn.dst)
    size = insn.size
    val = memory.check_access(ck, st, pc, insn.src, insn.off, size, False, None)
    assert val is not None
    if mode == Mode.MEMSX and val.is_scalar:
        val = scalar(bounds.sign_extend(val.var, size * 8, True))
    elif val.is_scalar and size < 8:
        val = scalar(bounds.truncate(val.var, size)).with_id(val.id)
    st.cur.regs[insn.dst] = val


def store(ck: Checker, pc: int, insn: Instruction, st: State) -> None:
    mode = insn.opcode & 0xE0
    cls = insn.opcode & 0x07
    size = insn.size
    if mode == Mode.ATOMIC:
        atomic(ck, pc, insn, st)
        return
    if mode != Mode.MEM:
        raise VerifierError("unknown opcode", insn=pc)
    if cls == InsnClass.STX:
        if insn.imm:
            raise VerifierError("BPF_STX uses reserved fields", insn=pc)
        value = ck.read(st, pc, insn.src)
        ck.read(st, pc, insn.dst)
        if value.is_scalar and ck.privileged and not value.var.is_const() and value.id == 0 \
                and value.var.umax.bit_length() <= 8 * size:  # a spill that keeps the value links both
            value = value.with_id(st.new_id())
            st.cur.regs[insn.src] = value
        memory.check_access(ck, st, pc, insn.dst, insn.off, size, True, value, insn.src)
    else:
        if insn.src:
            raise VerifierError("BPF_ST uses reserved fields", insn=pc)
        ck.read(st, pc, insn.dst)
        memory.check_access(ck, st, pc, insn.dst, insn.off, size, True, None, st_imm=insn.imm)


def atomic(ck: Checker, pc: int, insn: Instruction, st: State) -> None:
    size = insn.size
    if size not in (4, 8):
        raise VerifierError("invalid atomic operand size", insn=pc)
    if insn.imm not in (0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xA0, 0xA1, 0xE1, 0xF1):
        raise VerifierError(f"BPF_ATOMIC uses invalid atomic opcode {insn.imm:02x}", insn=pc)
    src = ck.read(st, pc, insn.src)
    ck.read(st, pc, insn.dst)
    if insn.imm == 0xF1:
        ck.read(st, pc, 0)
        if st.cur.regs[0].is_pointer and not ck.privileged:
            raise VerifierError("R0 leaks addr into mem", insn=pc)
    if src.is_pointer:
        if not ck.privileged:
            raise VerifierError(f"R{insn.src} leaks addr into mem", insn=pc)
    dst = st.cur.regs[insn.dst]
    if dst.type in (RegType.PTR_TO_CTX, RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META,
                    RegType.PTR_TO_FLOW_KEYS, RegType.PTR_TO_SOCKET, RegType.PTR_TO_SOCK_COMMON):
        raise VerifierError(f"BPF_ATOMIC stores into R{insn.dst} {dst.type_str()} is not allowed", insn=pc)
    loaded = memory.check_access(ck, st, pc, insn.dst, insn.off, size, False, None)
    memory.check_access(ck, st, pc, insn.dst, insn.off, size, True, UNKNOWN_SCALAR if size == 8 else None,
                        insn.src, st_imm=None if size == 8 else 1)
    if loaded is not None and loaded.is_pointer:
        raise VerifierError(f"R{insn.dst} leaks addr into mem", insn=pc)
    res = scalar(bounds.UNKNOWN if size == 8 else bounds.zext32(bounds.UNKNOWN))
    if insn.imm == 0xF1:
        st.cur.regs[0] = res
    elif insn.imm & 0x01:
        ck.check_dst(st, pc, insn.src)
        st.cur.regs[insn.src] = res


def lddw(ck: Checker, pc: int, insn: Instruction, st: State) -> None:
    ck.check_dst(st, pc, insn.dst)
    if insn.off:
        raise VerifierError("invalid bpf_ld_imm64 insn", insn=pc)
    ref = ck.refs_by_pc.get(pc)
    regs = st.cur.regs
    if ref is not None:
        known = ck.lddw_regs.get(pc)
        if known is not None:  # the same map reference each time: one shared (immutable) register
            regs[insn.dst] = known
            return
        m = ck.maps.get(ref.map_name)
        if m is None:
            raise VerifierError(f"fd {ref.map_name} is not pointing to valid bpf_map", insn=pc)
        if ref.kind == "fd":
            regs[insn.dst] = ck.lddw_regs[pc] = Reg(RegType.CONST_PTR_TO_MAP, map=m)
        else:
            if ref.offset >= max(m.value_size, 1) or ref.offset < 0:
                raise VerifierError(f"invalid access to map value pointer, value_size={m.value_size} "
                                    f"off={ref.offset}", insn=pc)
            regs[insn.dst] = ck.lddw_regs[pc] = Reg(RegType.PTR_TO_MAP_VALUE, map=m, off=ref.offset,
                                                    rdonly=not memory.map_prog_caps(m)[1])
        return
    if insn.src == PseudoSrc.IMM:
        regs[insn.dst] = const(insn.imm)
        return
    if insn.src == PseudoSrc.FUNC:
        if not ck.func_infos:
            raise VerifierError("missing btf func_info", insn=pc)
        regs[insn.dst] = Reg(RegType.PTR_TO_FUNC, subprog=func_pointer_target(pc, insn))
        return
    if insn.src in (PseudoSrc.MAP_FD, PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX, PseudoSrc.MAP_IDX_VALUE):
        raise VerifierError(f"fd {insn.imm & MASK32} is not pointing to valid bpf_map", insn=pc)
    if insn.src == PseudoSrc.BTF_ID:
        regs[insn.dst] = kfuncs.ksym(pc, insn.imm & MASK32)
        return
    raise VerifierError("invalid bpf_ld_imm64 insn", insn=pc)


def ld_abs(ck: Checker, pc: int, insn: Instruction, st: State) -> None:
    mode = insn.opcode & 0xE0
    if ck.program_type not in LD_ABS_TYPES:
        raise VerifierError("BPF_LD_[ABS|IND] instructions not allowed for this program type", insn=pc)
    if insn.dst or insn.off or insn.size == 8 or (mode == Mode.ABS and insn.src):
        raise VerifierError("BPF_LD_[ABS|IND] uses reserved fields", insn=pc)
    ctx = ck.read(st, pc, 6)
    if st.refs:
        raise VerifierError("BPF_LD_[ABS|IND] cannot be mixed with socket references", insn=pc)
    if ctx.type is not RegType.PTR_TO_CTX:
        raise VerifierError("at the time of BPF_LD_ABS|IND R6 != pointer to skb", insn=pc)
    if mode == Mode.IND:
        ck.read(st, pc, insn.src)
    regs = st.cur.regs
    for r in range(1, 6):
        regs[r] = NOT_INIT
    regs[0] = scalar(bounds.unsigned_range(0, (1 << (insn.size * 8)) - 1))
