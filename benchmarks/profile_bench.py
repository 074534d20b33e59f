"""`pybpf profile`'s own cost: CPU of the profiler while it samples the whole system at 19 Hz and 99 Hz.

Parca's target is at most 1 % of one CPU. Measured here, in one run, with both CPUs kept busy by the
test workload (tests/profile/workloads/burn.c): the profiler's user-space CPU while sampling (its
polling loop), the eBPF program's time in the kernel (bpf_stats run_time_ns), and the one-off cost
of symbolising at the end. Run as root: `.venv/bin/python benchmarks/profile_bench.py [--quick]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled"


def build_workload(out: Path) -> Path:
    """burn.c and libburn.so compiled with zig cc (frame pointers kept)."""
    from pybpf.toolchain.cache import cache_root

    env = {**os.environ, "ZIG_GLOBAL_CACHE_DIR": str(cache_root() / "zig"),
           "ZIG_LOCAL_CACHE_DIR": str(cache_root() / "zig")}
    cc = [sys.executable, "-m", "ziglang", "cc", "-target", "x86_64-linux-gnu", "-O1", "-fno-omit-frame-pointer"]
    src = ROOT / "tests" / "profile" / "workloads"
    subprocess.run([*cc, "-shared", "-fPIC", "-o", str(out / "libburn.so"), str(src / "libburn.c")], check=True,
                   env=env)
    subprocess.run([*cc, "-o", str(out / "burn"), str(src / "burn.c"), f"-L{out}", "-lburn",
                    f"-Wl,-rpath,{out}"], check=True, env=env)
    return out / "burn"


def bpf_run_time_ns() -> int:
    """Total run time of the loaded profile_sample programs (bpf_stats must be on)."""
    from pybpf.kernel.info import list_progs

    return sum(p.run_time_ns for p in list_progs() if p.name == "profile_sample")


def measure(frequency: int, seconds: float) -> dict[str, float]:
    from pybpf.profile import ProfileOptions, record

    marks: list[tuple[float, float, int]] = []  # (wall, process CPU, bpf ns) at each poll

    def stop() -> bool:  # called at each poll; the bpf_stats read is the benchmark's, not the profiler's
        now, cpu = time.monotonic(), time.process_time()
        done = bool(marks) and now - marks[0][0] >= seconds
        if not marks or done:
            marks.append((now, cpu, bpf_run_time_ns()))
        return done

    cpu0 = time.process_time()
    profile = record(ProfileOptions(frequency=frequency), stop=stop)
    total_cpu = time.process_time() - cpu0
    (w0, c0, b0), (w1, c1, b1) = marks[0], marks[-1]
    wall = w1 - w0
    return {"samples": profile.total, "wall": wall, "user_pct": 100 * (c1 - c0) / wall,
            "bpf_pct": 100 * (b1 - b0) / 1e9 / wall, "per_sample_us": (b1 - b0) / 1e3 / max(profile.total, 1),
            "setup_and_symbolise_s": total_cpu - (c1 - c0), "stacks": len(profile.samples)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 s per rate instead of 15 s")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("profile_bench: needs root (bpf(), perf_event_open)")
        return 0
    seconds = 4.0 if args.quick else 15.0
    try:
        with open(BPF_STATS) as f:
            stats_before = f.read().strip()
    except OSError:
        stats_before = ""
    with tempfile.TemporaryDirectory(prefix="pybpf-profile-bench-") as tmp:
        burn = build_workload(Path(tmp))
        ncpu = os.cpu_count() or 1
        busy = [subprocess.Popen([str(burn), str(3 * seconds + 30), "0"]) for _ in range(ncpu)]
        try:
            if stats_before:
                Path(BPF_STATS).write_text("1")
            print(f"machine: {platform.machine()}, {ncpu} CPUs, kernel {platform.release()}; "
                  f"{ncpu} busy workload processes; whole system sampled for {seconds:.0f} s per rate")
            print(f"{'rate':>6} {'samples':>8} {'stacks':>7} {'profiler CPU':>13} {'eBPF in kernel':>15} "
                  f"{'eBPF/sample':>12} {'total':>7} {'vs 1% target':>13} {'setup+symbolise':>16}")
            for hz in (19, 99):
                r = measure(hz, seconds)
                total = r["user_pct"] + r["bpf_pct"]
                print(f"{hz:>4}Hz {r['samples']:>8.0f} {r['stacks']:>7.0f} {r['user_pct']:>12.3f}% "
                      f"{r['bpf_pct']:>14.4f}% {r['per_sample_us']:>10.2f}us {total:>6.3f}% {total / 1.0:>12.2f}x "
                      f"{r['setup_and_symbolise_s']:>15.2f}s")
        finally:
            if stats_before:
                Path(BPF_STATS).write_text(stats_before)
            for p in busy:
                p.kill()
                p.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
