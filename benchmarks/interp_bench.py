"""Interpreter speed: instructions per second of the reference interpreter on a few loops.

Run standalone: `python benchmarks/interp_bench.py [--quick] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pybpf.isa import assemble  # noqa: E402
from pybpf.vm.interpreter import Machine  # noqa: E402
from pybpf.vm.memory import Region  # noqa: E402
from pybpf.vm.run_env import RunEnv  # noqa: E402

# name -> (assembly in LLVM syntax, memory size); every loop runs N iterations (r1 = memory).
PROGRAMS: dict[str, tuple[str, int]] = {
    "alu_loop": (
        """
        r0 = 0
        r2 = {n}
    loop:
        r0 += r2
        r0 ^= 0x55
        r2 -= 1
        if r2 != 0 goto loop
        exit
        """,
        0,
    ),
    "memory_loop": (
        """
        r0 = 0
        r2 = {n}
    loop:
        r3 = r2
        r3 &= 63
        r3 <<= 3
        r4 = r1
        r4 += r3
        r5 = *(u64 *)(r4 + 0)
        r5 += r2
        *(u64 *)(r4 + 0) = r5
        r0 += r5
        r2 -= 1
        if r2 != 0 goto loop
        exit
        """,
        512,
    ),
    "stack_and_calls": (
        """
        r6 = {n}
        r7 = 0
    loop:
        *(u64 *)(r10 - 8) = r6
        r1 = r6
        call add_one
        r7 += r0
        r6 -= 1
        if r6 != 0 goto loop
        r0 = r7
        exit
    add_one:
        r0 = r1
        r0 += 1
        exit
        """,
        0,
    ),
    "div_mod_signed": (
        """
        r0 = 1
        r2 = {n}
    loop:
        r3 = r2
        r3 s/= 3
        r4 = r2
        r4 %= 7
        r0 += r3
        r0 += r4
        r2 -= 1
        if r2 s> 0 goto loop
        exit
        """,
        0,
    ),
}


def measure(
    name: str, source: str, mem_size: int, iterations: int, blocks: bool = True
) -> dict[str, float]:
    env = RunEnv()
    machine = Machine(assemble(source.format(n=iterations), syntax="llvm"), env, use_blocks=blocks)
    region = env.memory.add(Region.allocate(max(mem_size, 1), name="mem"))
    start = time.perf_counter()
    machine.run(region.address, mem_size, budget=1 << 40)
    elapsed = time.perf_counter() - start
    return {
        "program": name,
        "instructions": machine.instructions,
        "seconds": elapsed,
        "insn_per_s": machine.instructions / elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-blocks", action="store_true",
                        help="the plain per-instruction loop (no basic-block fast path)")
    args = parser.parse_args(argv)
    iterations = 20_000 if args.quick else 300_000
    results = [
        measure(n, src, mem, iterations, blocks=not args.no_blocks)
        for n, (src, mem) in PROGRAMS.items()
    ]
    machine = f"{platform.machine()} {platform.processor() or ''} Python {platform.python_version()}"
    if args.json:
        print(json.dumps({"machine": machine.strip(), "results": results}))
        return 0
    mode = "per-instruction loop" if args.no_blocks else "basic blocks"
    print(f"pybpf reference interpreter ({mode}) on {machine.strip()}")
    print(f"{'program':<18} {'instructions':>13} {'seconds':>9} {'M insn/s':>9}")
    for r in results:
        print(
            f"{r['program']:<18} {r['instructions']:>13,} {r['seconds']:>9.3f}"
            f" {r['insn_per_s'] / 1e6:>9.2f}"
        )
    total_insns = sum(r["instructions"] for r in results)
    total_time = sum(r["seconds"] for r in results)
    print(f"{'all':<18} {total_insns:>13,} {total_time:>9.3f} {total_insns / total_time / 1e6:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
