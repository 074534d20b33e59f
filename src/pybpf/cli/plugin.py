"""`pybpf-conformance-plugin`: the program bpf_conformance_runner drives, one process per test.

Protocol (upstream runner): `pybpf-conformance-plugin [MEMORY-HEX] [OPTIONS...] [--elf]`, the
program's bytes as hex on stdin (or `--program HEX`); on success print r0 in hex and exit 0,
on failure print the reason and exit non-zero. Options: `--engine interp|jit|kernel` (default
interp), `--jit` (same as `--engine jit`), `--elf` (the hex is an ELF object; run `main`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pybpf.errors import BpfError


def _hex_bytes(text: str) -> bytes:
    """Tokens of hex digits separated by whitespace ("b7  00  00 ..."), one byte each."""
    try:
        return bytes(int(token, 16) for token in text.split())
    except ValueError as exc:
        raise BpfError(f"bad hex input: {exc}") from None


def _program_from_elf(data: bytes) -> list:
    from pybpf.object import load_bytes

    spec = load_bytes(data, name="plugin")
    programs = list(spec.programs.values())
    chosen = next((p for p in programs if p.name == "main"), programs[0] if programs else None)
    if chosen is None:
        raise BpfError("the ELF object has no program")
    if chosen.map_references:
        raise BpfError("programs with maps are not supported by the conformance plugin")
    return list(chosen.instructions)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns (and, as a console script, exits with) the status."""
    from pybpf.conformance import RunFailure, run_program
    from pybpf.isa.instruction import decode

    args = list(sys.argv[1:] if argv is None else argv)
    memory = b""
    engine = "interp"
    elf = False
    program_hex: str | None = None
    try:
        if args and not args[0].startswith("--"):
            memory = _hex_bytes(args.pop(0))
        while args:
            arg = args.pop(0)
            if arg == "--elf":
                elf = True
            elif arg == "--jit":
                engine = "jit"
            elif arg == "--engine" and args:
                engine = args.pop(0)
            elif arg == "--program" and args:
                program_hex = args.pop(0)
            elif arg in ("--interpret", "--interp", ""):
                engine = "interp"
            else:
                raise BpfError(f"unknown option {arg!r}")
        if engine not in ("interp", "jit", "kernel"):
            raise BpfError(f"unknown engine {engine!r}")
        if program_hex is None:
            program_hex = sys.stdin.read()
        code = _hex_bytes(program_hex)
        insns = _program_from_elf(code) if elf else decode(code)
        r0 = run_program(insns, memory, engine)
    except RunFailure as exc:
        print(exc.message, file=sys.stderr)
        return 1
    except (BpfError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"{r0:x}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
