"""JIT-specific behaviour: faults like the interpreter's, code cache, unsafe mode, bound and
batch runs, tail calls, callbacks from helpers, and `pybpf run --engine jit` output."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.abi import MapType, ProgramType
from pybpf.engines import Runtime
from pybpf.errors import RuntimeFault
from pybpf.isa import assemble
from pybpf.isa.instruction import slot_count
from pybpf.isa.opcodes import PseudoSrc
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec
from pybpf.vm.jit import compile_program
from pybpf.vm.jit.compiler import clear_cache
from testlib import jit_program

ROOT = Path(__file__).resolve().parents[2]
XDP = ProgramType.XDP


def prog(text: str, ptype: ProgramType = ProgramType.UNSPEC, name: str = "p", **kw) -> ProgramSpec:
    return ProgramSpec(name, tuple(assemble(text, syntax="llvm")), type=ptype, **kw)


def outcome(engine: str, spec: ProgramSpec | CollectionSpec, data: bytes = b"", **options):
    with Runtime(engine, verify=False, **options).load(spec) as coll:
        program = next(iter(coll.programs.values()))
        try:
            r = program.run(data)
        except RuntimeFault as exc:
            return ("fault", exc.reason.split(" at 0x")[0], exc.pc, exc.size)
        return (r.retval, r.data_out, r.instructions)


FAULTING = {
    "oob load": "r0 = *(u64 *)(r1 + 60)\nexit",
    "unmapped": "r1 = 16\nr0 = *(u8 *)(r1 + 0)\nexit",
    "stack below frame": "r0 = *(u64 *)(r10 - 520)\nexit",
    "stack above frame": "r0 = *(u32 *)(r10 + 0)\nexit",
    "budget": "r0 = 0\nloop:\nr0 += 1\ngoto loop\nexit",
    "recursion": "call f\nexit\nf:\ncall f\nexit",
    "atomic out of bounds": "r2 = 1\nlock *(u64 *)(r1 + 64) += r2\nr0 = 0\nexit",
}


@pytest.mark.parametrize("name", sorted(FAULTING))
def test_faults_match_interpreter(name: str) -> None:
    spec = prog(FAULTING[name])
    options = {"budget": 10_000}
    expected = outcome("interp", spec, bytes(64), **options)
    assert expected[0] == "fault"
    assert outcome("jit", spec, bytes(64), **options) == expected


def test_xdp_context_fields_and_writes() -> None:
    text = """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = *(u32 *)(r1 + 12)
        r0 = r3
        r0 -= r2
        r0 <<= 8
        r0 |= r4
        *(u32 *)(r1 + 12) = r0
        exit
    """
    spec = prog(text, XDP)
    assert outcome("jit", spec, bytes(64)) == outcome("interp", spec, bytes(64))
    assert outcome("interp", spec, bytes(64))[0] == "fault"  # xdp_md is read-only


def test_compile_cache_and_compile_time() -> None:
    clear_cache()
    insns = assemble("r0 = 7\nexit", syntax="llvm")
    first = compile_program(insns)
    again = compile_program(insns)
    assert first.from_cache == "" and first.compile_seconds > 0
    assert again.from_cache == "memory" and again.entry == first.entry


def test_disk_cache(tmp_path: Path) -> None:
    clear_cache()
    insns = assemble("r0 = 9\nexit", syntax="llvm")
    built = compile_program(insns, cache_dir=tmp_path)
    assert list(tmp_path.glob("*.o"))
    clear_cache()
    loaded = compile_program(insns, cache_dir=tmp_path)
    assert loaded.from_cache == "disk"
    spec = prog("r0 = 9\nexit")
    with Runtime("jit", verify=False, cache_dir=str(tmp_path)).load(spec) as coll:
        assert coll.programs["p"].run().retval == 9
    assert built.object_size == loaded.object_size


def test_unsafe_fast_runs_valid_programs_the_same() -> None:
    text = """
        r2 = 5
        *(u64 *)(r10 - 8) = r2
        r3 = *(u64 *)(r1 + 0)
        r0 = *(u64 *)(r10 - 8)
        r0 += r3
        exit
    """
    spec = prog(text)
    data = struct.pack("<Q", 37).ljust(16, b"\0")
    assert outcome("jit", spec, data, unsafe_fast=True)[0] == 42
    assert outcome("jit", spec, data)[:2] == outcome("interp", spec, data)[:2]


def test_bound_run_and_batch() -> None:
    text = """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += 1
        if r4 > r3 goto short
        r0 = *(u8 *)(r2 + 0)
        exit
    short:
        r0 = 1
        exit
    """
    spec = prog(text, XDP)
    with Runtime("jit", verify=False).load(spec) as coll:
        program = jit_program(coll, "p")
        with program.bind(b"\x03" + bytes(20)) as bound:
            assert [bound() for _ in range(3)] == [3, 3, 3]
        packets = [bytes([k % 4]) + bytes(20) for k in range(50)] + [bytes([1]) + bytes(3000)]
        result = program.run_batch(packets)
        assert list(result.retvals) == [k % 4 for k in range(50)] + [1]
        lengths = [len(p) for p in packets]
        again = program.run_batch(b"".join(packets), lengths)
        assert list(again.retvals) == list(result.retvals)
        assert program.run(b"\x02" + bytes(20)).retval == 2


def test_batch_fault_names_the_pc() -> None:
    spec = prog("r2 = *(u32 *)(r1 + 0)\nr0 = *(u8 *)(r2 + 100)\nexit", XDP)
    with Runtime("jit", verify=False).load(spec) as coll, pytest.raises(RuntimeFault) as info:
        jit_program(coll, "p").run_batch([bytes(200), bytes(20)])
    assert info.value.pc == 1


def test_bound_run_fault() -> None:
    spec = prog("r0 = *(u64 *)(r10 + 8)\nexit", XDP)
    with Runtime("jit", verify=False).load(spec) as coll:
        with jit_program(coll, "p").bind(bytes(20)) as bound, pytest.raises(RuntimeFault):
            bound()


def _prog_array_collection() -> CollectionSpec:
    jump = prog(
        """
        r6 = r1
        r2 = 0 ll
        r3 = 1
        call 12
        r0 = 77
        exit
        """, XDP, name="entry",
        map_references=(MapReference(pc=1, map_name="jumps"),),
    )
    target = prog("r0 = 3\nexit", XDP, name="target")
    jumps = MapSpec("jumps", MapType.PROG_ARRAY, 4, 4, 4, initial_slots=((1, "target"),))
    return CollectionSpec(programs={"entry": jump, "target": target}, maps={"jumps": jumps})


def test_tail_call_like_interpreter() -> None:
    spec = _prog_array_collection()
    results = {}
    for engine in ("interp", "jit"):
        with Runtime(engine, verify=False).load(spec) as coll:
            results[engine] = coll.programs["entry"].run(bytes(20)).retval
    assert results["jit"] == results["interp"] == 3


def test_bpf_loop_callback_through_python() -> None:
    main = assemble(
        """
        r1 = 10
        r2 = 0 ll
        r3 = r10
        r3 += -8
        r4 = 0
        *(u64 *)(r10 - 8) = r4
        call 181
        r0 <<= 16
        r1 = *(u64 *)(r10 - 8)
        r0 |= r1
        exit
        """, syntax="llvm")
    callback = assemble(
        """
        r3 = *(u64 *)(r2 + 0)
        r3 += r1
        *(u64 *)(r2 + 0) = r3
        r0 = 0
        if r1 == 6 goto stop
        exit
    stop:
        r0 = 1
        exit
        """, syntax="llvm")
    target = slot_count(main)
    main[1] = main[1].replace(src=PseudoSrc.FUNC, imm=target - 2)  # lddw at pc 1: r2 = &callback
    spec = ProgramSpec("p", (*main, *callback))
    expected = outcome("interp", spec)
    assert expected[0] == (7 << 16) | 21  # 7 iterations, 0+1+...+6
    assert outcome("jit", spec) == expected  # the callbacks' instructions count too


def test_seeded_prandom_matches_interpreter() -> None:
    spec = prog("call 7\nr6 = r0\ncall 7\nr0 ^= r6\nexit")
    values = {}
    for engine in ("interp", "jit"):
        with Runtime(engine, verify=False).load(spec) as coll:
            program = coll.programs["p"]
            program.env.prandom_seed = 1234  # type: ignore[attr-defined]
            values[engine] = [program.run().retval for _ in range(3)]
    assert values["jit"] == values["interp"]


def test_unseeded_prandom_is_native_and_varies() -> None:
    spec = prog("call 7\nexit")
    with Runtime("jit", verify=False).load(spec) as coll:
        seen = {coll.programs["p"].run().retval for _ in range(20)}
    assert len(seen) > 10 and all(v < 1 << 32 for v in seen)


@pytest.mark.parametrize("example", ["xdp_firewall.c",
                                     "tc_classifier.c"])
def test_cli_run_json_same_as_interpreter(example: str, tmp_path: Path) -> None:
    source = ROOT / "examples" / example
    if not source.exists():
        pytest.skip(f"{source} not present")
    packet = tmp_path / "pkt.bin"
    eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
    ip = bytes([0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    packet.write_bytes((eth + ip + struct.pack("!HH", 1234, 80) + bytes(16)).ljust(64, b"\0"))
    outputs = {}
    for engine in ("interp", "jit"):
        proc = subprocess.run(
            [sys.executable, "-m", "pybpf", "run", str(source), "--engine", engine,
             "--data-in", str(packet), "--data-in", str(packet), "--json"],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode == 2 and "program" in proc.stderr:
            pytest.skip(proc.stderr.strip())
        assert proc.returncode == 0, proc.stderr
        outputs[engine] = json.loads(proc.stdout)
    outputs["jit"].pop("engine", None)
    outputs["interp"].pop("engine", None)
    assert outputs["jit"] == outputs["interp"]


def test_run_batch_rejects_bad_input() -> None:
    from pybpf.errors import BpfError

    spec = prog("r0 = 2\nexit", XDP)
    with Runtime("jit", verify=False).load(spec) as coll:
        program = jit_program(coll, "p")
        for packets, lengths in [(b"abc", None), (b"abc", [-1]), (b"abc", [4]), ([1, 2], None),
                                 ([b"x"], [1]), ([b"short"], None), ([bytes(5000)], None)]:
            with pytest.raises(BpfError):
                program.run_batch(packets, lengths)  # type: ignore[arg-type]  # bad input on purpose
        assert list(program.run_batch([]).retvals) == []
    with Runtime("jit", verify=False).load(prog("r0 = 1\nexit")) as coll, pytest.raises(BpfError):
        jit_program(coll, "p").run_batch([bytes(20)])  # not an XDP program


@pytest.mark.parametrize("ptype", [ProgramType.SOCKET_FILTER, ProgramType.SCHED_CLS])
def test_legacy_packet_loads_match_interpreter(ptype: ProgramType) -> None:
    from pybpf.isa.instruction import Instruction

    packet = bytes(range(1, 61))
    cases = []
    for mode in (0x20, 0x40):  # ld_abs, ld_ind
        for size in (0x00, 0x08, 0x10):  # W, H, B
            for imm in (0, 57, 58, -1):
                for index in (-3, 100):
                    insns = [
                        Instruction(0xBF, 6, 1),  # r6 = r1 (the skb)
                        Instruction(0xB7, 7, 0, 0, index),  # r7 = index
                        Instruction(mode | size, 0, 7, 0, imm),
                        Instruction(0x95),
                    ]
                    cases.append(ProgramSpec("p", tuple(insns), type=ptype))
                    if mode == 0x20:
                        break
    assert len(cases) > 15
    for spec in cases:
        assert outcome("jit", spec, packet) == outcome("interp", spec, packet)
