"""Feature probes: which program types, map types, helpers and attach kinds this kernel supports."""

from __future__ import annotations

import errno
import functools
import os
from dataclasses import dataclass

from pybpf.abi import MapType, ProgramType
from pybpf.errors import BpfError, KernelError, VerifierError
from pybpf.isa.instruction import Instruction
from pybpf.kernel.maps import create_map
from pybpf.kernel.programs import load_program

_RET0 = (Instruction(0xB7, 0, 0, 0, 0), Instruction(0x95))


@dataclass(frozen=True)
class Feature:
    """The answer of one probe: supported or not, and why not."""

    name: str
    supported: bool
    detail: str = ""

    def __bool__(self) -> bool:
        return self.supported

    def require(self) -> None:
        """Raise KernelError with a precise "not supported by this kernel" message when unsupported."""
        if not self.supported:
            raise KernelError(f"{self.name} is not supported by this kernel: {self.detail}", errno=errno.EOPNOTSUPP)


_EXPECTED = {
    ProgramType.CGROUP_SOCK_ADDR: 8, ProgramType.CGROUP_SOCKOPT: 21, ProgramType.SK_LOOKUP: 36,
    ProgramType.NETFILTER: 45,
}


@functools.cache
def program_type(ptype: ProgramType) -> Feature:
    """Can a trivial program of this type be loaded?"""
    name = f"program type {ptype.name.lower()}"
    if ptype in (ProgramType.TRACING, ProgramType.LSM, ProgramType.EXT, ProgramType.STRUCT_OPS):
        return _tracing_type(ptype, name)
    try:
        with load_program(ptype, _RET0, name="probe", expected_attach_type=_EXPECTED.get(ptype, 0)):
            return Feature(name, True)
    except VerifierError as exc:
        # the type exists; only our trivial body was not acceptable for it
        return Feature(name, True, f"(probe program rejected: {exc.reason})")
    except KernelError as exc:
        return Feature(name, False, _why(exc))


def _tracing_type(ptype: ProgramType, name: str) -> Feature:
    from pybpf.kernel.vmlinux import find_func

    target, attach = {ProgramType.LSM: ("bpf_lsm_file_open", 27)}.get(ptype, ("do_unlinkat", 24))
    if ptype in (ProgramType.EXT, ProgramType.STRUCT_OPS):
        return Feature(name, True, "(not probed: needs a target program or struct_ops map)")
    try:
        with load_program(ptype, _RET0, name="probe", expected_attach_type=attach, attach_btf_id=find_func(target)):
            return Feature(name, True)
    except VerifierError as exc:
        return Feature(name, True, f"(probe program rejected: {exc.reason})")
    except BpfError as exc:
        return Feature(name, False, _why(exc))


def _why(exc: BpfError) -> str:
    code = getattr(exc, "errno", 0)
    if code == errno.EINVAL:
        return "the kernel does not know it (EINVAL)"
    if code in (errno.EPERM, errno.EACCES):
        return "the kernel refuses it here (EPERM: privileges, lockdown or security policy)"
    return str(exc)


_MAP_SHAPE: dict[MapType, tuple[int, int, int, int]] = {
    MapType.RINGBUF: (0, 0, 4096, 0), MapType.USER_RINGBUF: (0, 0, 4096, 0),
    MapType.QUEUE: (0, 4, 1, 0), MapType.STACK: (0, 4, 1, 0), MapType.BLOOM_FILTER: (0, 4, 1, 0),
    MapType.LPM_TRIE: (8, 4, 1, 1), MapType.STACK_TRACE: (4, 8, 1, 0),
    MapType.CGROUP_STORAGE: (16, 8, 0, 0), MapType.PERCPU_CGROUP_STORAGE: (16, 8, 0, 0),
    MapType.SK_STORAGE: (4, 8, 0, 1), MapType.INODE_STORAGE: (4, 8, 0, 1), MapType.TASK_STORAGE: (4, 8, 0, 1),
    MapType.CGRP_STORAGE: (4, 8, 0, 1), MapType.ARENA: (0, 0, 1, 1 << 10),
}


@functools.cache
def map_type(mtype: MapType) -> Feature:
    """Can a small map of this type be created?"""
    name = f"map type {mtype.name.lower()}"
    if mtype in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
        try:
            with create_map(MapType.ARRAY, 4, 4, 1) as inner, create_map(mtype, 4, 4, 1, inner_map_fd=inner.fd):
                return Feature(name, True)
        except KernelError as exc:
            return Feature(name, False, _why(exc))
    if mtype == MapType.STRUCT_OPS:
        return Feature(name, True, "(not probed: needs a struct_ops BTF type)")
    key, value, entries, flags = _MAP_SHAPE.get(mtype, (4, 4, 1, 0))
    if flags == 1:
        flags = 1  # BPF_F_NO_PREALLOC, required by tries and local storages
    try:
        with create_map(mtype, key, value, entries, flags=flags):
            return Feature(name, True)
    except KernelError as exc:
        if mtype in (MapType.SK_STORAGE, MapType.INODE_STORAGE, MapType.TASK_STORAGE, MapType.CGRP_STORAGE) \
                and exc.errno == errno.EINVAL:
            return Feature(name, True, "(known to the kernel; needs BTF key/value types to be created)")
        return Feature(name, False, _why(exc))


@functools.cache
def helper(ptype: ProgramType, helper_id: int) -> Feature:
    """May programs of type `ptype` call helper `helper_id`? (an 'unknown func' verdict means no)."""
    try:
        from pybpf.helpers import HELPERS

        hname = HELPERS[helper_id].name if helper_id in HELPERS else str(helper_id)
    except ImportError:
        hname = str(helper_id)
    name = f"helper {hname} in {ptype.name.lower()} programs"
    insns = (Instruction(0x85, 0, 0, 0, helper_id), *_RET0)
    try:
        with load_program(ptype, insns, name="probe", expected_attach_type=_EXPECTED.get(ptype, 0)):
            return Feature(name, True)
    except VerifierError as exc:
        if "unknown func" in exc.reason or "invalid func" in exc.reason or "program of this type cannot use helper" \
                in exc.reason:
            return Feature(name, False, exc.reason)
        return Feature(name, True)
    except KernelError as exc:
        return Feature(name, False, _why(exc))


def attach_kinds() -> list[Feature]:
    """Hooks this kernel offers to BPF: probes by PMU, tracefs, cgroup v2 and link support."""
    from pybpf.kernel.links import kprobes_supported

    out = []
    out.append(Feature("kprobe/kretprobe", kprobes_supported(),
                       "" if kprobes_supported() else "CONFIG_KPROBE_EVENTS is off (no kprobe PMU)"))
    has_uprobe = os.path.exists("/sys/bus/event_source/devices/uprobe/type")
    out.append(Feature("uprobe/uretprobe", has_uprobe, "" if has_uprobe else "no uprobe PMU"))
    from pybpf.kernel.link.uprobe_multi import uprobe_multi_supported

    multi = has_uprobe and uprobe_multi_supported()
    out.append(Feature("uprobe_multi link", multi, "" if multi else "needs Linux 6.6+ with CONFIG_UPROBES"))
    try:
        from pybpf.kernel.tracefs import tracefs_root

        tracefs_root()
        out.append(Feature("tracepoint", True))
    except BpfError as exc:
        out.append(Feature("tracepoint", False, str(exc)))
    out.append(Feature("raw_tracepoint", bool(program_type(ProgramType.RAW_TRACEPOINT)),
                       program_type(ProgramType.RAW_TRACEPOINT).detail))
    tracing = program_type(ProgramType.TRACING)
    out.append(Feature("fentry/fexit/tp_btf", tracing.supported, tracing.detail))
    lsm = program_type(ProgramType.LSM)
    out.append(Feature("lsm", lsm.supported, lsm.detail))
    release = tuple(int("".join(c for c in p if c.isdigit()) or 0) for p in os.uname().release.split(".")[:2])
    out.append(Feature("xdp link", release >= (5, 9), "" if release >= (5, 9) else "needs Linux 5.9+"))
    out.append(Feature("tcx link", release >= (6, 6), "" if release >= (6, 6) else "needs Linux 6.6+"))
    has_cg2 = any(line.split()[2] == "cgroup2" for line in open("/proc/self/mounts") if len(line.split()) > 2)
    out.append(Feature("cgroup v2", has_cg2, "" if has_cg2 else "no cgroup2 hierarchy is mounted"))
    out.append(Feature("perf_event sampling", bool(program_type(ProgramType.PERF_EVENT))))
    return out


def all_program_types() -> list[Feature]:
    return [program_type(t) for t in ProgramType if t != ProgramType.UNSPEC]


def all_map_types() -> list[Feature]:
    return [map_type(t) for t in MapType if t != MapType.UNSPEC]
