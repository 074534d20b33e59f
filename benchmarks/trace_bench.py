"""pybpf trace vs bpftrace: time from start until probes are attached, and the traced workload's slowdown.

Run as root: `.venv/bin/python benchmarks/trace_bench.py [--quick]`. bpftrace is measured too when installed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pybpf.bench.trace import child_env, format_startup, measure, tracers  # noqa: E402

LOOP_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
__attribute__((noinline)) int traced_add(int a, int b) { __asm__ volatile("" ::: "memory"); return a + b; }
int main(int argc, char **argv) {
    long n = atol(argv[2]); volatile long s = 0; struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        if (!strcmp(argv[1], "syscall")) s += syscall(SYS_getppid); else s += traced_add(i, 1);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("elapsed_ns=%ld\n", (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec));
    return 0;
}
"""


PYCACHE = tempfile.mkdtemp(prefix="pybpf-pycache-")


def env() -> dict[str, str]:
    """This checkout's pybpf importable, bytecode cached (outside the tree) as for an installed package."""
    return child_env(PYCACHE)


def workload_ns(cmd: list[str] | None, binary: str, mode: str, n: int, script: str) -> float:
    argv = f"{binary} {mode} {n}"
    if cmd is None:
        out = subprocess.run([binary, mode, str(n)], capture_output=True, text=True, check=True).stdout
    else:
        out = subprocess.run([*cmd, "-e", script, "-c", argv], env=env(), capture_output=True, text=True,
                             timeout=300).stdout
    for line in out.splitlines():
        if line.startswith("elapsed_ns="):
            return int(line.split("=")[1])
    raise RuntimeError(f"no timing line in the output of {cmd}: {out[-300:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-startup", action="store_true",
                    help="only the probe overhead (make bench has measured start-up in the suite's trace section)")
    args = ap.parse_args(argv)
    reps = 2 if args.quick else 5
    n_sys = 200_000 if args.quick else 1_000_000
    n_call = 50_000 if args.quick else 200_000
    if os.geteuid() != 0:
        print("trace_bench: needs root (bpf(), tracepoints, uprobes)")
        return 0
    tmp = Path(tempfile.mkdtemp())
    binary = str(tmp / "loop")
    (tmp / "loop.c").write_text(LOOP_C)
    subprocess.run(["gcc", "-O2", "-o", binary, str(tmp / "loop.c")], check=True)
    print(f"machine: {platform.machine()} {platform.release()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}")
    if not args.no_startup:
        print(format_startup(measure(quick=args.quick)))
    cases = [
        ("syscall", n_sys, "tracepoint:syscalls:sys_enter_getppid { @ = count(); }"),
        ("call", n_call, f"uprobe:{binary}:traced_add {{ @ = count(); }}"),
    ]
    for mode, n, script in cases:
        base = statistics.median(workload_ns(None, binary, mode, n, "") for _ in range(reps))
        print(f"\nworkload '{mode}' x{n}: untraced {base / n:.1f} ns/op; traced by `{script}`:")
        for name, cmd in tracers().items():
            traced = statistics.median(workload_ns(cmd, binary, mode, n, script) for _ in range(reps))
            print(f"  {name:<9} {traced / n:8.1f} ns/op  slowdown x{traced / base:.2f}  "
                  f"(+{(traced - base) / n:.0f} ns per event)")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(PYCACHE, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
