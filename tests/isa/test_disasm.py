"""Disassembler: both syntaxes, helper names, invalid opcodes, and round trips through assemble()."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from isa_corpus import sections

from pybpf.errors import AssemblyError
from pybpf.isa import (
    Instruction,
    assemble,
    decode,
    disassemble,
    disassembly,
    encode,
    format_instruction,
    iter_slots,
    kernel_log_line,
)
from testlib import shared_path

HELPER_NAMES = {1: "bpf_map_lookup_elem", 5: "bpf_ktime_get_ns"}
HELPER_IDS = {name: helper_id for helper_id, name in HELPER_NAMES.items()}

# ---- a generator of well-formed instructions, written from RFC 9669 independently of the code ----

REG = st.integers(0, 10)
OFF = st.integers(-0x8000, 0x7FFF)
IMM = st.integers(-(1 << 31), (1 << 31) - 1)
BINARY_ALU = [0x00, 0x10, 0x20, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xC0]  # add..arsh without div/mod/mov
CONDITIONS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0]
ATOMIC_IMMS = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xA0, 0xA1, 0xE1, 0xF1]


@st.composite
def valid_instruction(draw: st.DrawFn) -> Instruction:
    family = draw(st.integers(0, 15))
    cls = draw(st.sampled_from([0x04, 0x07]))  # ALU, ALU64
    dst, src, off, imm = draw(REG), draw(REG), draw(OFF), draw(IMM)
    if family == 0:  # binary ALU op, immediate or register
        op = draw(st.sampled_from(BINARY_ALU))
        return draw(
            st.sampled_from(
                [Instruction(cls | op, dst, 0, 0, imm), Instruction(cls | 0x08 | op, dst, src)]
            )
        )
    if family == 1:  # div/mod, unsigned (off 0) or signed (off 1)
        op, signed = draw(st.sampled_from([0x30, 0x90])), draw(st.integers(0, 1))
        return draw(
            st.sampled_from(
                [
                    Instruction(cls | op, dst, 0, signed, imm),
                    Instruction(cls | 0x08 | op, dst, src, signed),
                ]
            )
        )
    if family == 2:  # mov / movsx
        bits = draw(st.sampled_from([0, 8, 16] + ([32] if cls == 0x07 else [])))
        return draw(
            st.sampled_from(
                [Instruction(cls | 0xB0, dst, 0, 0, imm), Instruction(cls | 0xB8, dst, src, bits)]
            )
        )
    if family == 3:  # neg and byte swaps
        return draw(
            st.sampled_from(
                [Instruction(cls | 0x80, dst)]
                + [Instruction(op, dst, 0, 0, w) for op in (0xD4, 0xDC, 0xD7) for w in (16, 32, 64)]
            )
        )
    if family == 4:  # conditional jumps, JMP and JMP32
        jcls, cond = draw(st.sampled_from([0x05, 0x06])), draw(st.sampled_from(CONDITIONS))
        return draw(
            st.sampled_from(
                [
                    Instruction(jcls | cond, dst, 0, off, imm),
                    Instruction(jcls | 0x08 | cond, dst, src, off),
                ]
            )
        )
    if family == 5:  # ja, gotol, exit, calls
        return draw(st.sampled_from([
            Instruction(0x05, 0, 0, off), Instruction(0x06, 0, 0, 0, imm), Instruction(0x95),
            Instruction(0x85, 0, 0, 0, imm), Instruction(0x85, 0, 1, 0, imm),
            Instruction(0x85, 0, 2, 0, imm), Instruction(0x8D, dst),
        ]))  # fmt: skip
    if family == 6:  # lddw and its pseudo sources
        pseudo = draw(st.integers(0, 6))
        if pseudo in (1, 3, 4, 5):
            value = draw(st.integers(0, (1 << 32) - 1))
        else:
            value = draw(st.integers(0, (1 << 64) - 1))
        return Instruction(0x18, dst, pseudo, 0, value)
    size = draw(st.sampled_from([0x00, 0x08, 0x10, 0x18]))
    small = draw(st.sampled_from([0x00, 0x08, 0x10]))
    if family == 7:  # legacy packet loads
        return draw(
            st.sampled_from(
                [Instruction(0x20 | small, 0, 0, 0, imm), Instruction(0x40 | small, 0, src, 0, imm)]
            )
        )
    if family == 8:
        return Instruction(0x61 | size, dst, src, off)  # ldx
    if family == 9:
        return Instruction(0x81 | small, dst, src, off)  # ldxs
    if family == 10:
        return Instruction(0x62 | size, dst, 0, off, imm)  # st
    if family == 11:
        return Instruction(0x63 | size, dst, src, off)  # stx
    if family == 12:  # atomics, 32 and 64 bit
        width = draw(st.sampled_from([0xC3, 0xDB]))
        return Instruction(width, dst, src, off, draw(st.sampled_from(ATOMIC_IMMS)))
    return Instruction(0xB7, dst, 0, 0, imm)


@given(st.lists(valid_instruction(), min_size=1, max_size=12), st.sampled_from(["llvm", "ubpf"]))
@settings(max_examples=400, deadline=None)
def test_random_valid_programs_round_trip(insns: list[Instruction], syntax: str) -> None:
    text = disassemble(insns, syntax=syntax)
    assert ".insn" not in text, text
    assert assemble(text, syntax=syntax) == insns
    assert assemble(text, syntax="auto") == insns
    labelled = disassemble(insns, syntax=syntax, labels=True)
    assert assemble(labelled, syntax=syntax) == insns


@given(st.lists(valid_instruction(), min_size=1, max_size=12))
@settings(max_examples=300, deadline=None)
def test_random_kernel_log_round_trips(insns: list[Instruction]) -> None:
    log = "\n".join(kernel_log_line(pc, insn, HELPER_NAMES) for pc, insn in iter_slots(insns))
    assert ".insn" not in log, log
    assert assemble(log, syntax="auto", helper_ids=HELPER_IDS) == insns


@given(
    st.binary(min_size=8, max_size=64).map(lambda b: b[: len(b) // 8 * 8]),
    st.sampled_from(["llvm", "ubpf", "kernel"]),
)
@settings(max_examples=300, deadline=None)
def test_any_bytecode_round_trips(code: bytes, syntax: str) -> None:
    try:
        insns = decode(code)
    except AssemblyError:
        return  # a malformed lddw pair has no Instruction form
    if syntax == "kernel":
        text = "\n".join(kernel_log_line(pc, insn) for pc, insn in iter_slots(insns))
        assert encode(assemble(text)) == code
        return
    assert encode(assemble(disassemble(insns, syntax=syntax), syntax=syntax)) == code


def _conformance_files() -> list[Path]:
    return sorted(shared_path("conformance/tests").glob("*.data"))


def test_every_conformance_program_round_trips_in_both_syntaxes() -> None:
    files = _conformance_files()
    assert len(files) == 313
    for path in files:
        code = encode(assemble(sections(path)["asm"], syntax="ubpf"))
        insns = decode(code)
        for syntax in ("llvm", "ubpf", "kernel"):
            text = disassemble(insns, syntax=syntax)
            assert ".insn" not in text, path.name
            if syntax == "kernel":  # log lines carry the opcode, which marks small lddw constants
                log = "\n".join(kernel_log_line(pc, insn) for pc, insn in iter_slots(insns))
                assert encode(assemble(log)) == code, path.name
                continue
            assert encode(assemble(text, syntax=syntax)) == code, (path.name, syntax)
            assert encode(assemble(text, syntax="auto")) == code, (path.name, syntax)


# ---- exact text, written by hand ----


@pytest.mark.parametrize(
    "insn,llvm,ubpf",
    [
        (Instruction(0xB7, 0, 0, 0, 1), "r0 = 0x1", "mov %r0, 0x1"),
        (Instruction(0xB7, 1, 0, 0, -1), "r1 = -0x1", "mov %r1, -0x1"),
        (Instruction(0xBC, 0, 1), "w0 = w1", "mov32 %r0, %r1"),
        (Instruction(0x07, 2, 0, 0, -8), "r2 += -0x8", "add %r2, -0x8"),
        (Instruction(0x3F, 1, 2, 1), "r1 s/= r2", "sdiv %r1, %r2"),
        (Instruction(0x94, 1, 0, 1, 3), "w1 s%= 0x3", "smod32 %r1, 0x3"),
        (Instruction(0xC7, 1, 0, 0, 3), "r1 s>>= 0x3", "arsh %r1, 0x3"),
        (Instruction(0x84, 3), "w3 = -w3", "neg32 %r3"),
        (Instruction(0xBF, 0, 1, 8), "r0 = (s8)r1", "movsx864 %r0, %r1"),
        (Instruction(0xBC, 0, 1, 16), "w0 = (s16)w1", "movsx1632 %r0, %r1"),
        (Instruction(0xDC, 1, 0, 0, 16), "r1 = be16 r1", "be16 %r1"),
        (Instruction(0xD4, 1, 0, 0, 64), "r1 = le64 r1", "le64 %r1"),
        (Instruction(0xD7, 1, 0, 0, 32), "r1 = bswap32 r1", "bswap32 %r1"),
        (Instruction(0x61, 0, 1, 4), "r0 = *(u32 *)(r1 + 0x4)", "ldxw %r0, [%r1+4]"),
        (Instruction(0x91, 0, 1, 0), "r0 = *(s8 *)(r1 + 0x0)", "ldxsb %r0, [%r1]"),
        (Instruction(0x7B, 10, 1, -8), "*(u64 *)(r10 - 0x8) = r1", "stxdw [%r10-8], %r1"),
        (Instruction(0x62, 10, 0, -4, 7), "*(u32 *)(r10 - 0x4) = 0x7", "stw [%r10-4], 0x7"),
        (Instruction(0x25, 1, 0, 2, 5), "if r1 > 0x5 goto +2", "jgt %r1, 0x5, +2"),
        (Instruction(0xCE, 1, 2, -3), "if w1 s< w2 goto -3", "jslt32 %r1, %r2, -3"),
        (Instruction(0x45, 1, 0, 1, 4), "if r1 & 0x4 goto +1", "jset %r1, 0x4, +1"),
        (Instruction(0x05, 0, 0, 1), "goto +1", "ja +1"),
        (Instruction(0x06, 0, 0, 0, -5), "gotol -5", "ja32 -5"),
        (Instruction(0x85, 0, 0, 0, 1), "call 1", "call 1"),
        (Instruction(0x85, 0, 1, 0, 3), "call pc+3", "call local +3"),
        (Instruction(0x8D, 2), "callx r2", "call %r2"),
        (Instruction(0x95), "exit", "exit"),
        (Instruction(0x18, 0, 0, 0, 0x1122334455667788), "r0 = 0x1122334455667788 ll", "lddw %r0, 0x1122334455667788"),
        (Instruction(0x18, 1, 1, 0, 5), "r1 = map_fd(5)", "lddw %r1, map_fd(5)"),
        (Instruction(0x18, 1, 2, 0, 5 | 8 << 32), "r1 = map_value(5, 8)", "lddw %r1, map_value(5, 8)"),
        (Instruction(0xDB, 2, 1, 0, 0x00), "lock *(u64 *)(r2 + 0x0) += r1", "lock add [%r2], %r1"),
        (Instruction(0xC3, 2, 1, 0, 0x50), "lock *(u32 *)(r2 + 0x0) &= w1", "lock and32 [%r2], %r1"),
        (Instruction(0xDB, 1, 0, 0, 0x01), "r0 = atomic_fetch_add((u64 *)(r1 + 0x0), r0)", "lock fetch add [%r1], %r0"),
        (Instruction(0xDB, 1, 2, 0, 0xF1), "r0 = cmpxchg_64(r1 + 0x0, r0, r2)", "lock cmpxchg [%r1], %r2"),
        (Instruction(0xC3, 1, 2, 8, 0xE1), "w2 = xchg32_32(r1 + 0x8, w2)", "lock xchg32 [%r1+8], %r2"),
        (Instruction(0x30, 0, 0, 0, 16), "r0 = *(u8 *)skb[0x10]", "ldabsb 0x10"),
        (Instruction(0x48, 0, 1, 0, -2), "r0 = *(u16 *)skb[r1 - 0x2]", "ldindh %r1, -0x2"),
    ],
)  # fmt: skip
def test_exact_text(insn: Instruction, llvm: str, ubpf: str) -> None:
    assert format_instruction(insn, syntax="llvm") == llvm
    assert format_instruction(insn, syntax="ubpf") == ubpf


def test_helper_names_and_reverse_mapping() -> None:
    insns = [Instruction(0x85, 0, 0, 0, 1), Instruction(0x85, 0, 0, 0, 999), Instruction(0x95)]
    text = disassemble(insns, helper_names={1: "bpf_map_lookup_elem"})
    assert text == "call bpf_map_lookup_elem\ncall 999\nexit\n"
    assert assemble(text, helper_ids={"bpf_map_lookup_elem": 1}) == insns


@pytest.mark.parametrize(
    "insn,reason",
    [
        (Instruction(0x0E), "invalid opcode 0x0e"),
        (Instruction(0xFF), "invalid opcode 0xff"),
        (Instruction(0x8C, 1, 2), "invalid opcode 0x8c"),  # neg with a register source
        (Instruction(0xB7, 0, 3, 0, 1), "reserved field src is 3"),
        (Instruction(0xD4, 1, 0, 0, 8), "byte swap width 8"),
        (Instruction(0xDB, 1, 2, 0, 0x10), "atomic operation 0x10"),
        (Instruction(0xBC, 0, 1, 32), "movsx offset 32"),
    ],
)
def test_malformed_instructions_become_raw_insn_lines(insn: Instruction, reason: str) -> None:
    for syntax in ("llvm", "ubpf"):
        text = format_instruction(insn, syntax=syntax)
        assert text.startswith(".insn ") and reason in text
        assert assemble(text, syntax=syntax) == [insn]


def test_disassembly_lines_carry_pc_and_targets() -> None:
    insns = assemble("lddw %r0, 1\njeq %r1, 0, +1\ncall local -4\nexit", syntax="ubpf")
    lines = disassembly(insns)
    assert [(line.pc, line.target) for line in lines] == [(0, None), (2, 4), (3, 0), (4, None)]
    assert lines[1].opcode_hex == "15"


def test_unknown_syntax_is_an_assembly_error() -> None:
    with pytest.raises(AssemblyError, match="'intel'"):
        disassemble([Instruction(0x95)], syntax="intel")


# Kernel wording, from the format strings of kernel/bpf/disasm.c.
@pytest.mark.parametrize(
    "insn,line",
    [
        (Instruction(0xB7, 0, 0, 0, 1), "0: (b7) r0 = 1"),
        (Instruction(0x07, 2, 0, 0, -8), "0: (07) r2 += -8"),
        (Instruction(0xBC, 0, 1), "0: (bc) w0 = w1"),
        (Instruction(0xBF, 0, 1, 16), "0: (bf) r0 = (s16)r1"),
        (Instruction(0x3C, 0, 1, 1), "0: (3c) w0 s/= w1"),
        (Instruction(0x87, 3), "0: (87) r3 = -r3"),
        (Instruction(0xDC, 1, 0, 0, 32), "0: (dc) r1 = be32 r1"),
        (Instruction(0xD7, 1, 0, 0, 64), "0: (d7) r1 = bswap64 r1"),
        (Instruction(0x7B, 10, 1, -8), "0: (7b) *(u64 *)(r10 -8) = r1"),
        (Instruction(0x72, 1, 0, 0, 7), "0: (72) *(u8 *)(r1 +0) = 7"),
        (Instruction(0x81, 0, 1, 4), "0: (81) r0 = *(s32 *)(r1 +4)"),
        (Instruction(0x15, 0, 0, 1, 0), "0: (15) if r0 == 0x0 goto pc+1"),
        (Instruction(0x16, 1, 0, -2, -1), "0: (16) if w1 == 0xffffffff goto pc-2"),
        (Instruction(0x05, 0, 0, 3), "0: (05) goto pc+3"),
        (Instruction(0x06, 0, 0, 0, 70000), "0: (06) gotol pc+70000"),
        (Instruction(0x85, 0, 0, 0, 1), "0: (85) call bpf_map_lookup_elem#1"),
        (Instruction(0x85, 0, 0, 0, 99), "0: (85) call unknown#99"),
        (Instruction(0x85, 0, 1, 0, 4), "0: (85) call pc+4"),
        (Instruction(0x18, 1, 0, 0, 5), "0: (18) r1 = 0x5"),
        (Instruction(0x18, 1, 1, 0, 3), "0: (18) r1 = map[fd:3]"),
        (Instruction(0x18, 1, 2, 0, 3 | 16 << 32), "0: (18) r1 = map[fd:3][0]+16"),
        (Instruction(0xDB, 10, 1, -8, 0x00), "0: (db) lock *(u64 *)(r10 -8) += r1"),
        (Instruction(0xC3, 10, 1, -4, 0xA1), "0: (c3) r1 = atomic_fetch_xor((u32 *)(r10 -4), r1)"),
        (Instruction(0xDB, 1, 2, 0, 0xE1), "0: (db) r2 = atomic64_xchg((u64 *)(r1 +0), r2)"),
        (Instruction(0xDB, 1, 2, 0, 0xF1), "0: (db) r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r2)"),
        (Instruction(0x28, 0, 0, 0, 12), "0: (28) r0 = *(u16 *)skb[12]"),
        (Instruction(0x50, 0, 1, 0, -2), "0: (50) r0 = *(u8 *)skb[r1 + -2]"),
        (Instruction(0x95), "0: (95) exit"),
    ],
)
def test_kernel_log_wording(insn: Instruction, line: str) -> None:
    assert kernel_log_line(0, insn, HELPER_NAMES) == line
    assert assemble(line, helper_ids=HELPER_IDS) == [insn]


def test_labels_name_branch_targets() -> None:
    insns = assemble(
        "mov %r0, 0\nloop: add %r0, 1\nlddw %r1, 5\njlt %r0, 3, loop\ncall local sub\nja end\n"
        "sub: mov %r0, 7\nexit\nend:",
        syntax="ubpf",
    )
    text = disassemble(insns, syntax="ubpf", labels=True)
    assert text.splitlines() == [
        "mov %r0, 0x0", "L1:", "add %r0, 0x1", "lddw %r1, 0x5", "jlt %r0, 0x3, L1",
        "call local L7", "ja L9", "L7:", "mov %r0, 0x7", "exit", "L9:",
    ]  # fmt: skip
    llvm = disassemble(insns, labels=True)
    assert "if r0 < 0x3 goto L1" in llvm and "call L7" in llvm and "goto L9" in llvm
    assert assemble(llvm) == insns


def test_targets_outside_the_program_or_inside_lddw_stay_relative() -> None:
    insns = assemble("ja +1\nlddw %r0, 1\nja +5\nexit", syntax="ubpf")
    text = disassemble(insns, syntax="ubpf", labels=True)
    assert text.splitlines() == ["ja +1", "lddw %r0, 0x1", "ja +5", "exit"]


def test_callback_address_takes_a_label() -> None:
    # bpf_loop-style callback: lddw with BPF_PSEUDO_FUNC, imm = callback slot - (pc + 1).
    insns = assemble("r2 = func(cb)\nr0 = 0\nexit\ncb:\nr0 = 1\nexit", syntax="llvm")
    assert insns[0] == Instruction(0x18, 2, 4, 0, 3)
    assert disassemble(insns, labels=True).splitlines()[0] == "r2 = func(L4)"
    assert disassemble(insns, syntax="ubpf", labels=True).splitlines()[0] == "lddw %r2, func(L4)"
    assert disassemble(insns).splitlines()[0] == "r2 = func(+3)"


@pytest.mark.slow
@given(st.lists(valid_instruction(), min_size=1, max_size=30), st.sampled_from(["llvm", "ubpf"]))
@settings(max_examples=10_000, deadline=None)
def test_random_valid_programs_round_trip_long(insns: list[Instruction], syntax: str) -> None:
    for labels in (False, True):
        assert assemble(disassemble(insns, syntax=syntax, labels=labels), syntax=syntax) == insns
