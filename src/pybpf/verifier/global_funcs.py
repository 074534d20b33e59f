"""Global functions (BTF linkage global): argument kinds from their BTF prototype, the call as the caller sees it.

The kernel verifies a global function once, on its own, with arguments as its prototype allows
(scalars unknown, pointers possibly NULL); a caller only checks that its arguments fit the
prototype and gets back an unknown scalar in R0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pybpf.btf.types import FUNC_GLOBAL, Kind
from pybpf.errors import VerifierError
from pybpf.verifier import helper_args
from pybpf.verifier.context import CTX_STRUCTS
from pybpf.verifier.state import NOT_INIT, UNKNOWN_SCALAR, Frame, Reg, RegType, State

if TYPE_CHECKING:
    from pybpf.verifier.checker import Checker

SCALAR_KINDS = frozenset({Kind.INT, Kind.ENUM, Kind.ENUM64})


@dataclass(frozen=True)
class FuncArg:
    """One argument of a global function: 'scalar', 'ctx', or 'mem' of `size` bytes (maybe NULL)."""

    kind: str
    size: int = 0


@dataclass(frozen=True)
class GlobalFunc:
    """A global function: where it starts, its name and its arguments."""

    pc: int
    name: str
    index: int  # func#N in the kernel's numbering (position in func_info)
    args: tuple[FuncArg, ...]


def _arg(btf: Any, type_id: int, i: int, func: str, ctx_names: frozenset[str]) -> FuncArg:
    t = btf.skip_modifiers(type_id)
    if t.kind in SCALAR_KINDS and t.size <= 8:
        return FuncArg("scalar")
    if t.kind == Kind.PTR:
        pointee = btf.skip_modifiers(t.type_id)
        if pointee.kind in (Kind.STRUCT, Kind.UNION, Kind.FWD) and pointee.name in ctx_names:
            return FuncArg("ctx")
        try:
            size = btf.sizeof(pointee.id) if pointee.kind not in (Kind.VOID, Kind.FUNC_PROTO, Kind.FWD) else -1
        except Exception:  # noqa: BLE001 - any BTF the size cannot be resolved from
            size = -1
        if size <= 0:
            raise VerifierError(f"arg#{i} reference type('{pointee.kind.name} {pointee.name}') size cannot be "
                                "determined")
        return FuncArg("mem", size)
    raise VerifierError(f"Arg#{i} type {t.kind.name} in {func}() is not supported yet.")


def global_funcs(btf: Any, func_infos: Sequence[Any], program_type: int) -> dict[int, GlobalFunc]:
    """The global functions of a program (not its entry), by the slot pc where each starts."""
    if btf is None:
        return {}
    out: dict[int, GlobalFunc] = {}
    ctx_names = CTX_STRUCTS.get(program_type, frozenset())
    for index, info in enumerate(func_infos):
        if info.insn_off == 0:
            continue
        try:
            func = btf.type(info.type_id)
        except Exception:  # noqa: BLE001 - a bad type id: the object loader reports it
            continue
        if func.kind != Kind.FUNC or func.linkage != FUNC_GLOBAL:
            continue
        proto = btf.type(func.type_id)
        ret = btf.skip_modifiers(proto.type_id)
        if ret.kind not in SCALAR_KINDS and ret.kind != Kind.VOID:
            raise VerifierError(f"Global function {func.name}() doesn't return scalar. Only those are supported.")
        if len(proto.params) > 5:
            raise VerifierError(f"Global function {func.name}() has more than 5 arguments")
        args = tuple(_arg(btf, p.type_id, i, func.name, ctx_names) for i, p in enumerate(proto.params))
        out[info.insn_off] = GlobalFunc(info.insn_off, func.name, index, args)
    return out


def entry_state(func: GlobalFunc, st: State) -> State:
    """The state a global function is verified from: each argument as its prototype allows."""
    regs = [NOT_INIT] * 11
    for i, arg in enumerate(func.args):
        if arg.kind == "scalar":
            regs[i + 1] = UNKNOWN_SCALAR
        elif arg.kind == "ctx":
            regs[i + 1] = Reg(RegType.PTR_TO_CTX)
        else:
            regs[i + 1] = Reg(RegType.PTR_TO_MEM, maybe_null=True, mem_size=arg.size, id=st.new_id())
    regs[10] = Reg(RegType.PTR_TO_STACK)
    st.frames = [Frame(regs, {}, -1, func.pc)]
    return st


def call(ck: Checker, pc: int, func: GlobalFunc, st: State) -> int:
    """btf_check_subprog_call for a global callee: arguments fit, R0 becomes an unknown scalar."""
    regs = st.cur.regs
    for i, arg in enumerate(func.args):
        regno = i + 1
        reg = ck.read(st, pc, regno)
        if arg.kind == "scalar":
            if not reg.is_scalar:
                raise VerifierError(f"R{regno} is not a scalar", insn=pc)
        elif arg.kind == "ctx":
            if reg.type is not RegType.PTR_TO_CTX:
                raise VerifierError(f"arg#{i} expects pointer to ctx", insn=pc)
        elif not (reg.is_scalar and reg.var.is_const() and reg.var.value == 0):
            probe = reg.with_(maybe_null=False)
            meta = helper_args.Meta()
            helper_args.mem_access(ck, pc, st, regno, probe, arg.size, write=False, init=True, meta=meta)
            helper_args.mem_access(ck, pc, st, regno, probe, arg.size, write=True, init=False, meta=meta)
    ck.globals_called.add(func.pc)
    ck.note = ("frame",)  # precision cannot follow the call: mark everything precise
    for r in range(1, 6):
        regs[r] = NOT_INIT
    regs[0] = UNKNOWN_SCALAR
    return pc + 1
