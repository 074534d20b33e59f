"""The kernel verifier's verdict on a program: accepted or not, where, why, and how much work it did.

This is the oracle the pybpf verifier is measured against: each program is loaded (privileged, as
root) with the verifier's statistics, and on rejection reloaded with the full log for the message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from pybpf.abi import MapType, ProgramType
from pybpf.errors import BpfError, KernelError, LoadError, VerifierError
from pybpf.kernel.engine import (
    attach_btf_id_for,
    create_collection_map,
    kernel_version_code,
    patch_map_references,
)
from pybpf.kernel.maps import KernelMap, possible_cpus
from pybpf.kernel.programs import BPF_F_SLEEPABLE, load_program
from pybpf.object.spec import CollectionSpec, ProgramSpec

BPF_LOG_STATS = 4
_PROCESSED = re.compile(r"processed (\d+) insns")
_VERIFY_TIME = re.compile(r"verification time (\d+) usec")


@dataclass(frozen=True)
class KernelVerdict:
    """What the running kernel's verifier said about one program."""

    program: str
    accepted: bool
    message: str = ""
    insn: int | None = None
    processed_insns: int | None = None
    verification_usec: int | None = None
    errno: int = 0
    log: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"program": self.program, "accepted": self.accepted, "insn": self.insn, "message": self.message,
                "processed_insns": self.processed_insns, "verification_usec": self.verification_usec,
                "errno": self.errno}


def _stats(log: str) -> tuple[int | None, int | None]:
    p = _PROCESSED.search(log)
    t = _VERIFY_TIME.search(log)
    return (int(p.group(1)) if p else None), (int(t.group(1)) if t else None)


def _judge(prog: ProgramSpec, map_fds: Mapping[str, int]) -> KernelVerdict:
    if prog.type == ProgramType.UNSPEC:
        return KernelVerdict(prog.name, False, f"program {prog.name!r} has no program type (section "
                             f"{prog.section!r}): give one to judge it")
    try:
        insns = patch_map_references(prog.instructions, prog.map_references, map_fds)
        kwargs = dict(license=prog.license, name=prog.name,
                      expected_attach_type=int(prog.attach_type) if prog.attach_type is not None else 0,
                      kern_version=prog.kernel_version or kernel_version_code(),
                      flags=BPF_F_SLEEPABLE if prog.sleepable else 0, attach_btf_id=attach_btf_id_for(prog))
    except BpfError as exc:
        return KernelVerdict(prog.name, False, f"cannot prepare the program: {exc}")
    logs: list[str] = []
    try:
        with load_program(prog.type, insns, log_level=BPF_LOG_STATS, log_out=logs, **kwargs):  # type: ignore[arg-type]
            pass
    except VerifierError as exc:
        processed, usec = _stats(exc.log)
        return KernelVerdict(prog.name, False, exc.reason, exc.insn, processed, usec,
                             getattr(exc, "errno", 0), exc.log)
    except KernelError as exc:
        return KernelVerdict(prog.name, False, str(exc), None, None, None, exc.errno)
    log = logs[0] if logs else ""
    processed, usec = _stats(log)
    return KernelVerdict(prog.name, True, "", None, processed, usec, 0, log)


def kernel_verdicts(spec: CollectionSpec | ProgramSpec, *,
                    program_type: ProgramType | None = None) -> dict[str, KernelVerdict]:
    """The kernel's verdict on every program of `spec` (its maps are created for the duration).

    `program_type` is used for programs whose section gives none (UNSPEC), as `pybpf verify --type` does.
    """
    if isinstance(spec, ProgramSpec):
        spec = CollectionSpec.single(spec)
    if program_type is not None:
        progs = {n: p if p.type != ProgramType.UNSPEC else replace(p, type=program_type)
                 for n, p in spec.programs.items()}
        spec = CollectionSpec(programs=progs, maps=spec.maps, license=spec.license, btf=spec.btf)
    maps: dict[str, KernelMap] = {}
    try:
        try:
            for name, mspec in spec.maps.items():
                if mspec.max_entries == 0 and mspec.type not in (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY):
                    # sized at run time by the object's loader (e.g. one slot per CPU): pick that
                    mspec = replace(mspec, max_entries=possible_cpus())
                maps[name] = create_collection_map(replace(mspec, pinning=0))  # never touch bpffs pins
        except (KernelError, LoadError) as exc:
            return {name: KernelVerdict(name, False, f"cannot create the maps: {exc}",
                                        errno=getattr(exc, "errno", 0)) for name in spec.programs}
        fds = {name: m.fd for name, m in maps.items()}
        return {name: _judge(prog, fds) for name, prog in spec.programs.items()}
    finally:
        for m in maps.values():
            m.close()


def kernel_verdict(spec: CollectionSpec | ProgramSpec, program: str | None = None, *,
                   program_type: ProgramType | None = None) -> KernelVerdict:
    """The kernel's verdict on one program (the only one, or `program` by name)."""
    verdicts = kernel_verdicts(spec, program_type=program_type)
    if program is None:
        if len(verdicts) != 1:
            raise LoadError(f"the spec has {len(verdicts)} programs: name the one to judge")
        return next(iter(verdicts.values()))
    if program not in verdicts:
        raise LoadError(f"no program {program!r} (the spec has: {', '.join(verdicts)})")
    return verdicts[program]
