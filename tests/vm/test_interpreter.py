"""RFC 9669 semantics of the reference interpreter, family by family, with hand-computed results."""

from __future__ import annotations

import pytest

from pybpf.errors import LoadError, RuntimeFault
from pybpf.isa import Instruction, assemble
from pybpf.vm.helper_registry import HelperEnv
from pybpf.vm.interpreter import Machine, ProgramExit
from pybpf.vm.memory import Region
from pybpf.vm.run_env import RunEnv

M64 = (1 << 64) - 1


def run(text: str, mem: bytes = b"", *, helpers: dict | None = None, budget: int = 100_000) -> int:
    env = RunEnv()
    machine = Machine(assemble(text, syntax="ubpf"), env, helpers=helpers or {})
    address = 0
    if mem:
        address = env.add_run_region(Region.allocate(len(mem), name="mem", init=mem)).address
    return machine.run(address, len(mem), budget=budget)


def expr(body: str) -> int:
    return run(body + "\nexit")


# --- ALU ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("mov %r0, -1\nadd %r0, 2", 1),  # 64-bit wrap-around
        ("mov %r0, 0\nsub %r0, 1", M64),
        ("mov32 %r0, 0\nsub32 %r0, 1", 0xFFFFFFFF),  # 32-bit ops zero-extend
        ("lddw %r0, 0x1ffffffff\nadd32 %r0, 1", 0),
        ("lddw %r0, 0x100000000\nmov32 %r0, %r0", 0),
        ("mov %r0, 3\nmul %r0, -2", (-6) & M64),
        ("mov32 %r0, 0x10000\nmul32 %r0, 0x10000", 0),
        ("mov %r0, 7\ndiv %r0, 2", 3),
        ("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1", 0),  # division by zero gives 0
        ("mov %r0, 7\ndiv32 %r0, 0", 0),
        ("mov %r0, 7\nmov %r1, 0\nmod %r0, %r1", 7),  # modulo by zero leaves dst
        ("lddw %r0, 0x100000007\nmov %r1, 0\nmod32 %r0, %r1", 7),  # ... truncated in 32-bit form
        ("mov %r0, -7\nmod %r0, 3", ((1 << 64) - 7) % 3),  # unsigned by default
        ("mov %r0, -7\nsdiv %r0, 2", (-3) & M64),  # signed division truncates toward zero
        ("mov %r0, -7\nsmod %r0, 2", (-1) & M64),  # remainder takes the dividend's sign
        ("mov %r0, 7\nsmod %r0, -2", 1),
        ("lddw %r0, 0x8000000000000000\nsdiv %r0, -1", 1 << 63),  # INT_MIN / -1 = INT_MIN
        ("lddw %r0, 0x8000000000000000\nsmod %r0, -1", 0),
        ("mov32 %r0, 0x80000000\nsdiv32 %r0, -1", 0x80000000),
        ("mov %r0, -7\nmov %r1, 0\nsmod %r0, %r1", (-7) & M64),
        ("mov %r0, 1\nlsh %r0, 65", 2),  # shift counts masked to 6 bits
        ("mov32 %r0, 1\nlsh32 %r0, 33", 2),  # ... and to 5 bits for 32-bit ops
        ("mov %r0, -1\nrsh %r0, 60", 0xF),
        ("mov %r0, -16\narsh %r0, 2", (-4) & M64),
        ("mov32 %r0, -16\narsh32 %r0, 2", 0xFFFFFFFC),
        ("mov %r0, 5\nneg %r0", (-5) & M64),
        ("mov32 %r0, 5\nneg32 %r0", 0xFFFFFFFB),
        ("mov %r0, 0xf0\nor %r0, 0x0f\nand %r0, 0x3c\nxor %r0, 0xff", 0xC3),
        ("mov %r1, 0x80\nmovsx864 %r0, %r1", (-128) & M64),
        ("mov %r1, 0x80\nmovsx832 %r0, %r1", 0xFFFFFF80),
        ("mov %r1, 0x8000\nmovsx1664 %r0, %r1", (-32768) & M64),
        ("lddw %r1, 0x80000000\nmovsx3264 %r0, %r1", 0xFFFFFFFF80000000),
        ("lddw %r0, 0x1122334455667788\nle16 %r0", 0x7788),
        ("lddw %r0, 0x1122334455667788\nle32 %r0", 0x55667788),
        ("lddw %r0, 0x1122334455667788\nbe16 %r0", 0x8877),
        ("lddw %r0, 0x1122334455667788\nbe32 %r0", 0x88776655),
        ("lddw %r0, 0x1122334455667788\nbe64 %r0", 0x8877665544332211),
        ("lddw %r0, 0x1122334455667788\nbswap16 %r0", 0x8877),
        ("lddw %r0, 0x1122334455667788\nbswap64 %r0", 0x8877665544332211),
        ("mov %r0, -1\nadd %r0, 0x7fffffff", 0x7FFFFFFE),  # immediates sign-extend to 64 bits
    ],
)
def test_alu(body: str, expected: int) -> None:
    assert expr(body) == expected


# --- jumps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "jump", "taken"),
    [
        ("mov %r1, -1", "jgt %r1, 1", True),  # unsigned: 0xffff... > 1
        ("mov %r1, -1", "jsgt %r1, 1", False),  # signed: -1 > 1 is false
        ("mov %r1, -1", "jslt %r1, 0", True),
        ("mov %r1, 5", "jsge %r1, 5", True),
        ("mov %r1, 5", "jle %r1, 4", False),
        ("mov %r1, 6", "jset %r1, 2", True),
        ("mov %r1, 6", "jset %r1, 1", False),
        ("lddw %r1, 0x100000001", "jeq32 %r1, 1", True),  # JMP32 compares the low halves
        ("lddw %r1, 0x100000001", "jeq %r1, 1", False),
        ("mov32 %r1, -1", "jslt32 %r1, 0", True),
        ("mov32 %r1, -1", "jslt %r1, 0", False),  # 0x00000000ffffffff is positive in 64 bits
        ("lddw %r1, 0xffffffff80000000", "jeq %r1, 0x80000000", True),  # imm sign-extended
        ("mov %r1, 3\nmov %r2, 3", "jne %r1, %r2", False),
    ],
)
def test_conditional_jumps(setup: str, jump: str, taken: bool) -> None:
    program = f"{setup}\nmov %r0, 0\n{jump}, +1\nexit\nmov %r0, 1\nexit"
    assert expr(program.rsplit("\nexit", 1)[0]) == int(taken)


def test_ja_and_gotol() -> None:
    assert expr("mov %r0, 1\nja +1\nmov %r0, 2\nja32 +1\nmov %r0, 3") == 1


# --- memory ------------------------------------------------------------------------------


def test_loads_and_stores_all_sizes() -> None:
    mem = bytes(range(16))
    assert run("ldxb %r0, [%r1+1]\nexit", mem) == 0x01
    assert run("ldxh %r0, [%r1+2]\nexit", mem) == 0x0302
    assert run("ldxw %r0, [%r1+4]\nexit", mem) == 0x07060504
    assert run("ldxdw %r0, [%r1+8]\nexit", mem) == 0x0F0E0D0C0B0A0908
    assert run("stw [%r1+0], -2\nldxdw %r0, [%r1]\nexit", mem) == 0x07060504_FFFFFFFE
    assert run("mov %r2, -1\nstxh [%r1+2], %r2\nldxw %r0, [%r1]\nexit", mem) == 0xFFFF0100
    assert run("stdw [%r10-8], -1\nldxdw %r0, [%r10-8]\nexit") == M64


def test_sign_extending_loads() -> None:
    mem = bytes([0x80, 0xFF, 0x00, 0x80, 0xFF, 0xFF, 0xFF, 0xFF])
    assert run("ldxsb %r0, [%r1]\nexit", mem) == (-128) & M64
    assert run("ldxsh %r0, [%r1+2]\nexit", mem) == (-32768) & M64
    assert run("ldxsw %r0, [%r1+4]\nexit", mem) == M64


def test_atomics() -> None:
    base = "stdw [%r10-8], 10\n"
    assert expr(base + "mov %r1, 5\nlock add [%r10-8], %r1\nldxdw %r0, [%r10-8]") == 15
    assert expr(base + "mov %r1, 5\nlock fetch add [%r10-8], %r1\nmov %r0, %r1") == 10
    assert expr(base + "mov %r1, 3\nlock fetch or [%r10-8], %r1\nldxdw %r0, [%r10-8]") == 11
    assert expr(base + "mov %r1, 6\nlock and [%r10-8], %r1\nldxdw %r0, [%r10-8]") == 2
    assert expr(base + "mov %r1, 15\nlock fetch xor [%r10-8], %r1\nldxdw %r0, [%r10-8]") == 5
    assert expr(base + "mov %r1, 7\nlock xchg [%r10-8], %r1\nldxdw %r0, [%r10-8]\nadd %r0, %r1") == 17
    # cmpxchg: equal to r0 -> store; r0 always gets the old value
    assert expr(base + "mov %r0, 10\nmov %r1, 99\nlock cmpxchg [%r10-8], %r1\nldxdw %r0, [%r10-8]") == 99
    assert expr(base + "mov %r0, 11\nmov %r1, 99\nlock cmpxchg [%r10-8], %r1\nldxdw %r2, [%r10-8]\n"
                "add %r0, %r2") == 20
    # 32-bit: wraps in 32 bits and the fetched value is zero-extended
    assert expr("stw [%r10-4], -1\nmov %r1, 1\nlock fetch add32 [%r10-4], %r1\nldxw %r0, [%r10-4]"
                "\nadd %r0, %r1") == 0xFFFFFFFF


# --- calls -------------------------------------------------------------------------------


def test_local_call_preserves_r6_to_r9_and_has_own_stack() -> None:
    program = """
        mov %r6, 6
        mov %r9, 9
        stdw [%r10-8], 77
        mov %r1, 5
        call local fn
        add %r0, %r6
        add %r0, %r9
        ldxdw %r1, [%r10-8]
        add %r0, %r1
        exit
    fn:
        mov %r6, 0
        mov %r9, 0
        stdw [%r10-8], 1
        mov %r0, %r1
        add %r0, 100
        exit
    """
    assert run(program) == 105 + 6 + 9 + 77


def test_call_depth_limit() -> None:
    program = "call local fn\nexit\nfn:\ncall local fn\nexit"
    with pytest.raises(RuntimeFault, match="call depth"):
        run(program)


def test_eight_frames_allowed() -> None:
    # main + 7 nested calls = 8 frames
    lines = ["mov %r0, 0", "call local f1", "exit"]
    for k in range(1, 8):
        lines += [f"f{k}:", "add %r0, 1"]
        lines += [f"call local f{k + 1}"] if k < 7 else []
        lines += ["exit"]
    assert run("\n".join(lines)) == 7


def _helper_add(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return r1 + r2 + r3 + r4 + r5


def test_helper_call_and_callx() -> None:
    helpers = {7: _helper_add}
    assert run("mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\ncall 7\nexit",
               helpers=helpers) == 15
    assert run("mov %r1, 40\nmov %r2, 2\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\nmov %r8, 7\n"
               "call %r8\nexit", helpers=helpers) == 42


def test_callx_to_function_pointer() -> None:
    fn_ptr = Instruction(0x18, dst=8, src=4, imm=3)  # lddw r8, func at pc 0 + 3 + 1 = 4
    insns = [
        fn_ptr,
        Instruction(0x8D, dst=8),  # callx r8
        Instruction(0x95),
        Instruction(0xB7, dst=0, imm=31),  # pc 4: r0 = 31
        Instruction(0x95),
    ]
    assert Machine(insns).run() == 31


def test_helper_may_end_the_program() -> None:
    def stop(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        raise ProgramExit(r1)

    assert run("mov %r1, 9\ncall 1\nmov %r0, 2\nexit", helpers={1: stop}) == 9


def test_legacy_packet_loads() -> None:
    env = RunEnv()
    pkt = env.add_run_region(Region.allocate(4, name="pkt", init=b"\x12\x34\x56\x78"))
    insns = [Instruction(0x28, imm=1), Instruction(0x95)]  # ldabsh 1: big-endian 16 bits
    machine = Machine(insns, env)
    machine.packet = (pkt.address, 4)
    assert machine.run() == 0x3456
    ind = Machine([Instruction(0xB7, dst=3, imm=2), Instruction(0x48, src=3, imm=0),
                   Instruction(0x95)], env)
    ind.packet = (pkt.address, 4)
    assert ind.run() == 0x5678
    out = Machine([Instruction(0x20, imm=2), Instruction(0x95)], env)  # 4 bytes at 2: beyond
    out.packet = (pkt.address, 4)
    assert out.run() == 0  # an out-of-packet legacy load ends the program with 0


# --- faults ------------------------------------------------------------------------------


def test_out_of_bounds_fault_names_pc_address_size() -> None:
    env = RunEnv()
    machine = Machine(assemble("mov %r0, 0\nldxw %r0, [%r1+6]\nexit", syntax="ubpf"), env)
    mem = env.add_run_region(Region.allocate(8, name="mem"))
    with pytest.raises(RuntimeFault) as info:
        machine.run(mem.address, 8)
    assert (info.value.pc, info.value.address, info.value.size) == (1, mem.address + 6, 4)


def test_unmapped_and_null_faults() -> None:
    with pytest.raises(RuntimeFault, match="unmapped") as info:
        run("ldxb %r0, [%r1]\nexit")
    assert info.value.address == 0 and info.value.pc == 0


def test_stack_bounds() -> None:
    assert run("stb [%r10-512], 1\nldxb %r0, [%r10-512]\nexit") == 1
    with pytest.raises(RuntimeFault):
        run("stb [%r10], 1\nexit")
    with pytest.raises(RuntimeFault):
        run("stb [%r10-513], 1\nexit")


def test_read_only_region() -> None:
    env = RunEnv()
    ro = env.add_run_region(Region.allocate(8, name="rodata", writable=False, init=b"\x05" * 8))
    machine = Machine(assemble("ldxb %r0, [%r1]\nstb [%r1], 1\nexit", syntax="ubpf"), env)
    with pytest.raises(RuntimeFault, match="read-only") as info:
        machine.run(ro.address)
    assert info.value.pc == 1


def test_budget_exhausted() -> None:
    with pytest.raises(RuntimeFault, match="instruction budget exhausted"):
        run("mov %r0, 0\nloop:\nadd %r0, 1\nja loop\nexit", budget=1000)


def test_instruction_count() -> None:
    env = RunEnv()
    machine = Machine(assemble("mov %r0, 3\nloop:\nsub %r0, 1\njne %r0, 0, loop\nexit",
                               syntax="ubpf"), env)
    assert machine.run() == 0
    assert machine.instructions == 1 + 3 * 2 + 1


def test_fall_off_the_end_is_refused_at_load() -> None:
    with pytest.raises(LoadError, match="does not end with exit"):
        Machine([Instruction(0xB7, dst=0, imm=1)])


# --- load-time refusals -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("insns", "message"),
    [
        ([Instruction(0x85, imm=1), Instruction(0x95)], "map_lookup_elem"),
        ([Instruction(0x85, imm=99999), Instruction(0x95)], "#99999"),
        ([Instruction(0x05, off=5), Instruction(0x95)], "jump out of range"),
        ([Instruction(0xFF), Instruction(0x95)], "unknown opcode"),
        ([Instruction(0xB7, dst=10), Instruction(0x95)], "read only"),
        ([Instruction(0xB7, dst=11), Instruction(0x95)], "invalid destination register"),
        ([Instruction(0xD4, imm=48), Instruction(0x95)], "endian"),
        ([Instruction(0x18, src=1, imm=3), Instruction(0x95)], "pseudo source"),
        ([], "no instructions"),
        ([Instruction(0x85, src=2, imm=1234), Instruction(0x95)], "kfunc"),
        ([Instruction(0x05, off=1), Instruction(0x18, imm=1), Instruction(0x95)], "middle of lddw"),
    ],
)
def test_load_errors(insns: list[Instruction], message: str) -> None:
    with pytest.raises(LoadError, match=message):
        Machine(insns, helpers={})


def test_a_failing_helper_becomes_a_runtime_fault() -> None:
    def broken(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        table: dict[str, int] = {}
        return table["missing"]

    with pytest.raises(RuntimeFault, match="KeyError") as info:
        run("call 1\nexit", helpers={1: broken})
    assert info.value.pc == 0
