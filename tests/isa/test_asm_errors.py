"""Bad assembly never escapes as anything but a located AssemblyError (fuzzed with hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.errors import AssemblyError
from pybpf.isa import Instruction, assemble, format_instruction

FRAGMENTS = [
    "mov", "mov32", "lddw", "ldxw", "stxdw", "jeq", "ja", "ja32", "call", "local", "exit", "lock",
    "fetch", "cmpxchg", "xchg", "movsx832", "le16", "bswap64", "neg", "%r1", "r0", "w2", "r10",
    "%r15", "r16", "pc", "goto", "gotol", "if", "callx", "skb", "map", "id", "map_value", "func",
    "u8", "s16", "u64", "ll", "0", "1", "-1", "+3", "0x7fffffff", "0xffffffffffffffff",
    "99999999999999999999", "0x", "0b12", "=", "+=", "s>>=", "s<", "==", "&", "*", "(", ")",
    "[", "]", ",", ":", "-", "+", "<", ">", "#", ";", "//", "label", "exit:", "\t", " ", "\n",
    ".insn", ".text", "0: (b7)", "       0:\tb7 00 00 00 01 00 00 00\t",
]  # fmt: skip
SOUP = st.lists(st.sampled_from(FRAGMENTS), max_size=14).map(" ".join)


def _check(text: str, syntax: str) -> None:
    try:
        insns = assemble(text, syntax=syntax)
    except AssemblyError as exc:
        assert exc.line is not None and exc.column is not None, exc
        assert exc.line >= 1 and exc.column >= 1
        return
    for insn in insns:
        insn.encode()  # whatever assembles must also encode


@given(st.text(max_size=80), st.sampled_from(["auto", "ubpf", "llvm"]))
@settings(max_examples=300, deadline=None)
def test_random_text(text: str, syntax: str) -> None:
    _check(text, syntax)


@given(st.lists(SOUP, max_size=5).map("\n".join), st.sampled_from(["auto", "ubpf", "llvm"]))
@settings(max_examples=500, deadline=None)
def test_token_soup(text: str, syntax: str) -> None:
    _check(text, syntax)


@given(
    st.sampled_from(
        [
            "mov %r0, 1\nldxw %r1, [%r1+4]\njne %r1, 2, exit\nlock fetch add [%r10-8], %r1\nexit",
            "r0 = *(u32 *)(r1 + 4)\nif w1 s< 3 goto +1\nr0 = atomic_fetch_or((u64 *)(r1 + 0), r0)\n"
            "r1 = map[id:5][0]+8\nr0 = cmpxchg_64(r1 + 0, r0, r2)\nexit",
        ]
    ),
    st.data(),
)
@settings(max_examples=400, deadline=None)
def test_mutated_programs(program: str, data: st.DataObject) -> None:
    text = program
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        insert = data.draw(
            st.sampled_from(["", "%", "[", "]", "(", "0x", "-", "9", "r", "w", " ", ",", "s"])
        )
        text = text[:at] + insert + text[at + cut :]
    _check(text, data.draw(st.sampled_from(["auto", "ubpf", "llvm"])))


@given(
    st.integers(-5, 300),
    st.integers(-3, 20),
    st.integers(-3, 20),
    st.integers(-(1 << 17), 1 << 17),
    st.integers(-(1 << 65), 1 << 65),
)
@settings(max_examples=300, deadline=None)
def test_format_never_crashes(opcode: int, dst: int, src: int, off: int, imm: int) -> None:
    for syntax in ("llvm", "ubpf"):
        assert format_instruction(Instruction(opcode, dst, src, off, imm), syntax=syntax)


@pytest.mark.parametrize("bad", [None, b"exit", 5])
def test_non_text_input(bad: object) -> None:
    with pytest.raises(AssemblyError, match="must be text"):
        assemble(bad)  # type: ignore[arg-type]


def test_unknown_syntax() -> None:
    with pytest.raises(AssemblyError, match="unknown assembly syntax 'att'"):
        assemble("exit", syntax="att")


def test_unicode_digits_are_not_numbers() -> None:
    with pytest.raises(AssemblyError) as info:
        assemble("mov %r0, ²", syntax="ubpf")
    assert info.value.column == 10


def test_huge_decimal_is_an_assembly_error() -> None:
    with pytest.raises(AssemblyError, match="invalid number|does not fit"):
        assemble("mov %r0, " + "9" * 5000, syntax="ubpf")


@pytest.mark.slow
@given(st.lists(SOUP, max_size=8).map("\n".join), st.sampled_from(["auto", "ubpf", "llvm"]))
@settings(max_examples=20_000, deadline=None)
def test_token_soup_long(text: str, syntax: str) -> None:
    _check(text, syntax)
