"""BTF-typed contexts (tp_btf, fentry/fexit, lsm), kernel objects behind PTR_TO_BTF_ID, kfuncs and __ksym loads.

The kernel's BTF (/sys/kernel/btf/vmlinux) types the arguments; offsets used here are read from it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.abi import AttachType, ProgramType
from pybpf.errors import VerifierError, VerifierUnsupported
from pybpf.isa import assemble
from pybpf.isa.instruction import Instruction
from pybpf.object.spec import ProgramSpec
from pybpf.verifier import verify

if not Path("/sys/kernel/btf/vmlinux").exists():
    pytest.skip("this kernel has no BTF (/sys/kernel/btf/vmlinux)", allow_module_level=True)

from pybpf.btf.types import Kind  # noqa: E402
from pybpf.btf.vmlinux import load_vmlinux  # noqa: E402

BTF = load_vmlinux()
TASK = BTF.find("task_struct", Kind.STRUCT)
PID = next(m.bit_offset // 8 for m in TASK.members if m.name == "pid")
PARENT = next(m.bit_offset // 8 for m in TASK.members if m.name == "real_parent")


def tracing(text: str, attach: AttachType, target: str, ptype: ProgramType = ProgramType.TRACING) -> ProgramSpec:
    return ProgramSpec("p", tuple(assemble(text)), type=ptype, attach_type=attach, attach_to=target)


def rejected(spec: ProgramSpec) -> VerifierError:
    with pytest.raises(VerifierError) as info:
        verify(spec)
    return info.value


def test_tp_btf_reads_task_fields_through_the_typed_argument() -> None:
    # sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
    text = f"""r2 = *(u64 *)(r1 + 8)
    r3 = *(u32 *)(r2 + {PID})
    r4 = *(u64 *)(r2 + {PARENT})
    r5 = *(u32 *)(r4 + {PID})
    r6 = *(u64 *)(r1 + 24)
    r0 = 0
    exit"""
    assert verify(tracing(text, AttachType.TRACE_RAW_TP, "sched_switch")).accepted


def test_tp_btf_context_rules() -> None:
    e = rejected(tracing("r2 = *(u64 *)(r1 + 4)\nr0 = 0\nexit", AttachType.TRACE_RAW_TP, "sched_switch"))
    assert e.reason == "invalid bpf_context access off=4 size=8"
    e = rejected(tracing("r2 = *(u32 *)(r1 + 12)\nr0 = 0\nexit", AttachType.TRACE_RAW_TP, "sched_switch"))
    assert e.reason == "func 'sched_switch' offset 12 is not multiple of 8"
    e = rejected(tracing("r2 = *(u64 *)(r1 + 32)\nr0 = 0\nexit", AttachType.TRACE_RAW_TP, "sched_switch"))
    assert e.reason == "func 'sched_switch' doesn't have 5-th argument"
    e = rejected(tracing("r2 = 1\n*(u64 *)(r1 + 0) = r2\nr0 = 0\nexit", AttachType.TRACE_RAW_TP, "sched_switch"))
    assert e.reason == "invalid bpf_context access off=0 size=8"


def test_kernel_object_loads_stay_inside_the_struct_and_are_read_only() -> None:
    beyond = f"r2 = *(u64 *)(r1 + 8)\nr3 = *(u64 *)(r2 + {TASK.size})\nr0 = 0\nexit"
    e = rejected(tracing(beyond, AttachType.TRACE_RAW_TP, "sched_switch"))
    assert e.reason == f"access beyond struct task_struct at off {TASK.size} size 8"
    write = f"r2 = *(u64 *)(r1 + 8)\nr3 = 1\n*(u32 *)(r2 + {PID}) = r3\nr0 = 0\nexit"
    assert rejected(tracing(write, AttachType.TRACE_RAW_TP, "sched_switch")).reason == "only read is supported"
    scalar_deref = "r2 = *(u64 *)(r1 + 0)\nr3 = *(u32 *)(r2 + 0)\nr0 = 0\nexit"  # preempt is a bool
    assert "invalid mem access 'scalar'" in rejected(tracing(scalar_deref, AttachType.TRACE_RAW_TP, "sched_switch")).reason


def test_fentry_and_fexit_arguments_and_return_value() -> None:
    # tcp_connect(struct sock *sk) returns int: fexit sees it in the slot after the arguments
    assert verify(tracing("r2 = *(u64 *)(r1 + 0)\nr0 = 0\nexit", AttachType.TRACE_FENTRY, "tcp_connect")).accepted
    assert verify(tracing("r2 = *(u64 *)(r1 + 8)\nr0 = 0\nexit", AttachType.TRACE_FEXIT, "tcp_connect")).accepted
    e = rejected(tracing("r2 = *(u64 *)(r1 + 8)\nr0 = 0\nexit", AttachType.TRACE_FENTRY, "tcp_connect"))
    assert e.reason == "func 'tcp_connect' doesn't have 2-th argument"
    e = rejected(tracing("r0 = 1\nexit", AttachType.TRACE_FENTRY, "tcp_connect"))
    assert e.reason == "At program exit the register R0 has smin=1 smax=1 should have been in [0, 0]"


def test_lsm_hook_context_and_return_range() -> None:
    # file_open(struct file *file) returns int: the hook's return value slot, errno-style results
    spec = tracing("r2 = *(u64 *)(r1 + 8)\nr0 = -1\nexit", AttachType.LSM_MAC, "file_open", ProgramType.LSM)
    assert verify(spec).accepted
    e = rejected(tracing("r0 = 1\nexit", AttachType.LSM_MAC, "file_open", ProgramType.LSM))
    assert e.reason == "At program exit the register R0 has smin=1 smax=1 should have been in [-4095, 0]"


def _kfunc(name: str) -> int:
    return BTF.find(name, Kind.FUNC).id


def _with_kfuncs(text: str, **ids: int) -> ProgramSpec:
    insns = list(assemble(text))
    out = []
    for insn in insns:  # `call 0x7f00000N` placeholders become kfunc calls
        if insn.opcode == 0x85 and insn.imm >= 0x7F000000:
            insn = Instruction(0x85, src=2, imm=list(ids.values())[insn.imm - 0x7F000000])
        out.append(insn)
    return ProgramSpec("p", tuple(out), type=ProgramType.TRACING, attach_type=AttachType.TRACE_RAW_TP,
                       attach_to="sched_switch")


ACQUIRE_RELEASE = """r1 = 1
call 0x7f000000
if r0 == 0 goto +2
r1 = r0
call 0x7f000001
r0 = 0
exit"""


def test_acquired_task_must_be_released() -> None:
    ids = {"acq": _kfunc("bpf_task_from_pid"), "rel": _kfunc("bpf_task_release")}
    assert verify(_with_kfuncs(ACQUIRE_RELEASE, **ids)).accepted
    leak = "r1 = 1\ncall 0x7f000000\nr0 = 0\nexit"
    assert rejected(_with_kfuncs(leak, **ids)).reason.startswith("Unreleased reference id=")
    unchecked = "r1 = 1\ncall 0x7f000000\nr1 = r0\ncall 0x7f000001\nr0 = 0\nexit"
    assert rejected(_with_kfuncs(unchecked, **ids)).reason == "Possibly NULL pointer passed to trusted arg0"


def test_unmodelled_kfunc_is_refused_clearly() -> None:
    ids = {"lock": _kfunc("bpf_rcu_read_lock")}
    with pytest.raises(VerifierUnsupported) as info:
        verify(_with_kfuncs("call 0x7f000000\nr0 = 0\nexit", **ids))
    assert "kfunc bpf_rcu_read_lock" in info.value.reason and "verify=False" in info.value.reason


def test_ksym_per_cpu_variable_is_refused_clearly() -> None:
    percpu = BTF.find(".data..percpu", Kind.DATASEC)
    if percpu is None or not percpu.secinfos:
        pytest.skip("this kernel's BTF lists no per-CPU variables")
    var_id = percpu.secinfos[0].type_id
    insns = [Instruction(0x18, 1, 3, 0, var_id), *assemble("r0 = 0\nexit")]
    spec = ProgramSpec("p", tuple(insns), type=ProgramType.TRACING, attach_type=AttachType.TRACE_RAW_TP,
                       attach_to="sched_switch")
    with pytest.raises(VerifierUnsupported) as info:
        verify(spec)
    assert "per-CPU kernel variable" in info.value.reason and info.value.insn == 0


def test_tracing_get_socket_cookie_takes_kernel_sockets() -> None:
    """tracing_prog_func_proto gives bpf_get_socket_cookie a socket argument (libbpf-tools tcppktlat)."""
    # tcp_destroy_sock(struct sock *sk, ...): a struct sock begins with its sock_common
    text = "r1 = *(u64 *)(r1 + 0)\ncall 46\nr0 = 0\nexit"
    assert verify(tracing(text, AttachType.TRACE_RAW_TP, "tcp_destroy_sock")).accepted
    # sched_switch's prev is a task_struct, no socket
    e = rejected(tracing("r1 = *(u64 *)(r1 + 8)\ncall 46\nr0 = 0\nexit", AttachType.TRACE_RAW_TP, "sched_switch"))
    assert e.reason == "R1 is of type task_struct but sock_common is expected"
    # a raw tracepoint program may not call it at all, as the running kernel says (probed or fallback)
    raw = ProgramSpec("p", tuple(assemble("call 46\nr0 = 0\nexit")), type=ProgramType.RAW_TRACEPOINT)
    assert rejected(raw).reason == "program of this type cannot use helper bpf_get_socket_cookie#46"
