"""Verification time of pybpf's verifier against the kernel's own ("verification time N usec").

    .venv/bin/python benchmarks/verifier_bench.py [--top N] [--budget SECONDS]

Two tables: the largest programs of the labelled corpus (kernel times recorded when they were
labelled, plus a fresh kernel measurement when bpf() is available), and straight-line programs of
growing size to show how the cost grows with program length.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

from verifier_agreement import LIMITS, load_cases, program_of  # noqa: E402

from pybpf.abi import ProgramType  # noqa: E402
from pybpf.errors import VerifierError  # noqa: E402
from pybpf.isa.instruction import Instruction as I  # noqa: E402
from pybpf.object.spec import CollectionSpec, ProgramSpec  # noqa: E402
from pybpf.verifier import verify  # noqa: E402


class _Timeout(Exception):
    pass


def _alarm(*_: Any) -> None:
    raise _Timeout


def kernel_usec(prog: ProgramSpec, maps: dict[str, Any]) -> int | None:
    """A fresh kernel measurement, or None without bpf() permission."""
    try:
        from pybpf.kernel.probe import bpf_permission_error
        from pybpf.kernel.verdict import kernel_verdicts

        if bpf_permission_error():
            return None
        v = kernel_verdicts(CollectionSpec(programs={prog.name: prog}, maps=maps))[prog.name]
        return v.verification_usec
    except Exception:  # noqa: BLE001 - the benchmark reports what it can
        return None


def time_pybpf(prog: ProgramSpec, ptype: int, maps: dict[str, Any], budget: int) -> tuple[float | None, int, str]:
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(budget)
    t0 = time.perf_counter()
    try:
        r = verify(prog, ptype, maps=maps)
        return (time.perf_counter() - t0) * 1e6, r.processed_insns, "accepted"
    except VerifierError as exc:
        return (time.perf_counter() - t0) * 1e6, 0, f"rejected: {exc.reason[:40]}"
    except _Timeout:
        return None, 0, f"over {budget} s"
    finally:
        signal.alarm(0)


def corpus_table(top: int, budget: int) -> None:
    cases = []
    for source in ("c", "asm", "random", "samples"):
        for case in load_cases(source):
            k = case.get("kernel")
            if not k or not k.get("accepted") or any(m.startswith(LIMITS) for m in k.get("messages", [])):
                continue
            cases.append(case)
    cases.sort(key=lambda c: -(c["kernel"].get("processed") or 0))
    print(f"\nLargest kernel-accepted programs of the corpus (top {top}, pybpf budget {budget} s each)")
    print(f"{'program':58} {'k insns':>8} {'k usec':>7} {'p insns':>8} {'p usec':>9} {'ratio':>7}  pybpf")
    for case in cases[:top]:
        try:
            prog, maps = program_of(case)
        except Exception as exc:  # noqa: BLE001
            print(f"{case['name'][:58]:58} cannot rebuild: {exc}")
            continue
        k_usec = kernel_usec(prog, maps) or case["kernel"].get("usec")
        p_usec, p_insns, verdict = time_pybpf(prog, case["type"], maps, budget)
        ratio = f"{p_usec / max(k_usec, 1):.0f}x" if p_usec is not None and k_usec else "-"
        p_txt = f"{p_usec:9.0f}" if p_usec is not None else f"{'>' + str(budget * 10**6):>9}"
        print(f"{case['name'][-58:]:58} {case['kernel'].get('processed') or 0:8d} {k_usec or 0:7d} "
              f"{p_insns:8d} {p_txt} {ratio:>7}  {verdict}")


def straight_line(n: int) -> ProgramSpec:
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


def growth_table(budget: int) -> None:
    print("\nStraight-line programs (mov/add/spill/fill/and), growth with size")
    print(f"{'insns':>7} {'kernel usec':>12} {'pybpf usec':>11} {'pybpf usec/insn':>16} {'ratio':>7}")
    for n in (1000, 2000, 4000, 8000, 16000, 32000):
        prog = straight_line(n)
        k = kernel_usec(prog, {})
        p, _, verdict = time_pybpf(prog, ProgramType.XDP, {}, budget)
        if p is None:
            print(f"{n:7d} {k or '-':>12} {'timeout':>11}")
            continue
        ratio = f"{p / k:.0f}x" if k else "-"
        print(f"{n:7d} {k if k is not None else '-':>12} {p:11.0f} {p / n:16.2f} {ratio:>7}  {verdict}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--budget", type=int, default=30, help="seconds pybpf may spend on one program")
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, Linux {platform.release()}, "
          f"Python {platform.python_version()}; engine: pybpf.verifier vs the kernel verifier")
    growth_table(args.budget)
    corpus_table(args.top, args.budget)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
