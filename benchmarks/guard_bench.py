"""pybpf guard: the cost of a TracingPolicy on a syscall-heavy workload (open+close in a loop).

Run as root: `.venv/bin/python benchmarks/guard_bench.py [--quick]`. Prints ns per open+close and the
ratio to the same workload unobserved, measured in the same run: with guard's process tracking only,
with a policy on syscalls/sys_enter_openat whose selector never matches (in-kernel filtering only),
and with one that posts an event for every open (ring buffer + decoding in Python).
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
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

LOOP_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[2]); struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) { int fd = open(argv[1], O_RDONLY); if (fd >= 0) close(fd); }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("elapsed_ns=%ld\n", (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec));
    return 0;
}
"""

POLICY = """\
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: bench
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    - index: 7
      type: int
    selectors:
    - matchArgs:
      - index: 6
        operator: {op}
        values: ["{value}"]
      matchBinaries:
      - operator: NotIn
        values: ["/usr/sbin/sshd"]
      matchActions:
      - action: Post
"""


def build(tmp: Path) -> str:
    src, binary = tmp / "openloop.c", tmp / "openloop"
    src.write_text(LOOP_C)
    cc = ["gcc"] if shutil.which("gcc") else [sys.executable, "-m", "ziglang", "cc"]
    subprocess.run([*cc, "-O2", "-o", str(binary), str(src)], check=True)
    return str(binary)


def workload(binary: str, target: str, n: int) -> float:
    out = subprocess.run([binary, target, str(n)], capture_output=True, text=True, check=True).stdout
    return int(out.split("=")[1]) / n


def observed(policy: str | None, binary: str, target: str, n: int) -> tuple[float, int, int]:
    """ns/op of one run with a Guard running (draining events in a thread); events read (also those left in
    the ring when the workload ended), events lost."""
    from pybpf.guard.policy import parse_policies
    from pybpf.guard.runner import Guard

    policies = parse_policies(policy, "bench.yaml") if policy else []
    stop = threading.Event()
    seen = [0]
    with Guard(policies) as guard:
        def drain() -> None:
            while not stop.is_set():
                seen[0] += len(guard.poll(0.05))

        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        try:
            ns = workload(binary, target, n)
        finally:
            stop.set()
            thread.join()
        while batch := guard.poll(0.05):  # what the reader had not caught up with when the workload ended
            seen[0] += len(batch)
        return ns, seen[0], guard.lost()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("guard_bench: needs root (bpf(), tracepoints)")
        return 0
    n, reps = (50_000, 3) if args.quick else (200_000, 7)
    tmp = Path(tempfile.mkdtemp(prefix="pybpf-guard-bench-"))
    try:
        binary = build(tmp)
        target = str(tmp / "target.txt")
        Path(target).write_text("x")
        print(f"machine: {platform.machine()} {platform.release()}, {os.cpu_count()} CPUs, Python "
              f"{platform.python_version()}")
        print(f"workload: open+close of one file x{n}; medians of {reps} runs, ratio to an unobserved run beside each")
        workload(binary, target, n)  # warm-up
        cases = [
            ("guard, process events only", None),
            ("policy on sys_enter_openat, no match (Prefix)", POLICY.format(op="Prefix", value="/nonexistent/")),
            ("policy on sys_enter_openat, Post every open", POLICY.format(op="Equal", value=target)),
        ]
        rows = []
        bases: list[float] = []
        for name, policy in cases:
            # each observed run is paired with an unobserved run just before it: the machine is shared,
            # so the ratio of neighbours is steadier than a ratio of two separately taken medians
            ratios, times, seen, lost = [], [], 0, 0
            for _ in range(reps):
                base = workload(binary, target, n)
                ns, s, lo = observed(policy, binary, target, n)
                bases.append(base)
                ratios.append(ns / base)
                times.append(ns)
                seen, lost = seen + s, lost + lo
            rows.append((name, statistics.median(times), statistics.median(ratios), policy, seen, lost))
        print(f"  {'unobserved':<44} {statistics.median(bases):8.0f} ns/op   1.00x")
        for name, ns, ratio, policy, seen, lost in rows:
            print(f"  {name:<44} {ns:8.0f} ns/op   {ratio:.2f}x")
            if policy and "Equal" in policy:
                # every open is read or counted lost (read + lost = opens, plus the guard's own process
                # events); a high loss means the Python reader decodes slower than the opens come
                print(f"  {'':<44} of {reps * n} opens: read {seen}, lost at the full ring {lost} "
                      f"(the reader decodes more slowly than the opens come)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
