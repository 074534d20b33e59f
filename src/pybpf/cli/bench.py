"""`pybpf bench`: run the benchmark suite (pybpf.bench, its C programs shipped as package data)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench",
        help="benchmark native C, the JIT, the interpreter and the kernel on the same programs",
        description="Time the benchmark programs (pybpf/bench/programs/*.c) compiled to eBPF and "
        "to native code: ns per run on native C, pybpf's JIT, its interpreter and the Linux "
        "kernel (BPF_PROG_TEST_RUN), with ratios to native; then the per-call cost from Python, the "
        "verifier against the kernel's and `pybpf trace`'s start-up against bpftrace.",
    )
    from pybpf.bench.suite import add_arguments

    add_arguments(p)  # one definition of the options, shared with benchmarks/run.py (make bench)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pybpf.bench import suite

    status: int = suite.run_from_args(args)
    return status
