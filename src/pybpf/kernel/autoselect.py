"""One program per hook for `attach --auto`: of alternative copies, the one this kernel loads.

libbpf-tools ship the same handler several times (tp_btf, raw_tp and tp copies of a tracepoint
handler; fentry and kprobe copies of a function probe) and let user space switch all but one
off before loading. Attaching every copy would count each event twice; this picks, per hook, the
most capable program whose type the running kernel accepts, and switches the rest off.
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.abi import ProgramType
from pybpf.object.skeleton import with_autoload
from pybpf.object.spec import CollectionSpec, ProgramSpec

# Preferred first: BTF-typed programs, then raw tracepoints, then perf-event based ones.
_PREFERENCE = {ProgramType.TRACING: 0, ProgramType.RAW_TRACEPOINT: 1, ProgramType.RAW_TRACEPOINT_WRITABLE: 1,
               ProgramType.TRACEPOINT: 2, ProgramType.KPROBE: 3}
_TRACEPOINT_KINDS = {"tp_btf", "raw_tp", "raw_tracepoint", "raw_tp.w", "raw_tracepoint.w", "tp", "tracepoint"}
_ENTRY_KINDS = {"fentry": "entry", "kprobe": "entry", "fexit": "exit", "kretprobe": "exit"}


def hook_of(prog: ProgramSpec) -> tuple[str, str] | None:
    """The event a program handles, alike for its alternatives: ("tracepoint", "sched_switch"), ..."""
    kind, _, rest = (prog.section or "").partition("/")
    kind = kind.removesuffix(".s")
    target = prog.attach_to or rest
    if not target:
        return None
    if kind in _TRACEPOINT_KINDS:
        return ("tracepoint", target.rsplit("/", 1)[-1])
    if kind in _ENTRY_KINDS:
        return (_ENTRY_KINDS[kind], target.split("+", 1)[0])
    return None


def _default_supported(ptype: ProgramType) -> tuple[bool, str]:
    from pybpf.kernel.features import program_type

    feature = program_type(ptype)
    return feature.supported, feature.detail


def one_per_hook(
    spec: CollectionSpec,
    supported: Callable[[ProgramType], tuple[bool, str]] = _default_supported,
) -> tuple[CollectionSpec, list[str]]:
    """`spec` with, per hook, only the preferred program the kernel supports still autoloaded.

    Programs of a type the kernel refuses are switched off too (each with a note saying why),
    so that the others still load. Returns the new spec and the notes.
    """
    notes: list[str] = []
    groups: dict[tuple[str, str], list[ProgramSpec]] = {}
    for prog in spec.programs.values():
        if not prog.autoload:
            continue
        ok, why = supported(prog.type)
        if not ok:
            spec = with_autoload(spec, prog.name, False)
            notes.append(f"not loading {prog.name}: {prog.type.name.lower()} programs: {why}")
            continue
        key = hook_of(prog)
        if key is not None:
            groups.setdefault(key, []).append(prog)
    for (_, event), progs in groups.items():
        if len(progs) < 2:
            continue
        progs.sort(key=lambda p: _PREFERENCE.get(p.type, 9))
        for other in progs[1:]:
            if other.type == progs[0].type:
                continue  # two handlers of the same kind: both meant to run, not alternatives
            spec = with_autoload(spec, other.name, False)
            notes.append(f"not loading {other.name}: {progs[0].name} handles {event} already")
    return spec, notes
