"""`--dry-run`: load every compiled probe program into the kernel (its verifier checks it), attach nothing."""

from __future__ import annotations

from dataclasses import dataclass

from pybpf.errors import BpfError
from pybpf.trace.compiled import CompiledScript


@dataclass(frozen=True)
class ProbeCheck:
    """The outcome for one concrete probe: verified, refused by the verifier, or not checkable here."""

    probe: str
    ok: bool
    message: str = ""


def check_in_kernel(compiled: CompiledScript) -> list[ProbeCheck]:
    """Create the script's maps and load each program (then close everything). Tracing programs
    (fentry/fexit) that this kernel refuses to load at all are reported as not checkable, not as bugs."""
    from pybpf.kernel.kernel_engine import create_collection_map, load_program_spec

    spec = compiled.spec
    maps = {}
    out: list[ProbeCheck] = []
    try:
        for name, mspec in spec.maps.items():
            maps[name] = create_collection_map(mspec, pin_path=None)
        fds = {name: m.fd for name, m in maps.items()}
        for cp in compiled.probes:
            try:
                prog = load_program_spec(spec.programs[cp.name], fds)
            except BpfError as exc:
                text = str(exc)
                tracing = cp.probe.provider in ("fentry", "fexit", "iter")
                if "bpf_override_return" in text and "cannot use helper" in text:
                    text = ("not verified: this kernel cannot override return values (built without "
                            f"CONFIG_BPF_KPROBE_OVERRIDE; override() needs it) ({text})")
                    out.append(ProbeCheck(cp.probe.probe_text, True, text))
                elif tracing and ("EPERM" in text or "not permitted" in text.lower() or "(tracing)" in text):
                    text = f"not verified: this kernel refuses tracing programs ({text})"
                    out.append(ProbeCheck(cp.probe.probe_text, True, text))
                else:
                    out.append(ProbeCheck(cp.probe.probe_text, False, text))
                continue
            prog.close()
            out.append(ProbeCheck(cp.probe.probe_text, True))
    finally:
        for m in maps.values():
            m.close()
    return out
