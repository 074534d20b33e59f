"""User-space map speed: operations per second of pybpf.maps (dict API and program-side API).

Run standalone: `python benchmarks/maps_bench.py [--quick] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import platform
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pybpf.abi import MapType  # noqa: E402
from pybpf.maps import RingBuffer, create_map  # noqa: E402
from pybpf.object.spec import MapSpec  # noqa: E402


def rate(fn: Callable[[int], None], n: int, repeat: int = 3) -> float:
    """Operations per second of fn(n), which performs n operations (best of `repeat` runs)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - start)
    return n / best


def bench_hash_update(n: int) -> None:
    m = create_map(MapSpec("h", MapType.HASH, 4, 8, 4096))
    keys = [struct.pack("<I", i) for i in range(4096)]
    value = bytes(8)
    for i in range(n):
        m.update(keys[i & 4095], value)


def bench_hash_prog_lookup(n: int) -> None:
    m = create_map(MapSpec("h", MapType.HASH, 4, 8, 4096))
    keys = [struct.pack("<I", i) for i in range(1024)]
    for k in keys:
        m.update(k, bytes(8))
    lookup = m.prog_lookup
    for i in range(n):
        lookup(keys[i & 1023], 0)


def bench_array_prog_lookup(n: int) -> None:
    m = create_map(MapSpec("a", MapType.ARRAY, 4, 8, 1024))
    keys = [struct.pack("<I", i) for i in range(1024)]
    lookup = m.prog_lookup
    for i in range(n):
        lookup(keys[i & 1023], 0)


def bench_lru_update(n: int) -> None:
    m = create_map(MapSpec("l", MapType.LRU_HASH, 4, 8, 256))
    keys = [struct.pack("<I", i) for i in range(4096)]
    value = bytes(8)
    for i in range(n):
        m.update(keys[i & 4095], value)


def bench_lpm_lookup(n: int) -> None:
    m = create_map(MapSpec("lpm", MapType.LPM_TRIE, 8, 4, 1024, flags=1))
    for plen in (8, 16, 24, 32):
        for i in range(64):
            m.update(struct.pack("<I", plen) + bytes([10, i, i, i]), bytes(4))
    keys = [
        struct.pack("<I", 32) + bytes([10, i & 63, (i * 7) & 255, i & 255]) for i in range(1024)
    ]
    for i in range(n):
        m.lookup(keys[i & 1023])


def bench_ringbuf(n: int) -> None:
    rb = create_map(MapSpec("rb", MapType.RINGBUF, 0, 0, 1 << 20))
    assert isinstance(rb, RingBuffer)
    record = bytes(16)
    produced = 0
    while produced < n:
        batch = min(4096, n - produced)
        for _ in range(batch):
            rb.output(record)
        produced += batch
        rb.consume()


BENCHES: dict[str, Callable[[int], None]] = {
    "hash update (dict API)": bench_hash_update,
    "hash lookup (program side)": bench_hash_prog_lookup,
    "array lookup (program side)": bench_array_prog_lookup,
    "lru_hash update with eviction": bench_lru_update,
    "lpm_trie lookup": bench_lpm_lookup,
    "ringbuf output + consume (events)": bench_ringbuf,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations (CI smoke run)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    n = 20_000 if args.quick else 100_000
    results = {name: rate(fn, n if "lru" not in name else n // 10) for name, fn in BENCHES.items()}
    if args.json:
        machine = {"machine": platform.machine(), "python": platform.python_version()}
        print(json.dumps({"machine": machine, "ops_per_second": results}, indent=2))
        return 0
    print(f"pybpf.maps on {platform.machine()}, Python {platform.python_version()}")
    for name, value in results.items():
        print(f"  {name:<36} {value / 1e6:8.3f} M ops/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
