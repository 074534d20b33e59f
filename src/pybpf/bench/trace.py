"""`pybpf trace` start-up against bpftrace: time from launch until the traced command runs, one run.

Shared by `pybpf bench --json` (its `trace` section) and benchmarks/trace_bench.py, so both report the
same figures measured the same way: every variant interleaved, medians, the bare interpreter as the floor.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: issue 13's goal for a cached script: the traced command runs within this many milliseconds of launch.
GOAL_MS = 100.0
SCRIPT = "tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }"
_EXEC_SH = "import os, sys; os.execv('/bin/sh', ['/bin/sh', sys.argv[1]])"


def tracers() -> dict[str, list[str]]:
    """The tracers measured: `pybpf trace` as installed (the console script beside this interpreter), bpftrace."""
    script = Path(sys.executable).with_name("pybpf")
    out = {"pybpf": [str(script), "trace"] if script.exists() else [sys.executable, "-m", "pybpf", "trace"]}
    if shutil.which("bpftrace"):
        out["bpftrace"] = ["bpftrace"]
    return out


def child_env(pycache: str) -> dict[str, str]:
    """This pybpf importable and its bytecode cached (in `pycache`) as for an installed package."""
    import pybpf

    source_root = str(Path(pybpf.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (source_root, os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path, PYTHONPYCACHEPREFIX=pycache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


#: a bare interpreter starts each measured command: a child's max RSS counts the memory it had before exec,
#: which for a child of this (LLVM-laden) process would be this process's size, not the command's
_LAUNCH = ("import os, sys, time\n"
           "null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]\n"
           "t0 = time.time_ns()\n"
           "pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=null)\n"
           "_, _, u = os.wait4(pid, 0)\n"
           "print(t0, u.ru_utime + u.ru_stime, u.ru_maxrss)\n")


def time_to_command(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(seconds from launching `argv` until the command it starts runs, CPU seconds and max RSS MiB of the
    whole run); `{sh}` in `argv` stands for the command (a shell script) that stamps the time it runs."""
    with tempfile.TemporaryDirectory() as d:
        stamp, sh = Path(d) / "stamp", Path(d) / "stamp.sh"
        sh.write_text(f"date +%s%N > {stamp}\n")
        command = [a.replace("{sh}", str(sh)) for a in argv]
        command[0] = shutil.which(command[0]) or command[0]
        launched = subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCH, *command], env=env,
                                  capture_output=True, text=True, check=True)
        t0, cpu, maxrss = launched.stdout.split()
        text = stamp.read_text().strip() if stamp.exists() else ""
    seconds = (int(text) - int(t0)) / 1e9 if text else float("nan")
    return seconds, float(cpu), int(maxrss) / 1024


def _variants(cache_dir: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Name -> (argv, extra environment) of every start-up measured."""
    out: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c (floor)": ([sys.executable, "-c", _EXEC_SH, "{sh}"], {}),
        "python -I -S -c (floor)": ([sys.executable, "-I", "-S", "-c", _EXEC_SH, "{sh}"], {}),
    }
    for name, cmd in tracers().items():
        out[f"{name} cached" if name == "pybpf" else name] = (
            [*cmd, "-e", SCRIPT, "-c", "/bin/sh {sh}"], {"PYBPF_CACHE_DIR": cache_dir})
    out["pybpf compiling"] = ([*tracers()["pybpf"], "-e", SCRIPT, "-c", "/bin/sh {sh}"], {})
    return out


def measure(*, quick: bool = False) -> dict[str, Any]:
    """Start until the traced command runs: pybpf from its cache (the second run on records the modules it
    reads ahead; runs from then on are what is measured), pybpf compiling (a fresh cache every run),
    bpftrace, and the bare interpreter starting the same command (the floor for any Python tool)."""
    if os.geteuid() != 0:
        return {"skipped": "needs root (bpf(), tracepoints)"}
    reps = 4 if quick else 10
    pycache = tempfile.mkdtemp(prefix="pybpf-pycache-")
    cache_dir = tempfile.mkdtemp(prefix="pybpf-trace-cache-")
    env = child_env(pycache)
    variants = _variants(cache_dir)
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    try:
        for argv, extra in variants.values():
            for _ in range(2):  # warm-up: bytecode cache, page cache; pybpf's cache entry and its module record
                time_to_command(argv, {**env, **extra})
        for _ in range(reps):
            for name, (argv, extra) in variants.items():
                if name.endswith("compiling"):
                    extra = {"PYBPF_CACHE_DIR": tempfile.mkdtemp(prefix="pybpf-trace-cold-")}
                runs[name].append(time_to_command(argv, {**env, **extra}))
                if name.endswith("compiling"):
                    shutil.rmtree(extra["PYBPF_CACHE_DIR"], ignore_errors=True)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
        shutil.rmtree(pycache, ignore_errors=True)
    rows = {name: {"ms": round(statistics.median(t for t, _, _ in rs) * 1000, 1),
                   "cpu_ms": round(statistics.median(c for _, c, _ in rs) * 1000, 1),
                   "rss_mib": round(statistics.median(r for _, _, r in rs), 1)} for name, rs in runs.items()}
    cached = rows["pybpf cached"]["ms"]
    out: dict[str, Any] = {"script": SCRIPT, "runs": reps, "load_average": round(os.getloadavg()[0], 1),
                           "rows": rows, "goal_ms": GOAL_MS, "goal_met": cached <= GOAL_MS}
    if "bpftrace" in rows:
        out["cached_over_bpftrace"] = round(cached / rows["bpftrace"]["ms"], 2)
    return out


def format_startup(doc: dict[str, Any]) -> str:
    """The start-up rows as a text table and whether the goal held in this run."""
    if doc.get("skipped"):
        return f"\ntrace start-up: skipped ({doc['skipped']})"
    rows = doc["rows"]
    base = rows.get("bpftrace", {}).get("ms")
    floor = rows["python -c (floor)"]["ms"]
    lines = ["", f"trace start-up: from launch until the traced command runs (median of {doc['runs']} runs, "
                 f"interleaved; load average {doc['load_average']})",
             f"  {'':<24} {'start':>9} {'vs bpftrace':>12} {'above floor':>12} {'CPU':>8} {'max RSS':>9}"]
    for name, r in rows.items():
        ratio = f"x{r['ms'] / base:.2f}" if base else "-"
        lines.append(f"  {name:<24} {r['ms']:6.1f} ms {ratio:>12} {r['ms'] - floor:+9.1f} ms "
                     f"{r['cpu_ms']:5.0f} ms {r['rss_mib']:6.1f} MiB")
    verdict = "met" if doc["goal_met"] else "not met"
    lines.append(f"goal: cached start <= {doc['goal_ms']:.0f} ms: {verdict} ({rows['pybpf cached']['ms']} ms)")
    return "\n".join(lines)
