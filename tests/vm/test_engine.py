"""The interpreter engine: maps and map references, global data, tail calls, bpf_loop,
for_each_map_elem, load-time refusal of helpers, and RunResult fields."""

from __future__ import annotations

import struct

import pytest

import pybpf.maps  # noqa: F401  (fails loudly if the maps layer breaks)
from pybpf.abi import MapType, ProgramType
from pybpf.engines import Runtime
from pybpf.errors import LoadError, RuntimeFault
from pybpf.isa import Instruction, assemble
from pybpf.isa.instruction import iter_slots
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec
from pybpf.vm import interp_engine
from pybpf.vm.helper_registry import REGISTRY, HelperEnv
from testlib import scalar


def _lookup(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    m = env.map_from_pointer(r1)
    address = m.value_address(env.read(r2, m.key_size))  # type: ignore[attr-defined]
    return address or 0


def helpers() -> dict:
    interp_engine._register_helpers()
    table = dict(REGISTRY)
    table.setdefault(1, _lookup)  # bpf_map_lookup_elem, should the maps family not be loaded
    return table


def program(name: str, text: str, refs: dict[int, tuple[str, str]] | None = None,
            ptype: ProgramType = ProgramType.XDP) -> ProgramSpec:
    """A program from LLVM-style text; refs maps the n-th lddw to (map name, kind)."""
    insns = assemble(text, syntax="llvm")
    lddw_pcs = [pc for pc, insn in iter_slots(insns) if insn.opcode == 0x18]
    references = tuple(
        MapReference(pc=lddw_pcs[n], map_name=map_name, kind=kind)
        for n, (map_name, kind) in (refs or {}).items()
    )
    return ProgramSpec(name, tuple(insns), type=ptype, map_references=references)


def load(*programs: ProgramSpec, maps: tuple[MapSpec, ...] = ()):
    spec = CollectionSpec(programs={p.name: p for p in programs}, maps={m.name: m for m in maps})
    return Runtime("interp", verify=False, helpers=helpers()).load(spec)


COUNTER = MapSpec("counter", MapType.ARRAY, key_size=4, value_size=8, max_entries=1)

# counter[0] += 1 through bpf_map_lookup_elem and an atomic add; returns XDP_PASS
COUNT = """
    r6 = r1
    r1 = 0 ll
    *(u32 *)(r10 - 4) = 0
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto out
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
out:
    r0 = 2
    exit
"""


def test_map_lookup_and_update_through_value_pointer() -> None:
    with load(program("count", COUNT, {0: ("counter", "fd")}), maps=(COUNTER,)) as col:
        prog = col.programs["count"]
        for _ in range(3):
            assert prog.run(bytes(64)).retval == 2
        assert col.maps["counter"][0] == struct.pack("<Q", 3)


def test_global_data_value_reference() -> None:
    data = MapSpec(".data", MapType.ARRAY, 4, 16, 1, contents=((bytes(4), bytes(range(16))),))
    text = """
        r1 = 0 ll
        r0 = *(u32 *)(r1 + 0)
        r2 = 0x41
        *(u8 *)(r1 + 0) = r2
        exit
    """
    spec = program("g", text, {0: (".data", "value")}, ProgramType.UNSPEC)
    # point 4 bytes into the value, like a relocation to the second variable
    spec = ProgramSpec("g", spec.instructions, type=ProgramType.UNSPEC,
                       map_references=(MapReference(0, ".data", "value", 4),))
    with load(spec, maps=(data,)) as col:
        assert col.programs["g"].run().retval == 0x07060504
        assert col.maps[".data"][0] == bytes(range(4)) + b"\x41" + bytes(range(5, 16))


def test_read_only_data_is_read_only() -> None:
    ro = MapSpec(".rodata", MapType.ARRAY, 4, 8, 1, contents=((bytes(4), b"\x2a" + bytes(7)),),
                 frozen=True, flags=0x80)  # BPF_F_RDONLY_PROG
    read = program("r", "r1 = 0 ll\nr0 = *(u8 *)(r1 + 0)\nexit", {0: (".rodata", "value")},
                   ProgramType.UNSPEC)
    write = program("w", "r1 = 0 ll\n*(u8 *)(r1 + 0) = 1\nr0 = 0\nexit",
                    {0: (".rodata", "value")}, ProgramType.UNSPEC)
    with load(read, write, maps=(ro,)) as col:
        assert col.programs["r"].run().retval == 0x2A
        with pytest.raises(RuntimeFault, match="read-only"):
            col.programs["w"].run()


def test_unknown_helper_refused_at_load_with_its_name() -> None:
    spec = ProgramSpec("p", (Instruction(0x85, imm=118), Instruction(0x95)))  # a kernel helper id
    with pytest.raises(LoadError) as info:
        Runtime("interp", verify=False, helpers={}).load(spec)
    assert "bpf_" in str(info.value) and "#118" in str(info.value)


TAIL = """
    r6 = r1
    r1 = 0 ll
    *(u32 *)(r10 - 4) = 0
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto skip
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
skip:
    r1 = r6
    r2 = 0 ll
    r3 = 0
    call 12
    r0 = 1
    exit
"""


def test_tail_call_chain_stops_after_33() -> None:
    jmp = MapSpec("jmp", MapType.PROG_ARRAY, 4, 4, 1, initial_slots=((0, "loop"),))
    loop = program("loop", TAIL, {0: ("counter", "fd"), 1: ("jmp", "fd")})
    with load(loop, maps=(COUNTER, jmp)) as col:
        assert col.programs["loop"].run(bytes(64)).retval == 1
        assert col.maps["counter"][0] == struct.pack("<Q", 34)  # the first run + 33 tail calls


@pytest.mark.kernel
def test_tail_call_chain_same_as_kernel() -> None:
    jmp = MapSpec("jmp", MapType.PROG_ARRAY, 4, 4, 1, initial_slots=((0, "loop"),))
    loop = program("loop", TAIL, {0: ("counter", "fd"), 1: ("jmp", "fd")})
    loop = ProgramSpec(loop.name, loop.instructions, type=loop.type, license="GPL",
                       map_references=loop.map_references)
    spec = CollectionSpec(programs={"loop": loop}, maps={"counter": COUNTER, "jmp": jmp})
    with Runtime("kernel", verify=False).load(spec) as col:
        assert col.programs["loop"].run(bytes(64)).retval == 1
        assert col.maps["counter"][0] == struct.pack("<Q", 34)


def test_tail_call_to_another_program_and_empty_slot() -> None:
    jmp = MapSpec("jmp", MapType.PROG_ARRAY, 4, 4, 2, initial_slots=((1, "target"),))
    caller = """
        r6 = r1
        r1 = r6
        r2 = 0 ll
        r3 = 0
        call 12
        r1 = r6
        r2 = 0 ll
        r3 = 1
        call 12
        r0 = 99
        exit
    """
    progs = (
        program("caller", caller, {0: ("jmp", "fd"), 1: ("jmp", "fd")}),
        program("target", "r0 = 3\nexit"),
    )
    with load(*progs, maps=(jmp,)) as col:
        assert col.programs["caller"].run(bytes(64)).retval == 3


def _with_callback(main: list[Instruction], callback: list[Instruction]) -> tuple[Instruction, ...]:
    """main, then the callback; `lddw r2, func` placeholders (src=4, imm=-1) get the offset."""
    start = sum(i.slots for i in main)
    out, pc = [], 0
    for insn in main:
        if insn.opcode == 0x18 and insn.src == 4:
            insn = insn.replace(imm=start - pc - 1)
        out.append(insn)
        pc += insn.slots
    return tuple(out + callback)


def test_bpf_loop_calls_back_until_one() -> None:
    # sum i for i in range(10) into the stack via callback ctx; stop when i == 6
    main = assemble("""
        *(u64 *)(r10 - 8) = 0
        r1 = 10
        r3 = r10
        r3 += -8
        r4 = 0
        r2 = 0 ll
        call 181
        r1 = *(u64 *)(r10 - 8)
        r0 <<= 16
        r0 |= r1
        exit
    """, syntax="llvm")
    main = [i.replace(src=4) if i.opcode == 0x18 else i for i in main]
    callback = assemble("""
        r3 = *(u64 *)(r2 + 0)
        r3 += r1
        *(u64 *)(r2 + 0) = r3
        r0 = 0
        if r1 != 6 goto +1
        r0 = 1
        exit
    """, syntax="llvm")
    spec = ProgramSpec("loop", _with_callback(main, callback))
    with Runtime("interp", verify=False, helpers=helpers()).load(spec) as col:
        result = col.programs["loop"].run()
        assert result.retval == (7 << 16) | sum(range(7))  # 7 iterations, 0+1+...+6


def test_bpf_loop_flags_and_limit() -> None:
    main = assemble("r1 = 0x800001\nr2 = 0 ll\nr3 = 0\nr4 = 0\ncall 181\nexit", syntax="llvm")
    main = [i.replace(src=4) if i.opcode == 0x18 else i for i in main]
    spec = ProgramSpec("big", _with_callback(main, assemble("r0 = 1\nexit", syntax="llvm")))
    with Runtime("interp", verify=False, helpers=helpers()).load(spec) as col:
        # -E2BIG as the kernel's inlined bpf_loop returns it: a 32-bit move (see test_differential)
        assert col.programs["big"].run().retval == (-7) & 0xFFFFFFFF


def test_for_each_map_elem_sees_and_updates_values() -> None:
    arr = MapSpec("arr", MapType.ARRAY, 4, 8, 4,
                  contents=tuple((struct.pack("<I", i), struct.pack("<Q", 10 * i)) for i in range(4)))
    main = assemble("""
        r1 = 0 ll
        r2 = 0 ll
        r3 = 0
        r4 = 0
        call 164
        exit
    """, syntax="llvm")
    main = [main[0], main[1].replace(src=4), *main[2:]]
    callback = assemble("""
        r0 = *(u64 *)(r3 + 0)
        r0 += 1
        *(u64 *)(r3 + 0) = r0
        r1 = *(u32 *)(r2 + 0)
        r0 = 0
        if r1 != 2 goto +1
        r0 = 1
        exit
    """, syntax="llvm")
    insns = _with_callback(main, callback)
    spec = ProgramSpec("each", insns, map_references=(MapReference(0, "arr", "fd"),))
    spec_c = CollectionSpec(programs={"each": spec}, maps={"arr": arr})
    with Runtime("interp", verify=False, helpers=helpers()).load(spec_c) as col:
        assert col.programs["each"].run().retval == 3  # keys 0, 1, 2 visited, then stop
        values = [struct.unpack("<Q", scalar(col.maps["arr"][i]))[0] for i in range(4)]
        assert values == [1, 11, 21, 30]


def test_run_result_fields_and_repeat() -> None:
    spec = program("x", "r0 = 2\nexit")
    with load(spec) as col:
        result = col.programs["x"].run(b"\x01" * 20, repeat=3)
        assert result.retval == 2 and result.data_out == b"\x01" * 20
        assert result.instructions == 2 and result.duration_ns is not None
        assert result.ctx_out is not None and len(result.ctx_out) == 24


def test_redirect_map_present_and_fallback() -> None:
    ports = MapSpec("ports", MapType.HASH, 4, 4, 8, contents=((struct.pack("<I", 3), b"\1\0\0\0"),))
    text = """
        r1 = 0 ll
        r2 = KEY
        r3 = FLAGS
        call 51
        exit
    """
    cases = {(3, 0): 4, (5, 0): 0, (5, 2): 2, (5, 1): 1, (3, 0x40): 0}  # bad flags: XDP_ABORTED
    for (key, flags), expected in cases.items():
        spec = program("r", text.replace("KEY", str(key)).replace("FLAGS", str(flags)),
                       {0: ("ports", "fd")})
        with load(spec, maps=(ports,)) as col:
            assert col.programs["r"].run(bytes(20)).retval == expected, (key, flags)


def test_xdp_ctx_in_metadata() -> None:
    # ctx_in.data = 8: the first 8 input bytes are metadata; r0 = data - data_meta
    text = """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 8)
        r0 = r2
        r0 -= r3
        exit
    """
    with load(program("m", text)) as col:
        ctx = struct.pack("<6I", 8, 30, 0, 1, 0, 0)
        result = col.programs["m"].run(bytes(range(30)), ctx=ctx)
        assert result.retval == 8
        assert result.data_out == bytes(range(30))  # metadata stays in front of the packet
        assert result.ctx_out is not None
        assert struct.unpack("<6I", result.ctx_out)[:2] == (8, 30)
