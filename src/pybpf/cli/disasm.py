"""`pybpf disasm FILE`: print raw bytecode or every program of an ELF object as eBPF assembly."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pybpf.cli._output import print_json
from pybpf.errors import AssemblyError
from pybpf.isa import Instruction, decode

if TYPE_CHECKING:
    from pybpf.isa import DisasmLine

# pybpf.isa.disasm.DISASM_SYNTAXES, spelled out so that registering the verb does not import the
# disassembler (tests/cli/test_cli_startup.py checks that the two agree).
DISASM_SYNTAXES = ("llvm", "ubpf", "kernel")

MAX_INPUT = 64 << 20


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "disasm",
        help="disassemble raw bytecode or an ELF object",
        description="Disassemble eBPF bytecode: a raw file (8 bytes per slot, as `pybpf asm -o` "
        "writes it), the same as hex text (`b7 00 00 ...`, or 0x-prefixed 64-bit words, one per "
        "slot), or an ELF object (every program, with its section and map references).",
        epilog="Each line is `SLOT: (OPCODE) INSTRUCTION`, the kernel verifier log's layout; "
        "`pybpf asm` reads the listing back to the same bytes. Slots count 8-byte units (lddw "
        "takes two), as jump offsets do. Instructions that are not valid eBPF are printed as "
        "`.insn OPCODE, DST, SRC, OFF, IMM` with the reason in a comment.",
    )
    p.add_argument("file", metavar="FILE", help="raw bytecode or ELF object ('-' reads stdin)")
    p.add_argument(
        "--syntax",
        choices=DISASM_SYNTAXES,
        default="llvm",
        help="llvm: what llvm-objdump prints (r0 = 0x1), the default; kernel: the verifier "
        "log's wording (r0 = 1, goto pc+2); ubpf: the uBPF/bpf_conformance syntax (mov %%r0, 1)",
    )
    p.add_argument("--program", metavar="NAME", help="only this program of an ELF object")
    p.add_argument(
        "--labels",
        action="store_true",
        help="name branch targets (L12:) instead of printing relative offsets",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON: per instruction its slot, fields, text and branch target",
    )
    p.add_argument(
        "--no-helper-names", action="store_true", help="print helper calls by id (call 1)"
    )
    p.set_defaults(func=run)


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read(MAX_INPUT + 1)
    with open(name, "rb") as handle:
        return handle.read(MAX_INPUT + 1)


def _helper_names() -> dict[int, str]:
    from pybpf.helpers import HELPERS

    return {helper_id: p.full_name for helper_id, p in HELPERS.items()}


def format_listing(
    insns: Sequence[Instruction],
    syntax: str,
    helper_names: Mapping[int, str] | None,
    notes: Mapping[int, str] | None = None,
    *,
    labels: bool = False,
) -> list[str]:
    """`SLOT: (OP) TEXT` lines; notes (slot -> text) become trailing comments."""
    from pybpf.isa import disassembly

    lines: list[DisasmLine] = disassembly(insns, syntax, helper_names, labels=labels)
    width = len(str(lines[-1].pc)) if lines else 1
    comment = "#" if syntax == "ubpf" else ";"
    out = []
    for line in lines:
        if line.label:
            out.append(f"{line.label}:")
        text = f"{line.pc:>{width}}: ({line.opcode_hex}) {line.text}"
        if notes and line.pc in notes:
            text += f"  {comment} {notes[line.pc]}"
        out.append(text)
    end = sum(insn.slots for insn in insns)
    if labels and any(line.target == end for line in lines) and syntax != "kernel":
        out.append(f"L{end}:")
    return out


def listing_json(
    insns: Sequence[Instruction], syntax: str, helper_names: Mapping[int, str] | None
) -> list[dict[str, Any]]:
    """The disassembly as JSON-ready data: one object per instruction."""
    from pybpf.isa import disassembly

    return [
        {
            "pc": line.pc,
            "opcode": line.insn.opcode,
            "dst": line.insn.dst,
            "src": line.insn.src,
            "off": line.insn.off,
            "imm": line.insn.imm,
            "text": line.text,
            "target": line.target,
        }
        for line in disassembly(insns, syntax, helper_names)
    ]


_HEX_TEXT = re.compile(rb"\s*(?:(?:0[xX])?[0-9a-fA-F]+\s*)+")


def hex_text_bytes(data: bytes) -> bytes | None:
    """Bytecode written as hex text, or None when data is not such text.

    Two forms, as `pybpf asm --format hex|words` writes them: hex bytes in memory order (`b7 00 00
    ...` or one run of digits), or 64-bit words with a 0x prefix, one per slot, little-endian (the
    `-- raw` section of a bpf_conformance .data file).
    """
    if not data.strip() or not _HEX_TEXT.fullmatch(data):
        return None
    tokens = data.split()
    if all(t[:2].lower() == b"0x" for t in tokens):
        words = [int(t, 16) for t in tokens]
        if any(w >> 64 for w in words):
            return None
        return b"".join(w.to_bytes(8, "little") for w in words)
    digits = b"".join(tokens)
    if any(t[:2].lower() == b"0x" for t in tokens) or len(digits) % 2:
        return None
    return bytes.fromhex(digits.decode())


def run(args: argparse.Namespace) -> int:
    from pybpf.object.elf import ELF_MAGIC

    data = _read(args.file)
    if len(data) > MAX_INPUT:
        print(f"pybpf disasm: {args.file}: larger than {MAX_INPUT >> 20} MiB", file=sys.stderr)
        return 2
    helper_names = None if args.no_helper_names else _helper_names()
    if data.startswith(ELF_MAGIC):
        return _disasm_object(args, data, helper_names)
    if args.program:
        print(f"pybpf disasm: {args.file}: --program needs an ELF object", file=sys.stderr)
        return 2
    if not data:
        print(f"pybpf disasm: {args.file}: empty file", file=sys.stderr)
        return 2
    try:
        insns = decode(hex_text_bytes(data) or data)
    except AssemblyError as exc:
        print(f"pybpf disasm: {args.file}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(listing_json(insns, args.syntax, helper_names))
    else:
        print("\n".join(format_listing(insns, args.syntax, helper_names, labels=args.labels)))
    return 0


def _disasm_object(
    args: argparse.Namespace, data: bytes, helper_names: Mapping[int, str] | None
) -> int:
    try:
        from pybpf.isa.asm_common import LABEL_RE
        from pybpf.object import load_bytes
    except ImportError:  # pragma: no cover - the object layer ships with pybpf
        print("pybpf disasm: ELF objects need pybpf.object", file=sys.stderr)
        return 2
    spec = load_bytes(data, name=args.file)
    programs = list(spec.programs.values())
    if args.program:
        programs = [p for p in programs if p.name == args.program]
        if not programs:
            names = ", ".join(spec.programs) or "none"
            print(
                f"pybpf disasm: {args.file}: no program {args.program!r} (programs: {names})",
                file=sys.stderr,
            )
            return 2
    if args.json:
        objects = [
            {
                "program": program.name,
                "section": program.section,
                "type": program.type.name.lower(),
                "instructions": listing_json(program.instructions, args.syntax, helper_names),
            }
            for program in programs
        ]
        print_json(objects)
        return 0
    comment = "#" if args.syntax == "ubpf" else ";"
    blocks = []
    for program in programs:
        notes: dict[int, str] = {}
        for ref in program.map_references:
            notes[ref.pc] = (
                f"map {ref.map_name}"
                if ref.kind == "fd"
                else (f"&{ref.map_name}[0] + {ref.offset}")
            )
        kind = program.type.name.lower()
        header = [f"{comment} program {program.name}, section {program.section}, type {kind}"]
        if LABEL_RE.match(program.name):
            header.append(f"{program.name}:")
        body = format_listing(
            program.instructions, args.syntax, helper_names, notes, labels=args.labels
        )
        blocks.append("\n".join(header + body))
    if not blocks:
        print(f"pybpf disasm: {args.file}: no programs in this object", file=sys.stderr)
        return 2
    print("\n\n".join(blocks))
    return 0
