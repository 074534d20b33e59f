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
    """The tracers measured: `pybpf trace` as installed (the console script beside this interpreter), bpftrace."""
    script = Path(sys.executable).with_name("pybpf")
    out = {"pybpf": [str(script), "trace"] if script.exists() else [sys.executable, "-m", "pybpf", "trace"]}
    if shutil.which("bpftrace"):
        out["bpftrace"] = ["bpftrace"]
    return out


PYCACHE = tempfile.mkdtemp(prefix="pybpf-pycache-")


def env() -> dict[str, str]:
    """Bytecode cached (in a temp dir, outside the tree) as for an installed package, even if disabled here."""
    e = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONPYCACHEPREFIX=PYCACHE)
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    return e


def time_to_attach(argv: list[str], extra_env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """(seconds from launching `argv` until the command it starts runs, CPU seconds and max RSS MiB of the
    whole run); `{sh}` in `argv` stands for the command (a shell script) that stamps the time it runs."""
    with tempfile.TemporaryDirectory() as d:
        stamp, sh = Path(d) / "stamp", Path(d) / "stamp.sh"
        sh.write_text(f"date +%s%N > {stamp}\n")
        t0 = time.time_ns()
        proc = subprocess.Popen([a.replace("{sh}", str(sh)) for a in argv], env={**env(), **(extra_env or {})},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        text = stamp.read_text().strip() if stamp.exists() else ""
    seconds = (int(text) - t0) / 1e9 if text else float("nan")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def startup(reps: int) -> None:
    """Start until the traced command runs: pybpf from its cache (the second run on records the modules it
    reads ahead; runs from then on are what is measured), pybpf compiling (a fresh cache every run), bpftrace,
    and the bare interpreter starting the same command (the floor for any Python tool)."""
    script = "tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }"
    cache_dir = tempfile.mkdtemp(prefix="pybpf-trace-cache-")
    variants: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c (floor)": ([sys.executable, "-c", "import os, sys; os.execv('/bin/sh', ['/bin/sh', sys.argv[1]])",
                               "{sh}"], {}),
        "python -I -S -c (floor)": ([sys.executable, "-I", "-S", "-c",
                                     "import os, sys; os.execv('/bin/sh', ['/bin/sh', sys.argv[1]])", "{sh}"], {}),
    }
    for name, cmd in tools().items():
        variants[f"{name} cached" if name == "pybpf" else name] = ([*cmd, "-e", script, "-c", "/bin/sh {sh}"],
                                                                    {"PYBPF_CACHE_DIR": cache_dir})
    variants["pybpf compiling"] = ([*tools()["pybpf"], "-e", script, "-c", "/bin/sh {sh}"], {})
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    for argv, extra in variants.values():
        for _ in range(2):  # warm-up: bytecode cache, page cache; pybpf's cache entry and its module record
            time_to_attach(argv, extra)
    for _ in range(reps * 2):
        for name, (argv, extra) in variants.items():
            if name.endswith("compiling"):
                extra = {"PYBPF_CACHE_DIR": tempfile.mkdtemp(prefix="pybpf-trace-cold-")}
            runs[name].append(time_to_attach(argv, extra))
            if name.endswith("compiling"):
                shutil.rmtree(extra["PYBPF_CACHE_DIR"], ignore_errors=True)
    shutil.rmtree(cache_dir, ignore_errors=True)
    print(f"\ntime from start until the traced command runs (median of {reps * 2} runs, interleaved), "
          f"load average {os.getloadavg()[0]:.1f}")
    base = statistics.median(t for t, _, _ in runs["bpftrace"]) if "bpftrace" in runs else None
    floor = statistics.median(t for t, _, _ in runs["python -c (floor)"])
    print(f"  {'':<24} {'start':>9} {'vs bpftrace':>12} {'above floor':>12} {'CPU':>8} {'max RSS':>9}")
    for name, rs in runs.items():
        med = statistics.median(t for t, _, _ in rs)
        ratio = f"x{med / base:.2f}" if base else "-"
        cpu = statistics.median(c for _, c, _ in rs)
        rss = statistics.median(r for _, _, r in rs)
        print(f"  {name:<24} {med * 1000:6.1f} ms {ratio:>12} {(med - floor) * 1000:+9.1f} ms "
              f"{cpu * 1000:5.0f} ms {rss:6.1f} MiB")


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
    startup(reps)
    cases = [
        ("syscall", n_sys, "tracepoint:syscalls:sys_enter_getppid { @ = count(); }"),
        ("call", n_call, f"uprobe:{binary}:traced_add {{ @ = count(); }}"),
    ]
    for mode, n, script in cases:
        base = statistics.median(workload_ns(None, binary, mode, n, "") for _ in range(reps))
        print(f"\nworkload '{mode}' x{n}: untraced {base / n:.1f} ns/op; traced by `{script}`:")
        for name, cmd in tools().items():
            traced = statistics.median(workload_ns(cmd, binary, mode, n, script) for _ in range(reps))
            print(f"  {name:<9} {traced / n:8.1f} ns/op  slowdown x{traced / base:.2f}  "
                  f"(+{(traced - base) / n:.0f} ns per event)")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(PYCACHE, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
