"""Verification time and work of pybpf's verifier against the kernel's, measured in the same run.

    .venv/bin/python benchmarks/verifier_bench.py [--quick] [--min-insns N] [--every K] [--budget SECONDS]

Two tables: straight-line programs of growing size (how the cost grows with program length), and
the ebpf-samples programs (Cilium, ...) the kernel accepts after at least --min-insns processed
instructions: for each, the kernel's processed instructions and verification time (a fresh load
with BPF_LOG_STATS), pybpf's, and their ratios. The summary gives the processed-instruction
ratio (median, max), pybpf's microseconds per processed instruction, the time ratio (total and
median) and the programs pybpf does not decide within 2 s. pybpf's time is the CPU time of the
verifying process (on a shared machine wall time mostly measures the other jobs); the kernel's is
its own "verification time". Without bpf() permission the kernel figures recorded when the
corpus was labelled are used (marked `*`).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

from verifier_agreement import LIMITS, SHARED, load_cases, program_of  # noqa: E402

from pybpf.abi import ProgramType  # noqa: E402
from pybpf.bench.verifier import DECIDE_WITHIN, kernel_stats, straight_line, time_pybpf  # noqa: E402
from pybpf.verifier import native  # noqa: E402


def samples_table(min_insns: int, every: int, budget: int) -> None:
    if not (SHARED / "ebpf-samples").exists():
        print(f"\nebpf-samples: skipped ({SHARED / 'ebpf-samples'} is absent)")
        return
    cases = []
    for case in load_cases("samples"):
        k = case.get("kernel")
        if "unusable" in case or not k or not k.get("accepted"):
            continue
        if any(m.startswith(LIMITS) for m in k.get("messages", [])) or (k.get("processed") or 0) < min_insns:
            continue
        cases.append(case)
    cases.sort(key=lambda c: c["kernel"].get("processed") or 0)
    cases = cases[::every]
    cases.sort(key=lambda c: c["object"])  # one ELF load per object
    print(f"\nebpf-samples programs the kernel accepts after >= {min_insns} insns ({len(cases)} programs, "
          f"pybpf budget {budget} s each)")
    print(f"{'program':56} {'k insns':>8} {'k usec':>8} {'p insns':>8} {'ratio':>6} {'p usec':>9} "
          f"{'us/insn':>7} {'t ratio':>7}  pybpf")
    rows: list[tuple[int, int, float | None, int, str]] = []
    for case in cases:
        try:
            prog, maps = program_of(case)
        except Exception as exc:  # noqa: BLE001
            print(f"{case['name'][-56:]:56} cannot rebuild: {exc}")
            continue
        k_insns, k_usec = kernel_stats(prog, maps)
        mark = ""
        if k_insns is None or k_usec is None:
            k_insns, k_usec, mark = case["kernel"].get("processed") or 0, case["kernel"].get("usec") or 0, "*"
        p_usec, p_insns, verdict = time_pybpf(prog, case["type"], maps, budget)
        rows.append((k_insns, k_usec, p_usec, p_insns, verdict))
        ratio = f"{p_insns / k_insns:.2f}" if p_insns and k_insns else "-"
        p_txt = f"{p_usec:9.0f}" if p_usec is not None else f"{'>' + str(budget) + 's':>9}"
        per = f"{p_usec / p_insns:7.1f}" if p_usec is not None and p_insns else "      -"
        t_ratio = f"{p_usec / k_usec:6.1f}x" if p_usec is not None and k_usec else "      -"
        print(f"{case['name'][-56:]:56} {k_insns:8d} {k_usec:7d}{mark or ' '} {p_insns:8d} {ratio:>6} {p_txt} "
              f"{per} {t_ratio}  {verdict}", flush=True)
    done = [r for r in rows if r[2] is not None and r[3] and r[4] == "accepted"]
    if not done:
        return
    ratios = [p / k for k, _, _, p, _ in done if k]
    times = [(t or 0.0) / ku for _, ku, t, _, _ in done if ku]
    slow = sum(1 for r in rows if r[2] is None or r[2] > DECIDE_WITHIN * 1e6 or r[4] != "accepted")
    total_p = sum(r[3] for r in done)
    total_t = sum(r[2] or 0.0 for r in done)
    total_k = sum(r[1] for r in done)
    print(f"summary: processed insns pybpf/kernel median {statistics.median(ratios):.2f}x, max {max(ratios):.2f}x; "
          f"pybpf {total_t / total_p:.1f} us per processed insn; time pybpf/kernel total "
          f"{total_t / max(total_k, 1):.1f}x, median {statistics.median(times):.1f}x; "
          f"not decided (accepted) within {DECIDE_WITHIN:.0f} s: {slow} of {len(rows)}")


def growth_table(budget: int, sizes: tuple[int, ...]) -> None:
    print("\nStraight-line programs (mov/add/spill/fill/and), growth with size")
    print(f"{'insns':>7} {'kernel usec':>12} {'pybpf usec':>11} {'pybpf usec/insn':>16} {'ratio':>7}")
    for n in sizes:
        prog = straight_line(n)
        _, k = kernel_stats(prog, {})
        p, _, verdict = time_pybpf(prog, ProgramType.XDP, {}, budget)
        if p is None:
            print(f"{n:7d} {k or '-':>12} {'timeout':>11}")
            continue
        ratio = f"{p / k:.0f}x" if k else "-"
        print(f"{n:7d} {k if k is not None else '-':>12} {p:11.0f} {p / n:16.2f} {ratio:>7}  {verdict}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="every 4th sample program, smaller straight lines")
    ap.add_argument("--min-insns", type=int, default=2500, help="smallest kernel-processed count to include")
    ap.add_argument("--every", type=int, default=0, help="take every K-th program (default 1, 4 with --quick)")
    ap.add_argument("--budget", type=int, default=30, help="CPU seconds pybpf may spend on one program")
    args = ap.parse_args(argv)
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, Linux {platform.release()}, "
          f"Python {platform.python_version()}; engine: pybpf.verifier ({native.status()}) vs the kernel verifier")
    growth_table(args.budget, (1000, 4000, 16000) if args.quick else (1000, 2000, 4000, 8000, 16000, 32000))
    samples_table(args.min_insns, args.every or (4 if args.quick else 1), args.budget)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
