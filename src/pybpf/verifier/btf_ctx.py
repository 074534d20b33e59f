"""BTF-typed contexts and kernel objects: tp_btf, fentry/fexit, fmod_ret, lsm and iter programs.

Their context is an array of u64 arguments typed by the kernel's BTF (/sys/kernel/btf/vmlinux):
the attach target's prototype says which slot is a scalar and which a pointer to a kernel struct
(PTR_TO_BTF_ID). Loads through such pointers are probe-read-like (the kernel turns them into
fault-safe BPF_PROBE_MEM loads): they must stay inside the struct, and a pointer field read whole
yields another PTR_TO_BTF_ID. This is btf_ctx_access and btf_struct_access.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from pybpf.abi import AttachType as T
from pybpf.abi import ProgramType as P
from pybpf.btf.types import Kind
from pybpf.errors import BpfError, VerifierError, VerifierUnsupported
from pybpf.verifier import bounds
from pybpf.verifier.state import UNKNOWN_SCALAR, Reg, RegType, scalar

if TYPE_CHECKING:
    from pybpf.verifier.checker import Checker

MAX_BPF_FUNC_ARGS = 12
BTF_CTX_TYPES = frozenset({P.TRACING, P.LSM})
_SCALAR_KINDS = (Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.FLOAT)
_STRUCTS = (Kind.STRUCT, Kind.UNION)


@cache
def _vmlinux() -> Any:
    from pybpf.btf.vmlinux import load_vmlinux

    return load_vmlinux()


def kernel_btf(pc: int | None = None, what: str = "this program") -> Any:
    """The running kernel's BTF, or a clear refusal where it cannot be read."""
    try:
        return _vmlinux()
    except BpfError as exc:
        raise VerifierUnsupported(f"{what} needs the kernel's BTF: {exc}", insn=pc) from None


@dataclass(frozen=True)
class BtfContext:
    """The attach target's arguments: BTF type ids (0 for the return value slot of fexit/fmod_ret/lsm)."""

    target: str
    args: tuple[int, ...]
    ret: int | None  # the slot after the arguments holds the return value (type id), or None


def _func_proto(btf: Any, name: str) -> Any:
    found = btf.find(name, Kind.FUNC)
    if found is None:
        raise VerifierError(f"The address of function {name} cannot be found")
    return btf.type(found.type_id)


@cache
def context_of(program_type: int, attach: int | None, target: str) -> BtfContext:
    """What a tracing/LSM program's context holds, from the kernel's BTF (kernel-worded errors)."""
    btf = kernel_btf(None, f"a {P(program_type).name.lower()} program")
    if not target:
        raise VerifierError("Tracing programs must provide btf_id")
    if attach == T.TRACE_RAW_TP:
        tdef = btf.find(f"btf_trace_{target}", Kind.TYPEDEF)
        if tdef is None:
            raise VerifierError(f"attach_btf_id is not a typedef: the tracepoint {target} is unknown")
        proto = btf.skip_modifiers(btf.skip_modifiers(tdef.type_id).type_id)
        return BtfContext(target, tuple(p.type_id for p in proto.params[1:]), None)  # params[0]: void *__data
    if attach == T.TRACE_ITER:
        proto = _func_proto(btf, f"bpf_iter_{target}")
        return BtfContext(target, tuple(p.type_id for p in proto.params), None)
    name = f"bpf_lsm_{target}" if program_type == P.LSM else target
    proto = _func_proto(btf, name)
    args = tuple(p.type_id for p in proto.params)
    has_ret = attach in (T.TRACE_FEXIT, T.MODIFY_RETURN) or program_type == P.LSM
    return BtfContext(target, args, proto.type_id if has_ret else None)


def _pointer_reg(btf: Any, ptr_type: Any, maybe_null: bool, ids: Any) -> Reg:
    """A loaded pointer: PTR_TO_BTF_ID for a struct/union, a scalar for anything else (not dereferenceable)."""
    pointee = btf.skip_modifiers(ptr_type.type_id) if ptr_type.type_id else None
    if pointee is None or pointee.kind not in _STRUCTS or not pointee.name:
        return UNKNOWN_SCALAR
    return Reg(RegType.PTR_TO_BTF_ID, btf_name=pointee.name, maybe_null=maybe_null,
               id=ids() if maybe_null else 0)


def ctx_access(ck: Checker, pc: int, off: int, size: int, write: bool) -> Reg:
    """btf_ctx_access: a read of argument slot off/8 of a BTF-typed context."""
    attach = ck.attach_type
    ctx = context_of(ck.program_type, attach, ck.attach_to)
    if write or off < 0 or off >= 8 * MAX_BPF_FUNC_ARGS or off % size:
        raise VerifierError(f"invalid bpf_context access off={off} size={size}", insn=pc)
    if off % 8:
        raise VerifierError(f"func '{ctx.target}' offset {off} is not multiple of 8", insn=pc)
    arg = off // 8
    nargs = len(ctx.args)
    if arg < nargs:
        type_id = ctx.args[arg]
    elif arg == nargs and ctx.ret is not None:
        type_id = ctx.ret
    else:
        raise VerifierError(f"func '{ctx.target}' doesn't have {arg + 1}-th argument", insn=pc)
    btf = kernel_btf(pc)
    t = btf.skip_modifiers(type_id) if type_id else None
    if t is not None and t.kind == Kind.PTR:
        iter_arg = attach == T.TRACE_ITER and arg > 0  # bpf_iter__*: the object may be NULL at the end
        return _pointer_reg(btf, t, iter_arg, ck.id_for_ctx_load)
    return scalar(bounds.truncate(bounds.UNKNOWN, size)) if size < 8 else UNKNOWN_SCALAR


def _member_at(btf: Any, struct: Any, off: int, size: int) -> tuple[Any, int] | None:
    """The innermost member type covering [off, off+size) of a struct (recursing into nested ones)."""
    t = struct
    for _ in range(32):
        if t.kind in _STRUCTS:
            for m in t.members:
                if m.bitfield_size:
                    continue
                start = m.bit_offset // 8
                try:
                    msize = btf.sizeof(m.type_id)
                except BpfError:
                    continue
                if start <= off and off + size <= start + msize:
                    t = btf.skip_modifiers(m.type_id)
                    off -= start
                    break
            else:
                return None
        elif t.kind == Kind.ARRAY:
            elem = btf.skip_modifiers(t.elem_type)
            esize = btf.sizeof(elem.id)
            if esize <= 0:
                return None
            t, off = elem, off % esize
        else:
            return t, off
    return None


def starts_with(name: str, base: str) -> bool:
    """Is kernel struct `name` the struct `base`, or does it begin with one (struct sock begins with its
    sock_common, tcp_sock with an inet_connection_sock...)? btf_struct_ids_match, not strict."""
    btf = kernel_btf()
    t = btf.find(name, Kind.STRUCT)
    for _ in range(32):
        if t is None or t.kind != Kind.STRUCT:
            return False
        if t.name == base:
            return True
        if not t.members or t.members[0].bit_offset:
            return False
        t = btf.skip_modifiers(t.members[0].type_id)
    return False


def struct_access(ck: Checker, pc: int, regno: int, reg: Reg, off: int, size: int, write: bool) -> Reg | None:
    """btf_struct_access: a probe-read-like load from a kernel object."""
    name = reg.type_str()
    total = reg.off + off
    if not ck.privileged:
        raise VerifierError(f"'struct {reg.btf_name}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN",
                            insn=pc)
    if not ck.gpl:
        raise VerifierError(f"Cannot access kernel 'struct {reg.btf_name}' from non-GPL compatible program", insn=pc)
    if total < 0:
        raise VerifierError(f"R{regno} is {name} invalid negative access: off={total}", insn=pc)
    if not (reg.var.is_const() and reg.var.value == 0):
        raise VerifierError(f"R{regno} is {name} invalid variable offset: off={total}, var_off={reg.var.var}",
                            insn=pc)
    if write:
        raise VerifierError("only read is supported", insn=pc)
    btf = kernel_btf(pc)
    struct = btf.find(reg.btf_name, Kind.STRUCT) or btf.find(reg.btf_name, Kind.UNION)
    if struct is None:
        raise VerifierUnsupported(f"R{regno} points to kernel type {reg.btf_name} that pybpf cannot find in the "
                                  "kernel's BTF", insn=pc)
    if total + size > struct.size:
        raise VerifierError(f"access beyond struct {reg.btf_name} at off {total} size {size}", insn=pc)
    found = _member_at(btf, struct, total, size)
    if found is not None:
        t, inner = found
        if t.kind == Kind.PTR and inner == 0 and size == 8:
            return _pointer_reg(btf, t, False, ck.id_for_ctx_load)
    return scalar(bounds.truncate(bounds.UNKNOWN, size)) if size < 8 else UNKNOWN_SCALAR


def return_range(program_type: int, attach: int | None, target: str) -> tuple[int, int] | None:
    """check_return_code for tracing and LSM programs (None: any value)."""
    if program_type == P.TRACING:
        if attach in (T.TRACE_FENTRY, T.TRACE_FEXIT):
            return (0, 0)
        if attach == T.TRACE_ITER:
            return (0, 1)
        return None
    if program_type == P.LSM and target:
        ctx = context_of(program_type, attach, target)
        ret = kernel_btf().skip_modifiers(ctx.ret) if ctx.ret else None
        return None if ret is None or ret.kind == Kind.VOID else (-4095, 0)
    return None
