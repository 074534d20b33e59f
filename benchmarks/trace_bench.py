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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def tools() -> dict[str, list[str]]:
    out = {"pybpf": [sys.executable, "-m", "pybpf", "trace"], "pybpf.trace": [sys.executable, "-m", "pybpf.trace"]}
    if shutil.which("bpftrace"):
        out["bpftrace"] = ["bpftrace"]
    return out


PYCACHE = tempfile.mkdtemp(prefix="pybpf-pycache-")


def env() -> dict[str, str]:
    """Bytecode cached (in a temp dir, outside the tree) as for an installed package, even if disabled here."""
    e = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONPYCACHEPREFIX=PYCACHE)
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    return e


def time_to_attach(cmd: list[str], script: str, extra_env: dict[str, str] | None = None) -> float:
    """Seconds from launching the tracer until the -c command (started after attaching) runs."""
    with tempfile.TemporaryDirectory() as d:
        stamp, sh = Path(d) / "stamp", Path(d) / "stamp.sh"
        sh.write_text(f"date +%s%N > {stamp}\n")
        t0 = time.time_ns()
        subprocess.run([*cmd, "-e", script, "-c", f"/bin/sh {sh}"], env={**env(), **(extra_env or {})},
                       capture_output=True, timeout=60, check=False)
        text = stamp.read_text().strip() if stamp.exists() else ""
    return (int(text) - t0) / 1e9 if text else float("nan")


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
    print("\ntime from start until the traced command runs (median of", reps * 2, "runs, interleaved)")
    attach_script = "tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }"
    cache_dir = tempfile.mkdtemp(prefix="pybpf-trace-cache-")
    # pybpf's compiled-script cache: a run after the first loads the compiled programs; "compiling" gets an
    # empty cache directory every run (what a script run for the first time costs)
    variants = {name: (cmd, {"PYBPF_CACHE_DIR": cache_dir}) for name, cmd in tools().items()}
    variants["pybpf.trace compiling"] = (tools()["pybpf.trace"], {})
    times: dict[str, list[float]] = {name: [] for name in variants}
    for cmd, extra in variants.values():
        time_to_attach(cmd, attach_script, extra)  # warm-up: bytecode cache, page cache, compiled-script cache
    for _ in range(reps * 2):
        for name, (cmd, extra) in variants.items():
            if name.endswith("compiling"):
                extra = {"PYBPF_CACHE_DIR": tempfile.mkdtemp(prefix="pybpf-trace-cold-")}
            times[name].append(time_to_attach(cmd, attach_script, extra))
            if name.endswith("compiling"):
                shutil.rmtree(extra["PYBPF_CACHE_DIR"], ignore_errors=True)
    base = statistics.median(times["bpftrace"]) if "bpftrace" in times else None
    for name, ts in times.items():
        med = statistics.median(ts)
        ratio = f"  x{med / base:.2f} bpftrace" if base else ""
        print(f"  {name:<22} {med * 1000:8.1f} ms{ratio}")
    shutil.rmtree(cache_dir, ignore_errors=True)
    cases = [
        ("syscall", n_sys, "tracepoint:syscalls:sys_enter_getppid { @ = count(); }"),
        ("call", n_call, f"uprobe:{binary}:traced_add {{ @ = count(); }}"),
    ]
    for mode, n, script in cases:
        base = statistics.median(workload_ns(None, binary, mode, n, "") for _ in range(reps))
        print(f"\nworkload '{mode}' x{n}: untraced {base / n:.1f} ns/op; traced by `{script}`:")
        for name, cmd in tools().items():
            if name == "pybpf.trace":
                continue  # same programs as `pybpf trace`
            traced = statistics.median(workload_ns(cmd, binary, mode, n, script) for _ in range(reps))
            print(f"  {name:<9} {traced / n:8.1f} ns/op  slowdown x{traced / base:.2f}  "
                  f"(+{(traced - base) / n:.0f} ns per event)")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(PYCACHE, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
