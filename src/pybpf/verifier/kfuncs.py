"""Kernel function calls (BPF_PSEUDO_KFUNC_CALL) and BTF-id ld_imm64 (`extern ... __ksym`), by the kernel's BTF.

A kfunc's prototype comes from the kernel's BTF, but what it does to references (KF_ACQUIRE,
KF_RELEASE, KF_RET_NULL) lives in kernel id sets BTF does not show. pybpf therefore models the
kfuncs whose contract is part of the documented kfunc API and refuses the others clearly
(VerifierUnsupported: the kernel's verifier alone can judge them). Which program types may call
them changes between releases: the running kernel is asked (pybpf.kernel.kfacts.kfunc_facts).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from pybpf.abi import ProgramType as P
from pybpf.btf.types import Kind
from pybpf.errors import VerifierError, VerifierUnsupported
from pybpf.verifier import helpers_check
from pybpf.verifier.btf_ctx import kernel_btf
from pybpf.verifier.state import NOT_INIT, UNKNOWN_SCALAR, Reference, Reg, RegType, State

if TYPE_CHECKING:
    from pybpf.verifier.checker import Checker


@dataclass(frozen=True)
class KfuncContract:
    """What a kfunc does with references: returns an acquired object (maybe NULL) or releases argument 1."""

    acquire: bool = False
    ret_null: bool = False
    release: bool = False


# Documented in Documentation/bpf/kfuncs.rst (task and cgroup kfuncs).
CONTRACTS: dict[str, KfuncContract] = {
    "bpf_task_from_pid": KfuncContract(acquire=True, ret_null=True),
    "bpf_task_release": KfuncContract(release=True),
    "bpf_cgroup_from_id": KfuncContract(acquire=True, ret_null=True),
    "bpf_cgroup_release": KfuncContract(release=True),
}
# Program types the generic kfunc set reaches in Linux 6.18 (register_btf_kfunc_id_set and
# bpf_prog_type_to_kfunc_hook): the fallback where the running kernel could not be asked.
GENERIC_TYPES = frozenset({P.TRACING, P.LSM, P.TRACEPOINT, P.PERF_EVENT, P.SCHED_CLS, P.SCHED_ACT, P.XDP,
                           P.SYSCALL, P.STRUCT_OPS, P.CGROUP_SKB})
# kfunc name -> program types the running kernel lets call it, for the types it was asked about
# (pybpf.kernel.kfacts.kfunc_facts, installed by pybpf.engines.use_kernel_facts).
_PROBED_TYPES: frozenset[int] = frozenset()
_ALLOWED: dict[str, frozenset[int]] = {}


def use(facts: Any) -> None:
    """Judge kfunc calls by the running kernel's answer: {"probed": [types], "allowed": {kfunc: [types]}}."""
    global _PROBED_TYPES, _ALLOWED
    try:
        probed = frozenset(int(P[name]) for name in facts["probed"])
        allowed = {str(k): frozenset(int(P[name]) for name in v) for k, v in facts["allowed"].items()}
    except (KeyError, TypeError, AttributeError):
        return
    _PROBED_TYPES, _ALLOWED = probed, allowed


def may_call(program_type: int, name: str) -> bool:
    """May a program of this type call kfunc `name`? The running kernel's answer, else the fallback's."""
    if program_type in _PROBED_TYPES and name in _ALLOWED:
        return program_type in _ALLOWED[name]
    return program_type in GENERIC_TYPES


def _struct_name(btf: Any, type_id: int) -> str | None:
    """The struct a pointer type points to, or None for anything else."""
    t = btf.skip_modifiers(type_id) if type_id else None
    if t is None or t.kind != Kind.PTR or not t.type_id:
        return None
    pointee = btf.skip_modifiers(t.type_id)
    return pointee.name if pointee.kind in (Kind.STRUCT, Kind.UNION) and pointee.name else None


def call(ck: Checker, pc: int, btf_id: int, module: int, st: State) -> int:
    """check_kfunc_call for the modelled kfuncs; a clear refusal for the others."""
    if module:
        raise VerifierUnsupported("kfunc calls into kernel module BTF", insn=pc)
    btf = kernel_btf(pc, "a kfunc call")
    try:
        func = btf.type(btf_id)
    except Exception:  # noqa: BLE001 - any id the kernel's BTF does not hold
        func = None
    if func is None or func.kind != Kind.FUNC:
        raise VerifierError(f"kernel btf_id {btf_id} is not a function", insn=pc)
    contract = CONTRACTS.get(func.name)
    if contract is None:
        raise VerifierUnsupported(f"kfunc {func.name}#{btf_id}", insn=pc)
    if not may_call(ck.program_type, func.name):
        raise VerifierError(f"calling kernel function {func.name} is not allowed", insn=pc)
    proto = btf.type(func.type_id)
    regs = st.cur.regs
    release_id = 0
    for i, param in enumerate(proto.params):
        regno = i + 1
        reg = ck.read(st, pc, regno)
        want = _struct_name(btf, param.type_id)
        if want is None:
            if not reg.is_scalar:
                raise VerifierError(f"R{regno} is not a scalar", insn=pc)
            continue
        if reg.type is not RegType.PTR_TO_BTF_ID or reg.btf_name != want:
            raise VerifierError(f"kernel function {func.name} args#{i} expected pointer to STRUCT {want} but R{regno} "
                                f"has a pointer to {reg.type_str()}", insn=pc)
        if reg.maybe_null:
            raise VerifierError(f"Possibly NULL pointer passed to trusted arg{i}", insn=pc)
        if contract.release and i == 0:
            if not reg.ref_obj_id:
                raise VerifierError(f"release kernel function {func.name} expects refcounted PTR_TO_BTF_ID",
                                    insn=pc)
            if reg.off or not (reg.var.is_const() and reg.var.value == 0):
                raise VerifierError(f"R{regno} must have zero offset when passed to release func", insn=pc)
            release_id = reg.ref_obj_id
    if release_id:
        helpers_check.release(ck, st, release_id)
    for r in range(1, 6):
        regs[r] = NOT_INIT
    regs[0] = _return(ck, pc, btf, proto, contract, st)
    return pc + 1


def _return(ck: Checker, pc: int, btf: Any, proto: Any, contract: KfuncContract, st: State) -> Reg:
    name = _struct_name(btf, proto.type_id)
    if name is None:
        return NOT_INIT if not proto.type_id else UNKNOWN_SCALAR
    rid = st.new_id()
    ref = 0
    if contract.acquire:
        ref = rid
        st.refs.append(Reference(ref, pc))
    return Reg(RegType.PTR_TO_BTF_ID, btf_name=name, maybe_null=contract.ret_null, id=rid, ref_obj_id=ref)


@cache
def _percpu_vars() -> frozenset[int]:
    btf = kernel_btf()
    sec = btf.find(".data..percpu", Kind.DATASEC)
    return frozenset(s.type_id for s in sec.secinfos) if sec is not None else frozenset()


def ksym(pc: int, btf_id: int) -> Reg:
    """ld_imm64 of a kernel variable or function by BTF id (check_pseudo_btf_id)."""
    btf = kernel_btf(pc, "a typed kernel symbol (__ksym)")
    try:
        t = btf.type(btf_id)
    except Exception:  # noqa: BLE001 - any id the kernel's BTF does not hold
        t = None
    if t is None or t.kind not in (Kind.VAR, Kind.FUNC):
        raise VerifierError(f"pseudo btf_id {btf_id} in ldimm64 isn't KIND_VAR or KIND_FUNC", insn=pc)
    if t.kind == Kind.FUNC:
        return Reg(RegType.PTR_TO_MEM, rdonly=True, mem_size=0)
    if btf_id in _percpu_vars():
        raise VerifierUnsupported(f"the per-CPU kernel variable {t.name}", insn=pc)
    var = btf.skip_modifiers(t.type_id)
    if var.kind in (Kind.STRUCT, Kind.UNION) and var.name:
        return Reg(RegType.PTR_TO_BTF_ID, btf_name=var.name)
    return Reg(RegType.PTR_TO_MEM, rdonly=True, mem_size=btf.sizeof(var.id))
