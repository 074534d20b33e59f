"""`assemble(text, syntax=...)`: eBPF assembly text (uBPF or LLVM/kernel style) to Instructions.

Both syntaxes share these rules:
- one instruction per line; `name:` defines a label (also before an instruction on the same line);
- comments start with `#`, `;` or `//`; blank lines are ignored;
- numbers are decimal, `0x` hex, `0b` binary or `0o` octal; a 32-bit immediate may be written
  signed (-1) or as its bit pattern (0xffffffff); lddw takes 64 bits;
- jump and local-call targets are a label or a signed slot count relative to the next instruction
  (`+3`, `-1`; `pc+3` too in the LLVM syntax); `lddw` occupies two slots;
- `.insn OPCODE, DST, SRC, OFF, IMM` encodes any instruction field by field (the disassembler
  prints it for bytecode that is not valid eBPF);
- listing decorations are skipped: kernel verifier log / `pybpf disasm` prefixes (`12: (bf) `),
  and in the LLVM syntax llvm-objdump's address and hex columns, its `<symbol>:` lines and the
  verifier log's other lines (`processed N insns`, register states after `;`).

uBPF / bpf_conformance: `mov %r0, 1`, `ldxw %r0, [%r1+4]`, `jeq %r1, 2, +3`, `lock fetch add
[%r10-8], %r1`, `call local sub`, `call %r2` (callx), `exit` (also an implicit label: the first exit).
LLVM / kernel: `r0 = 1`, `w0 += w1`, `r0 = *(u32 *)(r1 + 4)`, `if r1 > 5 goto +2`, `lock
*(u64 *)(r2 + 0) += r1`, `r0 = cmpxchg_64(r1 + 0, r0, r2)`, `call bpf_map_lookup_elem`, `exit`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pybpf.errors import AssemblyError
from pybpf.isa import asm_llvm, asm_ubpf, listing
from pybpf.isa.asm_common import Assembly, Program, resolve
from pybpf.isa.instruction import Instruction
from pybpf.isa.lexer import Cursor, Tok, tokenize

SYNTAXES = ("auto", "ubpf", "llvm")

LineParser = Callable[[Cursor, Program, Mapping[str, int] | None], None]
_PARSERS: dict[str, LineParser] = {"ubpf": asm_ubpf.parse_line, "llvm": asm_llvm.parse_line}


def assemble(
    text: str, syntax: str = "auto", helper_ids: Mapping[str, int] | None = None
) -> list[Instruction]:
    """Assemble a program; AssemblyError (with 1-based line and column) on any bad input.

    syntax: "ubpf" (`mov %r0, 1`), "llvm" (`r0 = 1`, also llvm-objdump and kernel verifier log
    lines), or "auto" to detect it from the program. helper_ids maps helper names to ids for
    `call bpf_map_lookup_elem`. Lines may carry a listing prefix (`12: (bf) ` as the kernel log
    and `pybpf disasm` print it, or llvm-objdump's address and hex bytes). An lddw of a symbol
    (`r1 = counts ll`) needs a relocation: assemble_program() returns those.
    """
    result = assemble_program(text, syntax, helper_ids)
    if result.relocations:
        first = result.relocations[0]
        raise AssemblyError(
            f"{first.symbol!r} is a symbol: loading its address needs a relocation"
            " (pybpf.isa.assemble_program returns them); or write map_fd(N) or a number",
            line=first.line,
            column=first.column,
        )
    return result.instructions


def assemble_program(
    text: str, syntax: str = "auto", helper_ids: Mapping[str, int] | None = None
) -> Assembly:
    """Like assemble(), but returns an Assembly: instructions, label slots, symbol relocations.

    A relocation is an lddw of a symbol's address (`r1 = counts ll` in clang's assembly output,
    `lddw %r1, counts`); its instruction holds 0 until a loader patches it (e.g. a map reference).
    """
    if not isinstance(text, str):
        raise AssemblyError(f"assembly must be text, not {type(text).__name__}")
    if syntax not in SYNTAXES:
        raise AssemblyError(
            f"unknown assembly syntax {syntax!r} (choose from {', '.join(SYNTAXES)})"
        )
    lines = text.splitlines()
    if syntax == "auto":
        syntax = detect_syntax(lines)
    parse_line = _PARSERS[syntax]
    program = Program()
    line: str | None
    for lineno, raw in enumerate(lines, start=1):
        if syntax == "llvm":
            line = listing.preprocess(raw)
        else:
            line = listing.strip_listing_prefix(raw)
        if line is None:
            continue
        cursor = Cursor(tokenize(line, lineno), lineno)
        parse_line(cursor, program, helper_ids)
    return resolve(program)


def detect_syntax(lines: list[str]) -> str:
    """'llvm' or 'ubpf': the first line whose shape only one syntax has decides.

    `call NAME` only leans to LLVM (uBPF text may call helpers by name too); with no deciding
    line at all the answer is 'ubpf' (`exit` and `call 1` read the same in both).
    """
    fallback = "ubpf"
    for lineno, raw in enumerate(lines, start=1):
        code = listing.strip_listing_prefix(raw)
        if listing.looks_like_llvm(raw) or listing.looks_like_llvm(code):
            return "llvm"
        if listing.calls_by_name(code):
            fallback = "llvm"
            continue
        try:
            tokens = tokenize(code, lineno)
        except AssemblyError:
            continue
        words = [t for t in tokens if t.kind is Tok.IDENT]
        if any(t.text.startswith("%") for t in words) or any(t.text == "[" for t in tokens):
            return "ubpf"
        first = tokens[0]
        name = first.text.lower()
        if first.kind is Tok.IDENT and name in asm_ubpf.FORMS and name not in ("exit", "call"):
            return "ubpf"
    return fallback
