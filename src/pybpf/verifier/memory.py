"""Memory access rules: stack (spill/fill), context, packet, map value and helper memory arguments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf.abi import MapFlags, ProgramType
from pybpf.errors import VerifierError, VerifierUnsupported
from pybpf.object.spec import MapSpec
from pybpf.verifier import bounds, btf_ctx, ctx_attach
from pybpf.verifier.bounds import S64_MIN, Scalar, s64
from pybpf.verifier.context import layout
from pybpf.verifier.state import (
    INVALID,
    MISC,
    PACKET_TYPES,
    SPILL,
    UNKNOWN_SCALAR,
    ZERO,
    Frame,
    Reg,
    RegType,
    Slot,
    State,
    const,
    scalar,
)

if TYPE_CHECKING:
    from pybpf.verifier.checker import Checker

MAX_VAR_OFF = 1 << 29
_WRONLY_PROG, _RDONLY_PROG = int(MapFlags.WRONLY_PROG), int(MapFlags.RDONLY_PROG)
STACK_SIZE = 512


def _var_str(v: Scalar) -> str:
    return str(s64(v.value)) if v.is_const() else str(v.var)


def _fail(msg: str, pc: int) -> VerifierError:
    return VerifierError(msg, insn=pc)


def check_access(
    ck: Checker, st: State, pc: int, regno: int, off: int, size: int, write: bool, value: Reg | None,
    value_regno: int = -1, st_imm: int | None = None,
) -> Reg | None:
    """Check a load or store through register `regno`; for loads return the loaded value."""
    reg = st.frames[-1].regs[regno]
    t = reg.type
    if t is RegType.SCALAR or t is RegType.NOT_INIT or reg.maybe_null:
        raise _fail(f"R{regno} invalid mem access '{reg.type_str()}'", pc)
    if write and value is not None and value.is_pointer and not ck.privileged:
        if t is RegType.PTR_TO_MAP_VALUE:
            raise _fail(f"R{value_regno} leaks addr into map", pc)
        if t is RegType.PTR_TO_CTX:
            raise _fail(f"R{value_regno} leaks addr into ctx", pc)
    if t is RegType.PTR_TO_STACK:
        return _stack_access(ck, st, pc, regno, reg, off, size, write, value, st_imm)
    if t is RegType.PTR_TO_CTX:
        return _ctx_access(ck, pc, regno, reg, off, size, write, value)
    if t in PACKET_TYPES:
        if write and not ck.packet_writable():
            raise _fail("cannot write into packet", pc)
        if write and value is not None and value.is_pointer:
            raise _fail(f"R{value_regno} leaks addr into packet", pc)
        check_packet(pc, regno, reg, off, size, False)
        return _loaded(size) if not write else None
    if t is RegType.PTR_TO_MAP_VALUE:
        m = reg.map
        check_map_access_type(pc, m, reg.off + off, size, write)
        if write and value is not None and value.is_pointer and not ck.privileged:
            raise _fail(f"R{value_regno} leaks addr into map", pc)
        check_region(pc, regno, reg, off, size, m.value_size, "map value")
        if not write and reg.rdonly and reg.var.is_const():
            known = ck.rodata_value(m, reg.off + off + s64(reg.var.value), size)
            if known is not None:
                return const(known)
        return _loaded(size) if not write else None
    if t is RegType.PTR_TO_MEM:
        if write and reg.rdonly:
            raise _fail(f"R{regno} cannot write into {reg.type_str()}", pc)
        check_region(pc, regno, reg, off, size, reg.mem_size, "memory")
        return _loaded(size) if not write else None
    if t is RegType.PTR_TO_MAP_KEY:  # a for_each_map_elem callback's key
        if write:
            raise _fail(f"write to change key R{regno} not allowed", pc)
        check_region(pc, regno, reg, off, size, reg.mem_size, "map key")
        return _loaded(size)
    if t in (RegType.PTR_TO_SOCKET, RegType.PTR_TO_SOCK_COMMON, RegType.PTR_TO_TCP_SOCK):
        return _sock_access(pc, regno, reg, off, size, write)
    if t is RegType.PTR_TO_BTF_ID:
        return btf_ctx.struct_access(ck, pc, regno, reg, off, size, write)
    if t is RegType.PTR_TO_PACKET_END:
        raise _fail(f"R{regno} invalid mem access '{reg.type_str()}'", pc)
    raise _fail(f"R{regno} invalid mem access '{reg.type_str()}'", pc)


def map_prog_caps(m: MapSpec) -> tuple[bool, bool]:
    """(programs may read, programs may write) the values of map `m` (bpf_map_flags_to_cap).

    A frozen map pybpf loads is read-only data (.rodata): the kernel engine creates it with
    BPF_F_RDONLY_PROG, so the verifier treats it the same way.
    """
    flags = int(m.flags)  # a plain int: IntFlag's & runs in Python
    return not flags & _WRONLY_PROG, not (flags & _RDONLY_PROG or m.frozen)


def check_map_access_type(pc: int, m: MapSpec, off: int, size: int, write: bool) -> None:
    """check_map_access_type: BPF_F_RDONLY_PROG maps refuse writes, BPF_F_WRONLY_PROG maps reads."""
    can_read, can_write = map_prog_caps(m)
    if write and not can_write:
        raise _fail(f"write into map forbidden, value_size={m.value_size} off={off} size={size}", pc)
    if not write and not can_read:
        raise _fail(f"read from map forbidden, value_size={m.value_size} off={off} size={size}", pc)


def _sock_access(pc: int, regno: int, reg: Reg, off: int, size: int, write: bool) -> Reg:
    """Fields of struct bpf_sock / bpf_tcp_sock readable through a socket pointer (kernel-probed)."""
    from pybpf.verifier.ctx_probed import SOCK_READS

    name = reg.type_str()
    if reg.off or not (reg.var.is_const() and reg.var.value == 0):
        raise _fail(f"R{regno} invalid {name} access off={reg.off} disallowed", pc)
    if write or (off, size) not in SOCK_READS.get(name, frozenset()):
        raise _fail(f"R{regno} invalid {name} access off={off} size={size}", pc)
    return _loaded(size)


def _loaded(size: int) -> Reg:
    return scalar(bounds.truncate(bounds.UNKNOWN, size)) if size < 8 else UNKNOWN_SCALAR


def check_region(pc: int, regno: int, reg: Reg, off: int, size: int, mem_size: int, what: str) -> None:
    """check_mem_region_access: fixed + variable offset inside [0, mem_size)."""
    off = reg.off + off
    v = reg.var

    def msg(o: int) -> str:
        if what == "map value":
            return f"invalid access to map value, value_size={mem_size} off={o} size={size}"
        if what == "map key":
            return f"invalid access to map key, key_size={mem_size} off={o} size={size}"
        return f"invalid access to memory, mem_size={mem_size} off={o} size={size}"

    if v.smin < 0 and (v.smin == S64_MIN or not -(1 << 31) <= off + v.smin < (1 << 31) or v.smin + off < 0):
        raise _fail(f"R{regno} min value is negative, either use unsigned index or do a if (index >=0) check.", pc)
    lo = v.smin + off
    if lo < 0 or lo + size > mem_size:
        raise _fail(msg(lo), pc)
    if v.umax >= MAX_VAR_OFF:
        raise _fail(f"R{regno} unbounded memory access, make sure to bounds check any such access", pc)
    hi = v.umax + off
    if hi < 0 or hi + size > mem_size:
        raise _fail(msg(hi), pc)


def check_packet(pc: int, regno: int, reg: Reg, off: int, size: int, zero_ok: bool) -> None:
    if reg.var.smin < 0:
        raise _fail(f"R{regno} min value is negative, either use unsigned index or do a if (index >=0) check.", pc)
    o = reg.off + off
    if o < 0 or size < 0 or (size == 0 and not zero_ok) or o + size > reg.range:
        raise _fail(f"invalid access to packet, off={o} size={size}, R{regno}(id={reg.id},off={o},r={reg.range})", pc)


def _ctx_access(ck: Checker, pc: int, regno: int, reg: Reg, off: int, size: int, write: bool,
                value: Reg | None) -> Reg | None:
    if reg.off:
        raise _fail(f"dereference of modified ctx ptr R{regno} off={reg.off} disallowed", pc)
    if not (reg.var.is_const() and reg.var.value == 0):
        raise _fail(f"variable ctx access var_off={reg.var.var} disallowed", pc)
    if ck.program_type in btf_ctx.BTF_CTX_TYPES:
        return btf_ctx.ctx_access(ck, pc, off, size, write)
    lay = ctx_attach.layout(ck.program_type, ck.attach_type) or layout(ck.program_type)
    if lay is None:
        raise VerifierUnsupported(f"the context of {ProgramType(ck.program_type).name.lower()} programs "
                                  f"(off={off} size={size})", insn=pc)
    if not lay.valid(off, size, write):
        raise _fail(f"invalid bpf_context access off={off} size={size}", pc)
    if write:
        if value is not None and value.is_pointer:
            raise _fail(f"invalid bpf_context access off={off} size={size}", pc)
        return None
    ptr = lay.pointers.get(off)
    if ptr is not None:
        rt, maybe_null = ptr
        if rt in PACKET_TYPES or rt is RegType.PTR_TO_PACKET_END:
            return Reg(rt)
        st_id = ck.id_for_ctx_load()
        return Reg(rt, maybe_null=maybe_null, id=st_id if maybe_null else 0)
    return _loaded(size)


# ---- stack ------------------------------------------------------------------------------------


def _slot(frame: Frame, i: int) -> Slot:
    return frame.stack.get(i) or Slot()


def _stack_frame(st: State, reg: Reg) -> Frame:
    return st.frames[reg.frameno]


def _byte_pos(addr: int) -> tuple[int, int]:
    """(slot index, byte index in slot) of the stack byte at fp+addr (addr < 0)."""
    slot = (-addr - 1) // 8
    base = -(slot + 1) * 8
    return slot, addr - base


def _stack_access(ck: Checker, st: State, pc: int, regno: int, reg: Reg, off: int, size: int, write: bool,
                  value: Reg | None, st_imm: int | None) -> Reg | None:
    frame = st.frames[reg.frameno]
    if reg.var.var.mask == 0:  # a constant offset
        start = reg.off + off + s64(reg.var.var.value)
        if start % size:
            raise _fail(f"misaligned stack access off {_var_str(reg.var)}+{reg.off}+{off} size {size}", pc)
        if start < -STACK_SIZE or start + size > 0:
            kind = " write to" if write else " read from"
            raise _fail(f"invalid{kind} stack R{regno} off={start} size={size}", pc)
        if -start > frame.depth:
            _depth(ck, frame, -start)
        slot = (-start - 1) // 8
        ck.note = ("stack", reg.frameno, slot)
        if write:
            write_stack_fixed(ck, frame, pc, start, size, value, st_imm)
            if size == 8:
                st.written.update(((reg.frameno, 2 * slot), (reg.frameno, 2 * slot + 1)))
            elif size == 4:  # aligned: one whole half of the slot
                st.written.add((reg.frameno, 2 * slot + (start % 8) // 4))
            if frame.stack[slot].spilled is not None:  # a spill: the slot's value is the register's
                ck.note = ("stack", reg.frameno, slot, True)
            return None
        b = start % 8
        ck.mark_stack_read(st, reg.frameno, slot, halves=(0, 1) if b < 4 < b + size else (b // 4,))
        if ck.privileged:
            link_fill(st, frame, slot, start, size)
        return read_stack_fixed(ck, frame, pc, start, size, off)
    # variable offset
    ck.note = ("stackvar",)
    lo = reg.off + off + reg.var.smin
    hi = reg.off + off + reg.var.smax
    if reg.var.smin <= -MAX_VAR_OFF or reg.var.smax >= MAX_VAR_OFF or lo < -STACK_SIZE or hi + size > 0:
        kind = " write to" if write else " read from"
        raise _fail(
            f"invalid variable-offset{kind} stack R{regno} var_off={reg.var.var} off={reg.off + off} size={size}", pc
        )
    _depth(ck, frame, -lo)
    if write:
        for addr in range(lo, hi + size):
            _set_byte(frame, addr, MISC)
        return None
    for s in range((-(hi + size)) // 8, (-lo - 1) // 8 + 1):
        ck.mark_stack_read(st, reg.frameno, s)
    if not ck.privileged:
        for addr in range(lo, hi + size):
            s, b = _byte_pos(addr)
            if _slot(frame, s).kinds[b] == INVALID:
                raise _fail(f"invalid variable-offset read from stack R{regno} var_off={reg.var.var} "
                            f"off={reg.off + off} size={size}", pc)
    return _loaded(size)


def link_fill(st: State, frame: Frame, slot: int, start: int, size: int) -> None:
    """A fill of a whole spilled scalar shares an id with the slot (the kernel's
    assign_scalar_id_before_mov on fill), so what a branch learns of one applies to the other."""
    sl = frame.stack.get(slot)
    if sl is None or sl.spilled is None or (-start) % 8 != 0:
        return
    sp = sl.spilled
    if sp.type is not RegType.SCALAR or sp.id or sp.var.is_const():
        return
    spill_size = len(sl.kinds) - len(sl.kinds.lstrip(SPILL))
    if size != spill_size or (size != 8 and not (size == 4 and sp.var.umax <= 0xFFFFFFFF)):
        return
    frame.stack[slot] = Slot(sl.kinds, sp.with_id(st.new_id()))


def _depth(ck: Checker, frame: Frame, d: int) -> None:
    if d > frame.depth:  # (frame_depths is never below the depth of a frame of its function)
        frame.depth = d
        ck.frame_depths[frame.subprog] = max(ck.frame_depths.get(frame.subprog, 0), d)


def _set_byte(frame: Frame, addr: int, kind: str) -> None:
    s, b = _byte_pos(addr)
    slot = _slot(frame, s)
    kinds = slot.kinds
    if slot.spilled is not None:
        kinds = "".join(MISC if k == SPILL else k for k in kinds)
    frame.stack[s] = Slot(kinds[:b] + kind + kinds[b + 1:], None)


def write_stack_fixed(ck: Checker, frame: Frame, pc: int, start: int, size: int, value: Reg | None,
                      st_imm: int | None) -> None:
    """A store of `size` bytes at fp+start (aligned): spill a register or mark the bytes."""
    s, b = _byte_pos(start)
    spill: Reg | None = None
    if value is not None:
        if value.is_scalar and b == 0 and ck.privileged:
            # a narrowing spill breaks the link with the register
            spill = value if value.var.umax.bit_length() <= 8 * size else value.with_id(0)
        elif value.is_pointer:
            if size != 8:
                raise _fail("invalid size of register spill", pc)
            spill = value
    elif st_imm is not None and b == 0 and ck.privileged:
        spill = const(st_imm)
    if spill is not None:
        old = _slot(frame, s).kinds if _slot(frame, s).spilled is None else MISC * 8
        rest = "".join(k if k == ZERO or (k == INVALID and ck.privileged) else MISC for k in old[size:])
        kinds = SPILL * size + rest
        was = frame.stack.get(s)
        if was is None or was.spilled is not spill or was.kinds != kinds:  # (else: the slot as it was, shared)
            frame.stack[s] = Slot(kinds, spill)
        return
    zero = (value is not None and value.is_scalar and value.var.is_const() and value.var.value == 0) or (
        value is None and st_imm == 0
    )
    slot = _slot(frame, s)  # an aligned store stays inside one slot
    kinds = slot.kinds if slot.spilled is None else slot.kinds.replace(SPILL, MISC)
    kinds = kinds[:b] + (ZERO if zero else MISC) * size + kinds[b + size:]
    if slot.spilled is not None or slot.kinds != kinds:  # (else: the slot as it was, shared)
        frame.stack[s] = Slot(kinds, None)


def read_stack_fixed(ck: Checker, frame: Frame, pc: int, start: int, size: int, insn_off: int) -> Reg:
    s, b = _byte_pos(start)
    slot = _slot(frame, s)
    kinds = slot.kinds[b:b + size]
    sp = slot.spilled
    if sp is not None and slot.kinds[0] == SPILL:
        spill_size = len(slot.kinds) - len(slot.kinds.lstrip(SPILL))
        if size == 8 and spill_size == 8:
            return sp
        if sp.is_pointer:
            raise _fail("invalid size of register fill", pc)
        if b == 0 and size <= spill_size:
            return scalar(bounds.truncate(sp.var, size)).with_id(sp.id if size == spill_size else 0)
        for i, k in enumerate(kinds):
            if k == INVALID and not ck.privileged:
                raise _fail(f"invalid read from stack off {start}+{i} size {size}", pc)
        if kinds == SPILL * size and sp.var.is_const() and sp.var.value == 0:
            return const(0)
        if kinds == ZERO * size:
            return const(0)
        return _loaded(size)
    if INVALID in kinds and not ck.privileged:
        i = kinds.index(INVALID)
        raise _fail(f"invalid read from stack off {start}+{i} size {size}", pc)
    if kinds == ZERO * size:
        return const(0)
    return _loaded(size)


def check_stack_range(ck: Checker, st: State, pc: int, regno: int, reg: Reg, size: int, init_required: bool,
                      write: bool) -> None:
    """A helper's memory argument on the stack: bounds and (if read) initialisation of every byte."""
    frame = _stack_frame(st, reg)
    lo = reg.off + reg.var.smin
    hi = reg.off + reg.var.smax
    if not reg.var.is_const() and (reg.var.smin <= -MAX_VAR_OFF or reg.var.smax >= MAX_VAR_OFF):
        raise _fail(f"R{regno} unbounded indirect variable offset stack access", pc)
    if lo < -STACK_SIZE or hi + size > 0 or (size == 0 and hi > 0):
        if reg.var.is_const():
            kind = "write to" if write and not init_required else "read from"
            raise _fail(f"invalid {kind} stack R{regno} off={lo} size={size}", pc)
        raise _fail(
            f"invalid variable-offset indirect access to stack R{regno} var_off={reg.var.var} size={size}", pc
        )
    if size == 0:
        return
    _depth(ck, frame, -lo)
    for sidx in range((-(hi + size)) // 8, (-lo - 1) // 8 + 1):  # read or partly written: both count
        ck.mark_stack_read(st, reg.frameno, sidx)
    checked = init_required and not (ck.privileged and ck.allow_uninit_indirect)
    for addr in range(lo, hi + size) if checked else ():
        sidx, b = _byte_pos(addr)
        slot = _slot(frame, sidx)
        kind = slot.kinds[b]
        if kind == INVALID:
            if reg.var.is_const():
                raise _fail(f"invalid indirect read from stack R{regno} off {lo}+{addr - lo} size {size}", pc)
            raise _fail(f"invalid indirect read from stack R{regno} var_off {reg.var.var}+{addr - lo} "
                        f"size {size}", pc)
        if kind == SPILL and slot.spilled is not None and slot.spilled.is_pointer and not ck.privileged:
            raise _fail(f"invalid indirect read from stack R{regno} off {lo}+{addr - lo} size {size}", pc)
    if write:
        for sidx in range((-(hi + size)) // 8, (-lo - 1) // 8 + 1):
            slot = _slot(frame, sidx)
            if slot.spilled is not None and slot.spilled.is_scalar and reg.var.is_const():
                frame.stack[sidx] = Slot(MISC * 8, None)
                continue
            base = -8 * (sidx + 1)
            kinds, spilled, changed = list(slot.kinds), slot.spilled, False
            for b in range(max(lo, base) - base, min(hi + size, base + 8) - base):
                if kinds[b] != SPILL or spilled is not None:
                    if spilled is not None:  # the spilled register is gone: its bytes are data now
                        kinds, spilled = [MISC if k == SPILL else k for k in kinds], None
                    kinds[b], changed = MISC, True
            if changed:
                frame.stack[sidx] = Slot("".join(kinds), None)
