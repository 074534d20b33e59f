"""Native map/time/random helpers of the JIT against the interpreter's Python implementations."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from pybpf.engines import Runtime
from pybpf.errors import RuntimeFault
from testlib import jit_program

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def map_ops_spec():
    import pybpf.toolchain as toolchain
    if not toolchain.zig_available():
        pytest.skip("ziglang is not installed")
    from pybpf.object import load_file

    return load_file(toolchain.compile_c(DATA / "map_ops.c"))


def _requests(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        op = rng.randrange(8)
        key = rng.choice([0, 1, 2, 7, 8, 9, 100, 0xFFFFFFFF, rng.randrange(20)])
        value = rng.choice([0, 1, 5, 1 << 40, rng.getrandbits(64)])
        flags = rng.choice([0, 0, 1, 2, 4, 3, 9])
        out.append(struct.pack("<BIQB", op, key, value, flags).ljust(64, b"\0"))
    return out


def _run(engine: str, spec, packets: list[bytes], **options):
    results: list[object] = []
    with Runtime(engine, verify=False, **options).load(spec) as coll:
        prog = coll.programs["map_ops"]
        for packet in packets:
            try:
                results.append(prog.run(packet).retval)
            except RuntimeFault as exc:
                results.append(("fault", exc.reason))
        maps = {name: sorted(m.items()) for name, m in coll.maps.items()}
    return results, maps


@pytest.mark.parametrize("seed", range(6))
def test_map_helpers_match_interpreter(map_ops_spec, seed: int) -> None:
    packets = _requests(seed, 120)
    expected = _run("interp", map_ops_spec, packets)
    assert _run("jit", map_ops_spec, packets) == expected
    assert _run("jit", map_ops_spec, packets, unsafe_fast=True) == expected


def test_native_lookup_hits_the_same_storage_as_python(map_ops_spec) -> None:
    with Runtime("jit", verify=False).load(map_ops_spec) as coll:
        prog = coll.programs["map_ops"]
        coll.maps["arr"][3] = 41
        coll.maps["hash"][5] = 7
        assert prog.run(struct.pack("<BIQB", 0, 3, 0, 0).ljust(64, b"\0")).retval == 41
        assert prog.run(struct.pack("<BIQB", 4, 5, 10, 0).ljust(64, b"\0")).retval == 17
        assert coll.maps["hash"][5] == (17).to_bytes(8, "little")
        assert prog.run(struct.pack("<BIQB", 7, 2, 5, 0).ljust(64, b"\0")).retval == 1
        assert coll.maps["arr"][2] == (15).to_bytes(8, "little")


def test_batch_counts_like_single_runs(map_ops_spec) -> None:
    packets = [struct.pack("<BIQB", 3, k % 5, 1, 0).ljust(64, b"\0") for k in range(10)]
    packets += [struct.pack("<BIQB", 4, k % 5, 2, 0).ljust(64, b"\0") for k in range(25)]
    with Runtime("jit", verify=False).load(map_ops_spec) as coll:
        result = jit_program(coll, "map_ops").run_batch(packets)
        batch_maps = sorted(coll.maps["hash"].items())
        verdicts = list(result.retvals)
    single = _run("interp", map_ops_spec, packets)
    assert verdicts == single[0]
    assert batch_maps == single[1]["hash"]


def test_ringbuf_output_matches_interpreter() -> None:
    import pybpf.toolchain as toolchain
    if not toolchain.zig_available():
        pytest.skip("ziglang is not installed")
    from pybpf.object import load_file

    spec = load_file(toolchain.compile_c(DATA / "ringbuf_out.c"))
    rng = random.Random(7)
    packets = [bytes([k & 0xFF, rng.randrange(256), rng.randrange(256)]) + bytes(5)
               + bytes(rng.randrange(256) for _ in range(40)) for k in range(300)]
    outcomes = {}
    for engine in ("interp", "jit"):
        with Runtime(engine, verify=False).load(spec) as coll:
            ring = coll.maps["events"]
            verdicts, records = [], []
            for k, packet in enumerate(packets):
                verdicts.append(coll.programs["ringbuf_out"].run(packet).retval)
                if k % 37 == 36:  # a slow reader: the ring fills up, wraps and drains
                    records.extend(ring.consume())  # type: ignore[attr-defined]
            records.extend(ring.consume())  # type: ignore[attr-defined]
            outcomes[engine] = (verdicts, records, ring.wakeups, ring.lost)  # type: ignore[attr-defined]
    assert outcomes["jit"] == outcomes["interp"]
    assert len(outcomes["jit"][1]) > 100
