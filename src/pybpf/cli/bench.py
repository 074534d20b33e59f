"""`pybpf bench`: run the benchmark suite of a source checkout (benchmarks/suite.py)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from pybpf.errors import BpfError


def _suite_path() -> Path | None:
    candidates = []
    if os.environ.get("PYBPF_BENCHMARKS"):
        candidates.append(Path(os.environ["PYBPF_BENCHMARKS"]))
    candidates.append(Path(__file__).resolve().parents[3] / "benchmarks")
    candidates.append(Path.cwd() / "benchmarks")
    for directory in candidates:
        if (directory / "suite.py").is_file():
            return directory / "suite.py"
    return None


def load_suite() -> ModuleType:
    """The suite module of the checkout (pybpf bench needs benchmarks/ with its C programs)."""
    path = _suite_path()
    if path is None:
        raise BpfError(
            "benchmarks/suite.py not found: run pybpf bench from a pybpf source checkout "
            "(or set PYBPF_BENCHMARKS to its benchmarks directory)"
        )
    spec = importlib.util.spec_from_file_location("pybpf_benchmarks_suite", path)
    if spec is None or spec.loader is None:
        raise BpfError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench",
        help="benchmark native C, the JIT, the interpreter and the kernel on the same programs",
        description="Time the benchmark programs (benchmarks/programs/*.c) compiled to eBPF and "
        "to native code: ns per run on native C, pybpf's JIT, its interpreter and the Linux "
        "kernel (BPF_PROG_TEST_RUN), with ratios to native.",
    )
    p.add_argument("--quick", action="store_true", help="short measurements (a CI smoke run)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--only", default="", help="comma-separated benchmark names")
    p.add_argument("--engines", default="", help="comma-separated: native,jit,interp,kernel")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    suite = load_suite()
    status: int = suite.run_from_args(args)
    return status
