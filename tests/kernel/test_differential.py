"""Differential suite: the same programs and inputs on Runtime("interp") and Runtime("kernel").

Compared: the return value (the kernel reports its low 32 bits), the output packet and every
readable map. Any difference is a bug in one engine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pybpf.abi import MapType, ProgramType
from pybpf.engines import Runtime
from pybpf.errors import LoadError
from pybpf.isa.instruction import Instruction as I
from pybpf.kernel.maps import possible_cpus
from pybpf.object.spec import CollectionSpec, MapSpec
from testlib import sampled

from .differential import (
    helper_harness,
    imm,
    map_semantics_program,
    packets,
    random_mixed_program,
    random_program,
    skb_helper_program,
    snapshot,
    stack_ptr,
    xdp_adjust_program,
)
from .progs import counter_collection, packet, udp_port_filter

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).resolve().parents[2]


def _both(spec: CollectionSpec) -> tuple[Any, Any]:
    try:
        interp = Runtime("interp", verify=False).load(spec)
    except LoadError as exc:
        if "not available" in str(exc) or "does not provide" in str(exc):
            pytest.skip(f"the interpreter cannot run this yet: {exc}")
        raise
    return interp, Runtime("kernel", verify=False).load(spec)


def _compare_runs(spec: CollectionSpec, inputs: list[bytes], setup: Any = None, what: str = "") -> None:
    interp, kernel = _both(spec)
    with interp, kernel:
        if setup is not None:
            setup(interp)
            setup(kernel)
        from pybpf.kernel.ringbuf import RingBuffer

        rings = {name: (interp.maps[name], RingBuffer(kernel.maps[name]))
                 for name, m in spec.maps.items() if m.type == MapType.RINGBUF}
        for name in spec.programs:
            if spec.programs[name].type not in (ProgramType.XDP, ProgramType.SCHED_CLS, ProgramType.SOCKET_FILTER,
                                                ProgramType.SCHED_ACT, ProgramType.CGROUP_SKB):
                continue
            for i, data in enumerate(inputs):
                if spec.programs[name].type != ProgramType.XDP and data[12:14] == b"\x08\x00" and len(data) < 34:
                    continue  # the kernel refuses skb test runs whose IPv4 header is truncated (EINVAL)
                a = interp.programs[name].run(data)
                b = kernel.programs[name].run(data)
                where = f"{what}{name} input {i}"
                assert a.retval & 0xFFFFFFFF == b.retval, f"{where}: retval interp {a.retval} kernel {b.retval}"
                if spec.programs[name].type == ProgramType.XDP:
                    assert a.data_out == b.data_out, f"{where}: data_out differs"
                assert snapshot(interp) == snapshot(kernel), f"{where}: maps differ"
                for ring, (ia, kb) in rings.items():
                    assert ia.read_available() == kb.read_available(), f"{where}: records of {ring} differ"


def test_hand_written_programs_agree() -> None:
    _compare_runs(counter_collection(), [packet(), packet(100)])
    spec = CollectionSpec(programs={"udp_filter": udp_port_filter(9999)},
                          maps={"counts": counter_collection().maps["counts"].__class__(
                              name="counts", type=MapType.ARRAY, key_size=4, value_size=8, max_entries=2)})
    _compare_runs(spec, packets() + [packet(20)])


@pytest.mark.parametrize("map_type", [MapType.HASH, MapType.LRU_HASH, MapType.ARRAY])
def test_map_helper_return_codes_agree(map_type: MapType) -> None:
    spec = map_semantics_program(map_type)
    interp, kernel = _both(spec)
    with interp, kernel:
        a = interp.programs["mapsem"].run(packet())
        b = kernel.programs["mapsem"].run(packet())
        assert a.retval == b.retval == 2
        rc_i = {int.from_bytes(k, "little"): int.from_bytes(v, "little", signed=True) for k, v in interp.maps["rc"].items()}
        rc_k = {int.from_bytes(k, "little"): int.from_bytes(v, "little", signed=True) for k, v in kernel.maps["rc"].items()}
        assert rc_i == rc_k
        assert dict(interp.maps["m"].items()) == dict(kernel.maps["m"].items())


ADJUST_CASES = [(44, d) for d in (-300, -256, -64, -1, 0, 14, 50, 59, 60, 100)] + \
    [(65, d) for d in (-1000, -60, -47, -10, 0, 1, 20, 4000)] + [(54, d) for d in (-300, -32, -8, -4, 0, 4)]


@pytest.mark.parametrize("helper,delta", ADJUST_CASES,
                         ids=[f"{ {44: 'head', 65: 'tail', 54: 'meta'}[h]}{d:+d}" for h, d in ADJUST_CASES])
def test_xdp_adjust_helpers_agree(helper: int, delta: int) -> None:
    spec = xdp_adjust_program(helper, delta)
    interp, kernel = _both(spec)
    with interp, kernel:
        data = bytes(range(64))
        a = interp.programs["adjust"].run(data)
        b = kernel.programs["adjust"].run(data)
        rc_a = int.from_bytes(a.data_out[:8], "little", signed=True) if a.data_out and len(a.data_out) >= 8 else None
        rc_b = int.from_bytes(b.data_out[:8], "little", signed=True) if b.data_out and len(b.data_out) >= 8 else None
        assert (rc_a, a.retval) == (rc_b, b.retval), "helper return value"
        assert a.data_out == b.data_out


SKB_CASES = (
    [("load_bytes", 26, off, None, n, 0) for off in (0, 14, 84, 90, 100, -1) for n in (1, 4, 16)]
    + [("store_bytes", 9, off, None, n, fl) for off in (0, 30, 84, 96, -3) for n in (2, 16) for fl in (0, 1, 2, 4)]
    + [("l3_csum", 10, off, 0x1234, 0x4321, sz) for off in (14 + 10, 50, 99, 200) for sz in (0, 2, 4, 3)]
    + [("l4_csum", 11, off, 0x12345678, 0x9ABCDEF0, fl) for off in (14 + 20 + 6, 98, 120)
       for fl in (2, 4, 0x14, 0x24, 0x40 | 4, 1)]
)


@pytest.mark.parametrize("name,helper,r2,r3,r4,r5", SKB_CASES,
                         ids=[f"{c[0]}-{c[2]}-{c[3]}-{c[4]}-{c[5]}" for c in SKB_CASES])
def test_skb_helpers_agree(name: str, helper: int, r2: int, r3: int | None, r4: int, r5: int) -> None:
    spec = skb_helper_program(helper, r2, r3, r4, r5)
    interp, kernel = _both(spec)
    data = packets()[0] + bytes(100 - len(packets()[0]))  # a 100-byte UDP frame
    with interp, kernel:
        a = interp.programs["skbhelper"].run(data)
        b = kernel.programs["skbhelper"].run(data)
        ra, rb = interp.maps["results"][0], kernel.maps["results"][0]
        assert isinstance(ra, bytes) and isinstance(rb, bytes)
        rc_a = int.from_bytes(ra[:8], "little", signed=True)  # value = return value, then the buffer
        rc_b = int.from_bytes(rb[:8], "little", signed=True)
        assert rc_a == rc_b, f"return value: interp {rc_a}, kernel {rc_b}"
        assert ra[8:] == rb[8:], "buffer"
        assert a.data_out == b.data_out, "packet"
        assert a.retval == b.retval


def _harness_agree(spec: CollectionSpec, data: bytes) -> int:
    interp, kernel = _both(spec)
    with interp, kernel:
        a = interp.programs["harness"].run(data)
        b = kernel.programs["harness"].run(data)
        ra, rb = interp.maps["results"][0], kernel.maps["results"][0]
        assert isinstance(ra, bytes) and isinstance(rb, bytes)
        rc_a = int.from_bytes(ra[:8], "little", signed=True)
        rc_b = int.from_bytes(rb[:8], "little", signed=True)
        assert rc_a == rc_b, f"return value: interp {rc_a:#x}, kernel {rc_b:#x}"
        assert ra[8:] == rb[8:], "buffers"
        assert (a.retval, a.data_out) == (b.retval, b.data_out)
        for name in spec.maps:
            if name != "results":
                assert snapshot(interp).get(name) == snapshot(kernel).get(name), name
        return rc_b


# sizes that are not multiples of 4 are accepted by recent kernels (this 6.18 one) and checksummed
# as csum_partial does; older kernels (and once the interpreter) returned -EINVAL for them
CSUM_SIZES = [(0, 4), (4, 0), (4, 4), (8, 16), (16, 16), (0, 0), (3, 4), (4, 6)]


@pytest.mark.parametrize("from_size,to_size", CSUM_SIZES)
@pytest.mark.parametrize("seed", [0, 0xFFFF, 0x12345678])
def test_csum_diff_agrees(from_size: int, to_size: int, seed: int) -> None:
    args = (stack_ptr(1, -16) if from_size else [imm(1, 0)]) + [imm(2, from_size)]
    args += (stack_ptr(3, -32) if to_size else [imm(3, 0)]) + [imm(4, to_size), imm(5, seed)]
    _harness_agree(helper_harness(ProgramType.SCHED_CLS, 28, args), packets()[0])


@pytest.mark.parametrize("flags", [0, 1, 2, 8])
def test_xdp_redirect_return_codes_agree(flags: int) -> None:
    _harness_agree(helper_harness(ProgramType.XDP, 23, [imm(1, 1), imm(2, flags)]), packets()[0])


@pytest.mark.parametrize("mtype", [MapType.QUEUE, MapType.STACK])
@pytest.mark.parametrize("op,flags", [(87, 0), (87, 2), (87, 1), (88, 0), (89, 0)])
def test_queue_stack_helpers_agree(mtype: MapType, op: int, flags: int) -> None:
    """push(map, value, flags) / pop(map, value) / peek(map, value) on a map holding 2 of 3 slots."""
    args = stack_ptr(2, -16) + [imm(3, flags)]
    spec = helper_harness(ProgramType.XDP, op, args, {"q": MapSpec("q", mtype, 0, 8, 3)}, arg_map=(1, "q"))
    interp, kernel = _both(spec)

    def pop(m: Any) -> bytes | None:
        try:
            return m.lookup_and_delete()
        except Exception:  # noqa: BLE001 - an empty user-space queue raises, the kernel's returns None
            return None

    with interp, kernel:
        results, left = [], []
        for coll in (interp, kernel):
            for v in (0x1111, 0x2222):
                coll.maps["q"].push(v.to_bytes(8, "little"))
            coll.programs["harness"].run(packets()[0])
            results.append(coll.maps["results"][0])
            left.append([pop(coll.maps["q"]) for _ in range(4)])
        assert results[0] == results[1], "return value and buffers"
        assert left[0] == left[1], "what remains in the map"


@pytest.mark.parametrize("nr", [0, 1, 10, 1000])
@pytest.mark.parametrize("stop_at", [None, 0, 5])
def test_bpf_loop_agrees(nr: int, stop_at: int | None) -> None:
    """bpf_loop(nr, callback, &A, 0): the callback adds its index to A's first u64 (and stops at
    `stop_at`); the helper returns the number of iterations, or -E2BIG above 1 << 23."""
    body = [I(0x79, 3, 2, 0, 0), I(0x0F, 3, 1), I(0x7B, 2, 3, 0, 0), I(0xB7, 0, 0, 0, 0)]
    if stop_at is not None:
        body += [I(0x55, 1, 0, 1, stop_at), I(0xB7, 0, 0, 0, 1)]  # if index == stop_at: return 1
    body += [I(0x95)]
    args = [imm(1, nr)] + stack_ptr(3, -16) + [imm(4, 0)]
    _harness_agree(helper_harness(ProgramType.XDP, 181, args, callback=(2, body)), packets()[0])




@pytest.mark.parametrize("nr,flags,expected", [
    ((1 << 23) + 1, 0, 0xFFFFFFF9),  # inlined by the kernel: a 32-bit -E2BIG
    (0xFFFFFFFF, 0, 0xFFFFFFF9),
    ((1 << 23) + 1, 1, -22),  # flags != 0: not inlined, the helper says -EINVAL
    (5, 1, -22),
])
def test_bpf_loop_limits_agree(nr: int, flags: int, expected: int) -> None:
    body = [I(0xB7, 0, 0, 0, 0), I(0x95)]
    args = [imm(1, nr)] + stack_ptr(3, -16) + [imm(4, flags)]
    assert _harness_agree(helper_harness(ProgramType.XDP, 181, args, callback=(2, body)), packets()[0]) == expected


def _random_cases(seeds: range) -> None:
    for seed in seeds:
        spec = random_program(seed)
        interp, kernel = _both(spec)
        with interp, kernel:
            a = interp.programs["alu"].run(packet(96))
            b = kernel.programs["alu"].run(packet(96))
            assert a.data_out is not None and b.data_out is not None
            if a.data_out != b.data_out:
                regs = [(r, hex(int.from_bytes(a.data_out[8 * r:8 * r + 8], "little")),
                         hex(int.from_bytes(b.data_out[8 * r:8 * r + 8], "little")))
                        for r in range(10) if a.data_out[8 * r:8 * r + 8] != b.data_out[8 * r:8 * r + 8]]
                pytest.fail(f"seed {seed}: registers differ (reg, interp, kernel): {regs}")
            assert a.retval & 0xFFFFFFFF == b.retval, f"seed {seed}: retval"


def test_random_alu_programs_agree() -> None:
    _random_cases(range(150))


@pytest.mark.slow
def test_random_alu_programs_agree_long() -> None:
    _random_cases(range(150, 3150))


def _mixed_cases(seeds: range) -> None:
    for seed in seeds:
        spec = random_mixed_program(seed)
        interp, kernel = _both(spec)
        with interp, kernel:
            a = interp.programs["mixed"].run(packet(160))
            b = kernel.programs["mixed"].run(packet(160))
            assert a.data_out is not None and b.data_out is not None
            if a.data_out != b.data_out:
                diff = [(i // 8, a.data_out[i:i + 8].hex(), b.data_out[i:i + 8].hex())
                        for i in range(0, 144, 8) if a.data_out[i:i + 8] != b.data_out[i:i + 8]]
                pytest.fail(f"seed {seed}: (slot, interp, kernel) differ: {diff} (slots 0-9 are r0-r9, "
                            f"10-17 the stack scratch area)")
            assert a.retval & 0xFFFFFFFF == b.retval, f"seed {seed}: retval"


def test_random_mixed_programs_agree() -> None:
    _mixed_cases(range(150))


@pytest.mark.slow
def test_random_mixed_programs_agree_long() -> None:
    _mixed_cases(range(150, 3150))


def _engine_vs_kernel(engine: str, seeds: Sequence[int]) -> None:
    """The same random programs on another user-space engine (the JIT) against the kernel."""
    for seed in seeds:
        for gen, name in ((random_mixed_program, "mixed"), (random_program, "alu")):
            spec = gen(seed)
            try:
                other = Runtime(engine, verify=False).load(spec)
            except (ImportError, LoadError) as exc:
                pytest.skip(f"the {engine} engine is not available: {exc}")
            with other, Runtime("kernel", verify=False).load(spec) as kernel:
                a = other.programs[name].run(packet(160))
                b = kernel.programs[name].run(packet(160))
                assert a.data_out == b.data_out, f"{engine} seed {seed} ({name}): output differs from the kernel"
                assert a.retval & 0xFFFFFFFF == b.retval, f"{engine} seed {seed} ({name}): retval"


def test_random_programs_jit_agrees_with_kernel() -> None:
    _engine_vs_kernel("jit", range(8))


@pytest.mark.slow
def test_random_programs_jit_agrees_with_kernel_long() -> None:
    """200 seeds, a quarter of them unless PYBPF_FULL=1 (two JIT compiles each)."""
    _engine_vs_kernel("jit", sampled(range(8, 208), 4))


EXAMPLES = sorted((ROOT / "examples").glob("*.c")) if (ROOT / "examples").is_dir() else []


@pytest.mark.parametrize("source", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_agree(source: Path) -> None:
    from pybpf.object import load_file
    from pybpf.toolchain import compile_c

    try:
        spec = load_file(compile_c(source))
    except Exception as exc:  # noqa: BLE001 - a compiler problem is not an engine difference
        pytest.skip(f"cannot build {source.name}: {exc}")

    def setup(coll: Any) -> None:
        for name, m in coll.maps.items():
            if name == "blocked_ports":
                for port in (53, 8080):
                    m[port.to_bytes(m.key_size, "little")] = bytes(m.value_size)

    _compare_runs(spec, packets(), setup, what=f"{source.stem}: ")


OBJECTS = [ROOT / "tests" / "data" / "objects" / f"{n}.o" for n in ("calls", "legacy_maps", "map_in_map")]


@pytest.mark.parametrize("obj", OBJECTS, ids=[p.stem for p in OBJECTS])
def test_test_objects_agree(obj: Path) -> None:
    from pybpf.object import load_file

    if not obj.exists():
        pytest.skip(f"{obj} is absent")
    _compare_runs(load_file(obj), packets(), what=f"{obj.stem}: ")


def test_tail_call_through_static_prog_array_in_kernel() -> None:
    from pybpf.object import load_file

    obj = OBJECTS[2]
    if not obj.exists():
        pytest.skip(f"{obj} is absent")
    with Runtime("kernel", verify=False).load(load_file(obj)) as coll:
        # outer[0] = inner_a holds key 0, so entry tail-calls jumps[1] = tail_a, which returns XDP_PASS
        assert coll.programs["entry"].run(packet()).retval == 2
        assert coll.programs["tail_a"].run(packet()).retval == 2


@pytest.mark.parametrize("mtype", [MapType.ARRAY, MapType.HASH, MapType.PERCPU_ARRAY])
@pytest.mark.parametrize("stop_after_key", [None, 2])
@pytest.mark.parametrize("flags", [0, 1])
def test_for_each_map_elem_agrees(mtype: MapType, stop_after_key: int | None, flags: int) -> None:
    """bpf_for_each_map_elem(map, callback, &A, flags): the callback sums the values into A."""
    if stop_after_key is not None and mtype == MapType.HASH:
        pytest.skip("where iteration stops depends on the hash order, which engines need not share")
    body = [I(0x79, 5, 3, 0, 0), I(0x79, 6, 4, 0, 0), I(0x0F, 6, 5), I(0x7B, 4, 6, 0, 0), I(0xB7, 0, 0, 0, 0)]
    if stop_after_key is not None:
        body += [I(0x61, 5, 2, 0, 0), I(0x55, 5, 0, 1, stop_after_key), I(0xB7, 0, 0, 0, 1)]
    body += [I(0x95)]
    spec = helper_harness(ProgramType.XDP, 164, [I(0x7A, 10, 0, -16, 0)] + stack_ptr(3, -16) + [imm(4, flags)],
                          {"m": MapSpec("m", mtype, 4, 8, 6)}, arg_map=(1, "m"), callback=(2, body))
    interp, kernel = _both(spec)
    saved = os.sched_getaffinity(0)
    if 0 not in saved:
        pytest.skip("CPU 0 is not available to this process (the interpreter runs as CPU 0)")
    os.sched_setaffinity(0, {0})  # the interpreter runs as CPU 0: so does the kernel's test run
    try:
        with interp, kernel:
            results = []
            for coll in (interp, kernel):
                m = coll.maps["m"]
                for k in (0, 2, 3, 5):
                    m[k] = [k * 10 + c for c in range(possible_cpus())] if m.percpu else k * 1000 + 7
                coll.programs["harness"].run(packets()[0])
                results.append(coll.maps["results"][0])
            assert results[0] == results[1]
    finally:
        os.sched_setaffinity(0, saved)


@pytest.mark.parametrize("size", [0, 1, 7, 16])
@pytest.mark.parametrize("flags", [0, 1, 2, 3, 4])
def test_ringbuf_output_agrees(size: int, flags: int) -> None:
    """bpf_ringbuf_output(ring, &A, size, flags): return code and the records both readers see."""
    from pybpf.kernel.ringbuf import RingBuffer

    spec = helper_harness(ProgramType.XDP, 130, stack_ptr(2, -16) + [imm(3, size), imm(4, flags)],
                          {"ring": MapSpec("ring", MapType.RINGBUF, 0, 0, 4096)}, arg_map=(1, "ring"))
    interp, kernel = _both(spec)
    with interp, kernel, RingBuffer(kernel.maps["ring"]) as reader:
        for coll in (interp, kernel):
            for _ in range(3):
                coll.programs["harness"].run(packets()[0])
        assert interp.maps["results"][0] == kernel.maps["results"][0]
        assert interp.maps["ring"].read_available() == reader.read_available()


def test_kernel_inlined_bpf_loop_returns_32bit_e2big() -> None:
    """With flags 0 the kernel inlines bpf_loop; its too-many-iterations path returns a 32-bit -E2BIG."""
    from .differential import helper_harness as harness

    body = [I(0xB7, 0, 0, 0, 0), I(0x95)]
    spec = harness(ProgramType.XDP, 181, [imm(1, (1 << 23) + 1)] + stack_ptr(3, -16) + [imm(4, 0)],
                   callback=(2, body))
    with Runtime("kernel", verify=False).load(spec) as coll:
        coll.programs["harness"].run(packets()[0])
        raw = coll.maps["results"][0]
        assert isinstance(raw, bytes) and int.from_bytes(raw[:8], "little") == 0xFFFFFFF9
