"""pybpf's verifier against the kernel's on the same programs, in one run: processed instructions and time.

For each program: the kernel's processed instructions and its own "verification time" (a fresh load
with BPF_LOG_STATS), pybpf's processed instructions and the CPU time of its verification, and their
ratios; pybpf's microseconds per processed instruction. Programs: straight lines of growing size
(how the cost grows) and the suite's C programs. `benchmarks/verifier_bench.py` adds the
ebpf-samples corpus (Cilium, ...) with the same functions. Used by `pybpf bench` ("verifier").
"""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping
from typing import Any

DECIDE_WITHIN = 2.0  # seconds: issue 13's goal for every program


class _Timeout(Exception):
    pass


def _alarm(*_: Any) -> None:
    raise _Timeout


def kernel_stats(prog: Any, maps: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(processed insns, verification usec) from a fresh kernel load, or (None, None) without bpf()."""
    try:
        from pybpf.kernel.probe import bpf_permission_error
        from pybpf.kernel.verdict import kernel_verdicts
        from pybpf.object.spec import CollectionSpec

        if bpf_permission_error():
            return None, None
        v = kernel_verdicts(CollectionSpec(programs={prog.name: prog}, maps=dict(maps)))[prog.name]
        return v.processed_insns, v.verification_usec
    except Exception:  # noqa: BLE001 - the benchmark reports what it can
        return None, None


def time_pybpf(prog: Any, ptype: int, maps: Mapping[str, Any], budget: int) -> tuple[float | None, int, str]:
    """(CPU usec or None past `budget` CPU seconds, processed insns, verdict) of pybpf's verifier."""
    from pybpf.errors import VerifierError
    from pybpf.verifier import verify

    signal.signal(signal.SIGVTALRM, _alarm)
    signal.setitimer(signal.ITIMER_VIRTUAL, budget)  # CPU seconds, like the time reported
    t0 = time.process_time()
    try:
        r = verify(prog, ptype, maps=dict(maps))
        return (time.process_time() - t0) * 1e6, r.processed_insns, "accepted"
    except VerifierError as exc:
        return (time.process_time() - t0) * 1e6, 0, f"rejected: {exc.reason[:40]}"
    except _Timeout:
        return None, 0, f"over {budget} s"
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)


def straight_line(n: int) -> Any:
    """An XDP program of `n` instructions without branches: add, spill, fill, and, over 32 stack slots."""
    from pybpf.abi import ProgramType
    from pybpf.isa.instruction import Instruction as I
    from pybpf.object.spec import ProgramSpec

    body = [I(0xB7, 0, 0, 0, 0)]
    for i in range(n):
        k = i % 4
        if k == 0:
            body.append(I(0x07, 0, 0, 0, 3))
        elif k == 1:
            body.append(I(0x7B, 10, 0, -8 * (1 + i % 32), 0))
        elif k == 2:
            body.append(I(0x79, 2, 10, -8 * (1 + (i - 1) % 32), 0))
        else:
            body.append(I(0x57, 0, 0, 0, 0xFFFF))
    body.append(I(0x95))
    return ProgramSpec(f"line{n}", tuple(body), type=ProgramType.XDP)


QUICK_MAX_INSNS = 20000  # --quick leaves out programs the kernel needs more processed insns for


def row(name: str, prog: Any, ptype: int, maps: Mapping[str, Any], budget: int,
        quick: bool = False) -> dict[str, Any]:
    """One program measured on both verifiers, with its ratios."""
    k_insns, k_usec = kernel_stats(prog, maps)
    if quick and (k_insns or 0) > QUICK_MAX_INSNS:
        p_usec, p_insns, verdict = None, 0, "skipped (--quick)"
    else:
        p_usec, p_insns, verdict = time_pybpf(prog, ptype, maps, budget)
    return {
        "program": name, "kernel_insns": k_insns, "kernel_usec": k_usec, "pybpf_insns": p_insns,
        "pybpf_usec": None if p_usec is None else round(p_usec, 1), "verdict": verdict,
        "insns_ratio": round(p_insns / k_insns, 3) if p_insns and k_insns else None,
        "time_ratio": round(p_usec / k_usec, 2) if p_usec is not None and k_usec else None,
        "usec_per_insn": round(p_usec / p_insns, 2) if p_usec is not None and p_insns else None,
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians and totals over the accepted rows: the figures issue 13's goals are stated in."""
    import statistics

    rows = [r for r in rows if not r["verdict"].startswith("skipped")]
    done = [r for r in rows if r["verdict"] == "accepted" and r["pybpf_insns"] and r["pybpf_usec"] is not None]
    if not done:
        return {}
    insns = [r["insns_ratio"] for r in done if r["insns_ratio"]]
    times = [r["time_ratio"] for r in done if r["time_ratio"]]
    total_p = sum(r["pybpf_insns"] for r in done)
    total_t = sum(r["pybpf_usec"] for r in done)
    total_k = sum(r["kernel_usec"] or 0 for r in done)
    return {
        "programs": len(rows),
        "insns_ratio_median": round(statistics.median(insns), 3) if insns else None,
        "insns_ratio_max": round(max(insns), 3) if insns else None,
        "usec_per_insn": round(total_t / total_p, 2),
        "time_ratio_total": round(total_t / total_k, 2) if total_k else None,
        "time_ratio_median": round(statistics.median(times), 2) if times else None,
        "over_2s": sum(1 for r in rows if r["pybpf_usec"] is None or r["pybpf_usec"] > DECIDE_WITHIN * 1e6
                       or r["verdict"] != "accepted"),
    }


def goals(s: dict[str, Any]) -> dict[str, bool]:
    """Issue 13's verifier goals, judged on one run's summary (a figure the run lacks is not met)."""
    def at_most(key: str, limit: float) -> bool:
        return s.get(key) is not None and s[key] <= limit

    return {"insns_within_1.5x_of_kernel": at_most("insns_ratio_max", 1.5),
            "usec_per_insn_at_most_5": at_most("usec_per_insn", 5.0),
            "every_program_within_2s": s.get("over_2s") == 0,
            "total_time_within_5x_of_kernel": at_most("time_ratio_total", 5.0)}


def measure(*, quick: bool = False, budget: int = 30) -> dict[str, Any]:
    """The straight lines and the suite's programs, on both verifiers."""
    from pybpf.bench.suite import BENCHMARKS, PROGRAMS_DIR, build_bpf
    from pybpf.object import load_file

    sizes = (1000, 4000) if quick else (1000, 4000, 16000, 32000)
    growth = [row(f"straight line {n}", straight_line(n), straight_line(n).type, {}, budget) for n in sizes]
    programs = []
    for source in sorted({b.source for b in BENCHMARKS}):
        spec = load_file(build_bpf(PROGRAMS_DIR / source))
        for name, prog in spec.programs.items():
            programs.append(row(f"{source}:{name}", prog, prog.type, spec.maps, budget, quick))
    from pybpf.verifier import native

    return {"growth": growth, "programs": programs, "summary": summary(growth + programs), "pybpf_verifier": native.status()}


def format_verifier(doc: dict[str, Any]) -> str:
    """The rows as a text table and the summary line."""
    lines = ["", "verifier: pybpf vs the kernel on the same programs (pybpf: CPU time; kernel: its own figure)",
             f"pybpf's verifier: {doc.get('pybpf_verifier', '-')}",
             f"{'program':34} {'k insns':>8} {'k usec':>8} {'p insns':>8} {'p usec':>9} {'us/insn':>8} "
             f"{'insns':>6} {'time':>7}"]
    for r in [*doc.get("growth", []), *doc.get("programs", [])]:
        def cell(v: Any, fmt: str) -> str:
            return "-" if v is None else format(v, fmt)

        lines.append(f"{r['program'][-34:]:34} {cell(r['kernel_insns'], 'd'):>8} {cell(r['kernel_usec'], 'd'):>8} "
                     f"{r['pybpf_insns']:8d} {cell(r['pybpf_usec'], '.0f'):>9} {cell(r['usec_per_insn'], '.2f'):>8} "
                     f"{cell(r['insns_ratio'], '.2f'):>5}x {cell(r['time_ratio'], '.1f'):>6}x  {r['verdict']}")
    s = doc.get("summary") or {}
    if s:
        lines.append(f"summary: processed insns pybpf/kernel median {s['insns_ratio_median']}x, max "
                     f"{s['insns_ratio_max']}x; {s['usec_per_insn']} us per processed insn; time pybpf/kernel "
                     f"total {s['time_ratio_total']}x, median {s['time_ratio_median']}x")
        lines.extend(f"  goal {k}: {'met' if v else 'NOT met'}" for k, v in goals(s).items())
    return "\n".join(lines)
