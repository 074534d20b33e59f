"""The pybpf benchmark suite: the same C programs on native code, the JIT, the interpreter and Linux.

Each program in pybpf/bench/programs/ is compiled twice: to eBPF with pybpf's toolchain (ziglang)
and to a native shared library with the system C compiler at -O2 (plus harness.c, a timing loop
calling the program through a function pointer). Then, in one run, each is timed on:

- native: the C function called in a loop by harness.c (ns per call);
- jit: pybpf's LLVM JIT with its default memory safety (bounds checks, budget), timed by its
  native repeat loop (`JitProgram.benchmark`), and jit_unsafe with `unsafe_fast=True`;
- interp: pybpf's reference interpreter (`Program.run(repeat=...)`, its own duration), with its
  instructions per second, and interp_blocks with its opt-in basic-block layer (`fast_blocks=True`);
- kernel: BPF_PROG_TEST_RUN with repeat (the kernel JIT's mean duration), when bpf() is permitted.

Results are ns per run and ratios to native. No engine is asked to agree with a timing; the
return values of all engines are checked to be equal to the native one.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROGRAMS_DIR = HERE / "programs"


def _ipv4_tcp(dport: int = 443, size: int = 64) -> bytes:
    eth = bytes.fromhex("020000000002" "020000000001" "0800")
    ip = bytes([0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    tcp = (1234).to_bytes(2, "big") + dport.to_bytes(2, "big") + bytes(16)
    return (eth + ip + tcp).ljust(size, b"\0")


def _strings(differ: bool) -> bytes:
    a = b"a" * 127 + b"\0"
    b = (b"b" if differ else b"a") + b"a" * 126 + b"\0"
    return a + b


@dataclass(frozen=True)
class Benchmark:
    """One row of the table: a C source, the function in it and the packet it runs on."""

    name: str
    source: str
    function: str
    packet: bytes


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("simple", "simple.c", "simple", bytes(64)),
    Benchmark("memory_a_plus_b", "memory_a_plus_b.c", "memory_a_plus_b",
              (1).to_bytes(4, "little") + (2).to_bytes(4, "little") + bytes(56)),
    Benchmark("log2_int", "log2_int.c", "log2_int", bytes(range(7, 71))),
    Benchmark("prime", "prime.c", "prime", bytes(64)),
    Benchmark("switch", "switch.c", "switch_case", bytes(range(3, 67))),
    Benchmark("strcmp_full", "strcmp.c", "strcmp_bench", _strings(False)),
    Benchmark("strcmp_fail", "strcmp.c", "strcmp_bench", _strings(True)),
    Benchmark("memcpy", "memcpy.c", "memcpy_bench", bytes(range(256))),
    Benchmark("xdp_parser", "xdp_parser.c", "xdp_parser", _ipv4_tcp(443)),
    Benchmark("hash_counter", "hash_counter.c", "hash_counter", _ipv4_tcp(80)),
)


@dataclass
class Result:
    program: str
    native_ns: float | None = None
    jit_ns: float | None = None
    jit_unsafe_ns: float | None = None
    interp_ns: float | None = None
    interp_blocks_ns: float | None = None
    kernel_ns: float | None = None
    interp_insn_per_s: float | None = None
    jit_compile_ms: float | None = None
    retvals: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def ratio(self, column: str) -> float | None:
        value = getattr(self, column)
        if value is None or not self.native_ns:
            return None
        return float(value) / self.native_ns

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "program": self.program,
            "native_ns": _round(self.native_ns),
            "jit_ns": _round(self.jit_ns),
            "interp_ns": _round(self.interp_ns),
            "interp_blocks_ns": _round(self.interp_blocks_ns),
            "kernel_ns": _round(self.kernel_ns),
            "jit_unsafe_ns": _round(self.jit_unsafe_ns),
        }
        for column in ("jit_ns", "jit_unsafe_ns", "interp_ns", "kernel_ns"):
            ratio = self.ratio(column)
            out[column.replace("_ns", "_ratio")] = None if ratio is None else round(ratio, 3)
        out["jit_checked_over_unsafe"] = (
            round(self.jit_ns / self.jit_unsafe_ns, 3) if self.jit_ns and self.jit_unsafe_ns else None
        )
        out["interp_insn_per_s"] = _round(self.interp_insn_per_s)
        out["jit_compile_ms"] = _round(self.jit_compile_ms)
        out["retvals"] = self.retvals
        if self.notes:
            out["notes"] = self.notes
        return out


def _round(value: float | None) -> float | None:
    if value is None:
        return None
    return round(value, 2) if value < 100 else round(value, 1)


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import llvmlite

    return (f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, llvmlite {llvmlite.__version__}")


# --- building -------------------------------------------------------------------------------


def build_bpf(source: Path) -> Path:
    from pybpf.toolchain import compile_c

    return Path(compile_c(source, include_dirs=[PROGRAMS_DIR]))


def native_compiler() -> str | None:
    for cc in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    return None


def build_native(bench: Benchmark, out_dir: Path) -> Path:
    cc = native_compiler()
    if cc is None:
        raise RuntimeError("no system C compiler (cc/gcc/clang) for the native baseline")
    target = out_dir / f"{bench.name}.so"
    argv = [cc, "-O2", "-shared", "-fPIC", f"-DPROGRAM={bench.function}", f"-I{PROGRAMS_DIR}",
            str(PROGRAMS_DIR / bench.source), str(PROGRAMS_DIR / "harness.c"), "-o", str(target)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{proc.stderr}")
    return target


# --- timing ---------------------------------------------------------------------------------


def calibrated(run: Callable[[int], float], target_ns: float, *, max_repeat: int = 50_000_000) -> float:
    """ns per run of `run(n) -> total ns`, with n grown until one measurement takes target_ns."""
    n = 1
    while True:
        total = run(n)
        if total >= target_ns or n >= max_repeat:
            break
        grow = target_ns / max(total, 1.0)
        n = min(max_repeat, max(n * 2, int(n * min(grow * 1.2, 100))))
    best = total / n
    for _ in range(2):  # best of three at the calibrated size
        best = min(best, run(n) / n)
    return best


def time_native(library: Path, packet: bytes, target_ns: float) -> tuple[float, int]:
    lib = ctypes.CDLL(str(library))
    fn = lib.bench_run
    fn.restype = ctypes.c_uint64
    fn.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint64, ctypes.POINTER(ctypes.c_uint32)]
    retval = ctypes.c_uint32()

    def run(n: int) -> float:
        return float(fn(packet, len(packet), n, ctypes.byref(retval)))

    ns = calibrated(run, target_ns)
    return ns, retval.value


def _program(collection: Any, function: str) -> Any:
    program = collection.programs.get(function)
    if program is None:
        program = next(iter(collection.programs.values()))
    return program


def time_jit(spec: Any, bench: Benchmark, target_ns: float, *, rounds: int = 5) -> tuple[
        tuple[float, int, float], tuple[float, int, float]]:
    """(ns, retval, compile ms) of the checked default and of unsafe_fast, timed interleaved:
    each is calibrated, then they alternate `rounds` times and each keeps its best, so a burst of
    load on a shared machine does not land on one column only."""
    from pybpf.engines import Runtime

    with Runtime("jit", verify=False).load(spec) as checked, \
            Runtime("jit", verify=False, unsafe_fast=True).load(spec) as unsafe:
        programs = [_program(checked, bench.function), _program(unsafe, bench.function)]
        firsts = [(p.run(bench.packet).retval, p.compile_seconds * 1000) for p in programs]
        best: list[float] = []
        size: list[int] = []
        for program in programs:
            repeats: list[int] = []

            def run(n: int, program: Any = program, repeats: list[int] = repeats) -> float:
                repeats.append(n)
                return float(program.benchmark(bench.packet, repeat=n) * n)

            best.append(calibrated(run, target_ns / rounds))
            size.append(repeats[-1])  # the repeat count the calibration settled on
        for _ in range(rounds):
            for k, program in enumerate(programs):
                best[k] = min(best[k], program.benchmark(bench.packet, repeat=size[k]))
        return ((best[0], *firsts[0]), (best[1], *firsts[1]))


def time_interp(spec: Any, bench: Benchmark, target_ns: float, fast_blocks: bool = False) -> tuple[float, int, float]:
    from pybpf.engines import Runtime

    with Runtime("interp", verify=False, fast_blocks=fast_blocks).load(spec) as coll:
        program = _program(coll, bench.function)
        first = program.run(bench.packet)
        repeat = max(1, min(1000, int(target_ns / max(first.duration_ns or 1, 1))))
        result = program.run(bench.packet, repeat=repeat)
        ns = float(result.duration_ns or 0)
        insn_per_s = (result.instructions or 0) * 1e9 / ns if ns else 0.0
        return ns, first.retval, insn_per_s


def kernel_unavailable() -> str | None:
    try:
        from pybpf.kernel.probe import bpf_permission_error
    except ImportError as exc:
        return f"pybpf.kernel is not available ({exc})"
    return bpf_permission_error()


def time_kernel(spec: Any, bench: Benchmark, target_ns: float) -> tuple[float, int]:
    from pybpf.engines import Runtime

    with Runtime("kernel", verify=False).load(spec) as coll:
        program = _program(coll, bench.function)
        first = program.run(bench.packet)

        def run(n: int) -> float:
            return float(program.run(bench.packet, repeat=n).duration_ns or 0) * n

        return calibrated(run, target_ns, max_repeat=10_000_000), first.retval


# --- the suite ------------------------------------------------------------------------------


def run_suite(
    *, quick: bool = False, only: Sequence[str] = (), engines: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build and time every benchmark; returns the JSON document."""
    from pybpf.object import load_file

    target = 2e6 if quick else 1e8  # ns per measurement
    interp_target = 2e6 if quick else 3e8
    wanted = set(engines) or set(ENGINES)
    kernel_reason = kernel_unavailable() if "kernel" in wanted else "not requested"
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="pybpf-bench-") as tmp:
        for bench in BENCHMARKS:
            if only and bench.name not in only:
                continue
            if progress:
                progress(bench.name)
            row = Result(bench.name)
            source = PROGRAMS_DIR / bench.source
            spec = load_file(build_bpf(source))
            if "native" in wanted:
                try:
                    row.native_ns, row.retvals["native"] = time_native(
                        build_native(bench, Path(tmp)), bench.packet, target)
                except (RuntimeError, OSError) as exc:
                    row.notes.append(f"native: {exc}")
            if "jit" in wanted:
                (row.jit_ns, row.retvals["jit"], row.jit_compile_ms), \
                    (row.jit_unsafe_ns, row.retvals["jit_unsafe"], _) = time_jit(spec, bench, target)
            if "interp" in wanted:
                row.interp_ns, row.retvals["interp"], row.interp_insn_per_s = time_interp(
                    spec, bench, interp_target)
                row.interp_blocks_ns, row.retvals["interp_blocks"], _ = time_interp(
                    spec, bench, interp_target, fast_blocks=True)
            if "kernel" in wanted and kernel_reason is None:
                try:
                    row.kernel_ns, row.retvals["kernel"] = time_kernel(spec, bench, target)
                except Exception as exc:  # noqa: BLE001 - a refused program is reported, not fatal
                    row.notes.append(f"kernel: {exc}")
            if len(set(row.retvals.values())) > 1:
                row.notes.append(f"engines disagree on the return value: {row.retvals}")
            results.append(row)
    document: dict[str, Any] = {
        "machine": machine_description(),
        "quick": quick,
        "results": [r.as_json() for r in results],
    }
    if kernel_reason is not None and "kernel" in wanted:
        document["kernel_skipped"] = kernel_reason
    if not only and {"jit", "interp"} <= wanted:
        from pybpf.bench.calls import measure

        if progress:
            progress("per-call cost")
        document["calls"] = measure(quick=quick, kernel=kernel_reason is None)
    if not only and not engines:
        from pybpf.bench import verifier

        if progress:
            progress("verifier against the kernel's")
        document["verifier"] = verifier.measure(quick=quick)
        from pybpf.bench import trace

        if progress:
            progress("trace start-up against bpftrace")
        document["trace"] = trace.measure(quick=quick)
    return document


def _fmt(value: float | None, ratio: float | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"
    return text if ratio is None else f"{text} ({ratio:.2f}x)"


#: issue 13's JIT goals: checked within this of unsafe, the JIT within this of native C
CHECKED_OVER_UNSAFE_GOAL = 1.2
JIT_OVER_NATIVE_GOAL = 1.1


def format_jit_goals(results: Sequence[dict[str, Any]]) -> list[str]:
    """One line per JIT goal: met, or the programs over it in this run."""
    lines = []
    for key, goal, what in (("jit_checked_over_unsafe", CHECKED_OVER_UNSAFE_GOAL, "checked jit / unsafe jit"),
                            ("jit_ratio", JIT_OVER_NATIVE_GOAL, "jit / native C"),
                            ("jit_unsafe_ratio", JIT_OVER_NATIVE_GOAL, "unsafe jit / native C")):
        rows = [r for r in results if r.get(key) is not None]
        if not rows:
            continue
        over = [f"{r['program']} {r[key]:.2f}x" for r in rows if r[key] > goal]
        lines.append(f"goal {what} <= {goal}x: " + ("met" if not over else "NOT met on " + ", ".join(over)))
    return lines


def format_table(document: dict[str, Any]) -> str:
    """The results as a text table: ns per run and the ratio of each engine to native C."""
    header = ["program", "native ns", "jit ns", "jit unsafe ns", "checked/unsafe", "kernel ns",
              "interp ns", "interp insn/s", "blocks"]
    rows = [header]
    for r in document["results"]:
        rows.append([
            r["program"],
            _fmt(r["native_ns"]),
            _fmt(r["jit_ns"], r.get("jit_ratio")),
            _fmt(r["jit_unsafe_ns"], r.get("jit_unsafe_ratio")),
            "-" if r.get("jit_checked_over_unsafe") is None else f"{r['jit_checked_over_unsafe']:.2f}x",
            _fmt(r["kernel_ns"], r.get("kernel_ratio")),
            _fmt(r["interp_ns"], r.get("interp_ratio")),
            "-" if r.get("interp_insn_per_s") is None else f"{r['interp_insn_per_s'] / 1e6:.2f} M",
            f"{r['interp_ns'] / r['interp_blocks_ns']:.2f}x" if r.get("interp_ns") and r.get("interp_blocks_ns")
            else "-",
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"machine: {document['machine']}"]
    for k, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                               for i, cell in enumerate(row)))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    if document.get("kernel_skipped"):
        lines.append(f"kernel column skipped: {document['kernel_skipped']}")
    for r in document["results"]:
        for note in r.get("notes", ()):
            lines.append(f"note ({r['program']}): {note}")
    lines.append("ratios are engine time / native C time (lower is better); jit = default "
                 "(bounds-checked), jit unsafe = unsafe_fast=True, checked/unsafe = jit / jit unsafe;\n"
                 "interp = the reference interpreter (plain loop), blocks = its speed-up with the opt-in "
                 "fast_blocks layer")
    lines.extend(format_jit_goals(document["results"]))
    if document.get("calls"):
        from pybpf.bench.calls import format_calls

        lines.append(format_calls(document["calls"]))
    if document.get("verifier"):
        from pybpf.bench.verifier import format_verifier

        lines.append(format_verifier(document["verifier"]))
    if document.get("trace"):
        from pybpf.bench.trace import format_startup

        lines.append(format_startup(document["trace"]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


ENGINES = ("native", "jit", "interp", "kernel")


def add_arguments(parser: Any) -> None:
    parser.add_argument("--quick", action="store_true", help="short measurements (a CI smoke run)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--engines", default="", help="comma-separated: native,jit,interp,kernel")
    parser.add_argument("--save", metavar="FILE", default="",
                        help="also write the results as JSON to FILE (the text table still prints)")


def run_from_args(args: Any) -> int:
    import sys

    only = [n for n in args.only.split(",") if n]
    known = {b.name for b in BENCHMARKS}
    unknown = [n for n in only if n not in known]
    if unknown:
        print(f"pybpf bench: unknown benchmark(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})",
              file=sys.stderr)
        return 2
    engines = [e for e in args.engines.split(",") if e]
    wrong = [e for e in engines if e not in ENGINES]
    if wrong:
        print(f"pybpf bench: unknown engine(s) {', '.join(wrong)} (known: {', '.join(ENGINES)})",
              file=sys.stderr)
        return 2
    if args.save and not Path(args.save).resolve().parent.is_dir():
        print(f"pybpf bench: cannot write {args.save}: no such directory", file=sys.stderr)
        return 2
    start = time.perf_counter()

    def progress(name: str) -> None:
        if not args.json:
            print(f"  {name} ...", file=sys.stderr, flush=True)

    document = run_suite(quick=args.quick, only=only, engines=engines, progress=progress)
    document["seconds"] = round(time.perf_counter() - start, 1)
    if args.save:
        try:
            Path(args.save).write_text(json.dumps(document, indent=2) + "\n")
        except OSError as exc:
            print(f"pybpf bench: cannot write {args.save}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(format_table(document))
    return 0
