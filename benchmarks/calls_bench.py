"""Per-call cost from Python (pybpf.bench.calls): run() on the interpreter, the JIT and the kernel,
bound(), hook fire() and 2 MiB inputs, against a ctypes no-op and a raw BPF_PROG_TEST_RUN syscall
measured in the same run. Also part of `make bench` / `pybpf bench` (the "calls" section).

Usage: python benchmarks/calls_bench.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def main(argv: list[str] | None = None) -> int:
    from pybpf.bench.calls import format_calls, measure
    from pybpf.bench.suite import kernel_unavailable, machine_description

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    reason = kernel_unavailable()
    document = {"machine": machine_description(), **measure(quick=args.quick, kernel=reason is None)}
    if reason is not None:
        document["kernel_skipped"] = reason
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(f"machine: {document['machine']}")
        print(format_calls(document))
        if reason is not None:
            print(f"kernel rows skipped: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
