"""Helper calls: availability, every argument against the prototype, return value, references, callbacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pybpf import helpers
from pybpf.abi import MapType
from pybpf.errors import VerifierError
from pybpf.helpers import ArgType as A
from pybpf.helpers import RetType as R
from pybpf.verifier import bounds, memory
from pybpf.verifier.state import (
    NOT_INIT,
    PACKET_TYPES,
    UNKNOWN_SCALAR,
    Reference,
    Reg,
    RegType,
    State,
)

if TYPE_CHECKING:
    from pybpf.verifier.checker import Checker, _Path

MAX_VAR_SIZ = 1 << 29
MEM_TYPES = (RegType.PTR_TO_STACK, RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META, RegType.PTR_TO_MAP_KEY,
             RegType.PTR_TO_MAP_VALUE, RegType.PTR_TO_MEM)
MEM_EXPECTED = "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_"
# Callback-calling helpers pybpf explores (bpf_loop); others are rejected conservatively.
LOOP = 181


@dataclass
class _Meta:
    map: Any = None
    mem_regno: int = -1
    alloc_size: int | None = None
    release_id: int = 0
    pkt_arg: bool = False
    const_sizes: dict[int, int] | None = None
    const_key: int | None = None


def _fail(msg: str, pc: int) -> VerifierError:
    return VerifierError(msg, insn=pc)


def helper_call(ck: Checker, pc: int, func_id: int, st: State, path: _Path, work: list[_Path]) -> int | None:
    proto = helpers.get(func_id)
    if proto is None or func_id <= 0:
        raise _fail(f"invalid func unknown#{func_id}", pc)
    name = f"{proto.full_name}#{func_id}"
    if not proto.known or not proto.allowed_in(ck.program_type):
        raise _fail(f"program of this type cannot use helper {name}", pc)
    if proto.privileged_only and not ck.privileged:
        raise _fail(f"program of this type cannot use helper {name}", pc)
    if proto.gpl_only and not ck.gpl:
        raise _fail("cannot call GPL-restricted function from non-GPL compatible program", pc)
    if proto.sleepable_only:
        raise _fail("helper call might sleep in a non-sleepable prog", pc)
    if proto.callback is not None and func_id != LOOP:
        raise _fail(f"pybpf does not verify callbacks of {name}", pc)
    meta = _Meta(const_sizes={})
    for i, arg in enumerate(proto.args):
        check_arg(ck, pc, st, i + 1, arg, proto, meta, name)
    if meta.pkt_arg and not proto.pkt_access:
        raise _fail("helper access to the packet is not allowed", pc)
    if func_id == 12 and st.refs:
        raise _fail("tail_call would lead to reference leak", pc)
    regs = st.cur.regs
    if func_id == LOOP:
        cb = regs[2]
        callee_state = st.copy()
        callee_state.cur.regs = list(callee_state.cur.regs)
        r1 = UNKNOWN_SCALAR
        r2 = regs[3]
        ck.push(work, cb.subprog, callee_state, path)
        # the pushed path enters the callback with a new frame
        target = ck.local_call(pc, cb.subprog, callee_state, callback=(0, 1))
        callee_state.cur.regs[1] = r1
        callee_state.cur.regs[2] = r2
        for r in (3, 4, 5):
            callee_state.cur.regs[r] = NOT_INIT
        work[-1].pc = target
        work[-1].hist.append((pc, ("frame",)))
        ck.callback_sites.add(pc)
    if meta.release_id:
        release(ck, st, meta.release_id)
    if proto.changes_pkt_data:
        for fi, where, reg in st.all_regs():
            if reg.type in PACKET_TYPES or reg.type is RegType.PTR_TO_PACKET_END:
                st.set_reg(fi, where, UNKNOWN_SCALAR if ck.privileged else NOT_INIT)
    for r in range(1, 6):
        regs[r] = NOT_INIT
    regs[0] = return_value(ck, pc, st, proto, meta)
    return pc + 1


def release(ck: Checker, st: State, ref_id: int) -> None:
    st.refs = [r for r in st.refs if r.id != ref_id]
    for fi, where, reg in st.all_regs():
        if reg.ref_obj_id == ref_id:
            st.set_reg(fi, where, UNKNOWN_SCALAR if ck.privileged else NOT_INIT)


def return_value(ck: Checker, pc: int, st: State, proto: helpers.HelperProto, meta: _Meta) -> Reg:
    ret = proto.ret
    if ret is R.RET_INTEGER:
        return UNKNOWN_SCALAR
    if ret is R.RET_VOID:
        return NOT_INIT
    if ret in (R.RET_PTR_TO_MAP_VALUE_OR_NULL, R.RET_PTR_TO_MAP_VALUE):
        m = meta.map
        if m is None:
            raise _fail("kernel subsystem misconfigured verifier", pc)
        null = ret is R.RET_PTR_TO_MAP_VALUE_OR_NULL
        if proto.id == 1 and meta.const_key is not None and meta.const_key < m.max_entries:
            null = False
        if getattr(m, "type", None) in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
            inner = getattr(m, "inner_map", None)
            if inner is None:
                raise _fail("map-in-map lookup needs the inner map's definition", pc)
            return Reg(RegType.CONST_PTR_TO_MAP, map=inner, maybe_null=null, id=st.new_id() if null else 0)
        return Reg(RegType.PTR_TO_MAP_VALUE, map=m, maybe_null=null, id=st.new_id() if null else 0,
                   rdonly=bool(getattr(m, "frozen", False)))
    if ret is R.RET_PTR_TO_RINGBUF_MEM_OR_NULL:
        nid = st.new_id()
        ref = st.new_id()
        st.refs.append(Reference(ref, pc))
        return Reg(RegType.PTR_TO_MEM, ringbuf=True, maybe_null=True, mem_size=meta.alloc_size or 0, id=nid,
                   ref_obj_id=ref)
    if ret in (R.RET_PTR_TO_MEM_OR_NULL,):
        size = meta.const_sizes.get(proto.ret_size_arg or 0, 0) if meta.const_sizes else 0
        return Reg(RegType.PTR_TO_MEM, maybe_null=True, mem_size=size, id=st.new_id())
    if ret in (R.RET_PTR_TO_SOCKET_OR_NULL, R.RET_PTR_TO_TCP_SOCK_OR_NULL, R.RET_PTR_TO_SOCK_COMMON_OR_NULL):
        t = {R.RET_PTR_TO_SOCKET_OR_NULL: RegType.PTR_TO_SOCKET, R.RET_PTR_TO_TCP_SOCK_OR_NULL:
             RegType.PTR_TO_TCP_SOCK}.get(ret, RegType.PTR_TO_SOCK_COMMON)
        rid = st.new_id()
        ref = 0
        if proto.acquires:
            ref = rid
            st.refs.append(Reference(ref, pc))
        return Reg(t, maybe_null=True, id=rid, ref_obj_id=ref)
    if ret in (R.RET_PTR_TO_BTF_ID, R.RET_PTR_TO_BTF_ID_OR_NULL):
        null = ret is R.RET_PTR_TO_BTF_ID_OR_NULL
        return Reg(RegType.PTR_TO_BTF_ID, maybe_null=null, id=st.new_id() if null else 0,
                   btf_name=proto.ret_btf_type)
    raise _fail(f"pybpf does not model the return type of {proto.full_name}", pc)


def constant_map_key(ck: Checker, st: State, reg: Reg, key_size: int) -> int | None:
    """The kernel's get_constant_map_key: a key held on the stack as a known constant."""
    if not ck.privileged or reg.type is not RegType.PTR_TO_STACK or not reg.var.is_const():
        return None
    addr = reg.off + bounds.s64(reg.var.value)
    if addr >= 0 or addr < -512:
        return None
    slot_index = (-addr - 1) // 8
    b = addr + (slot_index + 1) * 8
    slot = st.frames[reg.frameno].stack.get(slot_index)
    if slot is None:
        return None
    kinds = slot.kinds[b:]
    zeros = len(kinds) - len(kinds.lstrip("Z"))
    if zeros >= key_size:
        return 0
    if slot.spilled is None or slot.kinds[0] != "S" or not slot.spilled.is_scalar:
        return None
    spills = len(kinds) - len(kinds.lstrip("S"))
    if spills != key_size or not slot.spilled.var.is_const():
        return None
    return slot.spilled.var.value


def _expect(pc: int, regno: int, reg: Reg, expected: str) -> VerifierError:
    return _fail(f"R{regno} type={reg.type_str()} expected={expected}", pc)


def _is_null(reg: Reg) -> bool:
    return reg.is_scalar and reg.var.is_const() and reg.var.value == 0


def check_arg(ck: Checker, pc: int, st: State, regno: int, arg: A, proto: helpers.HelperProto, meta: _Meta,
              name: str) -> None:
    if arg is A.ARG_DONTCARE:
        return
    reg = ck.read(st, pc, regno)
    if arg is A.ARG_ANYTHING:
        if ck.is_ptr_leak(reg):
            raise _fail(f"R{regno} leaks addr into helper function", pc)
        return
    if arg is A.ARG_CONST_MAP_PTR:
        if reg.type is not RegType.CONST_PTR_TO_MAP or reg.maybe_null:
            raise _expect(pc, regno, reg, "map_ptr")
        m = reg.map
        if not helpers.map_compatible(m.type, proto.id):
            raise _fail(f"cannot pass map_type {int(m.type)} into func {name}", pc)
        meta.map = m
        return
    if arg in (A.ARG_PTR_TO_MAP_KEY, A.ARG_PTR_TO_MAP_VALUE, A.ARG_PTR_TO_UNINIT_MAP_VALUE,
               A.ARG_PTR_TO_MAP_VALUE_OR_NULL):
        if arg is A.ARG_PTR_TO_MAP_VALUE_OR_NULL and _is_null(reg):
            return
        if reg.type not in MEM_TYPES or reg.maybe_null:
            raise _expect(pc, regno, reg, MEM_EXPECTED)
        if meta.map is None:
            raise _fail("invalid map_ptr to access map->key" if arg is A.ARG_PTR_TO_MAP_KEY
                        else "invalid map_ptr to access map->value", pc)
        m = meta.map
        size = m.key_size if arg is A.ARG_PTR_TO_MAP_KEY else m.value_size
        mem_access(ck, pc, st, regno, reg, size, write=arg is A.ARG_PTR_TO_UNINIT_MAP_VALUE,
                   init=arg is not A.ARG_PTR_TO_UNINIT_MAP_VALUE, meta=meta)
        if arg is A.ARG_PTR_TO_MAP_KEY and m.type in (MapType.ARRAY, MapType.PERCPU_ARRAY):
            meta.const_key = constant_map_key(ck, st, reg, size)
            if meta.const_key is not None:
                ck.mark_all_precise()
        return
    if arg.is_memory:
        if arg.nullable and _is_null(reg):
            meta.mem_regno = -2
            return
        if reg.type not in MEM_TYPES or reg.maybe_null:
            raise _expect(pc, regno, reg, MEM_EXPECTED)
        if reg.rdonly and not arg.readonly:
            raise _fail(f"R{regno} cannot write into {reg.type_str()}", pc)
        meta.mem_regno = regno
        return
    if arg.is_size:
        if not reg.is_scalar:
            raise _expect(pc, regno, reg, "scalar")
        if arg is A.ARG_CONST_ALLOC_SIZE_OR_ZERO:
            ck.mark_precise(st, [regno])
            if not reg.var.is_const():
                raise _fail(f"R{regno} is not a known constant'", pc)
            meta.alloc_size = reg.var.value
            return
        v = reg.var
        ck.mark_precise(st, [regno])
        if v.is_const() and meta.const_sizes is not None:
            meta.const_sizes[regno - 1] = v.value
        zero_ok = arg is A.ARG_CONST_SIZE_OR_ZERO
        if v.smin < 0:
            raise _fail(f"R{regno} min value is negative, either use unsigned or 'var &= const'", pc)
        if v.umin == 0 and not zero_ok:
            raise _fail(f"R{regno} invalid zero-sized read: u64=[{v.umin},{v.umax}]", pc)
        if v.umax >= MAX_VAR_SIZ:
            raise _fail(f"R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'", pc)
        if meta.mem_regno == -2:
            return
        mem_reg = st.cur.regs[regno - 1]
        mem_arg = proto.arg(regno - 2)
        mem_access(ck, pc, st, regno - 1, mem_reg, v.umax, write=not mem_arg.readonly,
                   init=not mem_arg.uninit, meta=meta, zero_ok=zero_ok)
        return
    if arg in (A.ARG_PTR_TO_LONG, A.ARG_PTR_TO_INT):
        if reg.type not in MEM_TYPES or reg.maybe_null:
            raise _expect(pc, regno, reg, MEM_EXPECTED)
        mem_access(ck, pc, st, regno, reg, arg.fixed_size or 8, write=True, init=False, meta=meta)
        return
    if arg in (A.ARG_PTR_TO_CTX, A.ARG_PTR_TO_CTX_OR_NULL):
        if arg is A.ARG_PTR_TO_CTX_OR_NULL and _is_null(reg):
            return
        if reg.type is not RegType.PTR_TO_CTX:
            raise _expect(pc, regno, reg, "ctx")
        if reg.off or not (reg.var.is_const() and reg.var.value == 0):
            raise _fail(f"dereference of modified ctx ptr R{regno} off={reg.off} disallowed", pc)
        return
    if arg in (A.ARG_PTR_TO_STACK, A.ARG_PTR_TO_STACK_OR_NULL):
        if arg is A.ARG_PTR_TO_STACK_OR_NULL and _is_null(reg):
            return
        if reg.type is not RegType.PTR_TO_STACK:
            raise _expect(pc, regno, reg, "fp")
        return
    if arg is A.ARG_PTR_TO_FUNC:
        if reg.type is not RegType.PTR_TO_FUNC:
            raise _expect(pc, regno, reg, "func")
        return
    if arg is A.ARG_PTR_TO_RINGBUF_MEM:
        if reg.type is not RegType.PTR_TO_MEM or not reg.ringbuf or reg.maybe_null:
            raise _expect(pc, regno, reg, "ringbuf_mem")
        if reg.off or not (reg.var.is_const() and reg.var.value == 0):
            raise _fail(f"R{regno} must have zero offset when passed to release func", pc)
        if not reg.ref_obj_id:
            raise _fail(f"R{regno} must be referenced when passed to release function", pc)
        meta.release_id = reg.ref_obj_id
        return
    if arg is A.ARG_PTR_TO_RELEASE_SOCK_COMMON:
        if reg.type not in (RegType.PTR_TO_SOCKET, RegType.PTR_TO_SOCK_COMMON, RegType.PTR_TO_TCP_SOCK) \
                or reg.maybe_null:
            raise _expect(pc, regno, reg, "sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_")
        if not reg.ref_obj_id:
            raise _fail(f"R{regno} must be referenced when passed to release function", pc)
        meta.release_id = reg.ref_obj_id
        return
    if arg in (A.ARG_PTR_TO_SOCK_COMMON, A.ARG_PTR_TO_SOCKET, A.ARG_PTR_TO_SOCKET_OR_NULL,
               A.ARG_PTR_TO_BTF_ID_SOCK_COMMON, A.ARG_PTR_TO_BTF_ID_SOCK_COMMON_OR_NULL):
        if arg.nullable and _is_null(reg):
            return
        if reg.type not in (RegType.PTR_TO_SOCKET, RegType.PTR_TO_SOCK_COMMON, RegType.PTR_TO_TCP_SOCK) \
                or reg.maybe_null:
            raise _expect(pc, regno, reg, "sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_")
        return
    raise _fail(f"pybpf does not verify argument type {arg.name} of {name}", pc)


def mem_access(ck: Checker, pc: int, st: State, regno: int, reg: Reg, size: int, *, write: bool, init: bool,
               meta: _Meta, zero_ok: bool = False) -> None:
    """check_helper_mem_access: `size` bytes at reg are accessible (and initialised when read)."""
    t = reg.type
    if t is RegType.PTR_TO_STACK:
        memory.check_stack_range(ck, st, pc, regno, reg, size, init, write)
        return
    if t in PACKET_TYPES:
        meta.pkt_arg = True
        memory.check_packet(pc, regno, reg, 0, size, zero_ok)
        return
    if t is RegType.PTR_TO_MAP_VALUE:
        if write and reg.rdonly:
            m = reg.map
            raise _fail(f"write into map forbidden, value_size={m.value_size} off={reg.off} size={size}", pc)
        if size == 0 and zero_ok:
            return
        memory.check_region(pc, regno, reg, 0, size, reg.map.value_size, "map value")
        return
    if t is RegType.PTR_TO_MEM:
        if write and reg.rdonly:
            raise _fail(f"R{regno} cannot write into {reg.type_str()}", pc)
        if size == 0 and zero_ok:
            return
        memory.check_region(pc, regno, reg, 0, size, reg.mem_size, "memory")
        return
    if t is RegType.PTR_TO_MAP_KEY:
        memory.check_region(pc, regno, reg, 0, size, reg.mem_size, "memory")
        return
    raise _expect(pc, regno, reg, MEM_EXPECTED)


__all__ = ["helper_call", "bounds"]
