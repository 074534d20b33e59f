"""`pybpf asm FILE [-o OUT]`: assemble eBPF assembly (uBPF or LLVM/kernel syntax) to bytecode."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pybpf.errors import AssemblyError

# pybpf.isa.assembler.SYNTAXES, spelled out so that registering the verb does not import the assembler
# (tests/cli/test_cli_startup.py checks that the two agree).
SYNTAXES = ("auto", "ubpf", "llvm")
FORMATS = ("auto", "raw", "hex", "words")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "asm",
        help="assemble eBPF assembly to raw bytecode",
        description="Assemble an eBPF program written in the uBPF/bpf_conformance syntax "
        "(mov %%r0, 1) or the LLVM/kernel verifier syntax (r0 = 1). Listings printed by "
        "`pybpf disasm`, llvm-objdump -d and the kernel verifier log are accepted as input.",
        epilog="Output: with -o, raw little-endian bytecode is written to OUT (8 bytes per slot, "
        "lddw takes two). Without -o, raw bytecode goes to stdout when it is redirected, and "
        "readable hex (one slot per line) when stdout is a terminal. --format forces a form: "
        "raw, hex (8 hex bytes per slot), or words (one 0x-prefixed little-endian u64 per slot, "
        "the `-- raw` form of bpf_conformance .data files). Errors: FILE:LINE:COLUMN: message, "
        "exit status 2.",
    )
    p.add_argument(
        "file",
        metavar="FILE",
        help="assembly source ('-' reads stdin); for a bpf_conformance .data file, its -- asm section",
    )
    p.add_argument("-o", "--output", metavar="OUT", help="write the bytecode to OUT")
    p.add_argument(
        "--syntax",
        choices=SYNTAXES,
        default="auto",
        help="assembly syntax (default: auto, detected from the program)",
    )
    p.add_argument(
        "--format", choices=FORMATS, default="auto", help="output form (default: auto, see below)"
    )
    p.set_defaults(func=run)


def read_source(name: str) -> str:
    """The text of FILE (or stdin for '-'); OSError/AssemblyError when it is not readable text."""
    from pybpf.object.elf import ELF_MAGIC

    data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    if data.startswith(ELF_MAGIC):
        raise AssemblyError(f"{name} is an ELF object, not assembly (see pybpf disasm)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AssemblyError(
            f"{name} is not UTF-8 text (byte {exc.start}); is it bytecode?"
        ) from None


def asm_section(text: str) -> str:
    """For a bpf_conformance / uBPF `.data` test file, only its `-- asm` section.

    Lines outside the section become blank, so error messages keep the file's line numbers.
    Other text is returned unchanged.
    """
    lines = text.splitlines()
    if not any(line.startswith("-- asm") for line in lines):
        return text
    keep, out = False, []
    for line in lines:
        if line.startswith("--"):
            keep = line[2:].strip() == "asm"
            out.append("")
        else:
            out.append(line if keep else "")
    return "\n".join(out)


def _helper_ids() -> dict[str, int]:
    from pybpf.helpers import HELPERS

    return {p.full_name: helper_id for helper_id, p in HELPERS.items()}


def run(args: argparse.Namespace) -> int:
    from pybpf.isa import assemble, encode

    text = read_source(args.file)
    try:
        insns = assemble(asm_section(text), syntax=args.syntax, helper_ids=_helper_ids())
    except AssemblyError as exc:
        where = f"{args.file}:{exc.line}:{exc.column}" if exc.line else args.file
        print(f"pybpf asm: {where}: {exc.reason}", file=sys.stderr)
        return 2
    if not insns:
        print(f"pybpf asm: {args.file}: no instructions", file=sys.stderr)
        return 2
    code = encode(insns)
    form = args.format
    if form == "auto":
        form = "raw" if args.output or not sys.stdout.isatty() else "hex"
    if form == "raw":
        data = code
    elif form == "hex":
        slots = [code[i : i + 8] for i in range(0, len(code), 8)]
        data = "".join(" ".join(f"{b:02x}" for b in slot) + "\n" for slot in slots).encode()
    else:
        words = [int.from_bytes(code[i : i + 8], "little") for i in range(0, len(code), 8)]
        data = "".join(f"{w:#018x}\n" for w in words).encode()
    if args.output:
        Path(args.output).write_bytes(data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0
