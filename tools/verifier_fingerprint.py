"""Fingerprint pybpf.verifier on every labelled case, to prove a speed change leaves its results alone.

    .venv/bin/python tools/verifier_fingerprint.py OUT.json [--compare BASE.json] [--every K]

For each case (those verifier_agreement.py counts): verdict, rejected insn and message, processed
instructions, total and peak states, stack depth and a hash of the log (the log only for cases the
kernel processed under 30,000 instructions: logging the largest is slow). Run it on the base commit
first (PYTHONPATH=<base checkout>/src), then after each change with --compare; it exits 1 on any
difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

# (pybpf first: verifier_agreement puts this checkout's src first on the path; PYTHONPATH's pybpf is measured)
from pybpf.errors import BpfError, VerifierError
from pybpf.verifier import native, verify

sys.setrecursionlimit(10000)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from verifier_agreement import LIMITS, load_cases, program_of  # noqa: E402

LOGGED_BELOW = 30_000  # kernel-processed instructions under which the log is hashed too


def _digest(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - a fingerprint, not security


def fingerprint(case: dict[str, Any]) -> list[Any]:
    """What pybpf decides on one case, and the measures and log that must not change."""
    try:
        prog, maps = program_of(case)
    except Exception as exc:  # noqa: BLE001 - recorded: a case that cannot be built must stay so
        return ["build", str(exc)]
    logged = (case.get("kernel", {}).get("processed") or 0) < LOGGED_BELOW
    try:
        r = verify(prog, case["type"], maps=maps, log=logged)
    except VerifierError as exc:
        return ["rej", exc.insn, exc.reason, _digest(exc.log or "") if logged else ""]
    except BpfError as exc:
        return ["err", str(exc)]
    return ["ok", r.processed_insns, r.total_states, r.peak_states, r.stack_depth, _digest(r.log)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--compare", type=Path, help="a fingerprint file to compare with")
    ap.add_argument("--every", type=int, default=1, help="take every K-th case of each source (default: all)")
    args = ap.parse_args()
    out: dict[str, list[Any]] = {}
    t0 = time.process_time()
    for source in ("asm", "c", "random", "samples"):
        for case in load_cases(source)[::max(1, args.every)]:
            k = case.get("kernel", {})
            if "unusable" in case or any(m.startswith(LIMITS) for m in k.get("messages", [])):
                continue
            out[f"{source}:{case['name']}"] = fingerprint(case)
    print(f"{len(out)} cases, {time.process_time() - t0:.1f} s CPU (pybpf from {Path(sys.modules['pybpf'].__file__ or '').parent}, "
          f"verifier {native.status()})", file=sys.stderr)
    args.out.write_text(json.dumps(out, indent=0))
    if args.compare is None:
        return 0
    base = json.loads(args.compare.read_text())
    differ = sorted(k for k in base.keys() | out.keys() if base.get(k) != out.get(k))
    print(f"{len(base)} cases in {args.compare}, {len(differ)} differ")
    for k in differ[:20]:
        print(f"  {k}: {base.get(k)} -> {out.get(k)}")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
