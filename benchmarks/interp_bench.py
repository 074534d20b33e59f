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
    name: str, source: str, mem_size: int, iterations: int, blocks: bool = False
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
    args = parser.parse_args(argv)
    iterations = 20_000 if args.quick else 300_000
    modes = {"reference loop": False, "fast_blocks": True}
    results = {mode: [measure(n, src, mem, iterations, blocks=blocks) for n, (src, mem) in PROGRAMS.items()]
               for mode, blocks in modes.items()}
    machine = f"{platform.machine()} {platform.processor() or ''} Python {platform.python_version()}"
    if args.json:
        print(json.dumps({"machine": machine.strip(), "results": results}))
        return 0
    print(f"pybpf interpreter on {machine.strip()}: the reference loop (the default) and the opt-in fast_blocks layer")
    print(f"{'program':<18} {'instructions':>13} {'M insn/s':>9} {'blocks':>9} {'speed-up':>9}")
    for plain, fast in zip(results["reference loop"], results["fast_blocks"], strict=True):
        print(f"{plain['program']:<18} {plain['instructions']:>13,} {plain['insn_per_s'] / 1e6:>9.2f}"
              f" {fast['insn_per_s'] / 1e6:>9.2f} {fast['insn_per_s'] / plain['insn_per_s']:>8.2f}x")
    total = {m: sum(r["instructions"] for r in rs) / sum(r["seconds"] for r in rs) for m, rs in results.items()}
    print(f"{'all':<18} {'':>13} {total['reference loop'] / 1e6:>9.2f} {total['fast_blocks'] / 1e6:>9.2f}"
          f" {total['fast_blocks'] / total['reference loop']:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
