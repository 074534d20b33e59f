"""Facts the verifier takes from the running kernel: helper availability, context access rules and
which program types may call which kfuncs.

Each is probed with bpf() — tiny programs the kernel's verifier accepts or refuses — once per kernel
build, and cached in the user's cache directory (pybpf.cachedir), because builds of one release
differ (configs, backports). `pybpf.helpers.availability` and `pybpf.verifier.ctx_probed` read the
cache; a table generated on one build is only the fallback where bpf() is not permitted.
"""

from __future__ import annotations

import re
from typing import Any

from pybpf.abi import AttachType, ProgramType
from pybpf.cachedir import kernel_build, read_kernel_facts, write_kernel_facts
from pybpf.errors import BpfError, KernelError, VerifierError
from pybpf.isa.instruction import Instruction as I
from pybpf.kernel.probe import bpf_permission_error
from pybpf.kernel.programs import load_program

HELPERS_FACTS = "helpers.json"
CTX_FACTS = "ctx.json"
KFUNC_FACTS = "kfuncs.json"

_RET0 = (I(0xB7, 0, 0, 0, 0), I(0x95))
# Program types whose probe programs need an expected attach type, or a flag, to load at all.
_ATTACH = {
    ProgramType.CGROUP_SOCK_ADDR: AttachType.CGROUP_INET4_CONNECT,
    ProgramType.CGROUP_SOCKOPT: AttachType.CGROUP_GETSOCKOPT,
    ProgramType.SK_LOOKUP: AttachType.SK_LOOKUP,
    ProgramType.NETFILTER: AttachType.NETFILTER,
}
_FLAGS = {ProgramType.SYSCALL: 1 << 4}  # BPF_F_SLEEPABLE: syscall programs must be sleepable
_SKIP = (ProgramType.UNSPEC, ProgramType.EXT, ProgramType.STRUCT_OPS, ProgramType.TRACING, ProgramType.LSM)
_REFUSED = ("cannot use helper", "unknown func", "invalid func", "not allowed in probe")


def _load(ptype: int, insns: tuple[I, ...], log_level: int = 0) -> tuple[bool | None, str]:
    """(accepted, log): None when the program type itself cannot be loaded here."""
    logs: list[str] = []
    try:
        with load_program(ptype, insns, name="pybpf_probe", expected_attach_type=_ATTACH.get(ProgramType(ptype), 0),
                          flags=_FLAGS.get(ProgramType(ptype), 0), log_level=log_level, log_out=logs):
            pass
    except VerifierError as exc:
        return False, exc.log or exc.reason
    except KernelError:
        return None, ""
    return True, logs[0] if logs else ""


def _helper_available(ptype: int, helper_id: int) -> bool | None:
    """May `ptype` call `helper_id`? Refused by name means no; accepted or refused for its arguments, yes."""
    code = (*(I(0xB7, r, 0, 0, 0) for r in range(1, 6)), I(0x85, 0, 0, 0, helper_id), *_RET0)
    accepted, log = _load(ptype, code)
    if accepted is None:
        return None
    if not accepted and any(text in log for text in _REFUSED):
        return False
    return True


def probe_helper_availability() -> dict[str, Any]:
    """{"probed": [type names], "available": {helper id: [type names]}} from the running kernel."""
    from pybpf.helpers.ids import HELPER_NAMES

    probed: list[str] = []
    available: dict[str, list[str]] = {str(i): [] for i in range(1, len(HELPER_NAMES))}
    for ptype in ProgramType:
        if ptype in _SKIP or _load(ptype, _RET0)[0] is None:
            continue
        results = {i: _helper_available(ptype, i) for i in range(1, len(HELPER_NAMES))}
        if all(v is None for v in results.values()):
            continue
        probed.append(ptype.name)
        for i, ok in results.items():
            if ok:
                available[str(i)].append(ptype.name)
    return {"probed": probed, "available": available}


# Context types whose rules pybpf takes from the kernel (the others are modelled in verifier/context.py),
# with the size of the context structure to scan.
CTX_TYPES: dict[ProgramType, int] = {
    ProgramType.CGROUP_SOCK: 96, ProgramType.SOCK_OPS: 224, ProgramType.SK_SKB: 192, ProgramType.SK_MSG: 96,
    ProgramType.LWT_IN: 192, ProgramType.LWT_OUT: 192, ProgramType.LWT_XMIT: 192, ProgramType.CGROUP_DEVICE: 16,
    ProgramType.SK_REUSEPORT: 72, ProgramType.FLOW_DISSECTOR: 192, ProgramType.CGROUP_SYSCTL: 16,
    ProgramType.PERF_EVENT: 200, ProgramType.SK_LOOKUP: 80, ProgramType.LIRC_MODE2: 8,
}
_SIZE_BITS = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}
_R0_KIND = re.compile(r"R0_?w?=([a-z_]+)\(")


def _ctx_type(ptype: ProgramType, limit: int) -> dict[str, Any]:
    reads: list[tuple[int, int]] = []
    writes: list[tuple[int, int]] = []
    pointers: dict[str, str] = {}
    for off in range(limit):
        for size, bits in _SIZE_BITS.items():
            if off % size:
                continue
            ok, _ = _load(ptype, (I(0x61 | bits, 0, 1, off), *_RET0))
            if ok:
                reads.append((off, size))
                if size >= 4:  # u32 fields (skb->data) and u64 ones can yield pointers: the log says which
                    _, log = _load(ptype, (I(0x61 | bits, 0, 1, off), *_RET0), log_level=2)
                    found = _R0_KIND.search(log)
                    if found and found.group(1) != "scalar":
                        pointers[str(off)] = found.group(1)
            store = (I(0xB7, 2, 0, 0, 0), I(0x63 | bits, 1, 2, off), *_RET0)
            if _load(ptype, store)[0]:
                writes.append((off, size))
    return {"reads": reads, "writes": writes, "pointers": pointers}


def _sock_reads(limit: int = 120) -> dict[str, list[tuple[int, int]]]:
    """Readable (offset, size) of struct bpf_sock/bpf_tcp_sock through skb->sk, bpf_sk_fullsock, bpf_tcp_sock."""
    out: dict[str, list[tuple[int, int]]] = {"sock_common": [], "sock": [], "tcp_sock": []}
    cls = int(ProgramType.SCHED_CLS)
    for off in range(limit):
        for size, bits in _SIZE_BITS.items():
            if off % size:
                continue
            load = I(0x61 | bits, 0, 0, off, 0)
            common = (I(0x79, 2, 1, 168, 0), I(0x15, 2, 0, 2, 0), I(0x61 | bits, 0, 2, off, 0), I(0x05, 0, 0, 0, 0),
                      *_RET0)
            if _load(cls, common)[0]:
                out["sock_common"].append((off, size))
            for kind, helper in (("sock", 95), ("tcp_sock", 96)):
                body = (I(0x79, 1, 1, 168, 0), I(0x15, 1, 0, 3, 0), I(0x85, 0, 0, 0, helper), I(0x15, 0, 0, 1, 0),
                        load, *_RET0)
                if _load(cls, body)[0]:
                    out[kind].append((off, size))
    return out


def probe_ctx_access() -> dict[str, Any]:
    """{"types": {type id: {reads, writes, pointers}}, "sock": {kind: reads}} from the running kernel."""
    types = {str(int(ptype)): _ctx_type(ptype, limit) for ptype, limit in CTX_TYPES.items()}
    return {"types": types, "sock": _sock_reads()}


def _cached(name: str, probe: Any, refresh: bool) -> Any:
    facts = None if refresh else read_kernel_facts(name)
    if facts is None:
        facts = probe()
        write_kernel_facts(name, facts)
    return facts


def use_live_facts(refresh: bool = False) -> str | None:
    """Probe the running kernel (or read this build's cache) and make the helper catalogue use the answer.

    Returns None on success, else why the kernel could not be probed (the fallback table stays in use).
    Context access rules are returned by `ctx_facts()` for the verifier layer to install.
    """
    reason = bpf_permission_error()
    if reason:
        return reason
    try:
        facts = _cached(HELPERS_FACTS, probe_helper_availability, refresh)
    except BpfError as exc:
        return f"probing helpers failed: {exc}"
    from pybpf.helpers import availability
    from pybpf.helpers import refresh as rebuild

    availability.use(facts["available"], facts["probed"], f"probed on the running kernel ({kernel_build()})")
    rebuild()
    return None


def ctx_facts(refresh: bool = False) -> Any | None:
    """The context access facts of the running kernel (probed or cached), or None where bpf() is not permitted."""
    if bpf_permission_error():
        return None
    try:
        return _cached(CTX_FACTS, probe_ctx_access, refresh)
    except BpfError:
        return None


def _loadable_types() -> list[ProgramType]:
    return [t for t in ProgramType if t not in _SKIP and _load(t, _RET0)[0] is not None]


def probe_kfunc_types(names: list[str]) -> dict[str, Any]:
    """{"probed": [type names], "allowed": {kfunc: [type names]}} from the running kernel.

    The kernel registers each kfunc set for some program types (bpf_prog_type_to_kfunc_hook), and
    releases differ (tracepoint and perf_event programs joined the tracing set late, raw_tp later):
    a call with zero arguments is refused with `calling kernel function NAME is not allowed` where
    the type may not call it, and for its arguments or a leaked reference where it may.
    """
    from pybpf.kernel.vmlinux import KIND_FUNC, vmlinux_index

    index = vmlinux_index()
    types = _loadable_types()
    allowed: dict[str, list[str]] = {}
    for name in names:
        btf_id = index.get((KIND_FUNC, name))
        allowed[name] = []
        if btf_id is None:
            continue
        code = (*(I(0xB7, r, 0, 0, 0) for r in range(1, 6)), I(0x85, 0, 2, 0, btf_id), *_RET0)
        refused = f"calling kernel function {name} is not allowed"
        for ptype in types:
            ok, log = _load(ptype, code, log_level=1)
            if ok is not None and refused not in log:
                allowed[name].append(ptype.name)
    return {"probed": [t.name for t in types], "allowed": allowed}


def kfunc_facts(names: list[str], refresh: bool = False) -> Any | None:
    """Which program types may call each of `names` (probed or cached), or None where bpf() is not permitted."""
    if bpf_permission_error():
        return None
    facts = None if refresh else read_kernel_facts(KFUNC_FACTS)
    try:
        if not isinstance(facts, dict) or not set(names) <= set(facts.get("allowed", {})):
            facts = probe_kfunc_types(names)
            write_kernel_facts(KFUNC_FACTS, facts)
    except BpfError:
        return None
    return facts
