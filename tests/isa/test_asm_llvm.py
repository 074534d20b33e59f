"""The LLVM / kernel verifier log assembly syntax, llvm-objdump input and syntax detection."""

from __future__ import annotations

import pytest

from pybpf.errors import AssemblyError
from pybpf.isa import Instruction, assemble, assemble_program, detect_syntax, encode

HELPERS = {"bpf_map_lookup_elem": 1, "bpf_trace_printk": 6}


def _hex(text: str) -> str:
    return encode(assemble(text, syntax="llvm", helper_ids=HELPERS)).hex()


# Expected bytes checked by hand against RFC 9669's layout: opcode, dst|src<<4, off (le16), imm (le32).
@pytest.mark.parametrize(
    "text,expected",
    [
        ("r0 = 1", "b700000001000000"),
        ("w0 = w1", "bc10000000000000"),
        ("r0 = *(u32 *)(r1 + 4)", "6110040000000000"),
        ("*(u64 *)(r10 - 8) = r1", "7b1af8ff00000000"),
        ("*(u32 *)(r10 -8) = 5", "620af8ff05000000"),
        ("if r1 > 0x5 goto +2 <LBB0_3>", "2501020005000000"),
        ("if w1 s< w2 goto -3", "ce21fdff00000000"),
        ("goto +1", "0500010000000000"),
        ("gotol +5", "0600000005000000"),
        ("lock *(u64 *)(r2 + 0) += r1", "db12000000000000"),
        ("lock *(u32 *)(r2 + 0) ^= w1", "c3120000a0000000"),
        ("r0 = atomic_fetch_add((u64 *)(r1 + 0), r0)", "db01000001000000"),
        ("r0 = atomic64_fetch_and((u64 *)(r1 +0), r0)", "db01000051000000"),
        ("r0 = cmpxchg_64(r1 + 0, r0, r2)", "db210000f1000000"),
        ("w0 = cmpxchg32_32(r1 + 0, w0, w2)", "c3210000f1000000"),
        ("r1 = xchg_64(r1 + 0, r1)", "db110000e1000000"),
        ("r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r2)", "db210000f1000000"),
        ("r0 = 0x1122334455667788 ll", "18000000887766550000000044332211"),
        ("r0 = 0x1122334455667788", "18000000887766550000000044332211"),
        ("r1 = map[id:5]", "18110000050000000000000000000000"),
        ("r1 = map[id:5][0]+8", "18210000050000000000000008000000"),
        ("r1 = map_value(5, 8)", "18210000050000000000000008000000"),
        ("r0 = (s8)r1", "bf10080000000000"),
        ("w0 = (s16)w1", "bc10100000000000"),
        ("r0 = bswap16 r0", "d700000010000000"),
        ("r0 = be16 r0", "dc00000010000000"),
        ("r0 = le32 r0", "d400000020000000"),
        ("r0 s/= r1", "3f10010000000000"),
        ("r0 s%= 3", "9700010003000000"),
        ("r0 s>>= 3", "c700000003000000"),
        ("r0 = -r0", "8700000000000000"),
        ("w0 = -w0", "8400000000000000"),
        ("r0 = *(s8 *)(r1 + 0)", "9110000000000000"),
        ("call 1", "8500000001000000"),
        ("call bpf_map_lookup_elem", "8500000001000000"),
        ("call pc+3", "8510000003000000"),
        ("call +3", "8510000003000000"),
        ("callx r2", "8d02000000000000"),
        ("exit", "9500000000000000"),
        ("r0 = -1", "b7000000ffffffff"),
        ("r0 = 0xffffffff", "18000000ffffffff0000000000000000"),
        ("w0 = 0xffffffff", "b4000000ffffffff"),
        ("r0 = *(u8 *)skb[16]", "3000000010000000"),
        ("r0 = *(u16 *)skb[r1 + 14]", "481000000e000000"),
        ("r0 = *(u16 *)skb[r1]", "4810000000000000"),
        ("if r1 & 0x5 goto pc+2", "4501020005000000"),
        ("r2 += -0x8", "07020000f8ffffff"),
        ("*(u8 *)(r1 + 0x2) = w3", "7331020000000000"),
        ("w1 = *(u16 *)(r2 - 0x4)", "6921fcff00000000"),
        ("r1 = func(+3)", "18410000030000000000000000000000"),
        ("r1 = btf_id(77)", "183100004d0000000000000000000000"),
        ("call kfunc 9", "8520000009000000"),
        ("call -0x1", "85100000ffffffff"),
        ("goto pc-3", "0500fdff00000000"),
    ],
)
def test_encoding(text: str, expected: str) -> None:
    assert _hex(text) == expected


def test_kernel_log_lines() -> None:
    log = """
func#0 @0
0: R1=ctx() R10=fp0
0: (b7) r0 = 1                        ; R0_w=1
1: (bf) r2 = r10                      ; R2_w=fp0
2: (07) r2 += -8
3: (85) call bpf_map_lookup_elem#1    ; R0=map_value_or_null(id=1,off=0,ks=4,vs=8)
4: (15) if r0 == 0x0 goto pc+1
5: (95) exit
processed 6 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""
    insns = assemble(log, syntax="auto")
    assert encode(insns).hex() == (
        "b700000001000000"
        "bfa2000000000000"
        "07020000f8ffffff"
        "8500000001000000"
        "1500010000000000"
        "9500000000000000"
    )


def test_llvm_objdump_listing() -> None:
    listing = """
prog.o:\tfile format elf64-bpf

Disassembly of section xdp:

0000000000000000 <xdp_prog>:
       0:\t18 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00\tr1 = 0x0 ll
       0:\tb7 00 00 00 01 00 00 00\tr0 = 0x1
       1:\t15 01 01 00 00 00 00 00\tif r1 == 0x0 goto +0x1 <LBB0_2>
       2:\tb7 00 00 00 02 00 00 00\tr0 = 0x2

0000000000000018 <LBB0_2>:
       3:\t95 00 00 00 00 00 00 00\texit
"""
    insns = assemble(listing, syntax="auto")
    assert encode(insns).hex() == (
        "18010000000000000000000000000000"
        "b700000001000000"
        "1501010000000000"
        "b700000002000000"
        "9500000000000000"
    )


def test_objdump_lddw_second_line_is_skipped() -> None:
    listing = (
        "       0:\t18 01 00 00 88 77 66 55\tr1 = 0x1122334455667788 ll\n"
        "       2:\t00 00 00 00 44 33 22 11\n"
        "       3:\t95 00 00 00 00 00 00 00\texit\n"
    )
    insns = assemble(listing)
    assert [i.imm for i in insns] == [0x1122334455667788, 0]


def test_labels_and_label_targets() -> None:
    text = """
    r0 = 0
LBB0_1:
    r0 += 1
    if r0 < 10 goto LBB0_1
    gotol LBB0_3
    r0 = 7 ll
LBB0_3:
    exit
"""
    insns = assemble(text, syntax="llvm")
    assert insns[2].off == -2
    assert insns[3].imm == 2


def test_local_call_by_label_and_helper_by_name() -> None:
    text = "call sub\ncall bpf_trace_printk\nexit\nsub:\nr0 = 1\nexit"
    insns = assemble(text, syntax="llvm", helper_ids=HELPERS)
    assert (insns[0].src, insns[0].imm) == (1, 2)
    assert (insns[1].src, insns[1].imm) == (0, 6)


def test_helper_name_without_mapping_is_a_clear_error() -> None:
    with pytest.raises(
        AssemblyError, match="unknown helper or label 'bpf_map_lookup_elem'"
    ) as info:
        assemble("call bpf_map_lookup_elem\nexit", syntax="llvm")
    assert (info.value.line, info.value.column) == (1, 6)


def test_directives_are_ignored() -> None:
    text = '\t.text\n\t.globl\tfunc\n\t.p2align\t3\nfunc:\n\tr0 = 0\n\texit\n\t.section\t"license"'
    assert len(assemble(text, syntax="llvm")) == 2


@pytest.mark.parametrize(
    "text,syntax",
    [
        ("mov %r0, 1\nexit", "ubpf"),
        ("mov r0, 1\nexit", "ubpf"),
        ("ldxw r0, [r1+4]\nexit", "ubpf"),
        ("exit", "ubpf"),
        ("r0 = 1\nexit", "llvm"),
        ("call 1\nif r0 == 0 goto +1\nexit", "llvm"),
        ("*(u8 *)(r1 + 0) = 1\nexit", "llvm"),
        ("  0: (b7) r0 = 1\n  1: (95) exit", "llvm"),
        ("call bpf_trace_printk\nexit", "llvm"),
        ("call bpf_trace_printk\nmov %r0, 0\nexit", "ubpf"),
        ("call pc+2\nexit", "llvm"),
        ("call local f\nexit\nf:\nexit", "ubpf"),
    ],
)
def test_detect_syntax(text: str, syntax: str) -> None:
    assert detect_syntax(text.splitlines()) == syntax


@pytest.mark.parametrize(
    "text,line,column,fragment",
    [
        ("r0 = 1\nr0 ~ 1", 2, 4, "'~'"),
        ("r0 += w1", 1, 7, "'w1'"),
        ("if r1 >> 2 goto +1", 1, 7, "'>>'"),
        ("if r1 > 2 goto", 1, 15, "end of line"),
        ("r0 = *(u128 *)(r1 + 0)", 1, 8, "'u128'"),
        ("*(s8 *)(r1 + 0) = r2", 1, 3, "'s8'"),
        ("r0 = be16 r1", 1, 11, "'r1'"),
        ("r1 = cmpxchg_64(r1 + 0, r0, r2)", 1, 1, "r0"),
        ("r1 = atomic_fetch_add((u64 *)(r1 + 0), r2)", 1, 40, "'r1'"),
        ("w0 = 1 ll", 1, 1, "r register"),
        ("r0 = *(u8 *)skb[r1 + 4]\nr1 = *(u8 *)skb[0]", 2, 1, "r0"),
        ("frob r0", 1, 1, "'frob'"),
        ("w0 = (s32)w1", 1, 7, "(s32)"),
        (
            "r0 = atomic_fetch_nand((u64 *)(r1 + 0), r0)",
            1,
            6,
            "unknown function 'atomic_fetch_nand'",
        ),
        ("r0 = *(u64 *)(r1 + 40000)", 1, 18, "16 bits"),
    ],
)
def test_errors_name_line_column_and_token(
    text: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(AssemblyError) as info:
        assemble(text, syntax="llvm")
    assert (info.value.line, info.value.column) == (line, column)
    assert fragment in str(info.value)


def test_objdump_unknown_instruction_is_rebuilt_from_its_bytes() -> None:
    listing = (
        "       0:\t9c 10 00 00 00 00 00 00\t<unknown>\n       1:\t95 00 00 00 00 00 00 00\texit\n"
    )
    assert encode(assemble(listing)).hex() == "9c100000000000009500000000000000"


def test_objdump_without_raw_bytes_column() -> None:
    listing = "0000000000000000 <f>:\n       0:\tw1 = 1\n       1:\tgoto -2 <f>\n       2:\texit\n"
    assert encode(assemble(listing)).hex() == "b4010000010000000500feff000000009500000000000000"


CLANG_S = """\
\t.section\txdp,"ax",@progbits
\t.globl\tprog                            # -- Begin function prog
prog:                                   # @prog
# %bb.0:
\tr1 = counts ll
\tcall 1
\tif r0 == 0 goto LBB0_2
# %bb.1:
\tr1 = g ll
\tw1 = *(u32 *)(r1 + 0)
LBB0_2:
\tw0 = 2
\texit
.Lfunc_end0:
\t.size\tprog, .Lfunc_end0-prog
"""


def test_clang_assembly_with_symbol_relocations() -> None:
    result = assemble_program(CLANG_S)
    assert [(r.pc, r.symbol, r.line, r.column) for r in result.relocations] == [
        (0, "counts", 5, 7),
        (4, "g", 9, 7),
    ]
    assert result.instructions[0] == Instruction(0x18, 1, 0, 0, 0)
    assert result.instructions[2].off == 3  # if r0 == 0 goto LBB0_2, at slot 7
    assert result.labels["LBB0_2"] == 7 and result.labels["prog"] == 0


def test_symbol_without_relocation_support_is_a_located_error() -> None:
    with pytest.raises(AssemblyError, match="'counts' is a symbol") as info:
        assemble(CLANG_S)
    assert (info.value.line, info.value.column) == (5, 7)


def test_ubpf_lddw_of_a_symbol() -> None:
    result = assemble_program("lddw %r1, my_map\nexit", syntax="ubpf")
    assert [(r.pc, r.symbol) for r in result.relocations] == [(0, "my_map")]
