"""Helper calls: availability, every argument against the prototype, return value, references, callbacks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf import helpers
from pybpf.abi import MapType
from pybpf.errors import VerifierError, VerifierUnsupported
from pybpf.helpers import RetType as R
from pybpf.verifier import calls, const_str, memory
from pybpf.verifier.helper_args import Meta, check_arg
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

# Callback-calling helpers pybpf explores (bpf_loop, bpf_for_each_map_elem); others are refused clearly.
LOOP = 181
FOR_EACH = 164
# map_delete_elem, map_update_elem, map_push_elem, map_pop_elem: refused on BPF_F_RDONLY_PROG maps.
MAP_WRITING = frozenset({2, 3, 87, 88})


def _fail(msg: str, pc: int) -> VerifierError:
    return VerifierError(msg, insn=pc)


def helper_call(ck: Checker, pc: int, func_id: int, st: State, path: _Path, work: list[_Path]) -> int | None:
    proto = helpers.for_program(func_id, ck.program_type)
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
    if proto.callback is not None and func_id not in (LOOP, FOR_EACH):
        raise VerifierUnsupported(f"callbacks of {name}", insn=pc)
    meta = Meta(const_sizes={})
    for i, arg in enumerate(proto.args):
        check_arg(ck, pc, st, i + 1, arg, proto, meta, name)
    if meta.map is not None and func_id in MAP_WRITING and not memory.map_prog_caps(meta.map)[1]:
        raise _fail("write into map forbidden", pc)  # record_func_map
    if meta.pkt_arg and not proto.pkt_access:
        raise _fail("helper access to the packet is not allowed", pc)
    if func_id == const_str.SNPRINTF:
        const_str.check_snprintf(pc, st.cur.regs[3], st.cur.regs[5])
    if func_id == 12 and st.refs:
        raise _fail("tail_call would lead to reference leak", pc)
    regs = st.cur.regs
    if func_id in (LOOP, FOR_EACH) and proto.callback is not None:
        cb = regs[proto.callback.arg + 1]
        args = _callback_args(regs, meta) if func_id == FOR_EACH else [UNKNOWN_SCALAR, regs[3]]
        callee_state = st.copy()
        callee_state.cur.regs = list(callee_state.cur.regs)
        ck.push(work, cb.subprog, callee_state, path)
        # the pushed path enters the callback with a new frame
        ret_range = (proto.callback.ret_min, proto.callback.ret_max)
        target = calls.local_call(ck, pc, cb.subprog, callee_state, callback=ret_range)
        for r in range(1, 6):
            callee_state.cur.regs[r] = args[r - 1] if r <= len(args) else NOT_INIT
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


def _callback_args(regs: list[Reg], meta: Meta) -> list[Reg]:
    """set_map_elem_callback_state: (map, key, value, the caller's context) for each element."""
    m = meta.map
    return [Reg(RegType.CONST_PTR_TO_MAP, map=m), Reg(RegType.PTR_TO_MAP_KEY, map=m, mem_size=m.key_size),
            Reg(RegType.PTR_TO_MAP_VALUE, map=m, rdonly=not memory.map_prog_caps(m)[1]), regs[3]]


def release(ck: Checker, st: State, ref_id: int) -> None:
    st.refs = [r for r in st.refs if r.id != ref_id]
    for fi, where, reg in st.all_regs():
        if reg.ref_obj_id == ref_id:
            st.set_reg(fi, where, UNKNOWN_SCALAR if ck.privileged else NOT_INIT)


def return_value(ck: Checker, pc: int, st: State, proto: helpers.HelperProto, meta: Meta) -> Reg:
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
                   rdonly=not memory.map_prog_caps(m)[1])
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
    raise VerifierUnsupported(f"the return type of {proto.full_name}", insn=pc)


__all__ = ["helper_call"]
